"""The request path's own SQLite access: no pool, no statement building, no checkpoint on the way.

Every request reads the generation counter, and every group commit appends issued tokens and audit
events. On a SQLite file both go through one plain connection per thread, kept open (the serving
event loop is one thread, so in practice one connection).

Those connections never checkpoint the WAL themselves (`wal_autocheckpoint=0`): a checkpoint copies
pages into the database file and syncs it, tens of milliseconds on an ordinary disk, and the
request that happened to trigger it — with every request behind it on the event loop — would wait.
A background thread checkpoints instead (PASSIVE: it never blocks a reader or a writer) once the
WAL holds about 32 MiB not yet copied, or 30 s after the last one if anything was written since
(`CheckpointPolicy`: the file's size alone does not say, since SQLite reuses the file). Rare and large beats
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

CHECK_INTERVAL = 1.0                  # seconds between looks at whether a checkpoint is due
CHECKPOINT_FRAMES = 8192              # ~32 MiB of 4 KiB pages not yet in the database file
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


class CheckpointPolicy:
    """When the WAL is due for a checkpoint: once it holds about `frames` frames not yet copied, or
    `seconds` after the last checkpoint if anything was written since.

    The WAL file's size does not say how much it holds: after a checkpoint, SQLite writes the WAL
    again from its start and the file keeps its size. So the amount is estimated from the rate the
    last checkpoint saw (frames it found ÷ seconds since the one before); until there is a rate, and
    whenever the file grows past the size it had (the estimate was low), the size is the measure."""

    def __init__(self, frames: int, seconds: float, wal_bytes: int) -> None:
        self.frames, self.seconds, self.wal_bytes = frames, seconds, wal_bytes
        self._rate: float | None = None      # frames written per second, as last seen
        self._size_seen = 0                  # the WAL file's size at the last checkpoint

    def due(self, since_last: float, dirty: bool, wal_size: int) -> bool:
        if not dirty:
            return False
        if since_last >= self.seconds:
            return True
        if wal_size > self._size_seen and wal_size >= self.wal_bytes:
            return True
        return self._rate is not None and self._rate * since_last >= self.frames

    def done(self, frames_found: int, since_last: float, wal_size: int) -> None:
        """A checkpoint found `frames_found` frames in the WAL, `since_last` seconds after the last."""
        self._rate = frames_found / since_last if since_last > 0 else None
        self._size_seen = wal_size


class _Checkpointer:
    """A daemon thread that moves the WAL into the database file, off the request path."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._wal = path + "-wal"
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._policy = CheckpointPolicy(CHECKPOINT_FRAMES, CHECKPOINT_AFTER_SECONDS, CHECKPOINT_WAL_BYTES)
        self._thread = threading.Thread(target=self._run, name="regauth-checkpoint", daemon=True)
        self._thread.start()

    def written(self) -> None:
        self._dirty.set()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=30)

    def _wal_size(self) -> int:
        try:
            return os.stat(self._wal).st_size
        except OSError:
            return 0

    def _run(self) -> None:
        _lower_priority()
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            last = time.monotonic()
            while not self._stopping.wait(CHECK_INTERVAL):
                now = time.monotonic()
                if not self._policy.due(now - last, self._dirty.is_set(), self._wal_size()):
                    continue
                self._dirty.clear()
                try:
                    _, frames, _ = checkpoint(conn)
                except sqlite3.Error as exc:        # next round tries again; requests are unaffected
                    log.warning("WAL checkpoint failed: %s", exc)
                    frames = 0
                self._policy.done(frames, now - last, self._wal_size())
                last = now
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
