"""Group commit: the records of many requests stored in one transaction, each answer sent after its own.

A request hands its `Pending` records over and waits. Records that arrive while the store is busy
(or within the same turn of the event loop) go into the next transaction together, so the cost of
a commit is shared by every request in it; no request's answer leaves before its records are in.

Two ways to run the writes:
- on the event loop (an embedded SQLite file: a commit costs microseconds, and a thread would only
  hand the GIL back and forth with the loop), scheduled once per loop turn;
- on one writer thread (PostgreSQL: a commit waits on the network), one transaction in flight at a time.

If a transaction fails, its requests' records are retried one request at a time, so one bad record
fails only its own request.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

from regauth.services.pending import Pending

log = logging.getLogger("regauth.commit")

WriteBatch = Callable[[Sequence[Pending]], None]


class GroupCommit:
    def __init__(self, write: WriteBatch, *, on_loop: bool) -> None:
        self._write = write
        self._on_loop = on_loop
        self._queue: list[tuple[Pending, asyncio.Future[None]]] = []
        self._busy = False
        self._pool = None if on_loop else ThreadPoolExecutor(max_workers=1, thread_name_prefix="regauth-commit")
        self._drainer: asyncio.Task[None] | None = None    # held: the loop keeps only weak references

    async def commit(self, pending: Pending) -> None:
        """Returns once `pending` is stored; raises what storing it raised."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queue.append((pending, done))
        if not self._busy:
            self._busy = True
            if self._on_loop:
                loop.call_soon(self._flush_on_loop)   # after every request already runnable this turn
            else:
                self._drainer = loop.create_task(self._drain_on_thread())
        await done

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    # --- the two ways -------------------------------------------------------------------------
    def _flush_on_loop(self) -> None:
        batch, self._queue = self._queue, []
        self._busy = False
        _settle(batch, self._store(batch))

    async def _drain_on_thread(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    outcomes = await loop.run_in_executor(self._pool, self._store, batch)
                except asyncio.CancelledError:       # the loop is closing: nobody waits in vain
                    for _, done in batch + self._queue:
                        done.cancel()
                    raise
                except Exception as exc:  # noqa: BLE001 - the pool is gone (shutdown)
                    outcomes = [exc] * len(batch)
                _settle(batch, outcomes)
        finally:
            self._busy = False

    # --- storing ------------------------------------------------------------------------------
    def _store(self, batch: Sequence[tuple[Pending, object]]) -> list[BaseException | None]:
        """One outcome per request: None when its records are stored."""
        units = [p for p, _ in batch]
        try:
            self._write(units)
            return [None] * len(units)
        except Exception as exc:  # noqa: BLE001 - find out whose records fail: one transaction each
            if len(units) == 1:
                log.error("could not store a request's records", exc_info=exc)
                return [exc]
        outcomes: list[BaseException | None] = []
        for unit in units:
            try:
                self._write([unit])
                outcomes.append(None)
            except Exception as exc:  # noqa: BLE001 - reported to the request that owns it
                log.error("could not store a request's records", exc_info=exc)
                outcomes.append(exc)
        return outcomes


def _settle(batch: Sequence[tuple[Pending, asyncio.Future[None]]],
            outcomes: Sequence[BaseException | None]) -> None:
    for (_, done), failure in zip(batch, outcomes):
        if done.done():            # its request went away (cancelled): nothing to tell
            continue
        if failure is None:
            done.set_result(None)
        else:
            done.set_exception(failure)
