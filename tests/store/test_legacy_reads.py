"""The store's whole-table reads of operator-set rows (a start's check of what an older regauth let in,
`services.legacy_data`), on SQLite and PostgreSQL. `test_sqlite_store.py` compares SQLite's plain SQL
with SqlStore's on the same file."""

from __future__ import annotations

from regauth.domain.principals import AcrInstance
from tests.store import test_conformance as conformance
from tests.store.test_conformance import ACCT, OTHER, REGION, T0, domain

store, pg_template = conformance.store, conformance.pg_template       # the fixtures: SQLite, and PostgreSQL


def test_account_ids_registry_and_repository_endpoints_of_every_account(store):
    assert store.list_account_ids() == []
    assert store.list_registry_endpoints() == [] and store.list_repository_endpoints() == []
    for account in (OTHER, ACCT, "acct one"):          # an older create-account took any text
        store.ensure_account(account, T0)
    assert store.list_account_ids() == sorted([ACCT, OTHER, "acct one"])
    store.set_registry_endpoint(OTHER, REGION, "https://other.example")
    store.set_registry_endpoint(ACCT, "eu-west-1", "https://bob:pw@registry.example/path")
    store.set_registry_endpoint(ACCT, REGION, "https://registry.example:5000")
    assert store.list_registry_endpoints() == [(ACCT, "eu-west-1", "https://bob:pw@registry.example/path"),
                                               (ACCT, REGION, "https://registry.example:5000"),
                                               (OTHER, REGION, "https://other.example")]
    store.create_domain(domain("d1"))
    store.create_domain(domain("d0", acct=OTHER))
    store.set_repository_endpoint(ACCT, REGION, "d1", "pypi", "https://ci:pw@pypi.example/{repository}/")
    store.set_repository_endpoint(ACCT, REGION, "d1", "npm", "https://npm.example/{repository}/")
    store.set_repository_endpoint(OTHER, REGION, "d0", "pypi", "https://p.example/")
    assert store.list_repository_endpoints() == [
        (ACCT, REGION, "d1", "npm", "https://npm.example/{repository}/"),
        (ACCT, REGION, "d1", "pypi", "https://ci:pw@pypi.example/{repository}/"),
        (OTHER, REGION, "d0", "pypi", "https://p.example/")]
    store.create_acr_instance(AcrInstance("cri-eeeeeeeeeeee", OTHER, "cn-hangzhou", "o", "registry.example:5000", T0))
    assert store.list_registry_hosts() == [(ACCT, "bob:pw@registry.example/path"), (ACCT, "registry.example:5000"),
                                           (OTHER, "other.example"), (OTHER, "registry.example:5000")]
