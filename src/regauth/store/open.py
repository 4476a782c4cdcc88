"""Opening a store: engine from a URL, schema migration to head, `SqlStore` on top (on a SQLite
file, `SqliteStore`, which builds the `SqlStore` only when a call needs it).

    store = open_store(default_database_url(data_dir), load_master_key(data_dir, os.environ.get("REGAUTH_MASTER_KEY")))

URLs: `sqlite:///relative/path.db`, `sqlite:////absolute/path.db` (WAL, synchronous=NORMAL,
busy_timeout=5000, foreign keys on), `sqlite://` (in-memory, one shared connection: tests only),
`postgresql://user@host:port/db` or `postgres://...` (driven by psycopg 3; through a connection
pooler such as PgBouncer too, in its session or transaction pool mode: `PoolerCheck`).

Migrations run once here, never on the request path. An empty database is created at head straight
from `schema.py` (and stamped, as Alembic would): only an older schema goes through Alembic's
upgrade, so a first start, like a restart, never imports Alembic. Several processes may start at
once: on PostgreSQL the creation or upgrade runs inside a transaction holding an advisory lock; on
SQLite inside a `BEGIN IMMEDIATE` transaction (SQLite DDL is transactional), so one process
migrates and the others then find the schema at head.

A SQLite file is checked without SQLAlchemy, and created without it when empty (the same DDL in
plain SQL, `store.sqlite_schema`); this module imports SQLAlchemy only where it is used, so neither
a first start nor a restart on SQLite loads it (see `store.sqlite_store`). Only a file holding an
older schema (or anything else) goes through SQLAlchemy and Alembic.
"""

from __future__ import annotations

import ast
import functools
import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from regauth.store.answer_deadline import AnswerDeadline
from regauth.store.crypto import SecretBox, SecretBoxError
from regauth.store.interfaces import Store
from regauth.store.sqlite_direct import connect_file, switch_to_wal
from regauth.store.sqlite_store import SqliteStore

if TYPE_CHECKING:
    import sqlalchemy as sa
    from alembic.config import Config

log = logging.getLogger("regauth.store")
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK_ID = 0x7265_6761_7574_6801 & 0x7FFF_FFFF_FFFF_FFFF  # "regauth" + 1, a bigint
KEY_CHECK_META = "store.master_key_check"
_KEY_CHECK_AD = "meta/" + KEY_CHECK_META
_KEY_CHECK_TEXT = "regauth master key check"


def default_database_url(data_dir: Path) -> str:
    return f"sqlite:///{Path(data_dir)}/regauth.db"


def normalize_database_url(database_url: str) -> sa.URL:
    import sqlalchemy as sa

    url = sa.make_url(database_url)
    if url.drivername in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg")
    return url


PG_CONNECT_BOUNDS = {"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
                     "keepalives_count": 3, "tcp_user_timeout": 30_000}


def create_store_engine(database_url: str, *, create: bool = True, deadline: AnswerDeadline | None = None,
                        connections: int = 0) -> sa.Engine:
    """An Engine configured for regauth (pragmas, BEGIN handling, pool settings). No schema work.
    `create=False`: a SQLite file that is missing is an error, never made (the store was opened).
    `deadline`: PostgreSQL connections wait for each answer at most its `seconds` (store.answer_deadline).
    `connections`: at most this many PostgreSQL connections (REGAUTH_DATABASE_CONNECTIONS), none made
    past it; 0: 20 kept open and 10 more at a peak.
    Its errors never show a statement's parameters (`hide_parameters`): they hold sealed secrets and
    token hashes, and a failed write is logged."""
    import sqlalchemy as sa

    from regauth.store.held_connection import RECYCLE_SECONDS

    url = normalize_database_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, create)
    if backend == "postgresql":
        # Enough connections for the 16 request threads, the group-commit writer and the held
        # generation-read connection (store.held_connection). No ping before each checkout (two
        # extra round trips per request): a connection the server dropped fails one request (500,
        # which clients retry) and SQLAlchemy then replaces the pool; connections are also renewed
        # every 30 minutes.
        # A database that stops answering (a partition, a host gone) must fail requests, not hold
        # them: bounded connects, TCP keepalives and a bound on unacknowledged data, each unless the
        # URL sets it (libpq's own names)
        bounds = {k: v for k, v in PG_CONNECT_BOUNDS.items() if k not in url.query}
        engine = sa.create_engine(url, pool_pre_ping=False, pool_size=connections or 20,
                                  max_overflow=0 if connections else 10,
                                  pool_recycle=RECYCLE_SECONDS, connect_args=bounds, hide_parameters=True)
        if deadline is not None:
            bounded = deadline.connection_class()

            @sa.event.listens_for(engine, "do_connect")
            def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
                return bounded.connect(*cargs, **cparams)     # what the dialect's own connect calls
        options = url.query.get("options")
        if isinstance(options, str):
            pooled = PoolerCheck(options, "REGAUTH_DATABASE_URL's options")
        else:       # libpq takes PGOPTIONS when the URL names none
            pooled = PoolerCheck(os.environ.get("PGOPTIONS") or None, "PGOPTIONS")
        sa.event.listen(engine, "connect", pooled.check, insert=True)
        return engine
    raise ValueError(f"unsupported database URL scheme {url.drivername!r}: use sqlite:/// or postgresql://")


class PoolerError(ValueError):
    """The connection pooler between regauth and PostgreSQL cannot carry what regauth needs. The
    message says what to change."""


_STATEMENT_MODE = "statement pooling mode"      # in PgBouncer's refusal of a transaction
_OPTION_ARG = re.compile(r"(?:\\.|\S)+")       # libpq `options`: arguments split on unescaped spaces


class PoolerCheck:
    """Run on each new PostgreSQL connection (before any other statement): is a connection pooler
    (PgBouncer) between regauth and the server?

    A pooler answers the connection itself and hands it a cancel key of its own: the process id in
    it (`info.backend_pid`) is not that of the server session the statements run in. A TCP proxy
    passes the server's key on. The check costs a few round trips per new connection, none per request.

    Behind a pooler, psycopg's automatic server-side prepared statements are off for the connection:
    in PgBouncer's transaction pool mode (1.18, Debian 12's) each transaction may run in another
    server session, where the statement psycopg prepared after its 5th use is missing
    (`prepared statement "_pg3_0" does not exist`) or one of another client's holds its name
    (`... already exists`): requests failed and the group commit lost audit records. Straight to
    PostgreSQL they stay on: unprepared, a served token request cost PostgreSQL 55 % more CPU (parsed
    and planned each time), regauth and PostgreSQL together 4-12 % more (measured A/B, wrk at c16).

    Fails closed (PoolerError) where the pooler cannot carry regauth: its statement pool mode refuses
    every transaction; and settings the URL's `options` name (`-c search_path=...`) that did not
    reach the server (PgBouncer drops them when `ignore_startup_parameters` names `options`): with a
    dropped search_path, regauth found no store and created a new, empty one in another schema."""

    def __init__(self, options: str | None, source: str = "REGAUTH_DATABASE_URL's options") -> None:
        self._options = options
        self._source = source             # where `options` came from, as a refusal names it
        self._told = False

    def check(self, dbapi_conn: Any, _record: Any) -> None:
        try:
            pooled, dropped = self._probe(dbapi_conn)
        except Exception as exc:        # SQLAlchemy closes the connection
            if _STATEMENT_MODE in str(exc):
                raise PoolerError("the connection pooler in front of PostgreSQL refuses transactions (PgBouncer's "
                                  "pool_mode = statement): regauth's writes are transactions; use pool_mode = "
                                  "transaction or session") from None
            raise
        if dropped:
            raise PoolerError(f"{self._source} ({', '.join(dropped)}) did not reach PostgreSQL: "
                              "the connection pooler in front of it drops them (PgBouncer's "
                              "ignore_startup_parameters); set them on the role instead (ALTER ROLE ... SET ...) "
                              f"and remove them from {'the URL' if self._source != 'PGOPTIONS' else 'PGOPTIONS'}")
        if pooled and not self._told:
            self._told = True
            log.info("PostgreSQL is reached through a connection pooler: statements are not prepared on the "
                     "server (a transaction may run in another server session)")

    def _probe(self, dbapi_conn: Any) -> tuple[bool, list[str]]:
        """Whether the connection is pooled, and the `options` settings that did not reach its server."""
        (pid,) = dbapi_conn.execute("SELECT pg_backend_pid()").fetchone()
        pooled = pid != dbapi_conn.info.backend_pid
        dropped: list[str] = []
        if pooled:
            dbapi_conn.prepare_threshold = None
            if self._options:
                dropped = self._not_applied(dbapi_conn, self._options)
        dbapi_conn.rollback()
        return pooled, dropped

    @staticmethod
    def _not_applied(dbapi_conn: Any, options: str) -> list[str]:
        """The settings the URL's `options` name (`-c name=value`, `-cname=value`, `--name=value`) that
        the server session does not have from its client (pg_settings' source `client`; `session` when
        the pooler sets them itself), and any other switch (nothing to check it by)."""
        args = [re.sub(r"\\(.)", r"\1", a) for a in _OPTION_ARG.findall(options)]
        names: list[str] = []
        others: list[str] = []
        while args:
            arg = args.pop(0)
            if arg == "-c" and args:
                arg = args.pop(0)
            elif arg.startswith(("-c", "--")) and "=" in arg:
                arg = arg[2:]
            else:
                others.append(arg.partition("=")[0])
                continue
            names.append(arg.partition("=")[0].replace("-", "_").lower())
        rows = dbapi_conn.execute("SELECT name FROM pg_settings WHERE name = ANY(%s) AND source IN ('client', "
                                  "'session')", (names,)).fetchall()
        applied = {row[0] for row in rows}
        return [name for name in names if name not in applied] + others


def _sqlite_engine(url: sa.URL, create: bool = True) -> sa.Engine:
    import sqlalchemy as sa

    in_memory = url.database in (None, "", ":memory:")
    if in_memory:
        engine = sa.create_engine(url, poolclass=sa.pool.StaticPool, hide_parameters=True,
                                  connect_args={"check_same_thread": False})
    else:
        path = url.database
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        may_create = [create and not Path(path).exists()]

        def connect() -> Any:
            # a file missing now may be created by the first connection; after that, and for a file
            # that exists now, a missing file is an error (sqlite_direct.connect_file)
            conn = connect_file(path, create=may_create[0])
            may_create[0] = False
            return conn

        engine = sa.create_engine(url, creator=connect, hide_parameters=True)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        # We emit BEGIN ourselves (below): the sqlite3 module's legacy mode would not begin a
        # transaction before a SELECT, so read-then-write methods would not be atomic.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute("PRAGMA busy_timeout=5000")
            if not in_memory:
                switch_to_wal(cur)
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
        finally:
            cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # Writers ask for IMMEDIATE (see SqlBase._write) so they queue on busy_timeout instead of
        # failing when a deferred read lock cannot be upgraded.
        conn.exec_driver_sql(conn.get_execution_options().get("regauth_begin", "BEGIN"))

    return engine


def _alembic_config(connection: sa.Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


# `revision = "0002"` / `down_revision: str | None = "0001"` lines of a migration file
_REVISION_LINE = re.compile(r"^(revision|down_revision)\b[^=\n]*=\s*(.+?)\s*$", re.MULTILINE)


def _revisions_in_files(versions: Path) -> tuple[set[str], set[str]] | None:
    """The revisions the migration files' `revision` lines give, and the parents their `down_revision`
    lines name; None when a file says it unclearly."""
    revisions: set[str] = set()
    parents: set[str] = set()
    try:
        for path in versions.glob("*.py"):
            if path.name.startswith(("__init__", ".#")):
                continue
            fields = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
            revisions.add(ast.literal_eval(fields["revision"]))
            down = ast.literal_eval(fields["down_revision"])
            parents.update(down if isinstance(down, (tuple, list)) else [down])
    except (KeyError, ValueError, SyntaxError):
        return None
    return revisions, parents


def _head_in_files(versions: Path) -> str | None:
    """The one head the migration files' `revision` / `down_revision` lines give, else None."""
    found = _revisions_in_files(versions)
    if found is None:
        return None
    heads = found[0] - found[1]
    return heads.pop() if len(heads) == 1 else None


@functools.cache
def head_revision() -> str:
    """The newest migration's id. Read from the files: asking Alembic would import it (~0.3 s) at
    every start, even with nothing to upgrade. Anything unclear (several heads) is left to Alembic."""
    head = _head_in_files(MIGRATIONS_DIR / "versions")
    if head is not None:
        return head
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


@functools.cache
def known_revisions() -> frozenset[str]:
    """Every revision this regauth has a migration for (read from the files, as `head_revision`)."""
    found = _revisions_in_files(MIGRATIONS_DIR / "versions")
    if found is not None:
        return frozenset(found[0])
    from alembic.script import ScriptDirectory

    return frozenset(s.revision for s in ScriptDirectory.from_config(_alembic_config()).walk_revisions())


class SchemaVersionError(ValueError):
    """The store's schema is one this regauth will not open as it is: newer than it knows (from a newer
    regauth), or, for a command that must not migrate, older than its head or absent. The message
    says what to do; `revisions` is what the store is stamped with."""

    def __init__(self, message: str, revisions: tuple[str, ...]) -> None:
        super().__init__(message)
        self.revisions = revisions


def check_schema_version(revisions: tuple[str, ...], head: str, *, upgrade: bool) -> None:
    """Refuse a store stamped `revisions` that this regauth must not open: one at a revision it has no
    migration for (a newer regauth upgraded it: Alembic could only fail, deep in a traceback), and,
    unless `upgrade`, one that is not at `head` (admin commands never migrate: a newer `regauth
    admin` run against an older server's store would upgrade it under that server, which then could
    not start again)."""
    newer = [revision for revision in revisions if revision not in known_revisions()]
    if newer:
        raise SchemaVersionError(f"the store's schema is at revision {', '.join(newer)}, newer than this regauth's "
                                 f"{head}: upgrade regauth", revisions)
    if upgrade or revisions == (head,):
        return
    if not revisions:
        raise SchemaVersionError("the database holds no regauth store", revisions)
    raise SchemaVersionError(f"the store is at schema {', '.join(revisions)}; start `regauth serve` of this "
                             f"version to upgrade it (to {head}): admin commands do not migrate", revisions)


def _database_revisions(conn: sa.Connection) -> tuple[str, ...]:
    """What Alembic's `MigrationContext.get_current_heads()` answers, without importing Alembic."""
    import sqlalchemy as sa

    if not sa.inspect(conn).has_table("alembic_version"):
        return ()
    return tuple(row[0] for row in conn.execute(sa.text("SELECT version_num FROM alembic_version")))


@functools.cache
def _alembic_version() -> sa.Table:
    """Alembic's version table exactly as Alembic creates it (`DefaultImpl.version_table_impl`)."""
    import sqlalchemy as sa

    return sa.Table(
        "alembic_version", sa.MetaData(),
        sa.Column("version_num", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
    )


def _is_empty(conn: sa.Connection) -> bool:
    """No table at all (in the default schema): nothing a migration could have started on."""
    import sqlalchemy as sa

    return not sa.inspect(conn).get_table_names()


def _create_at_head(conn: sa.Connection, head: str) -> None:
    """Build an empty database straight from `schema.py` and stamp it at `head`, in the caller's
    transaction: the same tables and rows as running every migration, without importing Alembic
    and replaying the history (most of a first start's cost). `test_fresh_schema` checks both agree.
    On SQLite that is the plain SQL a server's first start runs (`sqlite_schema`): columns added by
    migrations come by ALTER TABLE there, which SQLite's copy of the DDL shows."""
    from regauth.store import schema

    if conn.dialect.name == "sqlite":
        from regauth.store import sqlite_schema

        for statement in sqlite_schema.STATEMENTS:
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql(sqlite_schema.STAMP, (head,))
        return
    schema.metadata.create_all(conn, checkfirst=False)
    for table, rows in schema.INITIAL_ROWS:
        conn.execute(table.insert(), rows)
    version = _alembic_version()
    version.create(conn, checkfirst=False)
    conn.execute(version.insert(), {"version_num": head})


def migrate(engine: sa.Engine, *, upgrade: bool = True) -> None:
    """Bring the schema to head, serialized across processes: an empty database is created at head
    directly, an older one upgraded by Alembic, which loads only then. A schema newer than this
    regauth's is refused; so is any other than head when not `upgrade` (`check_schema_version`)."""
    import sqlalchemy as sa

    head = head_revision()
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.execution_options(regauth_begin="BEGIN IMMEDIATE")
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_ID})
            revisions = _database_revisions(conn)
            if revisions == (head,):
                return
            check_schema_version(revisions, head, upgrade=upgrade)
            if not revisions and _is_empty(conn):
                _create_at_head(conn, head)
                return
            from alembic import command

            command.upgrade(_alembic_config(conn), "head")
            # said: nothing else shows that the store changed, and a regauth older than this one
            # cannot open it from now on (a backup taken before can)
            log.warning("upgraded the store's schema from revision %s to %s (a regauth older than this one "
                        "cannot open it now)", ", ".join(revisions) or "none", head)


def _check_master_key(store: Store, box: SecretBox) -> None:
    """Fail early and clearly when the database was written with another master key."""
    stored = store.get_meta(KEY_CHECK_META)
    if stored is None:      # first start: of processes starting together with different keys, one wins
        stored = store.set_meta_once(KEY_CHECK_META, box.encrypt(_KEY_CHECK_TEXT, _KEY_CHECK_AD))
    try:
        box.decrypt(stored, _KEY_CHECK_AD)
    except SecretBoxError:
        raise ValueError(
            "the master key does not match the one this database was created with "
            "(check REGAUTH_MASTER_KEY or <data-dir>/master.key)"
        ) from None


def opens_key_check(stored: str, master_key: bytes) -> bool:
    """Whether the key check a store holds (its KEY_CHECK_META value) was written with `master_key`."""
    try:
        SecretBox(master_key).decrypt(stored, _KEY_CHECK_AD)
    except SecretBoxError:
        return False
    return True


def sqlite_file(database_url: str) -> str | None:
    """The file of a plain `sqlite:///path` URL; None for any other URL (in memory, a driver or query
    options, escapes: whatever SQLAlchemy might read otherwise), which then opens through it."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix):
        return None
    path = database_url[len(prefix):]
    if not path or path == ":memory:" or any(c in path for c in "?%#"):
        return None
    return path


def _private_file(path: Path) -> None:
    """A new SQLite file is made 0600 (its -wal and -shm files take its mode), and its directory, when
    new, 0700: outside the data dir (REGAUTH_DATABASE_URL) the umask would leave them readable by
    others. An existing file or directory keeps the mode its operator gave it."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def open_store(database_url: str, master_key: bytes, *, upgrade: bool = True,
               answer_within: float | None = None, connections: int = 0) -> Store:
    """The store at `database_url`, migrated to head, its master key checked. A SQLite file whose
    schema is at head opens without SQLAlchemy (`store.sqlite_store`). Not `upgrade`: a store that is
    not at head is refused (`SchemaVersionError`), never created or migrated. `answer_within`: once
    migrated, a PostgreSQL store's statements wait at most this many seconds for their answer.
    `connections`: a PostgreSQL store's bound on its connections (`create_store_engine`)."""
    box = SecretBox(master_key)
    path = sqlite_file(database_url)
    if path is not None:
        return _open_sqlite_file(database_url, path, box, upgrade)
    from regauth.store.sql import SqlStore
    from regauth.store.sql_base import LOCK_IDLE_SECONDS

    deadline = AnswerDeadline()
    engine = create_store_engine(database_url, deadline=deadline, connections=connections)
    try:
        migrate(engine, upgrade=upgrade)
        deadline.seconds = answer_within          # a migration's statements may run long
        store = SqlStore(engine, box, lock_idle_seconds=answer_within or LOCK_IDLE_SECONDS)
        _check_master_key(store, box)
    except BaseException:
        engine.dispose()
        raise
    return store


def _open_sqlite_file(database_url: str, path: str, box: SecretBox, upgrade: bool = True) -> SqliteStore:
    _private_file(Path(path))
    store = SqliteStore(database_url, path, box)
    try:
        head = head_revision()
        revisions = store.revisions()
        if revisions != (head,) or not store.in_wal_mode():
            check_schema_version(revisions, head, upgrade=upgrade)
            if upgrade and not store.create_at_head(head):
                migrate(store.engine)        # an older schema: SQLAlchemy and Alembic, once
        _check_master_key(store, box)
    except BaseException:
        store.close()
        raise
    return store
