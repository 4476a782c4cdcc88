"""The URLs operators set: ECR registry endpoints (`admin set-registry-endpoint`, REGAUTH_REGISTRY_ENDPOINT)
and repository endpoint templates (`admin set-repository-endpoint`, REGAUTH_REPOSITORY_ENDPOINT)."""

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


def test_a_host_is_one_account_s_registry(services: Services) -> None:
    """An ECR token opens its account's registries and an ACR token its account's instances, found by
    host: a host two accounts share would open each one's repositories to the other's tokens."""
    from regauth.errors import Conflict

    other = "210987654321"
    create_account(services.store, services.clock, other)
    services.ecr.set_registry_endpoint(ACCT, "us-east-1", "https://registry.example:5000")
    services.ecr.set_registry_endpoint(ACCT, "eu-west-1", "https://registry.example:5000")    # the same account
    with pytest.raises(Conflict):
        services.ecr.set_registry_endpoint(other, "us-east-1", "https://REGISTRY.example:5000/")
    with pytest.raises(Conflict):
        services.acr.create_instance(other, "cn-hangzhou", "theirs", "registry.example:5000")
    services.acr.create_instance(ACCT, "cn-hangzhou", "ours", "registry.example:5000")          # the same account
    services.acr.create_instance(other, "cn-hangzhou", "theirs", "acr.other.example")
    with pytest.raises(Conflict):
        services.ecr.set_registry_endpoint(ACCT, "us-west-2", "http://acr.other.example")
    assert services.ecr.registry_url(other, "us-east-1").startswith(f"https://{other}.dkr.ecr.")
    # the hosts the template gives each account are theirs too, whether or not the account exists yet
    for account in (other, "999988887777"):
        template_host = f"{account}.dkr.ecr.eu-west-1.amazonaws.com"
        with pytest.raises(Conflict):
            services.ecr.set_registry_endpoint(ACCT, "us-east-1", f"https://{template_host}")
        with pytest.raises(Conflict):
            services.acr.create_instance(ACCT, "cn-hangzhou", "grab", template_host.upper())
    services.ecr.set_registry_endpoint(ACCT, "us-east-2", f"https://{ACCT}.dkr.ecr.us-west-2.amazonaws.com")


@pytest.mark.parametrize("template, ok", [
    ("https://{account}.dkr.ecr.{region}.amazonaws.com", True),
    ("https://{account}.registry.example:5000/", True),
    ("https://registry.example:5000", False),                   # every account on one host
    ("https://{{account}}.registry.example", False),            # a literal "{account}": one host again
    ("https://registry.example/{account}", False),              # the account in a path, not the host
    ("https://{bogus}.example/{account}", False),               # an unknown placeholder: a 500 at every request
    ("https://user:pw@{account}.example", False),
    ("https://{account}.example/v2/{region}", False),
    ("{account}.example:5000", False),
])
def test_the_registry_template_setting_is_checked_at_start(template: str, ok: bool) -> None:
    from regauth.config import SettingsError, load_settings

    if ok:
        assert load_settings({"REGAUTH_REGISTRY_ENDPOINT": template}).registry_endpoint == template.rstrip("/")
    else:
        with pytest.raises(SettingsError, match="REGAUTH_REGISTRY_ENDPOINT"):
            load_settings({"REGAUTH_REGISTRY_ENDPOINT": template})


@pytest.mark.parametrize("template, problem", [
    ("https://pypi.example.internal/{repository}/", None),
    ("http://127.0.0.1:8081/{format}/{domain}-{owner}/{region}/{repository}/", None),
    ("https://deploy:hunter2@pypi.example/{repository}/", "user or password"),
    ("https://pypi.example/{nope}/", "placeholders"),
    ("pypi.example/{repository}/", "http:// or https://"),
    ("https://pypi.example/{repository}/?x=1", "query"),
])
def test_repository_templates(services: Services, template: str, problem: str | None) -> None:
    from regauth.config import SettingsError, load_settings

    from regauth.domain.principals import Domain

    services.store.create_domain(Domain(ACCT, "us-east-1", "d1", f"arn:aws:codeartifact:us-east-1:{ACCT}:domain/d1", "k", 0.0))
    if problem is None:
        assert services.codeartifact.set_endpoint(ACCT, "us-east-1", "d1", "pypi", template).endswith("/")
        assert load_settings({"REGAUTH_REPOSITORY_ENDPOINT": template}).repository_endpoint.startswith("http")
    else:
        with pytest.raises(InvalidInput, match=problem):
            services.codeartifact.set_endpoint(ACCT, "us-east-1", "d1", "pypi", template)
        with pytest.raises(SettingsError, match="REGAUTH_REPOSITORY_ENDPOINT"):
            load_settings({"REGAUTH_REPOSITORY_ENDPOINT": template})


@pytest.mark.parametrize("region", ["US EAST", "us_east_1", "", "eu-west-1:x"])
def test_a_registry_endpoint_s_region_is_a_region_name(services: Services, region: str) -> None:
    with pytest.raises(InvalidInput):
        services.ecr.set_registry_endpoint(ACCT, region, "https://registry.example:5000")
