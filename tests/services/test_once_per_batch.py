"""OncePerBatch: one read for the requests a worker thread handles as one batch, a fresh one for the next."""

from __future__ import annotations

import threading
from typing import Callable

import pytest

from regauth.http import OncePerBatch


def _counter() -> tuple[list[str], Callable[[], int]]:
    reads: list[str] = []

    def read() -> int:
        reads.append(threading.current_thread().name)
        return len(reads)
    return reads, read


def test_one_read_per_batch_and_a_fresh_one_for_the_next() -> None:
    reads, read = _counter()
    shared = OncePerBatch(read)
    with shared.batch():
        first = [shared(), shared(), shared()]
    with shared.batch():
        second = [shared(), shared()]
    assert first == [1, 1, 1] and second == [2, 2]
    assert len(reads) == 2


def test_the_read_is_made_at_the_first_ask_not_when_the_batch_opens() -> None:
    reads, read = _counter()
    shared = OncePerBatch(read)
    with shared.batch():
        assert reads == []
    assert reads == []                               # a batch that asked nothing read nothing


def test_outside_a_batch_every_call_reads() -> None:
    shared = OncePerBatch(iter(range(100)).__next__)
    assert [shared(), shared(), shared()] == [0, 1, 2]
    with shared.batch():
        assert [shared(), shared()] == [3, 3]
    assert shared() == 4


def test_batches_on_different_threads_read_for_themselves() -> None:
    reads, read = _counter()
    shared = OncePerBatch(read)
    inside, release = threading.Barrier(2), threading.Event()
    seen: dict[str, list[int]] = {}

    def worker(name: str) -> None:
        with shared.batch():
            first = shared()
            inside.wait(timeout=10)                  # both batches are open at once
            release.wait(timeout=10)
            seen[name] = [first, shared()]

    threads = [threading.Thread(target=worker, args=(n,), name=n) for n in ("a", "b")]
    for t in threads:
        t.start()
    release.set()
    for t in threads:
        t.join(timeout=10)
    assert sorted(reads) == ["a", "b"]               # one read each, on its own thread
    assert seen["a"][0] == seen["a"][1] and seen["b"][0] == seen["b"][1]
    assert {seen["a"][0], seen["b"][0]} == {1, 2}


def test_a_failed_read_fails_the_rest_of_its_batch_without_reading_again() -> None:
    calls = []

    def read() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("database unreachable")
        return 7

    shared = OncePerBatch(read)
    with shared.batch():
        with pytest.raises(ConnectionError):
            shared()
        with pytest.raises(ConnectionError):
            shared()
    assert len(calls) == 1
    with shared.batch():                             # the next batch tries again
        assert shared() == 7
    assert len(calls) == 2
