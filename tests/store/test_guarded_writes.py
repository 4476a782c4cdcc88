"""Guarded writes (see `store.interfaces`): the guard sees what is stored inside the write's own
transaction, and a second guarded write of the same records, from another store on the database
(another node, or another process on the SQLite file), waits until the first has committed and sees it.

The first writer's guard holds its transaction open until the second writer has started; without
the lock the second guard would run meanwhile and miss the first write (a quota exceeded, two names
alike, a lost update, one host given to two accounts).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from regauth.domain.principals import AcrInstance, DomainPolicy, InlinePolicy
from regauth.domain.secret import Secret
from regauth.errors import LimitExceeded
from regauth.store.open import open_store
from tests.store.test_conformance import (  # noqa: F401 - fixtures
    ACCT, KEY, OTHER, REGION, T0, akey, domain, pg_template, role, store, user,
)

SETTLE = 0.3      # seconds the first writer stays in its guard once the second has started


def second_sees_first(store: Any, first: Callable[[Any, Callable], Any],
                      second: Callable[[Any, Callable], Any]) -> Any:
    """Run `first(store_a, guard)` and, while its guard is running, `second(store_b, guard)` on another
    store of the same database; what the second guard was given."""
    other = open_store(store.engine.url.render_as_string(hide_password=False), KEY)
    in_first, second_started = threading.Event(), threading.Event()
    seen: list[Any] = []
    errors: list[BaseException] = []

    def hold(_stored: Any) -> None:
        in_first.set()
        assert second_started.wait(10)
        time.sleep(SETTLE)                 # the second writer reaches its own guarded write meanwhile

    def run_second() -> None:
        try:
            assert in_first.wait(10)
            second_started.set()
            second(other, seen.append)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=run_second)
    thread.start()
    try:
        first(store, hold)
    finally:
        in_first.set()
        second_started.set()
        thread.join(30)
        other.close()
    assert errors == [] and len(seen) == 1, errors
    return seen[0]


def test_a_second_create_user_sees_the_first_one(store):
    store.ensure_account(ACCT, T0)
    taken = second_sees_first(store, lambda s, g: s.create_user(user("Alice"), guard=g),
                              lambda s, g: s.create_user(user("alice"), guard=g))
    assert "Alice" in taken


def test_a_second_create_role_sees_the_first_one(store):
    store.ensure_account(ACCT, T0)
    taken = second_sees_first(store, lambda s, g: s.create_role(role("Deployer"), guard=g),
                              lambda s, g: s.create_role(role("deployer"), guard=g))
    assert "Deployer" in taken


def test_a_second_access_key_sees_the_first_one(store):
    store.ensure_account(ACCT, T0)
    store.create_user(user("alice"))
    count = second_sees_first(
        store, lambda s, g: s.create_access_key(akey("AKIAGUARDED000000001", "alice"), Secret("a" * 40), guard=g),
        lambda s, g: s.create_access_key(akey("AKIAGUARDED000000002", "alice"), Secret("b" * 40), guard=g))
    assert count == 1


@pytest.mark.parametrize("kind", ["user", "role"])
def test_a_second_inline_policy_sees_the_first_one(store, kind):
    store.ensure_account(ACCT, T0)
    (store.create_user(user("alice")) if kind == "user" else store.create_role(role("alice")))
    put = store.put_user_policy if kind == "user" else store.put_role_policy
    policies = second_sees_first(
        store, lambda s, g: getattr(s, put.__name__)(ACCT, "alice", InlinePolicy("one", "{}"), guard=g),
        lambda s, g: getattr(s, put.__name__)(ACCT, "alice", InlinePolicy("two", "{}"), guard=g))
    assert [p.name for p in policies] == ["one"]


def test_a_second_domain_policy_sees_the_first_revision(store):
    store.ensure_account(ACCT, T0)
    store.create_domain(domain("acme"))
    current = second_sees_first(
        store, lambda s, g: s.put_domain_policy(DomainPolicy(ACCT, REGION, "acme", "{}", "rev-a"), guard=g),
        lambda s, g: s.put_domain_policy(DomainPolicy(ACCT, REGION, "acme", "{}", "rev-b"), guard=g))
    assert current is not None and current.revision == "rev-a"


def test_a_second_claim_of_a_registry_host_sees_the_first_one_in_any_account(store):
    hosts = second_sees_first(
        store, lambda s, g: s.set_registry_endpoint(ACCT, REGION, "https://shared.example:5000", guard=g),
        lambda s, g: s.create_acr_instance(AcrInstance("cri-guarded0001", OTHER, "cn-hangzhou", "other",
                                                       "shared.example:5000", T0), guard=g))
    assert (ACCT, "shared.example:5000") in hosts


def test_a_guard_that_refuses_leaves_nothing_stored(store):
    store.ensure_account(ACCT, T0)
    store.create_user(user("alice"))

    def refuse(_stored: Any) -> None:
        raise LimitExceeded("no more")

    g = store.generation()
    with pytest.raises(LimitExceeded):
        store.create_access_key(akey("AKIAGUARDED000000003", "alice"), Secret("c" * 40), guard=refuse)
    with pytest.raises(LimitExceeded):
        store.put_user_policy(ACCT, "alice", InlinePolicy("p", "{}"), guard=refuse)
    with pytest.raises(LimitExceeded):
        store.create_user(user("bob"), guard=refuse)
    assert store.list_access_keys(ACCT, "alice") == []
    assert store.list_user_policies(ACCT, "alice") == []
    assert store.get_user(ACCT, "bob") is None
    assert store.generation() == g
