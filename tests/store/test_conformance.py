"""Behaviour of every `Store` method, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import dataclasses
import hashlib
import inspect

import pytest

from regauth.domain.principals import (
    AccessKey, AcrInstance, AuditEvent, Domain, DomainPolicy, EcrRepository, InlinePolicy, IssuedToken,
    Repository, Revocation, Role, Session, SigningKey, User,
)
from regauth.domain.secret import Secret
from regauth.errors import Conflict, NotFound
from regauth.store.interfaces import Store
from regauth.store.open import open_store
from regauth.store.sql import SqlStore
from tests.fixtures.postgres import create_database, drop_database

KEY = bytes(range(32))
ACCT = "123456789012"
OTHER = "210987654321"
REGION = "us-east-1"
T0 = 1_700_000_000.123456


@pytest.fixture(scope="module")
def pg_template(request):
    """A migrated database that each PostgreSQL test copies (CREATE DATABASE ... TEMPLATE)."""
    admin = request.getfixturevalue("postgres_url")
    url = create_database(admin)
    open_store(url, KEY).close()
    yield admin, url.rsplit("/", 1)[1]
    drop_database(admin, url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path}/regauth.db", KEY)
        yield s
        s.close()
        return
    admin, template = request.getfixturevalue("pg_template")
    url = create_database(admin, template=template)
    s = open_store(url, KEY)
    try:
        yield s
    finally:
        s.close()
        drop_database(admin, url)


# --- record builders ----------------------------------------------------------------------------

def user(name: str, acct: str = ACCT, at: float = T0) -> User:
    return User(acct, name, "AIDA" + hashlib.sha1(f"{acct}/{name}".encode()).hexdigest()[:17].upper(),
                f"arn:aws:iam::{acct}:user/{name}", "/", at)


def akey(akid: str, user_name: str, acct: str = ACCT, status: str = "Active", at: float = T0) -> AccessKey:
    return AccessKey(akid, acct, user_name, status, at)


def role(name: str, acct: str = ACCT) -> Role:
    return Role(acct, name, "AROA" + hashlib.sha1(f"{acct}/{name}".encode()).hexdigest()[:17].upper(),
                f"arn:aws:iam::{acct}:role/{name}", "/", '{"Version":"2012-10-17","Statement":[]}',
                3600, "a role", T0)


def session(akid: str, expires_at: float, kind: str = "assumed-role") -> Session:
    return Session(akid, ACCT, kind, "deployer", "ci-run-1",
                   f"arn:aws:sts::{ACCT}:assumed-role/deployer/ci-run-1",
                   "AROAEXAMPLE:ci-run-1", '{"Statement":[]}', expires_at, T0)


def domain(name: str, acct: str = ACCT, region: str = REGION) -> Domain:
    return Domain(acct, region, name, f"arn:aws:codeartifact:{region}:{acct}:domain/{name}",
                  f"arn:aws:kms:{region}:{acct}:key/k", T0)


def repo(dom: str, name: str, upstreams: tuple[str, ...] = ()) -> Repository:
    return Repository(ACCT, REGION, dom, name,
                      f"arn:aws:codeartifact:{REGION}:{ACCT}:repository/{dom}/{name}",
                      f"repo {name}", upstreams, T0)


def event(at: float, principal: str, action: str = "ecr:GetAuthorizationToken", rid: str = "r") -> AuditEvent:
    return AuditEvent(at, rid, principal, action, "*", "allowed", "127.0.0.1", "tok", "")


# --- the contract itself --------------------------------------------------------------------------

def test_sqlstore_implements_every_store_method_with_the_same_signature():
    wanted = {n: f for n, f in vars(Store).items() if callable(f) and not n.startswith("_")}
    assert len(wanted) > 40
    for name, proto in wanted.items():
        impl = getattr(SqlStore, name, None)
        assert impl is not None, name
        assert list(inspect.signature(impl).parameters) == list(inspect.signature(proto).parameters), name


# --- meta and accounts --------------------------------------------------------------------------

def test_meta_get_set_overwrite(store):
    assert store.get_meta("schema.note") is None
    store.set_meta("schema.note", "one")
    assert store.get_meta("schema.note") == "one"
    store.set_meta("schema.note", "two")
    assert store.get_meta("schema.note") == "two"


def test_meta_set_once_keeps_the_first_value(store):
    assert store.set_meta_once("schema.once", "first") == "first"
    assert store.set_meta_once("schema.once", "second") == "first"
    assert store.get_meta("schema.once") == "first"


def test_accounts(store):
    assert not store.account_exists(ACCT)
    store.ensure_account(ACCT, T0)
    store.ensure_account(ACCT, T0 + 5)   # idempotent
    assert store.account_exists(ACCT)
    assert not store.account_exists(OTHER)


# --- users --------------------------------------------------------------------------------------

def test_user_round_trip_list_and_delete(store):
    alice = user("alice")
    assert store.create_user(alice) == alice
    store.create_user(user("bob"))
    store.create_user(user("carol", acct=OTHER))
    assert store.get_user(ACCT, "alice") == alice
    assert store.get_user(ACCT, "carol") is None
    assert store.get_user(ACCT, "nobody") is None
    assert [u.name for u in store.list_users(ACCT)] == ["alice", "bob"]
    assert store.list_users("000000000000") == []
    assert store.delete_user(ACCT, "alice") == alice
    assert store.get_user(ACCT, "alice") is None
    assert store.delete_user(ACCT, "alice") is None


def test_duplicate_user_conflicts(store):
    store.create_user(user("alice"))
    with pytest.raises(Conflict) as ei:
        store.create_user(user("alice", at=T0 + 1))
    assert ei.value.resource_type == "user" and ei.value.resource_id == "alice"
    store.create_user(user("alice", acct=OTHER))   # the same name in another account is fine


def test_times_round_trip_exactly(store):
    for i, at in enumerate([T0, 0.0, 1.0, 1_700_000_000.0, 1_700_000_000.999999, 2_000_000_000.5]):
        u = user(f"u{i}", at=at)
        store.create_user(u)
        got = store.get_user(ACCT, u.name).created_at
        assert got == at and isinstance(got, float)


def test_delete_user_conflicts_while_keys_or_policies_remain(store):
    store.create_user(user("alice"))
    store.create_access_key(akey("AKIAAAAAAAAAAAAAAAA1", "alice"), Secret("s" * 40))
    with pytest.raises(Conflict) as ei:
        store.delete_user(ACCT, "alice")
    assert ei.value.resource_type == "user" and "access keys" in ei.value.message
    store.delete_access_key(ACCT, "alice", "AKIAAAAAAAAAAAAAAAA1")
    store.put_user_policy(ACCT, "alice", InlinePolicy("p", "{}"))
    with pytest.raises(Conflict) as ei:
        store.delete_user(ACCT, "alice")
    assert "policies" in ei.value.message
    assert store.get_user(ACCT, "alice") is not None
    store.delete_user_policy(ACCT, "alice", "p")
    assert store.delete_user(ACCT, "alice").name == "alice"


# --- access keys and credentials ---------------------------------------------------------------

def test_access_keys_create_list_update_delete(store):
    store.create_user(user("alice"))
    k1 = akey("AKIAAAAAAAAAAAAAAAA2", "alice", at=T0 + 2)
    k2 = akey("AKIAAAAAAAAAAAAAAAA1", "alice", at=T0 + 1)
    assert store.create_access_key(k1, Secret("a" * 40)) == k1
    store.create_access_key(k2, Secret("b" * 40))
    assert store.list_access_keys(ACCT, "alice") == [k2, k1]        # oldest first
    assert store.list_access_keys(ACCT, "bob") == []
    updated = store.update_access_key(ACCT, "alice", k1.access_key_id, "Inactive")
    assert updated == AccessKey(k1.access_key_id, ACCT, "alice", "Inactive", k1.created_at)
    assert store.update_access_key(ACCT, "bob", k1.access_key_id, "Active") is None     # wrong user
    assert store.update_access_key(ACCT, "alice", "AKIANOPE", "Active") is None
    assert store.delete_access_key(ACCT, "bob", k1.access_key_id) is None               # wrong user
    assert store.delete_access_key(ACCT, "alice", k1.access_key_id) == updated
    assert store.delete_access_key(ACCT, "alice", k1.access_key_id) is None
    assert store.list_access_keys(ACCT, "alice") == [k2]


def test_access_key_conflict_and_unknown_user(store):
    store.create_user(user("alice"))
    store.create_access_key(akey("AKIAAAAAAAAAAAAAAAA1", "alice"), Secret("a" * 40))
    with pytest.raises(Conflict) as ei:
        store.create_access_key(akey("AKIAAAAAAAAAAAAAAAA1", "alice"), Secret("b" * 40))
    assert ei.value.resource_type == "access_key"
    with pytest.raises(NotFound) as nf:
        store.create_access_key(akey("AKIAAAAAAAAAAAAAAAA9", "ghost"), Secret("c" * 40))
    assert nf.value.resource_type == "user" and nf.value.resource_id == "ghost"


def test_get_credential_for_a_user_key(store):
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    store.create_user(user("alice"))
    store.create_access_key(akey("AKIAIOSFODNN7EXAMPLE", "alice"), Secret(secret))
    cred = store.get_credential("AKIAIOSFODNN7EXAMPLE")
    assert cred.access_key_id == "AKIAIOSFODNN7EXAMPLE" and cred.account_id == ACCT
    assert cred.secret.reveal() == secret and cred.secret.matches(secret)
    assert cred.status == "Active" and cred.user_name == "alice"
    assert cred.session is None and cred.session_token_hash is None
    assert store.get_credential("AKIANOTKNOWN00000000") is None


def test_inactive_status_is_visible_in_get_credential(store):
    store.create_user(user("alice"))
    store.create_access_key(akey("AKIAAAAAAAAAAAAAAAA1", "alice"), Secret("x" * 40))
    store.update_access_key(ACCT, "alice", "AKIAAAAAAAAAAAAAAAA1", "Inactive")
    assert store.get_credential("AKIAAAAAAAAAAAAAAAA1").status == "Inactive"
    store.update_access_key(ACCT, "alice", "AKIAAAAAAAAAAAAAAAA1", "Active")
    assert store.get_credential("AKIAAAAAAAAAAAAAAAA1").status == "Active"


def test_get_credential_for_a_session(store):
    token = "FwoGZXIvYXdzEXAMPLE-session-token"
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    s = session("ASIAAAAAAAAAAAAAAAA1", expires_at=T0 + 3600)
    store.create_session(s, Secret("session-secret-0123456789"), token_hash)
    cred = store.get_credential("ASIAAAAAAAAAAAAAAAA1")
    assert cred.session == s
    assert cred.secret.reveal() == "session-secret-0123456789"
    assert cred.session_token_hash == token_hash
    assert cred.account_id == ACCT and cred.status == "Active" and cred.user_name is None
    plain = Session("ASIAAAAAAAAAAAAAAAA2", ACCT, "session", "alice", "", f"arn:aws:iam::{ACCT}:user/alice",
                    "AIDAEXAMPLE", None, T0 + 60, T0)
    store.create_session(plain, Secret("s2"), "00" * 32)
    assert store.get_credential("ASIAAAAAAAAAAAAAAAA2").session == plain
    with pytest.raises(Conflict) as ei:
        store.create_session(s, Secret("again"), token_hash)
    assert ei.value.resource_type == "session"


def test_prune_sessions_deletes_the_oldest_expired_up_to_the_limit(store):
    for i, exp in enumerate([T0 - 10, T0 - 1, T0 - 5, T0, T0 + 100]):
        store.create_session(session(f"ASIA{i:016d}", exp), Secret(f"s{i}"), f"{i:064x}")
    g = store.generation()
    assert store.prune_sessions(T0, 2) == 2                      # the two oldest of the three expired
    assert store.generation() > g                                 # cached credentials are dropped
    assert store.get_credential(f"ASIA{0:016d}") is None
    assert store.get_credential(f"ASIA{2:016d}") is None
    assert store.get_credential(f"ASIA{1:016d}") is not None
    assert store.prune_sessions(T0, 2) == 1
    assert store.get_credential(f"ASIA{1:016d}") is None
    assert store.get_credential(f"ASIA{3:016d}") is not None      # expires exactly at the cut: kept
    assert store.get_credential(f"ASIA{4:016d}") is not None
    assert store.prune_sessions(T0, 2) == 0


def test_prune_issued_tokens_deletes_the_oldest_expired_up_to_the_limit(store):
    tokens = [IssuedToken(f"tid-{i}", "ecr", f"arn:aws:iam::{ACCT}:user/u", ACCT, "scope", T0 - 50000, exp)
              for i, exp in enumerate([T0 - 3, T0 - 1, T0 - 2, T0, T0 + 10])]
    store.record_batch(tokens, [])
    g = store.generation()
    assert store.prune_issued_tokens(T0, 2) == 2
    assert store.generation() == g                                # append-only for the request path
    assert [store.get_issued_token(f"tid-{i}") is None for i in range(5)] == [True, False, True, False, False]
    assert store.prune_issued_tokens(T0, 100) == 1
    assert [store.get_issued_token(f"tid-{i}") is None for i in range(5)] == [True, True, True, False, False]


def test_prune_revocations_deletes_those_not_before_the_cut(store):
    store.add_revocation(Revocation("token", "old-token", T0 - 10, T0 - 10))
    store.add_revocation(Revocation("principal", f"arn:aws:iam::{ACCT}:user/a", T0 - 1, T0 - 1))
    store.add_revocation(Revocation("principal", f"arn:aws:iam::{ACCT}:user/b", T0, T0))
    g = store.generation()
    assert store.prune_revocations(T0) == 2
    assert store.generation() > g
    assert [r.subject for r in store.list_revocations()] == [f"arn:aws:iam::{ACCT}:user/b"]
    assert store.prune_revocations(T0) == 0


# --- inline policies ----------------------------------------------------------------------------

def test_user_policies(store):
    store.create_user(user("alice"))
    store.put_user_policy(ACCT, "alice", InlinePolicy("zeta", '{"v":1}'))
    store.put_user_policy(ACCT, "alice", InlinePolicy("alpha", '{"v":2}'))
    store.put_user_policy(ACCT, "alice", InlinePolicy("zeta", '{"v":3}'))    # replaces
    assert store.get_user_policy(ACCT, "alice", "zeta") == InlinePolicy("zeta", '{"v":3}')
    assert store.get_user_policy(ACCT, "alice", "nope") is None
    assert store.list_user_policies(ACCT, "alice") == [InlinePolicy("alpha", '{"v":2}'),
                                                        InlinePolicy("zeta", '{"v":3}')]
    assert store.delete_user_policy(ACCT, "alice", "alpha") == InlinePolicy("alpha", '{"v":2}')
    assert store.delete_user_policy(ACCT, "alice", "alpha") is None
    assert store.list_user_policies(ACCT, "alice") == [InlinePolicy("zeta", '{"v":3}')]
    with pytest.raises(NotFound) as nf:
        store.put_user_policy(ACCT, "ghost", InlinePolicy("p", "{}"))
    assert nf.value.resource_type == "user"


# --- roles --------------------------------------------------------------------------------------

def test_roles_round_trip_trust_policy_and_delete(store):
    r = role("deployer")
    assert store.create_role(r) == r
    assert store.get_role(ACCT, "deployer") == r
    assert store.get_role(OTHER, "deployer") is None
    with pytest.raises(Conflict) as ei:
        store.create_role(r)
    assert ei.value.resource_type == "role"
    updated = store.update_role_trust_policy(ACCT, "deployer", '{"new":true}')
    assert updated.trust_policy == '{"new":true}' and updated.role_id == r.role_id
    assert store.get_role(ACCT, "deployer") == updated
    assert store.update_role_trust_policy(ACCT, "nope", "{}") is None
    assert store.delete_role(ACCT, "deployer") == updated


def test_the_principal_ids_pinned_with_a_trust_or_domain_policy_come_back(store):
    pins = (("arn:aws:iam::111111111111:role/ci", "AROAEXAMPLE0000000001"),
            ("arn:aws:iam::111111111111:user/alice", "AIDAEXAMPLE0000000001"))
    r = dataclasses.replace(role("pinned"), trust_principal_ids=pins)
    assert store.create_role(r) == r
    assert store.get_role(ACCT, "pinned").trust_principal_ids == pins
    updated = store.update_role_trust_policy(ACCT, "pinned", '{"new":true}', pins[:1])
    assert updated.trust_principal_ids == pins[:1] == store.get_role(ACCT, "pinned").trust_principal_ids
    assert store.update_role_trust_policy(ACCT, "pinned", '{"new":true}').trust_principal_ids == ()
    store.create_domain(domain("pins"))
    store.put_domain_policy(DomainPolicy(ACCT, REGION, "pins", '{"v":1}', "rev-1", pins))
    assert store.get_domain_policy(ACCT, REGION, "pins").principal_ids == pins
    store.put_domain_policy(DomainPolicy(ACCT, REGION, "pins", '{"v":2}', "rev-2"))
    assert store.get_domain_policy(ACCT, REGION, "pins").principal_ids == ()
    assert store.delete_role(ACCT, "deployer") is None



def test_list_roles_in_name_order_per_account(store):
    assert store.list_roles(ACCT) == []
    for name in ("deployer", "Builder", "auditor"):
        store.create_role(role(name))
    store.create_role(role("zz-other", acct=OTHER))
    listed = store.list_roles(ACCT)
    assert [r.name for r in listed] == ["Builder", "auditor", "deployer"]      # binary order, as for users
    assert listed[2] == store.get_role(ACCT, "deployer")                        # whole records
    assert [r.name for r in store.list_roles(OTHER)] == ["zz-other"]
    store.delete_role(ACCT, "auditor")
    assert [r.name for r in store.list_roles(ACCT)] == ["Builder", "deployer"]


def test_role_policies_and_delete_role_conflict(store):
    store.create_role(role("deployer"))
    store.put_role_policy(ACCT, "deployer", InlinePolicy("b", '{"x":1}'))
    store.put_role_policy(ACCT, "deployer", InlinePolicy("a", '{"x":2}'))
    store.put_role_policy(ACCT, "deployer", InlinePolicy("b", '{"x":3}'))
    assert store.get_role_policy(ACCT, "deployer", "b").document == '{"x":3}'
    assert [p.name for p in store.list_role_policies(ACCT, "deployer")] == ["a", "b"]
    with pytest.raises(Conflict) as ei:
        store.delete_role(ACCT, "deployer")
    assert ei.value.resource_type == "role" and "policies" in ei.value.message
    assert store.delete_role_policy(ACCT, "deployer", "a") == InlinePolicy("a", '{"x":2}')
    assert store.delete_role_policy(ACCT, "deployer", "b") is not None
    assert store.get_role_policy(ACCT, "deployer", "b") is None
    assert store.delete_role(ACCT, "deployer").name == "deployer"
    with pytest.raises(NotFound):
        store.put_role_policy(ACCT, "deployer", InlinePolicy("a", "{}"))


# --- CodeArtifact domains -----------------------------------------------------------------------

def test_domain_round_trip_and_repository_count(store):
    d = domain("acme")
    assert store.create_domain(d) == d
    assert store.get_domain(ACCT, REGION, "acme") == d
    assert store.get_domain(ACCT, "eu-west-1", "acme") is None
    with pytest.raises(Conflict) as ei:
        store.create_domain(d)
    assert ei.value.resource_type == "domain"
    store.create_domain(domain("acme", region="eu-west-1"))   # same name, other region
    store.create_repository(repo("acme", "pypi-store"))
    store.create_repository(repo("acme", "npm-store"))
    assert store.get_domain(ACCT, REGION, "acme").repository_count == 2
    assert store.get_domain(ACCT, "eu-west-1", "acme").repository_count == 0
    assert [x.repository_count for x in store.list_domains(ACCT, REGION, 10, None)] == [2]


def test_list_domains_order_limit_and_paging(store):
    names = ["b-dom", "a-dom", "Zed", "c-dom", "_under", "a-dom2", "m"]
    for n in names:
        store.create_domain(domain(n))
    store.create_domain(domain("other-acct", acct=OTHER))
    store.create_domain(domain("other-region", region="eu-west-1"))
    expected = sorted(names)   # code-point order on both backends
    assert [d.name for d in store.list_domains(ACCT, REGION, 100, None)] == expected
    assert [d.name for d in store.list_domains(ACCT, REGION, 3, None)] == expected[:3]
    pages, after = [], None
    while True:
        page = store.list_domains(ACCT, REGION, 2, after)
        if not page:
            break
        assert len(page) <= 2
        pages.append([d.name for d in page])
        after = page[-1].name
    assert sum(pages, []) == expected and len(pages) == 4
    assert store.list_domains(ACCT, REGION, 10, expected[-1]) == []
    assert store.list_domains(ACCT, REGION, 10, "b") == store.list_domains(ACCT, REGION, 10, "a-dom2")


def test_delete_domain_conflict_and_cascade_of_policy_and_endpoints(store):
    store.create_domain(domain("acme"))
    store.create_repository(repo("acme", "r1"))
    store.put_domain_policy(DomainPolicy(ACCT, REGION, "acme", '{"p":1}', "rev1"))
    store.set_repository_endpoint(ACCT, REGION, "acme", "pypi", "https://x/{repository}/pypi/")
    with pytest.raises(Conflict) as ei:
        store.delete_domain(ACCT, REGION, "acme")
    assert ei.value.resource_type == "domain"
    assert store.get_domain(ACCT, REGION, "acme") is not None
    store.delete_repository(ACCT, REGION, "acme", "r1")
    deleted = store.delete_domain(ACCT, REGION, "acme")
    assert deleted.name == "acme"
    assert store.get_domain(ACCT, REGION, "acme") is None
    assert store.delete_domain(ACCT, REGION, "acme") is None
    store.create_domain(domain("acme"))
    assert store.get_domain_policy(ACCT, REGION, "acme") is None
    assert store.get_repository_endpoint(ACCT, REGION, "acme", "pypi") is None


def test_domain_policy(store):
    store.create_domain(domain("acme"))
    assert store.get_domain_policy(ACCT, REGION, "acme") is None
    p1 = DomainPolicy(ACCT, REGION, "acme", '{"v":1}', "rev-1")
    assert store.put_domain_policy(p1) == p1
    p2 = DomainPolicy(ACCT, REGION, "acme", '{"v":2}', "rev-2")
    store.put_domain_policy(p2)
    assert store.get_domain_policy(ACCT, REGION, "acme") == p2
    assert store.delete_domain_policy(ACCT, REGION, "acme") == p2
    assert store.delete_domain_policy(ACCT, REGION, "acme") is None
    with pytest.raises(NotFound) as nf:
        store.put_domain_policy(DomainPolicy(ACCT, REGION, "ghost", "{}", "r"))
    assert nf.value.resource_type == "domain"


def test_repository_endpoints(store):
    store.create_domain(domain("acme"))
    store.set_repository_endpoint(ACCT, REGION, "acme", "pypi", "https://a/{repository}/pypi/")
    store.set_repository_endpoint(ACCT, REGION, "acme", "npm", "https://a/{repository}/npm/")
    store.set_repository_endpoint(ACCT, REGION, "acme", "pypi", "https://b/{repository}/simple/")
    assert store.get_repository_endpoint(ACCT, REGION, "acme", "pypi") == "https://b/{repository}/simple/"
    assert store.get_repository_endpoint(ACCT, REGION, "acme", "npm") == "https://a/{repository}/npm/"
    assert store.get_repository_endpoint(ACCT, REGION, "acme", "maven") is None
    with pytest.raises(NotFound):
        store.set_repository_endpoint(ACCT, REGION, "ghost", "pypi", "x")


# --- repositories ---------------------------------------------------------------------------------

def test_repository_round_trip_conflict_and_delete(store):
    store.create_domain(domain("acme"))
    r = repo("acme", "pypi-store", upstreams=("public", "internal"))
    assert store.create_repository(r) == r
    got = store.get_repository(ACCT, REGION, "acme", "pypi-store")
    assert got == r and got.upstreams == ("public", "internal")
    assert store.get_repository(ACCT, REGION, "acme", "nope") is None
    with pytest.raises(Conflict) as ei:
        store.create_repository(r)
    assert ei.value.resource_type == "repository"
    with pytest.raises(NotFound) as nf:
        store.create_repository(repo("ghost", "x"))
    assert nf.value.resource_type == "domain"
    assert store.delete_repository(ACCT, REGION, "acme", "pypi-store") == r
    assert store.delete_repository(ACCT, REGION, "acme", "pypi-store") is None


def test_list_repositories_prefix_order_limit_and_paging(store):
    store.create_domain(domain("acme"))
    store.create_domain(domain("other"))
    names = ["pypi-a", "pypi-b", "pypi-c", "py", "Pypi-upper", "npm-1", "pypj", "pypi_", "pypi%x"]
    for n in names:
        store.create_repository(repo("acme", n))
    store.create_repository(repo("other", "pypi-zzz"))

    def listed(prefix, limit=100, after=None):
        return [r.name for r in store.list_repositories(ACCT, REGION, "acme", prefix, limit, after)]

    assert listed(None) == sorted(names)
    assert listed("") == sorted(names)
    assert listed("pypi") == sorted(n for n in names if n.startswith("pypi"))   # case-sensitive
    assert listed("pypi%") == ["pypi%x"]                                        # no LIKE wildcards
    assert listed("pypi_") == ["pypi_"]
    assert listed("P") == ["Pypi-upper"]
    assert listed("zzz") == []
    assert listed("pypi", limit=2) == ["pypi%x", "pypi-a"]
    assert listed("pypi", limit=2, after="pypi-a") == ["pypi-b", "pypi-c"]
    assert listed(None, limit=3, after="pypi-c") == ["pypi_", "pypj"]
    assert listed(None, limit=0) == []


# --- ECR and ACR ----------------------------------------------------------------------------------

def ecr_repo(name: str, region: str = REGION, scan: bool = False) -> EcrRepository:
    return EcrRepository(ACCT, region, name, f"arn:aws:ecr:{region}:{ACCT}:repository/{name}",
                         f"{ACCT}.dkr.ecr.{region}.localhost:5000/{name}", "MUTABLE", scan, "AES256", T0)


def test_ecr_repositories(store):
    r = ecr_repo("team/app", scan=True)
    assert store.create_ecr_repository(r) == r
    got = store.get_ecr_repository(ACCT, REGION, "team/app")
    assert got == r and got.scan_on_push is True
    assert store.get_ecr_repository(ACCT, "eu-west-1", "team/app") is None
    with pytest.raises(Conflict) as ei:
        store.create_ecr_repository(r)
    assert ei.value.resource_type == "ecr_repository"
    store.create_ecr_repository(ecr_repo("team/app", region="eu-west-1"))
    assert store.delete_ecr_repository(ACCT, REGION, "team/app") == r
    assert store.delete_ecr_repository(ACCT, REGION, "team/app") is None
    assert store.get_ecr_repository(ACCT, "eu-west-1", "team/app").scan_on_push is False


def test_list_ecr_repositories_order_limit_and_paging(store):
    names = ["web", "api", "Base", "team/x", "team-y", "a"]
    for n in names:
        store.create_ecr_repository(ecr_repo(n))
    store.create_ecr_repository(ecr_repo("elsewhere", region="eu-west-1"))
    expected = sorted(names)
    assert [r.name for r in store.list_ecr_repositories(ACCT, REGION, 100, None)] == expected
    assert [r.name for r in store.list_ecr_repositories(ACCT, REGION, 2, None)] == expected[:2]
    assert [r.name for r in store.list_ecr_repositories(ACCT, REGION, 2, expected[1])] == expected[2:4]
    assert store.list_ecr_repositories(ACCT, REGION, 5, expected[-1]) == []


def test_registry_endpoint(store):
    assert store.get_registry_endpoint(ACCT, REGION) is None
    store.set_registry_endpoint(ACCT, REGION, "https://registry.example:5000")
    store.set_registry_endpoint(ACCT, "eu-west-1", "https://eu.example")
    store.set_registry_endpoint(ACCT, REGION, "https://registry2.example")
    assert store.get_registry_endpoint(ACCT, REGION) == "https://registry2.example"
    assert store.get_registry_endpoint(ACCT, "eu-west-1") == "https://eu.example"
    assert store.get_registry_endpoint(OTHER, REGION) is None


def test_acr_instances(store):
    i1 = AcrInstance("cri-bbbbbbbbbbbb", ACCT, "cn-hangzhou", "prod", "prod-registry.example:5000", T0)
    i2 = AcrInstance("cri-aaaaaaaaaaaa", ACCT, "cn-shanghai", "dev", "dev-registry.example", T0 + 1)
    i3 = AcrInstance("cri-cccccccccccc", OTHER, "cn-hangzhou", "other", "o.example", T0)
    for i in (i1, i2, i3):
        assert store.create_acr_instance(i) == i
    assert store.get_acr_instance("cri-bbbbbbbbbbbb") == i1
    assert store.get_acr_instance("cri-missing") is None
    assert store.list_acr_instances(ACCT) == [i2, i1]      # by name
    assert store.list_acr_instances("000000000000") == []
    with pytest.raises(Conflict) as ei:
        store.create_acr_instance(i1)
    assert ei.value.resource_type == "acr_instance"
    g = store.generation()
    assert store.delete_acr_instance("cri-bbbbbbbbbbbb") == i1
    assert store.generation() > g                          # cached instances are dropped on every node
    assert store.get_acr_instance("cri-bbbbbbbbbbbb") is None
    assert store.list_acr_instances(ACCT) == [i2]
    assert store.delete_acr_instance("cri-bbbbbbbbbbbb") is None


def test_registry_hosts_of_every_account(store):
    assert store.list_registry_hosts() == []
    store.set_registry_endpoint(ACCT, REGION, "https://registry.example:5000")
    store.set_registry_endpoint(ACCT, "eu-west-1", "https://registry.example:5000/")
    store.set_registry_endpoint(OTHER, REGION, "http://other.example")
    store.create_acr_instance(AcrInstance("cri-dddddddddddd", OTHER, "cn-hangzhou", "o", "acr.example:443", T0))
    assert store.list_registry_hosts() == [(ACCT, "registry.example:5000"), (OTHER, "acr.example:443"),
                                           (OTHER, "other.example")]


# --- tokens, audit, keyring -----------------------------------------------------------------------

def test_issued_token_index(store):
    tok = IssuedToken("tid-0123456789abcdef", "codeartifact", f"arn:aws:iam::{ACCT}:user/alice", ACCT,
                      f"arn:aws:codeartifact:{REGION}:{ACCT}:domain/acme", T0, T0 + 43200)
    store.record_issued_token(tok)
    assert store.get_issued_token(tok.token_id) == tok
    assert store.get_issued_token("tid-missing") is None
    with pytest.raises(Conflict):
        store.record_issued_token(tok)


def test_issuance_writes_index_and_audit_together_or_not_at_all(store):
    alice = f"arn:aws:iam::{ACCT}:user/alice"
    tok = IssuedToken("tid-issuance-000001", "ecr", alice, ACCT, f"arn:aws:ecr:{REGION}:{ACCT}:registry", T0, T0 + 60)
    store.record_issuance(tok, event(T0, alice, rid="issue-1"))
    assert store.get_issued_token(tok.token_id) == tok
    assert [e.request_id for e in store.list_audit_events(principal_arn=alice)] == ["issue-1"]
    with pytest.raises(Conflict):
        store.record_issuance(tok, event(T0 + 1, alice, rid="issue-2"))
    assert [e.request_id for e in store.list_audit_events(principal_arn=alice)] == ["issue-1"]


def test_batch_writes_every_record_or_none(store):
    alice = f"arn:aws:iam::{ACCT}:user/alice"
    toks = [IssuedToken(f"tid-batch-{i:012d}", "ecr", alice, ACCT, f"arn:aws:ecr:{REGION}:{ACCT}:registry", T0,
                        T0 + 60) for i in range(3)]
    events = [event(T0 + i, alice, rid=f"batch-{i}") for i in range(4)]      # one more: a denial rides along
    store.record_batch(toks, events)
    assert all(store.get_issued_token(t.token_id) == t for t in toks)
    assert [e.request_id for e in store.list_audit_events(principal_arn=alice)] == [f"batch-{i}" for i in (3, 2, 1, 0)]
    fresh = IssuedToken("tid-batch-fresh00000", "ecr", alice, ACCT, "x", T0, T0 + 60)
    with pytest.raises(Exception):                       # a duplicate id: the whole batch is refused
        store.record_batch([fresh, toks[0]], [event(T0 + 9, alice, rid="batch-refused")])
    assert store.get_issued_token(fresh.token_id) is None
    assert "batch-refused" not in [e.request_id for e in store.list_audit_events(principal_arn=alice)]
    store.record_batch([], [])                           # nothing to write is not an error


def test_batch_keeps_awkward_text_and_exact_times(store):
    """Values that array or VALUES quoting could mangle (PostgreSQL stores a batch as unnested arrays)."""
    alice = f"arn:aws:iam::{ACCT}:user/alice"
    awkward = ["NULL", "", "{a,b}", 'quote " and \\ backslash', "comma, space", "ünïcödé ✓", "tab\tnew\nline", "(1,2)"]
    toks = [IssuedToken(f"tid-awkward-{i:010d}", "ecr", alice, ACCT, text, T0 + i / 3, T0 + 60 + i / 7)
            for i, text in enumerate(awkward)]
    events = [AuditEvent(T0 + i / 3, f"awk-{i}", alice, "ecr:GetAuthorizationToken", text, "allowed", "::1", "tid",
                         text) for i, text in enumerate(awkward)]
    store.record_batch(toks, events)
    assert [store.get_issued_token(t.token_id) for t in toks] == toks
    got = {e.request_id: e for e in store.list_audit_events(principal_arn=alice)}
    assert [got[e.request_id] for e in events] == events


def test_audit_newest_first_with_principal_filter_and_limit(store):
    alice, bob = f"arn:aws:iam::{ACCT}:user/alice", f"arn:aws:iam::{ACCT}:user/bob"
    store.record_audit(event(T0 + 1, alice, rid="a1"))
    store.record_audit(event(T0 + 3, bob, rid="b1"))
    store.record_audit(event(T0 + 2, alice, rid="a2"))
    store.record_audit(event(T0 + 3, alice, rid="a3"))     # same time as b1, recorded later
    store.record_audit(AuditEvent(T0 + 4, "u1", "", "sts:GetCallerIdentity", "", "denied",
                                  "10.0.0.1", detail="MissingAuthentication"))
    assert [e.request_id for e in store.list_audit_events()] == ["u1", "a3", "b1", "a2", "a1"]
    assert [e.request_id for e in store.list_audit_events(limit=2)] == ["u1", "a3"]
    assert [e.request_id for e in store.list_audit_events(principal_arn=alice)] == ["a3", "a2", "a1"]
    assert [e.request_id for e in store.list_audit_events(1, alice)] == ["a3"]
    assert store.list_audit_events(principal_arn="arn:none") == []
    assert store.list_audit_events(principal_arn="")[0] == AuditEvent(
        T0 + 4, "u1", "", "sts:GetCallerIdentity", "", "denied", "10.0.0.1", "", "MissingAuthentication")
    assert store.list_audit_events(principal_arn=bob)[0] == event(T0 + 3, bob, rid="b1")


def test_signing_keys(store):
    assert store.list_signing_keys() == []
    k2 = SigningKey("kid-2", Secret("c2lnbmluZy1rZXktMg"), T0 + 10)
    k1 = SigningKey("kid-1", Secret("c2lnbmluZy1rZXktMQ"), T0, retired_at=T0 + 20)
    store.add_signing_key(k2)
    store.add_signing_key(k1)
    keys = store.list_signing_keys()
    assert [k.kid for k in keys] == ["kid-1", "kid-2"]          # oldest first
    assert keys == [k1, k2]
    assert keys[0].secret.reveal() == "c2lnbmluZy1rZXktMQ" and keys[0].retired_at == T0 + 20
    assert keys[1].retired_at is None
    with pytest.raises(Conflict) as ei:
        store.add_signing_key(k1)
    assert ei.value.resource_type == "signing_key"


def test_add_first_signing_key_only_when_no_key_is_active(store):
    retired = SigningKey("kid-old", Secret("b2xk"), T0, retired_at=T0 + 1)
    store.add_signing_key(retired)
    g = store.generation()
    assert store.add_first_signing_key(SigningKey("kid-a", Secret("YQ"), T0 + 2)) is True
    assert store.generation() > g
    assert store.add_first_signing_key(SigningKey("kid-b", Secret("Yg"), T0 + 3)) is False
    assert [k.kid for k in store.list_signing_keys()] == ["kid-old", "kid-a"]


def test_nodes_starting_together_make_one_first_key(store):
    """Several stores on one database (own engines and connections, as nodes starting at the same
    moment have) each load the keyring of an empty store: one key is made, and every node's keyring
    signs with it, so a token minted on one verifies on the others."""
    from regauth.clock import FixedClock
    from regauth.services.container import load_keyring
    from tests.fixtures.race import on_stores_at_once

    kids = on_stores_at_once(store, KEY, 4, lambda i, s: load_keyring(s, FixedClock(T0)).active_kid)
    stored = store.list_signing_keys()
    assert len(stored) == 1
    assert kids == [stored[0].kid] * 4


def test_rotate_signing_keys_retires_or_deletes_the_others_in_one_go(store):
    store.add_signing_key(SigningKey("kid-old", Secret("b2xk"), T0, retired_at=T0 + 1))
    store.add_signing_key(SigningKey("kid-a", Secret("YQ"), T0 + 2))
    g = store.generation()
    assert store.rotate_signing_keys(SigningKey("kid-b", Secret("Yg"), T0 + 5), T0 + 5, False) == ["kid-a"]
    assert store.generation() > g
    keys = {k.kid: k.retired_at for k in store.list_signing_keys()}
    assert keys == {"kid-old": T0 + 1, "kid-a": T0 + 5, "kid-b": None}      # an earlier retirement is kept
    assert store.rotate_signing_keys(SigningKey("kid-c", Secret("Yw"), T0 + 9), T0 + 9, True) == [
        "kid-old", "kid-a", "kid-b"]
    assert [(k.kid, k.retired_at, k.secret.reveal()) for k in store.list_signing_keys()] == [("kid-c", None, "Yw")]
    with pytest.raises(Conflict):                                          # a kid is never reused
        store.rotate_signing_keys(SigningKey("kid-c", Secret("eA"), T0 + 10), T0 + 10, False)
    assert [k.kid for k in store.list_signing_keys()] == ["kid-c"]          # and the failed rotation changed nothing


def test_prune_signing_keys_deletes_only_keys_retired_before_the_cut(store):
    store.add_signing_key(SigningKey("kid-1", Secret("MQ"), T0 - 100, retired_at=T0 - 10))
    store.add_signing_key(SigningKey("kid-2", Secret("Mg"), T0 - 50, retired_at=T0))
    store.add_signing_key(SigningKey("kid-3", Secret("Mw"), T0 - 200))                 # active, however old
    assert store.prune_signing_keys(T0) == 1
    assert [k.kid for k in store.list_signing_keys()] == ["kid-3", "kid-2"]


def test_prune_audit_events_deletes_the_oldest_before_the_cut_up_to_the_limit(store):
    for i, at in enumerate([T0 - 3, T0 - 1, T0 - 2, T0, T0 + 5]):
        store.record_audit(event(at, f"arn:aws:iam::{ACCT}:user/u", rid=f"r{i}"))
    g = store.generation()
    assert store.prune_audit_events(T0, 2) == 2
    assert store.generation() == g
    assert sorted(e.request_id for e in store.list_audit_events(limit=10)) == ["r1", "r3", "r4"]
    assert store.prune_audit_events(T0, 10) == 1
    assert sorted(e.request_id for e in store.list_audit_events(limit=10)) == ["r3", "r4"]
