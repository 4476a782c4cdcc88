"""What every part of `SqlStore` shares: transactions, upserts, and integrity-error mapping."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import sqlalchemy as sa

from regauth.store import integrity
from regauth.store import schema as t
from regauth.store.crypto import SecretBox
from regauth.store.held_connection import HeldConnection
from regauth.store.sqlite_direct import SqliteDirect
from regauth.store.sqlite_reads import GENERATION_SQL, generation_value


def map_integrity(resource_type: str, resource_id: str, *, parent: tuple[str, str] | None = None,
                  conflict_message: str = "") -> AbstractContextManager[None]:
    """`integrity.map_integrity` for errors wrapped by SQLAlchemy."""
    return integrity.map_integrity(resource_type, resource_id, parent=parent, conflict_message=conflict_message,
                                   catch=sa.exc.IntegrityError, orig=lambda exc: exc.orig)


# A transaction-scoped advisory lock, and a bound on how long its transaction may then sit idle on the
# server (set for this transaction only: nothing leaks to the next user of the session, as through
# PgBouncer's transaction mode). regauth never idles in a transaction for more than the moment between
# two statements, unless its process is frozen (SIGSTOP, a paused host or container, a Ctrl-Z'd admin
# command): then the lock it holds would stop every other node's writes of its kind until it resumed.
# PostgreSQL ends such a session instead, which frees the lock; the frozen process's transaction fails.
_ADVISORY_LOCK = sa.text("SELECT set_config('idle_in_transaction_session_timeout', :idle, true), "
                         "pg_advisory_xact_lock(:key)")
LOCK_IDLE_SECONDS = 30.0    # unless the store is opened with another (serve: REGAUTH_DATABASE_TIMEOUT_SECONDS)
_BUMP = t.generation.update().where(t.generation.c.id == 1).values(value=t.generation.c.value + 1)


class SqlBase:
    def __init__(self, engine: sa.Engine, box: SecretBox, *, direct: SqliteDirect | None = None,
                 lock_idle_seconds: float = LOCK_IDLE_SECONDS) -> None:
        """`direct`: the held SQLite connections to share (with `store.sqlite_store`), and their write lock.
        `lock_idle_seconds`: PostgreSQL ends a session of this store's idle this long in a transaction
        that took an advisory lock (`_advisory_lock`)."""
        self._engine = engine
        self._lock_idle = f"{max(1, round(lock_idle_seconds * 1000))}ms"
        self._box = box
        self._dialect = engine.dialect.name
        database = engine.url.database
        file_backed = self._dialect == "sqlite" and database not in (None, "", ":memory:")
        if direct is None:
            self._write_lock = threading.Lock()
            self._direct = SqliteDirect(database, self._write_lock) if file_backed else None
        else:
            self._write_lock = direct.write_lock
            self._direct = direct
        self._held = HeldConnection(engine) if self._dialect == "postgresql" else None
        self._held_writer = HeldConnection(engine) if self._dialect == "postgresql" else None

    @property
    def embedded(self) -> bool:
        """SQLite: the database lives in this process (reads and commits cost microseconds)."""
        return self._dialect == "sqlite"

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._engine.url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self._engine.begin() as conn:
            yield conn

    @contextmanager
    def _write(self, *, bump: bool = True) -> Iterator[sa.Connection]:
        """A write transaction. On SQLite it starts with BEGIN IMMEDIATE: writers queue on
        busy_timeout rather than failing on a read-to-write lock upgrade.

        `bump` advances the generation counter in the same transaction: every write that changes
        what request-path caches hold must bump (only append-only records — issued tokens, audit
        events, new sessions, signing keys — may skip it)."""
        if self._dialect != "sqlite":
            with self._engine.begin() as conn:
                yield conn
                if bump:
                    conn.execute(_BUMP)
            return
        # One writer at a time inside this process: SQLite admits one writer anyway, and threads
        # queued on a lock wake as soon as it is free, where SQLite's busy handler would sleep.
        with self._write_lock, self._engine.connect() as conn:
            if self._direct is not None:
                self._direct.check_file()      # a store deleted or replaced under the server takes no write
            conn.execution_options(regauth_begin="BEGIN IMMEDIATE")
            with conn.begin():
                yield conn
                if bump:
                    conn.execute(_BUMP)

    def _exclusive(self, conn: sa.Connection, *key: str) -> None:
        """Inside a write transaction: wait until no other transaction holds `key`, and hold it until
        this one ends. For a check that spans rows (a quota, names unique whatever their case, a host
        one account owns): check and write under it and no concurrent writer slips between them.
        PostgreSQL: a transaction-scoped advisory lock; SQLite: nothing more to do, its write
        transactions (BEGIN IMMEDIATE) already run one at a time, across processes too."""
        if self._dialect == "postgresql":
            digest = hashlib.blake2b("\0".join(key).encode(), digest_size=8).digest()
            self._advisory_lock(conn, int.from_bytes(digest, "big", signed=True))

    def _advisory_lock(self, conn: sa.Connection, key: int) -> None:
        """PostgreSQL, inside a write transaction: take the advisory lock `key` until the transaction
        ends, which PostgreSQL ends itself should this process stop between statements (`_ADVISORY_LOCK`)."""
        conn.execute(_ADVISORY_LOCK, {"key": key, "idle": self._lock_idle})

    def generation(self) -> int:
        """The counter every cache-relevant write advances (one single-row read, every request):
        on a SQLite file through the thread's own held connection (see `sqlite_direct`), on
        PostgreSQL through one held autocommit connection (see `held_connection`), elsewhere
        straight through a pooled DB-API connection."""
        if self._direct is not None:
            row = self._direct.read_one(GENERATION_SQL)
        elif self._held is not None:
            row = self._held.read_one(GENERATION_SQL)
        else:
            conn = self._engine.raw_connection()
            try:
                cursor = conn.cursor()
                try:
                    cursor.execute(GENERATION_SQL)
                    row = cursor.fetchone()
                finally:
                    cursor.close()
                conn.commit()     # end the read transaction
            finally:
                conn.close()      # back to the pool
        return generation_value(row)

    def _upsert(self, conn: sa.Connection, table: sa.Table, values: dict[str, Any],
                keys: Sequence[str], update: Sequence[str] | None = None) -> None:
        """INSERT ... ON CONFLICT (keys) DO UPDATE (or DO NOTHING when `update` is empty)."""
        if self._dialect == "postgresql":      # imported here: a SQLite server never loads psycopg's dialect
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        insert = dialect_insert(table).values(**values)
        cols = [c for c in values if c not in keys] if update is None else list(update)
        if cols:
            stmt = insert.on_conflict_do_update(index_elements=list(keys),
                                                set_={c: insert.excluded[c] for c in cols})
        else:
            stmt = insert.on_conflict_do_nothing(index_elements=list(keys))
        conn.execute(stmt)

    def close(self) -> None:
        if self._direct is not None:
            self._direct.close()
        for held in (self._held, self._held_writer):
            if held is not None:
                held.close()
        self._engine.dispose()
