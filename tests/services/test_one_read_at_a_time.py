"""OneReadAtATime: worker threads share a read, and never take one that started before they asked."""

from __future__ import annotations

import threading
import time

import pytest

from regauth.http import OneReadAtATime


class GatedRead:
    """A read that blocks until released and returns its own number (1, 2, ...); the reads numbered
    in `fail_on` raise instead."""

    def __init__(self, fail_on: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        self.started = 0
        self.fail_on = fail_on
        self.entered = threading.Event()
        self.gate = threading.Event()
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            self.started += 1
            number = self.started
        self.entered.set()
        assert self.gate.wait(10), "the test never released the read"
        if number in self.fail_on:
            raise ConnectionError(f"read {number}: server closed the connection")
        return number


def _call_in_thread(shared: OneReadAtATime, out: list) -> threading.Thread:
    def run() -> None:
        try:
            out.append(shared())
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            out.append(exc)
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _wait_for_waiters(shared: OneReadAtATime, n: int) -> None:
    deadline = time.monotonic() + 5
    while len(shared._cond._waiters) < n:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, f"{n} callers never waited"
        time.sleep(0.001)


def test_an_idle_caller_reads_itself() -> None:
    reads = iter(range(1, 100)).__next__
    shared = OneReadAtATime(reads)
    assert [shared(), shared(), shared()] == [1, 2, 3]     # one after another: a read each


def test_callers_during_a_read_share_the_next_one_not_that_one() -> None:
    read = GatedRead()
    shared = OneReadAtATime(read)
    first: list = []
    leader = _call_in_thread(shared, first)
    assert read.entered.wait(5)                           # read 1 is under way
    later: list = []
    followers = [_call_in_thread(shared, later) for _ in range(5)]
    _wait_for_waiters(shared, 5)                          # all five asked while read 1 was under way
    read.gate.set()                                       # read 1 ends; one follower makes read 2
    for t in [leader, *followers]:
        t.join(5)
    assert first == [1]
    assert later == [2] * 5                               # none took read 1, which started before they asked
    assert read.started == 2                              # and six callers cost two reads


def test_a_failed_read_fails_the_callers_it_serves_and_the_next_read_is_fresh() -> None:
    read = GatedRead(fail_on={2})
    shared = OneReadAtATime(read)
    first: list = []
    leader = _call_in_thread(shared, first)
    assert read.entered.wait(5)
    later: list = []
    followers = [_call_in_thread(shared, later) for _ in range(3)]
    _wait_for_waiters(shared, 3)
    read.gate.set()
    for t in [leader, *followers]:
        t.join(5)
    assert first == [1]
    assert len(later) == 3 and all(isinstance(e, ConnectionError) and "read 2" in str(e) for e in later)
    assert shared() == 3                                  # nothing kept of the failure: the next caller reads


def test_many_threads_always_get_a_value_read_after_they_asked() -> None:
    """Each read returns the time it started; every caller's value must be later than its call."""
    def read() -> float:
        started = time.monotonic()
        time.sleep(0.0005)
        return started

    shared = OneReadAtATime(read)  # type: ignore[arg-type]
    late: list[float] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(200):
                asked = time.monotonic()
                got = shared()
                if got < asked:
                    late.append(asked - got)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert late == []


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(3)])
def test_even_a_base_exception_leaves_it_usable(exc: BaseException) -> None:
    calls = iter([exc, None])

    def read() -> int:
        e = next(calls)
        if e is not None:
            raise e
        return 7

    shared = OneReadAtATime(read)
    with pytest.raises(type(exc)):
        shared()
    assert shared() == 7
