"""Opening what a command needs: settings, data dir, master key, store, services."""

from __future__ import annotations

import os
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

from regauth.clock import SystemClock
from regauth.config import Settings, SettingsError
from regauth.services.container import Services, build_services
from regauth.store.crypto import KEY_FILE_NAME, load_master_key
from regauth.store.open import default_database_url, open_store


@dataclass
class Runtime:
    settings: Settings
    services: Services


def prepare_data_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


_NOT_A_STORE = ("admin commands act on the store a server uses: start `regauth serve` on it first, or name it "
                "with --data-dir, REGAUTH_DATA_DIR or REGAUTH_DATABASE_URL")


def open_runtime(settings: Settings, *, existing: bool = False) -> Runtime:
    """Data dir, master key, store (migrated), services. Setup problems become SettingsError.

    `existing` (admin commands): the store must be one `regauth serve` has started on. Otherwise a
    revocation or a key rotation given with a mistyped --data-dir, or without the REGAUTH_DATABASE_URL
    the servers use, would land in a new empty store that no server reads, and report success."""
    url = settings.database_url or default_database_url(settings.data_dir)
    if existing and url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        where = settings.data_dir if not settings.database_url else "REGAUTH_DATABASE_URL"
        raise SettingsError(f"no regauth store at {where}: {_NOT_A_STORE}")
    db_file = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
    key_file = settings.data_dir / KEY_FILE_NAME
    if not existing and db_file is not None and not db_file.exists() and key_file.is_file():
        # the key is written only just before the store is: a key without its store means the store
        # was deleted or moved, and a new empty one would silently refuse every token issued so far
        raise SettingsError(f"the store {db_file} is gone, but its master key is in {settings.data_dir}: restore "
                            f"the store, or remove {key_file} to start a new, empty one")
    if existing and settings.master_key is None and not key_file.is_file():
        raise SettingsError(f"no master key at {settings.data_dir / KEY_FILE_NAME} (nor REGAUTH_MASTER_KEY): the "
                            f"store's key is where its server keeps it; {_NOT_A_STORE}")
    data_dir = prepare_data_dir(settings.data_dir)
    try:
        master = load_master_key(data_dir, settings.master_key.reveal() if settings.master_key else None)
        store = open_store(url, master)
    except Exception as exc:
        problem = _open_problem(exc)
        if problem is None:
            raise
        raise SettingsError(problem) from None
    if existing:
        from regauth.services.bootstrap import ACCOUNT_META

        if store.get_meta(ACCOUNT_META) is None:
            store.close()
            raise SettingsError(f"this store has never been started by `regauth serve`: {_NOT_A_STORE}")
    return Runtime(settings=settings, services=build_services(settings, store, SystemClock()))


def _open_problem(exc: Exception) -> str | None:
    """What to tell the operator when the store cannot be opened; None for a fault of ours."""
    if isinstance(exc, ValueError):            # messages name the problem, never a key
        return str(exc)
    if isinstance(exc, sqlite3.Error):         # a SQLite file opened without SQLAlchemy (store.sqlite_store)
        return f"cannot open the store: {_first_line(str(exc)) or type(exc).__name__}"
    if "sqlalchemy" in sys.modules:            # loaded only if the store needed it
        from sqlalchemy import exc as sa_exc

        if isinstance(exc, sa_exc.OperationalError):
            return f"cannot open the store: {_first_line(str(exc.orig)) if exc.orig else type(exc).__name__}"
        if isinstance(exc, sa_exc.ArgumentError):
            return "REGAUTH_DATABASE_URL is not a valid database URL (sqlite:///path or postgresql://...)"
    return None


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""
