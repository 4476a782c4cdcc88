"""Group commit: the records of many requests stored in one transaction, each answer sent after its own.

A request hands its `Pending` records over and waits. Records that arrive while the store is busy
(or within the same turn of the event loop) go into the next transaction together, so the cost of
a commit is shared by every request in it; no request's answer leaves before its records are in.

Two ways to run the writes:
- on the event loop (an embedded SQLite file: a commit costs microseconds, and a thread would only
  hand the GIL back and forth with the loop): the HTTP server calls `flush` once it has handled
  the requests it took in a loop turn, so their answers leave in the turn they were handled in;
  records submitted otherwise are stored in the next turn;
- on one writer thread (PostgreSQL: a commit waits on the network), one transaction in flight at a time.

If a transaction fails, its requests' records are retried one request at a time, so one bad record
fails only its own request; each request whose records still fail is counted
(`regauth_audit_write_failures_total`, regauth.metrics). Not when the store itself failed (down,
out of connections, no answer in time: `faults.outage`): a record is not at fault then, and each
retry would meet the same outage, one after another (with a database that gives no answer, a
timeout each: the last of 8 requests waited 45 s for a 5 s timeout).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Sequence

from regauth.faults import log_fault, outage
from regauth.log_lines import LogLines
from regauth.metrics import Metrics
from regauth.services.audit import line
from regauth.services.pending import Pending
from regauth.store.answer_deadline import no_answer

log = logging.getLogger("regauth.commit")

WriteBatch = Callable[[Sequence[Pending]], None]
Then = Callable[[BaseException | None], None]


class GroupCommit:
    def __init__(self, write: WriteBatch, *, on_loop: bool, metrics: Metrics | None = None) -> None:
        self._write = write
        self._metrics = metrics
        self._on_loop = on_loop
        self._queue: list[tuple[Pending, Then]] = []
        self._busy = False
        self._scheduled: asyncio.Handle | None = None     # the flush to come, on the loop
        self._closed = False
        self._pool = None if on_loop else ThreadPoolExecutor(max_workers=1, thread_name_prefix="regauth-commit")

    def submit(self, pending: Pending, then: Then) -> None:
        """Store `pending` with whatever else is waiting; `then(None)` once it is stored, or
        `then(exc)` with what storing it raised. `then` is called on the event loop."""
        self._queue.append((pending, then))
        if not self._busy:
            self._busy = True
            loop = asyncio.get_running_loop()
            if self._on_loop:
                # after every request already runnable this turn, unless `flush` comes first
                self._scheduled = loop.call_soon(self._flush_on_loop)
            else:
                self._next_on_thread(loop)

    async def commit(self, pending: Pending) -> None:
        """Returns once `pending` is stored; raises what storing it raised."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def then(failure: BaseException | None) -> None:
            if done.done():            # its waiter went away (cancelled): nothing to tell
                return
            if failure is None:
                done.set_result(None)
            else:
                done.set_exception(failure)
        self.submit(pending, then)
        await done

    def flush(self) -> None:
        """On the loop: store what is queued now, instead of in the next turn. The HTTP server calls
        it once it has handled the requests it took in a turn, so that their answers leave in the
        turn they were handled in."""
        if self._on_loop and self._queue:
            self._flush_on_loop()

    def close(self) -> None:
        """Stop the writer thread (after the transaction in flight); later submissions fail."""
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    # --- the two ways -------------------------------------------------------------------------
    def _flush_on_loop(self) -> None:
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        batch, self._queue = self._queue, []
        self._busy = False
        _settle(batch, self._store(batch))

    def _next_on_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        """Send what is queued to the writer thread; when it is stored, settle it and go on."""
        batch, self._queue = self._queue, []
        if not batch:
            self._busy = False
            return
        if self._closed:
            _settle(batch, [RuntimeError("the store is closed")] * len(batch))
            self._busy = False
            return

        def stored(future: Future[list[BaseException | None]]) -> None:
            try:
                outcomes = future.result()
            except BaseException as exc:  # noqa: BLE001 - the pool is gone (shutdown) or cancelled
                outcomes = [exc] * len(batch)
            _settle(batch, outcomes)
            self._next_on_thread(loop)

        try:
            work = self._pool.submit(self._store, batch)  # type: ignore[union-attr]
        except RuntimeError as exc:                        # shut down
            _settle(batch, [exc] * len(batch))
            self._busy = False
            return
        work.add_done_callback(lambda f: call_soon_threadsafe(loop, stored, f))

    # --- storing ------------------------------------------------------------------------------
    def _store(self, batch: Sequence[tuple[Pending, object]]) -> list[BaseException | None]:
        """One outcome per request: None when its records are stored."""
        units = [p for p, _ in batch]
        try:
            self._write(units)
            return [None] * len(units)
        except Exception as exc:  # noqa: BLE001 - find out whose records fail: one transaction each
            if len(units) == 1 or outage(exc) is not None:
                for unit in units:
                    _lost(unit, exc)
                    self._failed()
                return [exc] * len(units)
        outcomes: list[BaseException | None] = []
        for unit in units:
            try:
                self._write([unit])
                outcomes.append(None)
            except Exception as exc:  # noqa: BLE001 - reported to the request that owns it
                _lost(unit, exc)
                self._failed()
                outcomes.append(exc)
        return outcomes

    def _failed(self) -> None:
        """One request's records could not be stored (counted on the one thread that writes)."""
        if self._metrics is not None:
            self._metrics.audit_write_failures += 1


def _lost(unit: Pending, exc: BaseException) -> None:
    """A request's records could not be stored: its audit lines go to the log instead (at ERROR, so
    whatever the log level), so that the trail of a denial answered anyway, or the request id of a
    500, is not lost with them."""
    log_fault(log, exc, "could not store a request's records")
    # A statement cut for want of an answer is cancelled, but a server that was stopped may still run
    # it when it resumes, before it sees the cancel: not known, rather than not, stored.
    prefix = "not known to be stored" if no_answer(exc) else "not stored"
    if unit.events:         # a line each, prefixed as records of their own (the traceback's record cannot)
        log.error(LogLines([f"{prefix}: {line(e)}" for e in unit.events]))


def call_soon_threadsafe(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: object) -> None:
    """`loop.call_soon_threadsafe`, from a worker thread whose result may outlive the loop."""
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:              # the loop is closed: nobody is waiting for the outcome
        pass


def _settle(batch: Sequence[tuple[Pending, Then]], outcomes: Sequence[BaseException | None]) -> None:
    for (_, then), failure in zip(batch, outcomes):
        try:
            then(failure)
        except Exception:  # noqa: BLE001 - one request's fault must not keep the others waiting
            log.exception("a request could not be told its records' outcome")
