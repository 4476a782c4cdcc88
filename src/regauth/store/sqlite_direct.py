"""The request path's own SQLite access: no pool, no statement building, no checkpoint on the way.

Every request reads the generation counter, and every group commit appends issued tokens and audit
events. On a SQLite file both go through one plain connection per thread, kept open (the serving
event loop is one thread, so in practice one connection).

Those connections never checkpoint the WAL themselves (`wal_autocheckpoint=0`): a checkpoint copies
pages into the database file and syncs it, tens of milliseconds on an ordinary disk, and the
request that happened to trigger it — with every request behind it on the event loop — would wait.
A background thread (`_Checkpointer`, at a lower priority) does two things instead:

- a PASSIVE checkpoint (it never blocks a reader or a writer) once the WAL holds about 32 MiB not
  yet copied, or 30 s after the last one if anything was written since (`CheckpointPolicy`);
- under sustained load the WAL never starts over by itself: SQLite reuses it from its start only
  when a checkpoint has copied every frame, and commits keep landing while one runs. Without help
  the file grew by about 30 MiB a second for as long as the load lasted. So once it holds
  `RESTART_FRAMES` (256 MiB) the thread catches up in shorter and shorter passes and runs the last
  one holding the store's write lock, so that nothing is committed meanwhile; the next commit
  then writes the WAL from its start, and the file keeps its size. That last pass ends with the
  syncs of a complete checkpoint, so the database file is synced just before it, unlocked: the
  pass then holds the lock a few milliseconds on the bench machine (20-70 ms without), once per
  256 MiB written (every 6-8 s at full load).

The same thread also starts the kernel writing the WAL (and the database file) to disk every
`WRITEBACK_INTERVAL` while commits go on, without waiting for it (Linux `sync_file_range`,
`_Writeback`). A checkpoint begins by syncing the WAL; left to itself that sync finds every page
written since the last checkpoint still dirty (~32 MiB) and takes 100-250 ms, and while it runs
the commits' own writes to the WAL wait: 10-70 ms stalls of the event loop, once a checkpoint,
which made the p99 of a 10-second run at 16 connections 2-5 times its p90. Written back as it
goes, the WAL is nearly clean when the sync comes.

Other connections (admin commands, rare writes) keep SQLite's default automatic checkpoints.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Sequence
from urllib.parse import quote

log = logging.getLogger("regauth.store")

CHECK_INTERVAL = 1.0                  # seconds between looks at whether a checkpoint is due
WRITEBACK_INTERVAL = 0.1              # seconds between starts of the WAL's and database's writeback
CHECKPOINT_FRAMES = 8192              # ~32 MiB of 4 KiB pages not yet in the database file
CHECKPOINT_WAL_BYTES = 32 * 1024 * 1024
CHECKPOINT_AFTER_SECONDS = 30.0
CHECKPOINT_NICE = 10                  # relative to the process: ~10 % of a contended core
WAL_SIZE_LIMIT = 64 * 1024 * 1024     # bytes the WAL file is truncated to after a reset
RESTART_FRAMES = 65536                # 256 MiB of 4 KiB pages: from this many frames on, make the WAL start over
CATCH_UP_PASSES = 4                   # unlocked passes before the locked one, each shorter than the last
QUICK_PASS_SECONDS = 0.005            # a pass this quick leaves little for the locked one


class SqliteDirect:
    def __init__(self, path: str, write_lock: threading.Lock) -> None:
        self._path = path
        self._write_lock = write_lock     # the store's: one writer at a time inside this process
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        self._checkpointer: _Checkpointer | None = None
        self._file: tuple[int, int] | None = None       # (device, inode) of the database file first opened
        self._lost_logged = False

    @property
    def write_lock(self) -> threading.Lock:
        return self._write_lock

    def read_one(self, sql: str) -> tuple[Any, ...] | None:
        rows = self._conn().execute(sql).fetchall()   # fetchall: the read transaction ends here
        return rows[0] if rows else None

    def read_rows(self, sql: str, params: Sequence[Any] = ()) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        """(column names, every row) of one query, in its own read transaction."""
        cursor = self._conn().execute(sql, params)
        rows = cursor.fetchall()
        return tuple([d[0] for d in cursor.description]), rows

    def insert_many(self, statements: Sequence[tuple[str, Sequence[tuple[Any, ...]]]]) -> None:
        """Every (sql, rows) in one IMMEDIATE transaction: all or none."""
        with self.transaction() as conn:
            for sql, rows in statements:
                if rows:
                    conn.executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The thread's connection inside an IMMEDIATE transaction, holding the store's write lock:
        committed when the block ends, rolled back if it raises."""
        conn = self._conn()
        with self._write_lock:
            self.check_file()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self._checkpoints().written()

    def use_wal(self) -> None:
        """Put the database in WAL mode (a no-op when it is): outside any transaction."""
        switch_to_wal(self._conn())

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
        conn = connect_file(self._path, create=self._file is None, isolation_level=None)
        for pragma in ("busy_timeout=5000", "synchronous=NORMAL", "foreign_keys=ON", "wal_autocheckpoint=0"):
            conn.execute(f"PRAGMA {pragma}")
        with self._lock:
            self._conns.append(conn)
            if self._file is None:
                self._file = _identity(self._path)
        return conn

    def check_file(self) -> None:
        """Refuse to commit once the database file was deleted or replaced under the server (a
        connection keeps writing to the unlinked file, which no restart or admin command reads):
        those writes would vanish, and the tokens they record with them. One stat per commit, here
        and in `SqlStore`'s writes. (A file copied over the live one in place keeps its inode: SQLite
        cannot tell, and the README says to restore with the server stopped.)"""
        if self._file is None or _identity(self._path) == self._file:
            return
        if not self._lost_logged:
            self._lost_logged = True
            log.error("the store's file %s was deleted or replaced while the server ran: nothing more is "
                      "committed (every request that must record something fails); restore it and restart",
                      self._path)
        raise sqlite3.OperationalError(f"the database file {self._path} was deleted or replaced")

    def _checkpoints(self) -> "_Checkpointer":
        checkpointer = self._checkpointer
        if checkpointer is None:
            with self._lock:
                if self._checkpointer is None:
                    self._checkpointer = _Checkpointer(self._path, self._write_lock)
                checkpointer = self._checkpointer
        return checkpointer


def connect_file(path: str, *, create: bool, **kwargs: Any) -> sqlite3.Connection:
    """A connection to the database file `path`; unless `create`, one that never makes the file: once
    a store has been opened, a deleted file must fail the next connection, not become a new empty
    store (SQLite creates a missing file by default)."""
    if create:
        return sqlite3.connect(path, check_same_thread=False, **kwargs)
    # absolute, but not normalized: `a/link/../x.db` is where the kernel (and SQLite) find it, past the
    # symlink, where os.path.abspath would drop `link/..` as text and name another file
    full = path if os.path.isabs(path) else os.path.join(os.getcwd(), path)
    return sqlite3.connect(f"file:{quote(full)}?mode=rw", uri=True, check_same_thread=False, **kwargs)


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def switch_to_wal(cur: Any) -> None:
    """PRAGMA journal_mode=WAL, which needs the database to itself for a moment: when processes
    open a new database at once, one may find it busy without SQLite's busy handler being asked
    (it would be a deadlock to wait), so a few short retries."""
    for attempt in range(50):
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or attempt == 49:
                raise
            time.sleep(0.01 + 0.002 * attempt)


class CheckpointPolicy:
    """When the WAL is due for a checkpoint: once it holds about `frames` frames not yet copied, or
    `seconds` after the last checkpoint if anything was written since.

    The WAL file's size does not say how much it holds: after a checkpoint, SQLite writes the WAL
    again from its start and the file keeps its size. So the amount is estimated from the rate the
    last checkpoint saw (frames added since the one before ÷ seconds between them); until there is
    a rate, and whenever the file grows past the size it had (the estimate was low), the size is
    the measure. The frames a checkpoint finds are not all new: unless the WAL started over since
    the last one (`restarted`), the frames that one found are still counted."""

    def __init__(self, frames: int, seconds: float, wal_bytes: int) -> None:
        self.frames, self.seconds, self.wal_bytes = frames, seconds, wal_bytes
        self._rate: float | None = None      # frames written per second, as last seen
        self._size_seen = 0                  # the WAL file's size at the last checkpoint
        self._frames_seen = 0                # the frames the last checkpoint found

    def due(self, since_last: float, dirty: bool, wal_size: int) -> bool:
        if not dirty:
            return False
        if since_last >= self.seconds:
            return True
        if wal_size > self._size_seen and wal_size >= self.wal_bytes:
            return True
        return self._rate is not None and self._rate * since_last >= self.frames

    def done(self, frames_found: int, since_last: float, wal_size: int, restarted: bool = True) -> None:
        """A checkpoint found `frames_found` frames in the WAL, `since_last` seconds after the last;
        `restarted`: the WAL started over in between (all it holds is new)."""
        added = frames_found if restarted or frames_found < self._frames_seen else frames_found - self._frames_seen
        self._rate = added / since_last if since_last > 0 else None
        self._size_seen = wal_size
        self._frames_seen = frames_found


class _Checkpointer:
    """A daemon thread that moves the WAL into the database file, off the request path."""

    def __init__(self, path: str, write_lock: threading.Lock) -> None:
        self._path = path
        self._wal = path + "-wal"
        self._write_lock = write_lock        # held by every commit of this process (see SqliteDirect)
        self._writes = 0                     # commits so far; only the writer adds (cheaper than an Event)
        self._stopping = threading.Event()
        self._policy = CheckpointPolicy(CHECKPOINT_FRAMES, CHECKPOINT_AFTER_SECONDS, CHECKPOINT_WAL_BYTES)
        self.restart_frames = RESTART_FRAMES
        self.check_interval = CHECK_INTERVAL
        self.writeback_interval = WRITEBACK_INTERVAL
        self.restarts = 0                    # complete catch-ups: each lets the next commit start the WAL over
        self.writebacks = 0                  # writebacks started (each of the WAL and the database file counts)
        self._thread = threading.Thread(target=self._run, name="regauth-checkpoint", daemon=True)
        self._thread.start()

    def written(self) -> None:
        self._writes += 1

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
        writeback = _Writeback([self._wal, self._path])
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            last = looked = time.monotonic()
            checkpointed = written_back = self._writes
            sequence = _wal_sequence(self._wal)
            while not self._stopping.wait(min(self.check_interval, self.writeback_interval)):
                writes = self._writes
                if writes != written_back:
                    written_back = writes
                    self.writebacks += writeback.start()
                now = time.monotonic()
                if now - looked < self.check_interval:
                    continue
                looked = now
                if not self._policy.due(now - last, writes != checkpointed, self._wal_size()):
                    continue
                checkpointed = writes
                current = _wal_sequence(self._wal)
                try:
                    _, frames, _ = checkpoint(conn)
                    if frames >= self.restart_frames:
                        self._start_over(conn, writeback)
                except sqlite3.Error as exc:        # next round tries again; requests are unaffected
                    log.warning("WAL checkpoint failed: %s", exc)
                    frames = 0
                self._policy.done(frames, now - last, self._wal_size(), restarted=current != sequence)
                sequence = current
                last = now
            if self._writes != checkpointed:
                checkpoint(conn)                    # leave little for the next start to replay
        finally:
            writeback.close()
            conn.close()

    def _start_over(self, conn: sqlite3.Connection, writeback: "_Writeback") -> None:
        """Copy every frame, so that the next commit writes the WAL from its start again: passes
        while commits go on until one is quick, then one with this process's commits held."""
        for _ in range(CATCH_UP_PASSES):
            started = time.monotonic()
            checkpoint(conn)
            if time.monotonic() - started < QUICK_PASS_SECONDS:
                break
        # The locked pass ends by syncing the database file: sync what the passes above wrote to it
        # now, while commits go on, so that little is left to sync with them held.
        writeback.sync(self._path)
        with self._write_lock:
            _, frames, moved = checkpoint(conn)
        if frames == moved:                    # another process may have written meanwhile: next time
            self.restarts += 1


class _Writeback:
    """Gets files' dirty pages to disk ahead of SQLite's own syncs, so that those find little to do.

    `start` asks the kernel to begin writing them and returns at once (Linux
    `sync_file_range(SYNC_FILE_RANGE_WRITE)`: no waiting, no flush of the disk's cache; nothing it
    does counts as durable, SQLite's syncs still do that). Where there is no such call (not Linux),
    it does nothing. `sync` is an fdatasync of one of the files, and waits.

    Each file is opened read-only on first use, and again if it was replaced (another inode)."""

    SYNC_FILE_RANGE_WRITE = 2

    def __init__(self, paths: Sequence[str]) -> None:
        self._files: dict[str, tuple[int, int]] = {}   # path -> (fd, inode)
        self._paths = list(paths)
        self._call = _sync_file_range()

    def start(self) -> int:
        """How many of the files' writeback was started."""
        if self._call is None:
            return 0
        return sum(1 for fd in self._fds() if self._call(fd, 0, 0, self.SYNC_FILE_RANGE_WRITE) == 0)

    def sync(self, path: str) -> None:
        """fdatasync `path` (one of the files), if it is there."""
        for fd in self._fds([path]):
            try:
                os.fdatasync(fd)
            except OSError:                         # SQLite's own sync will say so if it matters
                pass

    def _fds(self, paths: Sequence[str] | None = None) -> list[int]:
        fds = []
        for path in self._paths if paths is None else paths:
            try:
                ino = os.stat(path).st_ino
            except OSError:                         # not there (yet): next time
                continue
            fd, known = self._files.get(path, (-1, -1))
            if known != ino:
                if fd >= 0:
                    del self._files[path]
                    os.close(fd)
                try:
                    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
                except OSError:
                    continue
                self._files[path] = (fd, ino)
            fds.append(fd)
        return fds

    def close(self) -> None:
        files, self._files = self._files, {}
        for fd, _ in files.values():
            os.close(fd)


def _sync_file_range() -> Any:
    """libc's sync_file_range(fd, offset, nbytes, flags), or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes                               # only this background thread pays the import
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (ImportError, OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def _wal_sequence(path: str) -> bytes:
    """The WAL header's checkpoint sequence number and salts: they change when the WAL starts over."""
    try:
        with open(path, "rb") as f:
            return f.read(24)[12:24]
    except OSError:
        return b""


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
