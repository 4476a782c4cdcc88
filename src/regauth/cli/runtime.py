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
from regauth.store.crypto import load_master_key
from regauth.store.open import default_database_url, open_store


@dataclass
class Runtime:
    settings: Settings
    services: Services


def prepare_data_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def open_runtime(settings: Settings) -> Runtime:
    """Data dir, master key, store (migrated), services. Setup problems become SettingsError."""
    data_dir = prepare_data_dir(settings.data_dir)
    url = settings.database_url or default_database_url(data_dir)
    try:
        master = load_master_key(data_dir, settings.master_key.reveal() if settings.master_key else None)
        store = open_store(url, master)
    except Exception as exc:
        problem = _open_problem(exc)
        if problem is None:
            raise
        raise SettingsError(problem) from None
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
