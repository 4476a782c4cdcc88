"""Opening what a command needs: settings, data dir, master key, store, services."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from regauth.clock import SystemClock
from regauth.config import Settings
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
    data_dir = prepare_data_dir(settings.data_dir)
    master = load_master_key(data_dir, settings.master_key.reveal() if settings.master_key else None)
    url = settings.database_url or default_database_url(data_dir)
    store = open_store(url, master)
    return Runtime(settings=settings, services=build_services(settings, store, SystemClock()))
