"""The request-path cache: served from memory within a generation, dropped by any cache-relevant
write — including a write made by another node on the same database."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from regauth.domain.principals import AccessKey, InlinePolicy, User
from regauth.domain.secret import Secret
from regauth.services.cache import CachingStore
from regauth.store.open import open_store
from tests.fixtures.counting import Counting

ACCT = "123456789012"
T0 = 1_795_000_000.0


@pytest.fixture
def nodes(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    key = secrets.token_bytes(32)
    a, b = open_store(url, key), open_store(url, key)   # two nodes, one database
    a.ensure_account(ACCT, T0)
    a.create_user(User(ACCT, "alice", "AIDAALICE", f"arn:aws:iam::{ACCT}:user/alice", "/", T0))
    a.create_access_key(AccessKey("AKIAALICE00000000000", ACCT, "alice", "Active", T0), Secret("s" * 40))
    a.put_user_policy(ACCT, "alice", InlinePolicy("p", '{"Statement": []}'))
    yield a, b
    a.close()
    b.close()


def test_reads_within_a_generation_come_from_memory(nodes) -> None:
    a, _ = nodes
    counting = Counting(a)
    cache = CachingStore(counting)  # type: ignore[arg-type]
    for _ in range(3):
        cache.begin_request()
        assert cache.get_credential("AKIAALICE00000000000").status == "Active"
        assert [p.name for p in cache.list_user_policies(ACCT, "alice")] == ["p"]
    assert counting.calls["get_credential"] == 1
    assert counting.calls["list_user_policies"] == 1
    assert counting.calls["generation"] == 3


def test_a_write_on_another_node_takes_effect_on_the_next_request(nodes) -> None:
    a, b = nodes
    cache = CachingStore(a)  # type: ignore[arg-type]
    cache.begin_request()
    assert cache.get_credential("AKIAALICE00000000000").status == "Active"
    assert len(cache.list_user_policies(ACCT, "alice")) == 1
    b.update_access_key(ACCT, "alice", "AKIAALICE00000000000", "Inactive")
    b.delete_user_policy(ACCT, "alice", "p")
    cache.begin_request()
    assert cache.get_credential("AKIAALICE00000000000").status == "Inactive"
    assert cache.list_user_policies(ACCT, "alice") == []


def test_a_value_read_before_a_concurrent_write_is_not_kept(nodes) -> None:
    """Request 1 reads the key, a write lands, request 2 starts: request 1's (stale) value must not
    be stored for request 2, even though request 1 finishes after request 2 began."""
    import threading

    a, b = nodes
    read_done, release = threading.Event(), threading.Event()

    class Pausing(Counting):
        def get_credential(self, key_id: str):
            value = self.store.get_credential(key_id)
            read_done.set()
            release.wait(10)
            return value

    cache = CachingStore(Pausing(a))  # type: ignore[arg-type]
    seen: list[str] = []

    def request_one() -> None:
        cache.begin_request()
        seen.append(cache.get_credential("AKIAALICE00000000000").status)

    worker = threading.Thread(target=request_one)
    worker.start()
    assert read_done.wait(10)
    b.update_access_key(ACCT, "alice", "AKIAALICE00000000000", "Inactive")   # lands meanwhile
    cache.begin_request()                                                      # request 2 starts
    release.set()
    worker.join(10)
    assert seen == ["Active"]                        # request 1 saw the world as it started
    read_done.clear()
    release.set()
    assert cache.get_credential("AKIAALICE00000000000").status == "Inactive"


def test_writes_that_do_not_change_cached_records_do_not_flush(nodes) -> None:
    a, _ = nodes
    before = a.generation()
    from regauth.domain.principals import AuditEvent
    a.record_audit(AuditEvent(T0, "r", "", "x:Y", "", "denied", ""))
    assert a.generation() == before
    a.put_user_policy(ACCT, "alice", InlinePolicy("q", '{"Statement": []}'))
    assert a.generation() == before + 1


def test_listeners_run_when_the_generation_moves_and_again_after_a_failure(nodes) -> None:
    a, b = nodes
    cache = CachingStore(a)  # type: ignore[arg-type]
    runs: list[int] = []
    fail = [False]

    def listener() -> None:
        runs.append(a.generation())
        if fail[0]:
            raise RuntimeError("store unavailable")

    cache.on_change(listener)
    cache.begin_request()                       # the first request takes the generation: listeners run
    cache.begin_request()
    assert len(runs) == 1
    b.put_user_policy(ACCT, "alice", InlinePolicy("q", '{"Statement": []}'))     # another node writes
    fail[0] = True
    with pytest.raises(RuntimeError):
        cache.begin_request()
    fail[0] = False
    cache.begin_request()                       # not taken as seen: the next request runs it again
    cache.begin_request()
    assert len(runs) == 3 and runs[1] == runs[2] > runs[0]
