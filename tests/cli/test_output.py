"""The aws-style formatters and --query, in-process (layouts checked against AWS CLI v2's own output)."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from regauth.cli.output import (
    OUTPUT_FORMATS, compile_query, format_table, format_text, render, to_plain, use_color,
)

WHO = {"UserId": "AIDAXKP7TZCYKMZ2RHIRC", "Account": "111122223333", "Arn": "arn:aws:iam::111122223333:user/admin"}
EXPIRES = datetime(2026, 11, 23, 9, 0, 0, tzinfo=timezone.utc)
CA = {"authorizationToken": "rgca_tok.en-1", "expiration": EXPIRES, "ResponseMetadata": {"RequestId": "r"}}
ECR = {"authorizationData": [{"authorizationToken": "QVdTOnBhc3M=", "expiresAt": EXPIRES,
                              "proxyEndpoint": "https://111122223333.dkr.ecr.us-east-1.amazonaws.com"}]}

# `aws sts get-caller-identity --output table` (CLI v2 2.9.19, not a terminal: 80 columns)
WHO_TABLE = """\
-----------------------------------------------------
|                 GetCallerIdentity                 |
+---------+-----------------------------------------+
|  Account|  111122223333                           |
|  Arn    |  arn:aws:iam::111122223333:user/admin   |
|  UserId |  AIDAXKP7TZCYKMZ2RHIRC                  |
+---------+-----------------------------------------+
"""


def test_timestamps_are_iso8601_utc_like_cli_v2() -> None:
    assert to_plain(EXPIRES) == "2026-11-23T09:00:00+00:00"
    assert to_plain(EXPIRES.replace(microsecond=123000)) == "2026-11-23T09:00:00.123000+00:00"
    assert to_plain(EXPIRES.astimezone(timezone(timedelta(hours=-5)))) == "2026-11-23T09:00:00+00:00"
    assert to_plain(datetime(1970, 1, 1)) == "1970-01-01T00:00:00+00:00"
    assert to_plain({"b": b"\x00\x01"}) == {"b": "AAE="}


def test_json_is_indented_by_four_and_drops_response_metadata() -> None:
    out = render(CA, "json")
    assert out == ('{\n    "authorizationToken": "rgca_tok.en-1",\n'
                   '    "expiration": "2026-11-23T09:00:00+00:00"\n}\n')
    assert render({}, "json") == ""
    assert render({"a": "é"}, "json") == '{\n    "a": "é"\n}\n'


def test_query_is_applied_before_every_format() -> None:
    q = compile_query("authorizationToken")
    assert render(CA, "text", query=q) == "rgca_tok.en-1\n"
    assert render(CA, "json", query=q) == '"rgca_tok.en-1"\n'
    assert render(CA, "yaml", query=q) == '"rgca_tok.en-1"\n'
    assert render(CA, "yaml-stream", query=q) == "- rgca_tok.en-1\n"
    assert "rgca_tok.en-1" in render(CA, "table", query=q, title="GetAuthorizationToken")
    assert render(ECR, "text", query=compile_query("authorizationData[0].expiresAt")) == "2026-11-23T09:00:00+00:00\n"
    assert render(CA, "text", query=compile_query("nothing")) == "None\n"
    assert render(CA, "json", query=compile_query("nothing")) == "null\n"


def test_bad_query_reports_like_the_aws_cli() -> None:
    with pytest.raises(ValueError, match=r"^Bad value for --query foo\[: .*Incomplete expression"):
        compile_query("foo[")


def test_text_follows_awscli_rules() -> None:
    # a dict: its scalars on one line, sorted by key; nested values follow with their key as identifier
    assert render(CA, "text") == "rgca_tok.en-1\t2026-11-23T09:00:00+00:00\n"
    assert render(WHO, "text") == "111122223333\tarn:aws:iam::111122223333:user/admin\tAIDAXKP7TZCYKMZ2RHIRC\n"
    # a list of dicts: one line per element, prefixed with the upper-cased key
    two = {"authorizationData": ECR["authorizationData"] * 2}
    line = "AUTHORIZATIONDATA\tQVdTOnBhc3M=\t2026-11-23T09:00:00+00:00\thttps://111122223333.dkr.ecr.us-east-1.amazonaws.com\n"
    assert render(two, "text") == line * 2
    # lists of scalars: tab separated at the top, one identified line each when nested
    assert format_text(["a", "b"]) == "a\tb\n"
    assert format_text({"Ids": ["1", "2"]}) == "IDS\t1\nIDS\t2\n"
    assert format_text({"x": {"y": "1", "z": "2"}}) == "X\t1\t2\n"
    assert format_text([]) == ""


def test_table_matches_cli_v2_for_get_caller_identity() -> None:
    assert render(WHO, "table", title="GetCallerIdentity", width=80) == WHO_TABLE


def test_table_nests_lists_with_bars_and_goes_vertical_when_too_wide() -> None:
    wide = render(ECR, "table", title="GetAuthorizationToken", width=200).splitlines()
    assert wide[1].strip("| ") == "GetAuthorizationToken"
    assert wide[3].startswith("||") and wide[3].strip("| ") == "authorizationData"
    assert [c.strip() for c in wide[5].strip("|").split("|")] == ["authorizationToken", "expiresAt", "proxyEndpoint"]
    assert "2026-11-23T09:00:00+00:00" in wide[7]
    assert len({len(x) for x in wide}) == 1                       # a box: every line has the same width
    narrow = render(ECR, "table", title="GetAuthorizationToken", width=60).splitlines()
    assert any(line.startswith("||  expiresAt") for line in narrow)   # key | value rows
    assert len({len(x) for x in narrow}) == 1


def test_table_colour_only_when_asked() -> None:
    coloured = render(WHO, "table", title="GetCallerIdentity", color=True, width=80)
    assert "\x1b[1m\x1b[34m111122223333\x1b[0m" in coloured
    assert "\x1b[" not in render(WHO, "table", title="GetCallerIdentity", color=False, width=80)
    assert format_table({}, "T") == "" and format_table(None, "T") == ""


def test_use_color_on_off_auto() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True
    assert use_color("on", io.StringIO()) is True
    assert use_color("off", Tty()) is False
    assert use_color("auto", Tty()) is True
    assert use_color("auto", io.StringIO()) is False


def test_yaml_and_yaml_stream() -> None:
    out = render(ECR, "yaml")
    assert out.startswith("authorizationData:\n- authorizationToken: QVdTOnBhc3M=\n")
    assert "expiresAt: '2026-11-23T09:00:00+00:00'" in out          # quoted, as awscli's YAML prints it
    assert yaml.safe_load(out) == json.loads(render(ECR, "json"))
    stream = render(ECR, "yaml-stream")
    assert stream.startswith("- authorizationData:\n")
    assert yaml.safe_load(stream) == [json.loads(render(ECR, "json"))]
    assert render({}, "yaml") == "" and render({}, "yaml-stream") == ""


@pytest.mark.parametrize("fmt", OUTPUT_FORMATS)
def test_every_format_renders_every_shape_we_print(fmt: str) -> None:
    for data, title in ((CA, "GetAuthorizationToken"), (ECR, "GetAuthorizationToken"), (WHO, "GetCallerIdentity"),
                        ({"repositoryEndpoint": "https://d-1.example/pypi/r/"}, "GetRepositoryEndpoint"),
                        ({"authorizationData": {"authorizationToken": "QVdTOng=", "expiresAt": EXPIRES}},
                         "GetAuthorizationToken")):
        out = render(data, fmt, title=title, width=120)
        assert out.endswith("\n")
        assert "2026-11-23 09:00:00" not in out           # never Python's str(datetime)
    with pytest.raises(ValueError):
        render(CA, "xml")


SHAPES = [CA, ECR, WHO, {"authorizationData": ECR["authorizationData"] * 3},
          {"authorizationData": {"authorizationToken": "QVdTOng=", "expiresAt": EXPIRES}},
          {"a": ["x", "y"], "b": {"c": "1", "d": [{"e": "2"}, {"f": "3"}]}, "g": "4"}]


@pytest.mark.parametrize("data", SHAPES)
def test_text_and_table_equal_awscli_formatters(data: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same bytes as awscli's own formatters (the pip AWS CLI is a test dependency)."""
    from argparse import Namespace

    import awscli.table
    from awscli.formatter import TableFormatter
    from awscli.text import format_text as aws_text

    monkeypatch.setattr(awscli.table, "determine_terminal_width", lambda default_width=80: 80)

    plain = to_plain(data)
    plain.pop("ResponseMetadata", None)
    expected = io.StringIO()
    aws_text(plain, expected)
    assert render(data, "text") == expected.getvalue()
    table = io.StringIO()
    TableFormatter(Namespace(color="off", query=None))("GetAuthorizationToken", json.loads(json.dumps(plain)), table)
    assert render(data, "table", title="GetAuthorizationToken", width=80) == table.getvalue()


def test_server_log_lines_keep_the_standard_time_format() -> None:
    import logging
    import time

    from regauth.cli.serve import _Formatter

    standard = logging.Formatter("%(asctime)s %(message)s")
    ours = _Formatter("%(asctime)s %(message)s")
    base = time.time()
    for offset in (0.0, 0.001, 0.5, 0.999, 1.0, 1.5, 61.25, 3600.75):
        record = logging.LogRecord("x", logging.INFO, "", 0, "m", None, None)
        record.created, record.msecs = base + offset, ((base + offset) % 1) * 1000
        assert ours.format(record) == standard.format(record)


def test_yaml_is_ruamel_safe_dump_as_in_cli_v2() -> None:
    """AWS CLI v2's YAMLDumper: keys sorted, YAML 1.2 quoting, long scalars kept on their key's line."""
    assert render(WHO, "yaml") == ("Account: '111122223333'\nArn: arn:aws:iam::111122223333:user/admin\n"
                                   "UserId: AIDAXKP7TZCYKMZ2RHIRC\n")
    assert render(WHO, "yaml", query=compile_query("{z: UserId, a: Account}")) == \
        "a: '111122223333'\nz: AIDAXKP7TZCYKMZ2RHIRC\n"
    assert render(WHO, "yaml-stream") == "- " + render(WHO, "yaml").replace("\n", "\n  ").rstrip(" ")
    token = "rgca_" + "x" * 300
    assert render({"authorizationToken": token}, "yaml") == f"authorizationToken: {token}\n"
    # YAML 1.2: "yes" and "15:00" are plain strings, "012345678901" and "0o17" would be read as numbers
    assert render({"a": ["yes", "15:00", "012345678901", "0o17"]}, "yaml") == \
        "a:\n- yes\n- 15:00\n- '012345678901'\n- '0o17'\n"


def test_table_rows_of_another_length_fail_as_awscli_does() -> None:
    with pytest.raises(ValueError, match=r"^Row should have 2 elements, instead it has 1$"):
        render([[1, 2], [3]], "table", title="GetCallerIdentity")
    with pytest.raises(ValueError, match=r"^Row should have 1 elements, instead it has 2$"):
        render([[1], [3, 4]], "table", title="GetCallerIdentity")
    assert "|  3 |     |" in render([{"a": 1, "b": 2}, {"a": 3}], "table", title="T", width=80)   # a missing key: ""
