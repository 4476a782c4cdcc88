"""`admin set-registry-endpoint`'s URL: what the realm can know a registry by, and docker can log in to."""

from __future__ import annotations

from pathlib import Path

import pytest

from regauth.clock import FixedClock
from regauth.config import Settings
from regauth.errors import InvalidInput
from regauth.services.bootstrap import create_account
from regauth.services.container import Services, build_services
from regauth.store.open import open_store

ACCT = "123456789012"


@pytest.fixture
def services(tmp_path: Path) -> Services:
    store = open_store(f"sqlite:///{tmp_path}/regauth.db", bytes(range(32)))
    services = build_services(Settings(data_dir=tmp_path), store, FixedClock(1_800_000_000.0))
    create_account(store, services.clock, ACCT)
    return services


@pytest.mark.parametrize("url, stored", [
    ("https://registry.example:5000", "https://registry.example:5000"),
    ("https://registry.example:5000/", "https://registry.example:5000"),
    ("  http://registry.example  ", "http://registry.example"),
])
def test_a_host_and_port_is_taken(services: Services, url: str, stored: str) -> None:
    assert services.ecr.set_registry_endpoint(ACCT, "us-east-1", url) == stored
    assert services.ecr.registry_url(ACCT, "us-east-1") == stored


@pytest.mark.parametrize("url", [
    "https://registry.example:5000/v2",      # the realm's service would have to be host:port/v2
    "https://user:pass@registry.example",    # a password handed out as every caller's proxyEndpoint
    "https://registry.example?x=1", "https://registry.example#f", "registry.example:5000", "ftp://registry.example",
    "https://", "https://registry.example:0", "https://registry.example:99999", "https://registry.example:",
    "https://registry.example:abc", "https://registry .example",
])
def test_anything_else_is_refused(services: Services, url: str) -> None:
    with pytest.raises(InvalidInput):
        services.ecr.set_registry_endpoint(ACCT, "us-east-1", url)
    assert services.ecr.registry_url(ACCT, "us-east-1").startswith(f"https://{ACCT}.dkr.ecr.us-east-1.")
