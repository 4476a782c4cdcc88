"""How long a serving process waits for PostgreSQL to answer one statement.

TCP keepalives and `tcp_user_timeout` (store.open) catch a database whose host stops acknowledging.
A database that is alive but stuck (its process stopped or frozen, its host paused, a statement
waiting on a lock its holder never releases) is still acknowledged by its host's kernel, so a
statement sent to it waited forever, and with it the request, and every request after it that
needed the store: clients saw their read timeouts, never an answer.

Each PostgreSQL connection of an engine made with a deadline waits at most `seconds` for each answer
(psycopg's `Connection.wait`, through which every exchange goes: statement, fetch, commit). Past it a
watchdog thread has the statement cancelled on the server and the connection's socket shut down
(`_shut`): the wait ends in an `OperationalError`, the connection is closed (SQLAlchemy drops it,
`held_connection` replaces it) and the request fails as in any store outage. The deadline is off
(`seconds` None) until the serving process has migrated its store: a migration may run long statements.
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from typing import Any


CANCEL_SECONDS = 2.0       # how long the cancel of a late statement may take before its socket is shut down


class AnswerDeadline:
    """Shared by the connections of one engine; `seconds` None: no deadline."""

    def __init__(self) -> None:
        self.seconds: float | None = None
        self._lock = threading.Lock()
        self._waits: dict[int, tuple[float, Any]] = {}     # wait -> (monotonic deadline, connection)
        self._expired: set[int] = set()
        self._wake = threading.Condition(self._lock)
        self._watchdog: threading.Thread | None = None
        self._keys = itertools.count()
        self._idle = False            # the watchdog sleeps until woken: no wait was pending

    def __repr__(self) -> str:
        return f"AnswerDeadline(seconds={self.seconds})"

    def connection_class(self) -> type:
        """A psycopg Connection class whose waits for the server are bounded by this deadline."""
        import psycopg

        deadline = self

        class BoundedConnection(psycopg.Connection):  # type: ignore[type-arg]
            def wait(self, *args: Any, **kwargs: Any) -> Any:
                seconds = deadline.seconds
                if seconds is None:
                    return super().wait(*args, **kwargs)
                key = deadline._start(self, seconds)
                try:
                    return super().wait(*args, **kwargs)
                except psycopg.OperationalError:
                    if deadline._end(key):
                        # cancelled, its socket about to be shut down: closed now, so that SQLAlchemy
                        # drops it (a cancelled connection looks healthy) and no one takes it again
                        try:
                            self.close()
                        except Exception:  # noqa: BLE001 - broken already: closed is what is wanted
                            pass
                        exc = psycopg.OperationalError(
                            f"PostgreSQL gave no answer within {seconds:g} s (REGAUTH_DATABASE_TIMEOUT_SECONDS): "
                            "the connection was closed")
                        exc.regauth_no_answer = True     # type: ignore[attr-defined]
                        raise exc from None
                    raise
                finally:
                    deadline._end(key)

        return BoundedConnection

    def _start(self, conn: Any, seconds: float) -> int:
        with self._lock:
            key = next(self._keys)
            self._waits[key] = (time.monotonic() + seconds, conn)
            if self._watchdog is None:
                self._watchdog = threading.Thread(target=self._watch, name="regauth-db-deadline", daemon=True)
                self._watchdog.start()
            elif self._idle:
                # woken only from its sleep without a deadline: a deadline it sleeps until comes
                # before this one (every wait has the same length)
                self._idle = False
                self._wake.notify()
        return key

    def _end(self, key: int) -> bool:
        """Whether the wait `key` was cut by the watchdog (asked again after the first: False)."""
        with self._lock:
            self._waits.pop(key, None)
            if key in self._expired:
                self._expired.discard(key)
                return True
            return False

    def _watch(self) -> None:
        with self._lock:
            while True:
                now = time.monotonic()
                for key, (at, conn) in list(self._waits.items()):
                    if at <= now and key not in self._expired:
                        # still inside its wait (`_end` takes this lock first), so the descriptor is
                        # still this connection's own
                        self._expired.add(key)
                        _shut(conn)
                pending = [at for key, (at, _) in self._waits.items() if key not in self._expired]
                self._idle = not pending
                self._wake.wait(timeout=max(0.05, min(pending) - now) if pending else None)


def _shut(conn: Any) -> None:
    """End the connection's pending wait: the statement cancelled on the server, then the socket shut
    down both ways (the descriptor stays open, psycopg closes it with the connection).

    Without the cancel, a statement waiting on a lock went on waiting in its server session after
    its request had failed, and ran once the lock was released: each cut statement left a session
    behind (one node exhausted `max_connections`), and records logged as not stored were stored.
    The cancel is libpq's non-blocking one (libpq 17, psycopg 3.2), bounded by CANCEL_SECONDS: a
    stopped server never answers it, and the blocking one holds the interpreter's lock meanwhile (the
    whole process stopped with the database). Without it, the socket is shut down alone. Both run on
    a thread of their own; the socket is a duplicate taken now, so it is this connection's whatever
    becomes of the descriptor number meanwhile."""
    try:
        sock = socket.socket(fileno=os.dup(conn.pgconn.socket))
    except Exception:       # noqa: BLE001 - already closed: nothing is waiting on it
        return
    threading.Thread(target=_cancel_then_shut, args=(conn, sock), name="regauth-db-cancel", daemon=True).start()


def _cancel_then_shut(conn: Any, sock: socket.socket) -> None:
    try:
        if _can_cancel_safely():
            try:
                conn.cancel_safe(timeout=CANCEL_SECONDS)
            except Exception:   # noqa: BLE001 - not delivered in time, or refused: the socket goes anyway
                pass
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    finally:
        sock.close()


def _can_cancel_safely() -> bool:
    try:
        from psycopg import capabilities
        return bool(capabilities.has_cancel_safe())
    except Exception:       # noqa: BLE001 - psycopg before 3.2, or libpq before 17
        return False


def no_answer(exc: BaseException) -> bool:
    """Whether `exc` (or the driver's error SQLAlchemy wrapped in it) is a wait this deadline cut."""
    return bool(getattr(exc, "regauth_no_answer", False) or getattr(getattr(exc, "orig", None), "regauth_no_answer",
                                                                    False))
