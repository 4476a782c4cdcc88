"""Opening what a command needs: settings, data dir, master key, store, services."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from regauth.clock import SystemClock
from sqlalchemy import exc as sa_exc

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
    except ValueError as exc:          # messages name the problem, never a key
        raise SettingsError(str(exc)) from None
    except sa_exc.OperationalError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise SettingsError(f"cannot open the store: {first}") from None
    except sa_exc.ArgumentError:
        raise SettingsError("REGAUTH_DATABASE_URL is not a valid database URL (sqlite:///path or postgresql://...)") \
            from None
    return Runtime(settings=settings, services=build_services(settings, store, SystemClock()))
