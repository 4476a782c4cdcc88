"""The request path's own PostgreSQL statements: a connection kept checked out of the pool, in autocommit.

Every request starts by reading the generation counter (see `regauth.services.cache`). Through
the pool in a transaction that read is three round trips (BEGIN, SELECT, COMMIT) plus a checkout
and a checkin; on a connection held in autocommit it is one round trip. The worker threads share
the read (`regauth.http.OneReadAtATime`), so one connection serves them all; a lock keeps any
other caller off it meanwhile. The group commit's writer holds another: a batch of records is one
statement (atomic on its own), so one round trip too.

A connection that fails is closed, never put back in the pool, and replaced; it is also replaced
after `RECYCLE_SECONDS`, as the pool renews its own. A statement that fails on a connection held
from before (PostgreSQL restarted, or an idle connection was cut) is sent once more on a new one:
otherwise each held connection would cost a failed request after every database restart. A read
is simply read again. A write may have landed before the connection broke (committed, its answer
lost): it names a query that finds it (`landed`), asked on the new connection first, and the
write is sent again only when that finds nothing. Audit events have no unique key that would
refuse a second copy: without the question, an audit-only batch was stored twice. A statement
whose answer did not come in time (`store.answer_deadline`) is not sent again: the server is
there but stuck, and would keep the request as long once more.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from regauth.store.answer_deadline import no_answer

RECYCLE_SECONDS = 1800            # the pool's own `pool_recycle` (store.open) uses the same


class HeldConnection:
    def __init__(self, engine: sa.Engine, recycle: float = RECYCLE_SECONDS) -> None:
        self._engine = engine
        self._recycle = recycle
        self._lock = threading.Lock()
        self._conn: Any = None            # a pool connection (_ConnectionFairy), checked out
        self._opened = 0.0

    def read_one(self, sql: str) -> tuple[Any, ...] | None:
        return self._run(sql, None, fetch=True)

    def execute(self, sql: str, params: Sequence[Any], landed: tuple[str, Sequence[Any]]) -> None:
        """One statement, committed on its own (autocommit): all of it or none. `landed`: a query
        (and its parameters) that returns a row once the statement has been committed."""
        self._run(sql, params, fetch=False, landed=landed)

    def _run(self, sql: str, params: Sequence[Any] | None, *, fetch: bool,
             landed: tuple[str, Sequence[Any]] | None = None) -> tuple[Any, ...] | None:
        with self._lock:
            if self._conn is not None and time.monotonic() - self._opened > self._recycle:
                self._drop()
            held = self._conn is not None
            try:
                return self._once(sql, params, fetch)
            except Exception as exc:
                if not held or not _connection_lost(exc):
                    raise
            # The pool's idle connections died with this one (a restart): start a new pool, as
            # SQLAlchemy does when it sees a disconnect itself, and send the statement once more,
            # unless it is a write that landed before the connection broke
            self._engine.dispose()
            if landed is not None and self._once(*landed, True) is not None:
                return None
            return self._once(sql, params, fetch)

    def _once(self, sql: str, params: Sequence[Any] | None, fetch: bool) -> tuple[Any, ...] | None:
        if self._conn is None:
            conn = self._engine.raw_connection()
            try:
                conn.driver_connection.autocommit = True
            except BaseException:
                conn.invalidate()
                raise
            self._conn, self._opened = conn, time.monotonic()
        try:
            cursor = self._conn.cursor()
            try:
                cursor.execute(sql, params)
                return cursor.fetchone() if fetch else None
            finally:
                cursor.close()
        except BaseException:
            self._drop()
            raise

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()         # closed, not returned: the pool's connections stay in transaction mode
            except Exception:  # noqa: BLE001 - already broken: nothing left to close
                pass


def _connection_lost(exc: Exception) -> bool:
    """Whether `exc` says the connection is gone (not that the statement was refused, nor that the
    server, alive, did not answer in time: sent again, it would wait as long once more)."""
    try:
        import psycopg
    except ImportError:             # pragma: no cover - only PostgreSQL holds connections
        return False
    return (isinstance(exc, psycopg.OperationalError) and not isinstance(exc, psycopg.errors.QueryCanceled)
            and not no_answer(exc))
