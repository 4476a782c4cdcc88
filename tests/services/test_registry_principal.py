"""The principal behind a token at the realm and the verifier: the user it was issued to, not a later
user given the same name (same ARN). In process, on a real SQLite store and the real services."""

from __future__ import annotations

from pathlib import Path

import pytest

from regauth.clock import FixedClock
from regauth.config import Settings
from regauth.domain import ids, tokens
from regauth.domain.principals import User
from regauth.errors import BadToken
from regauth.services.bootstrap import create_account
from regauth.services.container import Services, build_services
from regauth.store.open import open_store

T0 = 1_800_000_000.0
ACCT = "123456789012"


@pytest.fixture
def services(tmp_path: Path) -> Services:
    store = open_store(f"sqlite:///{tmp_path}/regauth.db", bytes(range(32)))
    services = build_services(Settings(data_dir=tmp_path), store, FixedClock(T0))
    create_account(store, services.clock, ACCT)
    return services


def make_user(services: Services, name: str, at: float) -> User:
    user = User(ACCT, name, ids.user_id(), f"arn:aws:iam::{ACCT}:user/{name}", "/", at)
    services.store.create_user(user)
    return user


def claims(user: User, issued_at: float, principal_id: str) -> tokens.TokenClaims:
    return tokens.TokenClaims(kind="ecr", token_id=tokens.new_token_id(), principal_arn=user.arn,
                              account_id=ACCT, scope=f"arn:aws:ecr:us-east-1:{ACCT}:registry",
                              issued_at=int(issued_at), expires_at=int(issued_at) + 43200,
                              principal_id=principal_id)


def test_a_token_names_its_user_by_unique_id(services: Services) -> None:
    first = make_user(services, "dev", T0)
    assert services.registry.caller_of(claims(first, T0 + 10, first.user_id)).user_id == first.user_id
    services.store.delete_user(ACCT, "dev")
    second = make_user(services, "dev", T0 + 20)
    with pytest.raises(BadToken):
        services.registry.caller_of(claims(first, T0 + 10, first.user_id))
    assert services.registry.caller_of(claims(second, T0 + 30, second.user_id)).user_id == second.user_id


def test_a_token_without_the_id_must_be_older_than_its_user(services: Services) -> None:
    """Tokens minted before they carried the user's id: a user made after the token is another user."""
    first = make_user(services, "old", T0)
    assert services.registry.caller_of(claims(first, T0 + 10, "")).user_id == first.user_id
    assert services.registry.caller_of(claims(first, T0, "")).user_id == first.user_id     # the same second
    services.store.delete_user(ACCT, "old")
    make_user(services, "old", T0 + 20.5)
    with pytest.raises(BadToken):
        services.registry.caller_of(claims(first, T0 + 10, ""))
    with pytest.raises(BadToken):
        services.registry.caller_of(claims(first, T0 + 19, ""))
