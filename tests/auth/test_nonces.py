"""NonceCache: once per window, thread-safe, bounded memory that refuses (fails closed) when full."""

from __future__ import annotations

import threading

import pytest

from regauth.auth.nonces import NonceCache, NonceCacheFull
from regauth.errors import Throttled

T0 = 1_795_380_036.0


def test_first_use_is_new_second_is_seen():
    c = NonceCache()
    assert c.seen_before("AK", "n1", T0) is False
    assert c.seen_before("AK", "n1", T0 + 1) is True
    assert c.seen_before("AK", "n1", T0 + 899) is True


def test_nonce_is_per_access_key():
    c = NonceCache()
    assert c.seen_before("AK1", "n", T0) is False
    assert c.seen_before("AK2", "n", T0) is False
    assert c.seen_before("AK1", "n", T0) is True


def test_key_and_nonce_are_not_confused_by_concatenation():
    c = NonceCache()
    assert c.seen_before("ab", "c", T0) is False
    assert c.seen_before("a", "bc", T0) is False


def test_window_expiry_forgets_and_frees_memory():
    c = NonceCache(window=900)
    c.seen_before("AK", "n1", T0)
    c.seen_before("AK", "n2", T0 + 100)
    assert len(c) == 2
    assert c.seen_before("AK", "n1", T0 + 899.9) is True
    # n1 expires at T0 + 900, n2 still live
    assert c.seen_before("AK", "n1", T0 + 900) is False       # accepted again, re-remembered
    assert c.seen_before("AK", "n2", T0 + 999) is True
    assert c.seen_before("AK", "other", T0 + 5000) is False
    assert len(c) == 1                                          # everything older was purged


def test_until_extends_memory_beyond_window():
    c = NonceCache(window=900)
    assert c.seen_before("AK", "n", T0, until=T0 + 1800) is False
    assert c.seen_before("AK", "n", T0 + 1700) is True
    assert c.seen_before("AK", "n", T0 + 1800) is False


def test_until_never_shortens_the_window():
    c = NonceCache(window=900)
    c.seen_before("AK", "n", T0, until=T0 + 1)
    assert c.seen_before("AK", "n", T0 + 899) is True


def test_full_cache_refuses_rather_than_forgets():
    c = NonceCache(window=900, max_entries=3)
    for n in ("a", "b", "c"):
        assert c.seen_before("AK", n, T0) is False
    with pytest.raises(NonceCacheFull) as ei:
        c.seen_before("AK", "d", T0 + 1)
    assert isinstance(ei.value, Throttled)
    # Nothing was forgotten to make room, and a refused nonce was not recorded.
    assert all(c.seen_before("AK", n, T0 + 2) for n in ("a", "b", "c"))
    assert len(c) == 3
    # Once the old ones expire there is room again.
    assert c.seen_before("AK", "d", T0 + 900) is False
    assert len(c) == 1


def test_known_nonce_is_still_reported_when_full():
    c = NonceCache(max_entries=1)
    c.seen_before("AK", "a", T0)
    assert c.seen_before("AK", "a", T0 + 1) is True


def test_memory_per_entry_is_independent_of_nonce_size():
    c = NonceCache()
    c.seen_before("AK" * 100, "n" * 10_000, T0)
    (digest,) = c._expiry
    assert len(digest) == 16


def test_invalid_configuration():
    with pytest.raises(ValueError):
        NonceCache(window=0)
    with pytest.raises(ValueError):
        NonceCache(max_entries=0)


def test_thread_safety_each_nonce_accepted_exactly_once():
    c = NonceCache()
    threads, per_thread, nonces = 8, 400, 300
    accepted: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker(tid: int) -> None:
        start.wait()
        mine = 0
        for i in range(per_thread):
            if not c.seen_before("AK", f"n{(i * 7 + tid) % nonces}", T0 + i * 0.001):
                mine += 1
        with lock:
            accepted.append(mine)

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert sum(accepted) == nonces          # every nonce got through exactly once, across all threads
    assert len(c) == nonces


def test_empty_cache_is_truthy():
    assert NonceCache()      # `cache or NonceCache()` must not replace an empty shared cache
