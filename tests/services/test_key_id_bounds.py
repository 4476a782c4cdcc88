"""A presented access key id that cannot be one never reaches the store, nor the request-path cache.

The Credential scope's key id is bounded only by the header's size, and the cache keeps the store's
answer under it, a miss too: distinct 60,000-character ids each held 60 kB there, 2.7 GB in all. The
real services answer such a request here as they answer an unknown key (the wire test
`tests/wire/test_unauthenticated_floods.py` shows the same answers to botocore), without asking the
store; a well-formed unknown id is still looked up once and its miss kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from regauth.auth.canonical import HttpRequest
from regauth.clock import SystemClock
from regauth.config import Settings
from regauth.protocols.aws.dispatch import AwsDialect
from regauth.services import cache
from regauth.services.bootstrap import create_account
from regauth.services.cache import CachingStore
from regauth.services.container import build_services
from regauth.store.open import open_store
from tests.fixtures.counting import Counting
from tests.wire.sign import sign

ACCT = "123456789012"
KEY = bytes(range(32))
BODY = b"Action=GetCallerIdentity&Version=2011-06-15"
NOT_KEY_IDS = ["A" * 60_000, "AKIA" + "Z" * 125, "AKIA" + "Z" * 11, "akiazzzzzzzzzzzzzzzz", "AKIAZZZZZZZZZZZZZZZ_",
               "AKIAZZZZZZZZZZZZZZZ\u00c9", "AKIAZZZZZZZZZZZZZZZ\uff10"]


def _sts_call(akid: str) -> HttpRequest:
    headers = {"Host": "127.0.0.1", "Content-Type": "application/x-www-form-urlencoded"}
    signed = sign("POST", "/", "", headers, BODY, akid, "x" * 40, "sts", "us-east-1")
    return HttpRequest("POST", "/", "", tuple(signed.items()), BODY, "127.0.0.1")


def _error_code(body: bytes) -> str:
    return body.split(b"<Code>", 1)[1].split(b"</Code>", 1)[0].decode()


@pytest.fixture
def served(tmp_path: Path):
    """The real services over a real store that counts the reads reaching it, and the AWS dialect."""
    store = open_store(f"sqlite:///{tmp_path / 'regauth.db'}", KEY)
    counting = Counting(store)
    services = build_services(Settings(data_dir=tmp_path, rate_limit_per_second=0), counting,  # type: ignore[arg-type]
                              SystemClock())
    create_account(store, SystemClock(), ACCT)
    yield AwsDialect(services), counting, services.store
    store.close()


@pytest.mark.parametrize("akid", NOT_KEY_IDS, ids=lambda k: f"{k[:24]}({len(k)})")
def test_a_key_id_that_cannot_be_one_is_refused_as_unknown_without_asking_the_store(served, akid: str) -> None:
    dialect, counting, cached = served
    unknown = dialect.handle(_sts_call("AKIAZZZZZZZZZZZZZZZZ"))     # well-formed, not stored
    asked = counting.calls.get("get_credential", 0)
    assert asked == 1
    answer = dialect.handle(_sts_call(akid))
    assert (answer.status, _error_code(answer.body)) == (unknown.status, _error_code(unknown.body)) \
        == (403, "InvalidClientTokenId")
    assert counting.calls.get("get_credential", 0) == asked                 # the store was not asked
    assert [k for k in cached._entries if k[0] == "get_credential"] == [("get_credential", "AKIAZZZZZZZZZZZZZZZZ")]
    # the refusal is audited as an unknown key's is, the id not repeated
    [event] = answer.pending.events
    assert (event.outcome, event.detail) == ("denied", "UnknownAccessKey key=(not a key id)")


def test_a_well_formed_unknown_key_id_is_looked_up_once_then_its_miss_is_kept(served) -> None:
    dialect, counting, _ = served
    for akid in ("AKIAZZZZZZZZZZZZZZZZ", "A" * 128, "1234567890123456"):
        for _ in range(3):
            answer = dialect.handle(_sts_call(akid))
            assert answer.status == 403 and _error_code(answer.body) == "InvalidClientTokenId"
    assert counting.calls["get_credential"] == 3


def test_the_cache_holds_keys_of_bounded_characters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever reaches it: a key whose texts are longer than a stored name can be is not kept (the
    store is asked each time), and the keys together hold at most MAX_KEY_TEXTS characters."""
    store = open_store(f"sqlite:///{tmp_path / 'regauth.db'}", KEY)
    try:
        counting = Counting(store)
        caching = CachingStore(counting)  # type: ignore[arg-type]
        caching.begin_request()
        for _ in range(3):
            assert caching.get_credential("A" * (cache.MAX_KEY_TEXT + 1)) is None
            assert caching.get_credential("A" * cache.MAX_KEY_TEXT) is None
        assert counting.calls["get_credential"] == 3 + 1
        monkeypatch.setattr(cache, "MAX_KEY_TEXTS", 10_000)
        for n in range(100):
            caching.get_user(ACCT, f"{n:03d}" + "u" * 497)
            held = sum(len(a) for key in caching._entries for a in key[1:])
            assert held <= 10_000
        assert counting.calls["get_user"] == 100 and caching._entries
    finally:
        store.close()
