"""Opening what a command needs: settings, data dir, master key, store, services."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from regauth.clock import SystemClock
from regauth.config import Settings, SettingsError
from regauth.services.container import Services, build_services
from regauth.store.crypto import KEY_FILE_NAME, create_key_file, load_master_key
from regauth.store.open import (KEY_CHECK_META, SchemaVersionError, default_database_url, open_store,
                                opens_key_check, sqlite_file)
from regauth.store.sqlite_direct import connect_file

log = logging.getLogger("regauth.config")


@dataclass
class Runtime:
    settings: Settings
    services: Services


def prepare_data_dir(path: Path, *, existing: bool = False) -> Path:
    """The data dir, made if missing (not for `existing`: admin commands use the one a server made),
    and made 0700 if group or others may use it. A mode that is private already is left alone: a data
    dir on a read-only mount cannot be changed, and the admin commands that only read must work there;
    for them a change that fails is left at that."""
    if not existing:
        path.mkdir(parents=True, exist_ok=True)
    try:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            os.chmod(path, 0o700)
    except OSError:
        if not existing:
            raise
    return path


_NOT_A_STORE = ("admin commands act on the store a server uses: start `regauth serve` on it first, or name it "
                "with --data-dir, REGAUTH_DATA_DIR or REGAUTH_DATABASE_URL")


def open_runtime(settings: Settings, *, existing: bool = False) -> Runtime:
    """Data dir, master key, store (migrated), services. Setup problems become SettingsError.

    `existing` (admin commands): the store must be one `regauth serve` has started on, at this regauth's
    schema (admin commands never migrate: only `serve` does). Otherwise a revocation or a key rotation
    given with a mistyped --data-dir, or without the REGAUTH_DATABASE_URL the servers use, would land
    in a new empty store that no server reads, and report success."""
    for line in settings.warnings:
        if existing:
            print(f"regauth: warning: {line}", file=sys.stderr)
        else:
            log.warning("%s", line)
    url = settings.database_url or default_database_url(settings.data_dir)
    if existing and url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        where = settings.data_dir if not settings.database_url else "REGAUTH_DATABASE_URL"
        raise SettingsError(f"no regauth store at {where}: {_NOT_A_STORE}")
    db_file = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
    key_file = settings.data_dir / KEY_FILE_NAME
    if not existing and db_file is not None and not db_file.exists() and _holds_a_key(key_file):
        # a first start that fails removes the key it made: a key without its store means the store
        # was deleted or moved, and a new empty one would silently refuse every token issued so far
        raise SettingsError(f"the store {db_file} is gone, but its master key is in {settings.data_dir}: restore "
                            f"the store, or remove {key_file} to start a new, empty one")
    if existing and settings.master_key is None and not key_file.is_file():
        raise SettingsError(f"no master key at {settings.data_dir / KEY_FILE_NAME} (nor REGAUTH_MASTER_KEY): the "
                            f"store's key is where its server keeps it; {_NOT_A_STORE}")
    data_dir = prepare_data_dir(settings.data_dir, existing=existing)
    env_key = settings.master_key.reveal() if settings.master_key else None
    created = False
    try:
        created = env_key is None and not existing and create_key_file(data_dir)
        master = load_master_key(data_dir, env_key)
        store = open_store(url, master, upgrade=not existing,
                           answer_within=None if existing else settings.database_timeout_seconds,
                           connections=settings.database_connections)
    except BaseException as exc:
        if created:
            _discard_unused_key(key_file, url)
        if existing and isinstance(exc, SchemaVersionError) and not exc.revisions:    # no schema is made there
            raise SettingsError(f"this store has never been started by `regauth serve`: {_NOT_A_STORE}") from None
        problem = _open_problem(exc) if isinstance(exc, Exception) else None
        if problem is None:
            raise
        raise SettingsError(_scrub(problem, url)) from None
    try:
        if existing:
            from regauth.services.bootstrap import ACCOUNT_META

            if store.get_meta(ACCOUNT_META) is None:
                raise SettingsError(f"this store has never been started by `regauth serve`: {_NOT_A_STORE}")
        elif (path := sqlite_file(url)) is not None:
            _check_writable(path)
        elif url.startswith("postgres"):
            _check_writable_postgresql(store, url)
    except BaseException:
        store.close()
        raise
    return Runtime(settings=settings, services=build_services(settings, store, SystemClock()))


def _holds_a_key(key_file: Path) -> bool:
    """A key file with a key in it (an empty one, an earlier version's interrupted write, holds none)."""
    try:
        st = key_file.stat()
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size > 0


def _discard_unused_key(key_file: Path, url: str) -> None:
    """The store could not be opened or created with the key this start has just made: remove it. Left
    behind, it would stop every later start (a key without its store: "restore the store"), though no
    store ever used it. It is kept when the SQLite store holds the key check all the same (a first start
    beside this one that succeeded) or is busy with a writer that may be writing it. On PostgreSQL the
    key check is the open's last write: the key would be lost only if that commit landed and its answer
    did not (the connection broke in between)."""
    path = sqlite_file(url)
    if path is not None and _may_use_key(Path(path), key_file):
        return
    try:
        key_file.unlink()
    except OSError:
        pass


def _may_use_key(db_file: Path, key_file: Path) -> bool:
    """The SQLite store holds a key check written with this key (a first start beside this one that
    succeeded with it), or is busy with a writer that may be writing it."""
    if not db_file.exists():
        return False
    try:
        conn = sqlite3.connect(f"file:{quote(str(db_file.resolve()))}?mode=ro", uri=True, timeout=5.0)
        try:
            rows = conn.execute('SELECT value FROM meta WHERE "key" = ?', (KEY_CHECK_META,)).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:       # no schema yet, or not a database: no key of this start in it
        return "locked" in str(exc) or "busy" in str(exc)
    if not rows:
        return False
    try:
        return opens_key_check(rows[0][0], load_master_key(key_file.parent, None))
    except Exception:  # noqa: BLE001 - the key cannot be read back: keep it rather than guess
        return True


def _check_writable(path: str) -> None:
    """`serve` must be able to write its SQLite store (a file opened read-only by SQLite's fallback, say
    mode 0400, answered every token request with a 500 after a start that looked fine). A write that
    changes nothing, rolled back: well under a millisecond."""
    conn = None
    try:
        conn = connect_file(path, create=False, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE meta SET value = value WHERE 0")
        conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        if "locked" in str(exc) or "busy" in str(exc):    # another writer, for more than 5 s: not ours to judge
            return
        raise SettingsError(f"the store {path} cannot be written ({_first_line(str(exc))}): `regauth serve` "
                            f"writes every token it issues there; check the file's owner and mode, and its "
                            f"directory's") from None
    finally:
        if conn is not None:
            conn.close()


def _open_problem(exc: Exception) -> str | None:
    """What to tell the operator when the store cannot be opened; None for a fault of ours."""
    if isinstance(exc, ValueError):            # messages name the problem, never a key
        return str(exc)
    if isinstance(exc, sqlite3.Error):         # a SQLite file opened without SQLAlchemy (store.sqlite_store)
        return f"cannot open the store: {_first_line(str(exc)) or type(exc).__name__}"
    if "sqlalchemy" in sys.modules:            # loaded only if the store needed it
        from sqlalchemy import exc as sa_exc

        if isinstance(exc, sa_exc.DBAPIError):     # refused by the database: a privilege, a URL option...
            return f"cannot open the store: {_first_line(str(exc.orig)) if exc.orig else type(exc).__name__}"
        if isinstance(exc, sa_exc.ArgumentError):
            return "REGAUTH_DATABASE_URL is not a valid database URL (sqlite:///path or postgresql://...)"
    return None


def _scrub(message: str, url: str) -> str:
    """`message` without the URL's password, or any part of it: a password with an unescaped `@` is
    split by the URL's parser, and the driver names its second part as the host it could not find."""
    scheme, sep, rest = url.partition("://")
    userinfo = rest[:rest.rfind("@", 0, rest.find("/") if "/" in rest else len(rest))] if sep else ""
    password = userinfo.partition(":")[2]
    parts = {password, *password.split("@"), unquote(password), *unquote(password).split("@")}
    for part in sorted(parts, key=len, reverse=True):
        if len(part) >= 3:
            message = message.replace(part, "***")
    return message


def _check_writable_postgresql(store: object, url: str) -> None:
    """As `_check_writable`, for PostgreSQL: a database (or role) set read-only
    (`default_transaction_read_only`, a standby) answered every token request with a 500."""
    import sqlalchemy as sa

    try:
        with store.engine.connect() as conn:  # type: ignore[attr-defined]
            conn.execute(sa.text("UPDATE meta SET value = value WHERE false"))
            conn.rollback()
    except sa.exc.DBAPIError as exc:            # the caller closes the store
        reason = _first_line(str(exc.orig)) if exc.orig else type(exc).__name__
        raise SettingsError(_scrub(f"the store cannot be written ({reason}): `regauth serve` writes every token "
                                   "it issues there; check the database's and the role's settings", url)) from None


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""
