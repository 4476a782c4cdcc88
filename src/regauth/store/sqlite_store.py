"""`SqliteStore`: the store of a SQLite file, which loads SQLAlchemy only when something needs it.

Importing SQLAlchemy is most of a start: about 0.2-0.3 s of the 0.45-0.6 s from spawn to the first
answer on the bench machine. What a start and a token request read is a dozen indexed lookups, which
`sqlite_reads` answers in plain SQL; what a first start writes (the schema, `sqlite_schema`; the
master-key check, the first signing key and the bootstrap account, `sqlite_writes`, whose user,
inline user policy and access key writes also serve IAM's) is plain SQL too, and the group commit
and the generation counter go straight to `sqlite_direct`. Everything else (other writes: roles,
STS sessions, domains, instances; admin listings; migrations of an older schema) goes to a `SqlStore` built on first use, which shares the same held connections and write
lock. So a server that only issues tokens never loads SQLAlchemy, and one that is also administered
loads it once, on the first such call (and logs it at debug level).

Every method answers as `SqlStore`'s does: `tests/store/test_conformance.py` runs the whole `Store`
contract against this class, and `tests/store/test_sqlite_store.py` compares the reads of both, and
the rows their writes leave.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from regauth.domain.principals import AuditEvent, IssuedToken
from regauth.store import row_records as rr
from regauth.store.crypto import SecretBox
from regauth.store.interfaces import Store
from regauth.store.sqlite_direct import SqliteDirect
from regauth.store import sqlite_schema
from regauth.store.sqlite_reads import READS, SqliteReads
from regauth.store.sqlite_writes import WRITES, SqliteWrites

if TYPE_CHECKING:
    import sqlalchemy as sa

    from regauth.store.sql import SqlStore

log = logging.getLogger("regauth.store")

# What goes to the `SqlStore`: the rest of the Store contract.
_DELEGATED = frozenset(name for name in vars(Store) if not name.startswith("_")) - READS - WRITES


class SqliteStore:
    def __init__(self, url: str, path: str, box: SecretBox) -> None:
        self._url = url
        self._box = box
        self._direct = SqliteDirect(path, threading.Lock())
        self._full: SqlStore | None = None
        self._loading = threading.Lock()
        reads = SqliteReads(self._direct, box)
        for name in READS:               # bound once: a read is one attribute lookup away
            setattr(self, name, getattr(reads, name))
        writes = SqliteWrites(self._direct, box)
        for name in WRITES:
            setattr(self, name, getattr(writes, name))

    @property
    def embedded(self) -> bool:
        return True

    def record_batch(self, tokens: Sequence[IssuedToken], events: Sequence[AuditEvent]) -> None:
        token_rows, event_rows = rr.batch_rows(tokens, events)
        self._direct.insert_many([(rr.SQLITE_BATCH_SQL[0], token_rows), (rr.SQLITE_BATCH_SQL[1], event_rows)])

    # --- opening ----------------------------------------------------------------------------------
    def revisions(self) -> tuple[str, ...]:
        """The schema revisions stamped in the database (Alembic's version table); () if none."""
        try:
            _, rows = self._direct.read_rows("SELECT version_num FROM alembic_version")
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return ()
            raise
        return tuple(row[0] for row in rows)

    def create_at_head(self, head: str) -> bool:
        """Put the file in WAL mode and, if it holds no table at all, create the schema at `head` from
        `sqlite_schema` (stamped as Alembic would), in one IMMEDIATE transaction: of processes
        starting together, one creates and the others find it done. True when the schema is at
        `head` now; False when the file holds something else (an older schema: for Alembic)."""
        self._direct.use_wal()
        with self._direct.transaction() as conn:
            tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
            if tables:
                return self.revisions() == (head,)
            for statement in sqlite_schema.STATEMENTS:
                conn.execute(statement)
            conn.execute(sqlite_schema.STAMP, (head,))
            return True

    def in_wal_mode(self) -> bool:
        _, rows = self._direct.read_rows("PRAGMA journal_mode")
        return bool(rows) and str(rows[0][0]).lower() == "wal"

    # --- the rest of the contract -----------------------------------------------------------------
    def sql_store(self) -> SqlStore:
        """The `SqlStore` on this file (SQLAlchemy is imported and the engine made on the first call)."""
        full = self._full
        if full is None:
            with self._loading:
                full = self._full
                if full is None:
                    from regauth.store.open import create_store_engine
                    from regauth.store.sql import SqlStore

                    log.debug("loading the SQL layer (SQLAlchemy) for a call the request path does not make")
                    # the file was opened already: if it is gone, SQLAlchemy must not make an empty one
                    engine = create_store_engine(self._url, create=False)
                    full = self._full = SqlStore(engine, self._box, direct=self._direct)
        return full

    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine (for tests and tools; loads the SQL layer)."""
        return self.sql_store().engine

    def __getattr__(self, name: str) -> Any:
        if name not in _DELEGATED:
            raise AttributeError(name)
        return getattr(self.sql_store(), name)

    def close(self) -> None:
        full = self._full
        if full is not None:
            full.close()                 # closes the held connections too
        else:
            self._direct.close()

    def __repr__(self) -> str:
        return f"SqliteStore({self._url!r})"
