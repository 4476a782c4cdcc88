"""The request path's own SQLite access: no pool, no statement building, no checkpoint on the way.

Every request reads the generation counter, and every group commit appends issued tokens and audit
events. On a SQLite file both go through one plain connection per thread, kept open (the serving
event loop is one thread, so in practice one connection).

Those connections never checkpoint the WAL themselves (`wal_autocheckpoint=0`): a checkpoint copies
pages into the database file and syncs it, tens of milliseconds on an ordinary disk, and the
request that happened to trigger it — with every request behind it on the event loop — would wait.
A background thread checkpoints instead (PASSIVE: it never blocks a reader or a writer) once the
WAL holds 32 MiB, or 30 s after the last one if anything was written since. Rare and large beats
frequent and small here: a checkpoint still costs CPU and I/O that the requests around it feel,
and the rarer it comes the fewer requests see it. The thread also runs at a lower priority.
Other connections (admin commands, rare writes) keep SQLite's default automatic checkpoints.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from typing import Any, Sequence

log = logging.getLogger("regauth.store")

CHECK_INTERVAL = 1.0                  # seconds between looks at the WAL's size
CHECKPOINT_WAL_BYTES = 32 * 1024 * 1024
CHECKPOINT_AFTER_SECONDS = 30.0
CHECKPOINT_NICE = 10                  # relative to the process: ~10 % of a contended core
WAL_SIZE_LIMIT = 64 * 1024 * 1024     # bytes the WAL file is truncated to after a reset


class SqliteDirect:
    def __init__(self, path: str, write_lock: threading.Lock) -> None:
        self._path = path
        self._write_lock = write_lock     # the store's: one writer at a time inside this process
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        self._checkpointer: _Checkpointer | None = None

    def read_one(self, sql: str) -> tuple[Any, ...] | None:
        rows = self._conn().execute(sql).fetchall()   # fetchall: the read transaction ends here
        return rows[0] if rows else None

    def insert_many(self, statements: Sequence[tuple[str, Sequence[tuple[Any, ...]]]]) -> None:
        """Every (sql, rows) in one IMMEDIATE transaction: all or none."""
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, rows in statements:
                    if rows:
                        conn.executemany(sql, rows)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        self._checkpoints().written()

    def close(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
            checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            checkpointer.stop()
        for conn in conns:
            conn.close()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open()
        return conn

    def _open(self) -> sqlite3.Connection:
        # used only by the thread that made it (thread-local); closable from any thread at shutdown
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        for pragma in ("busy_timeout=5000", "synchronous=NORMAL", "foreign_keys=ON", "wal_autocheckpoint=0"):
            conn.execute(f"PRAGMA {pragma}")
        with self._lock:
            self._conns.append(conn)
        return conn

    def _checkpoints(self) -> "_Checkpointer":
        checkpointer = self._checkpointer
        if checkpointer is None:
            with self._lock:
                if self._checkpointer is None:
                    self._checkpointer = _Checkpointer(self._path)
                checkpointer = self._checkpointer
        return checkpointer


class _Checkpointer:
    """A daemon thread that moves the WAL into the database file, off the request path."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._wal = path + "-wal"
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="regauth-checkpoint", daemon=True)
        self._thread.start()

    def written(self) -> None:
        self._dirty.set()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=30)

    def _due(self, since_last: float) -> bool:
        try:
            size = os.stat(self._wal).st_size
        except OSError:
            return False
        return size >= CHECKPOINT_WAL_BYTES or (since_last >= CHECKPOINT_AFTER_SECONDS and self._dirty.is_set())

    def _run(self) -> None:
        _lower_priority()
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            last = time.monotonic()
            while not self._stopping.wait(CHECK_INTERVAL):
                if not self._due(time.monotonic() - last):
                    continue
                self._dirty.clear()
                last = time.monotonic()
                try:
                    checkpoint(conn)
                except sqlite3.Error as exc:        # next round tries again; requests are unaffected
                    log.warning("WAL checkpoint failed: %s", exc)
            if self._dirty.is_set():
                checkpoint(conn)                    # leave little for the next start to replay
        finally:
            conn.close()


def _lower_priority() -> None:
    """This thread yields the CPU to the event loop when both want it (Linux nice is per thread): a
    checkpoint's page copying would otherwise take turns with requests on a busy core."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CHECKPOINT_NICE)
    except (AttributeError, OSError):      # not Linux, or not allowed: checkpoints at normal priority
        pass


def checkpoint(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(busy, frames in the WAL, frames moved into the database): PASSIVE, never waits on anyone."""
    busy, frames, moved = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(busy), int(frames), int(moved)
