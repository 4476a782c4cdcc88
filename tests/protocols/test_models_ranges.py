"""The precomputed Unicode category table and the lazily loaded service models (protocols/aws/models.py)."""

from __future__ import annotations

import threading
import unicodedata

import pytest

from regauth.protocols.aws import models
from regauth.protocols.aws.models import AwsModels, compile_java_pattern, input_patterns


def _encode(ranges: dict[str, list[tuple[int, int]]]) -> str:
    runs = sorted((lo, hi, cat) for cat, rs in ranges.items() for lo, hi in rs)
    return "".join(f"{hi - lo + 1:x}{cat}" for lo, hi, cat in runs)


@pytest.mark.skipif(unicodedata.unidata_version != models._CATEGORY_RUNS_UNICODE,
                    reason="the table is for another Unicode version (this Python computes the ranges)")
def test_category_table_is_what_unicodedata_gives():
    computed = models._compute_category_ranges()
    encoded = _encode(computed)
    assert models._CATEGORY_RUNS == encoded, f"replace _CATEGORY_RUNS with:\n{encoded}"
    assert models._decode_category_runs(models._CATEGORY_RUNS) == computed
    assert models._category_ranges() == computed


def test_java_classes_match_unicode_categories_at_every_range_edge():
    ranges = models._category_ranges()
    edges = sorted({cp for rs in ranges.values() for lo, hi in rs
                    for cp in (lo - 1, lo, hi, hi + 1) if 0 <= cp <= 0x10FFFF})
    for cat in ranges:
        inside, outside = compile_java_pattern(rf"\p{{{cat}}}"), compile_java_pattern(rf"\P{{{cat}}}")
        in_class = compile_java_pattern(rf"[x\p{{{cat}}}]")
        for cp in edges:
            ch = chr(cp)
            expected = unicodedata.category(ch)[0] == cat
            assert bool(inside.fullmatch(ch)) is expected, (cat, hex(cp))
            assert bool(outside.fullmatch(ch)) is not expected, (cat, hex(cp))
            assert bool(in_class.fullmatch(ch)) is (expected or ch == "x"), (cat, hex(cp))


def test_models_load_once_on_first_use_even_when_raced():
    loads: list[str] = []

    class CountingLoader(models.ModelLoader):
        def load_service_model(self, name, type_name, api_version=None):
            loads.append(name)
            return super().load_service_model(name, type_name, api_version)

    aws = AwsModels(loader=CountingLoader())
    assert loads == [] and aws.keys() == list(models.SERVICES)
    barrier = threading.Barrier(8)
    got: list[object] = []

    def first_use() -> None:
        barrier.wait()
        got.append(aws.spec("sts"))

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == ["sts"] and len(got) == 8 and all(s is got[0] for s in got)
    assert aws["sts"] is got[0] and aws["ecr"].signing_name == "ecr" and loads == ["sts", "ecr"]
    with pytest.raises(KeyError):
        aws.spec("s3")
    with pytest.raises(KeyError):
        AwsModels(services=["s3"])


def test_every_models_patterns_stay_linear():
    """Every pattern of the five models' inputs, compiled as a request would compile it, answers
    adversarial values in linear time (a backtracking blow-up would hang this test)."""
    aws = AwsModels()
    patterns = {(key, p) for key in aws.keys() for p in input_patterns(aws.spec(key))}
    assert len(patterns) > 50
    adversarial = [c * 3000 + "!" for c in ("a", "*", "a.", "a-", "a_", "a/", "a__", "ab/")]
    for key, p in patterns:
        compiled = aws.spec(key).pattern(p)
        assert compiled is aws.spec("ecr").pattern(p)          # compiled once, shared by the services
        for s in adversarial:
            compiled.fullmatch(s)
