"""Authorizer: memoised decisions equal fresh IAM evaluation, and a revoked permission denies on
the very next request (the store generation, through CachingStore, is what invalidates)."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regauth.domain.policy import Decision, Policy, RequestContext, evaluate
from regauth.domain.principals import Caller, InlinePolicy, Role, User
from regauth.errors import AccessDenied
from regauth.services import authz as authz_module
from regauth.services.authz import Authorizer, PolicyCache, role_arn_of
from regauth.services.cache import CachingStore
from regauth.services.context import Call
from regauth.store.open import open_store

ACCT, OTHER = "123456789012", "210987654321"
T0 = 1_795_000_000.0
ALICE = Caller(ACCT, f"arn:aws:iam::{ACCT}:user/alice", "AIDAALICE", "user", "alice", "AKIAALICE00000000000")
ROLE = Caller(ACCT, f"arn:aws:sts::{ACCT}:assumed-role/deploy/ci", "AROADEPLOY:ci", "assumed-role", "deploy",
              "ASIADEPLOY0000000000", session_expires_at=T0 + 3600, session_issued_at=T0 - 600, session_name="ci")
DOMAIN = f"arn:aws:codeartifact:us-east-1:{ACCT}:domain/d1"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ADMIN = doc({"Effect": "Allow", "Action": "*", "Resource": "*"})


def call(caller: Caller = ALICE, now: float = T0, **kw: Any) -> Call:
    return Call(caller=caller, region=kw.pop("region", "us-east-1"), now=now, **kw)


class FakeStore:
    """Inline policies by (account, name); nothing else is read by the Authorizer."""

    def __init__(self) -> None:
        self.user: dict[str, list[InlinePolicy]] = {}
        self.role: dict[str, list[InlinePolicy]] = {}

    def list_user_policies(self, account_id: str, name: str) -> list[InlinePolicy]:
        return self.user.get(name, [])

    def list_role_policies(self, account_id: str, name: str) -> list[InlinePolicy]:
        return self.role.get(name, [])

    def get_role(self, account_id: str, name: str) -> Role | None:
        """Roles have a path here: a role session is known by the role's ARN with it."""
        if name not in self.role:
            return None
        return Role(account_id, name, "AROADEPLOY", f"arn:aws:iam::{account_id}:role/team/{name}", "/team/", "{}",
                    3600, "", 0.0)


def reference_decide(store: FakeStore, c: Call, action: str, resource: str, *, keys: Mapping[str, object] | None = None,
                     resource_policy: Policy | None = None, resource_account: str | None = None) -> Decision:
    """Authorizer.decide as it was before memoisation (context and evaluation on every call)."""
    caller = c.caller
    role = store.get_role(ACCT, caller.name) if caller.kind == "assumed-role" else None
    role_arn = (role.arn if role else role_arn_of(caller)) if caller.kind == "assumed-role" else None
    arns = (caller.arn,) + ((role_arn,) if role_arn else ())
    base: dict[str, object] = {
        "aws:CurrentTime": datetime.fromtimestamp(c.now, timezone.utc), "aws:EpochTime": int(c.now),
        "aws:SecureTransport": c.secure_transport, "aws:PrincipalArn": role_arn or caller.arn,
        "aws:PrincipalAccount": caller.account_id,
        "aws:PrincipalType": {"user": "User", "assumed-role": "AssumedRole", "session": "User"}[caller.kind],
        "aws:userid": caller.user_id, "aws:RequestedRegion": c.region}
    if caller.kind in ("user", "session"):
        base["aws:username"] = caller.name
    if c.source_ip:
        base["aws:SourceIp"] = c.source_ip
    if caller.session_issued_at is not None:
        base["aws:TokenIssueTime"] = datetime.fromtimestamp(caller.session_issued_at, timezone.utc)
    base.update(keys or {})
    ctx = RequestContext(action, resource, arns, caller.account_id, base,
                         principal_id=caller.user_id.partition(":")[0])
    cache = PolicyCache()
    docs = store.list_role_policies(ACCT, caller.name) if caller.kind == "assumed-role" \
        else store.list_user_policies(ACCT, caller.name)
    identity = evaluate([cache.get(p.document) for p in docs], ctx)
    decisions = [identity]
    resource_decision = Decision.IMPLICIT_DENY
    if resource_policy is not None:
        resource_decision = evaluate([resource_policy], ctx)
        decisions.append(resource_decision)
    if caller.session_policy:
        decisions.append(evaluate([cache.get(caller.session_policy)], ctx))
    if Decision.DENY in decisions:
        return Decision.DENY
    session_ok = not caller.session_policy or decisions[-1] == Decision.ALLOW
    if resource_account is None or resource_account == caller.account_id:
        # same account: a resource policy grants alone only to a principal it names (ARN or "*")
        exact = RequestContext(action, resource, arns, caller.account_id, base, account_principals=False)
        allowed = identity == Decision.ALLOW or (resource_decision == Decision.ALLOW
                                                 and evaluate([resource_policy], exact) == Decision.ALLOW)
    else:
        allowed = identity == Decision.ALLOW and resource_decision == Decision.ALLOW
    return Decision.ALLOW if allowed and session_ok else Decision.IMPLICIT_DENY


# --- memoised == fresh, over random policies and requests ------------------------------------------------

ACTIONS = ["ecr:GetAuthorizationToken", "sts:GetServiceBearerToken", "codeartifact:GetAuthorizationToken",
           "ECR:getauthorizationtoken", "iam:CreateUser"]
RESOURCES = ["*", DOMAIN, f"arn:aws:codeartifact:us-east-1:{OTHER}:domain/d1", f"arn:aws:s3:::bucket/alice/x"]
CONDITIONS = [
    {"StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"}},
    {"NumericLessThanEquals": {"sts:DurationSeconds": 3600}},
    {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    {"Bool": {"aws:SecureTransport": "true"}},
    {"DateLessThan": {"aws:CurrentTime": "2026-11-18T00:00:00Z"}},
    {"NumericGreaterThan": {"aws:EpochTime": T0 + 50}},
    {"StringLike": {"aws:userid": "AROA*"}},
    {"StringEquals": {"aws:RequestedRegion": "us-east-1"}},
    {"Null": {"aws:TokenIssueTime": "true"}},
    {"StringEquals": {"sts:AWSServiceName": "${aws:username}"}},
    {"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}},
    {"StringEqualsIgnoreCase": {"x:flag": "TRUE"}},
]
statements = st.fixed_dictionaries(
    {"Effect": st.sampled_from(["Allow", "Allow", "Deny"]),
     "Action": st.sampled_from(["*", "ecr:*", "sts:GetServiceBearerToken", "codeartifact:Get*", "iam:*"]),
     "Resource": st.sampled_from(["*", DOMAIN, "arn:aws:codeartifact:*:*:domain/*",
                                  "arn:aws:s3:::bucket/${aws:username}/*"])},
    optional={"Condition": st.sampled_from(CONDITIONS)})
policy_docs = st.lists(statements, min_size=1, max_size=3).map(lambda s: doc(*s))
resource_policies = st.none() | st.lists(statements, min_size=1, max_size=2).map(
    lambda s: doc(*({**x, "Principal": {"AWS": p}} for x, p in zip(s, [ACCT, f"arn:aws:iam::{ACCT}:user/alice", "*"]))))
FIELDS = {
    "caller": st.sampled_from([ALICE, ROLE]),
    "now": st.sampled_from([T0, T0 + 1, T0 + 100, 1_800_000_000.0]),
    "source_ip": st.sampled_from(["", "10.1.2.3", "192.0.2.1"]),
    "secure_transport": st.booleans(),
    "region": st.sampled_from(["us-east-1", "eu-west-1"]),
    "action": st.sampled_from(ACTIONS),
    "resource": st.sampled_from(RESOURCES),
    "keys": st.none() | st.fixed_dictionaries({}, optional={
        "sts:AWSServiceName": st.sampled_from(["codeartifact.amazonaws.com", "alice", "ecr.amazonaws.com"]),
        "sts:DurationSeconds": st.sampled_from([900, 3600, 43200, 3600.0, True, "3600"]),
        "aws:TagKeys": st.sampled_from([["team"], ["x"], []]),
        "X:Flag": st.sampled_from([True, 1, "true", "TRUE"])}),
    "resource_account": st.sampled_from([None, ACCT, OTHER])}
requests = st.fixed_dictionaries(FIELDS)
# a request differing from another in one field: what a memo key missing that field would confuse
changes = st.sampled_from(sorted(FIELDS)).flatmap(lambda name: FIELDS[name].map(lambda value: {name: value}))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(user=st.lists(policy_docs, max_size=2), role=st.lists(policy_docs, max_size=2),
       session=st.none() | policy_docs, resource=resource_policies, base=requests,
       variants=st.lists(changes, min_size=1, max_size=10))
def test_memoised_decisions_equal_fresh_evaluation(user, role, session, resource, base, variants):
    store = FakeStore()
    store.user["alice"] = [InlinePolicy(f"p{i}", d) for i, d in enumerate(user)]
    store.role["deploy"] = [InlinePolicy(f"p{i}", d) for i, d in enumerate(role)]
    az = Authorizer(store, PolicyCache())  # type: ignore[arg-type]
    resource_policy = PolicyCache().get(resource, "resource") if resource else None
    seq = [base] + [{**base, **change} for change in variants]
    for r in seq + seq:                   # every request twice: the second from the memo where it may be
        r = dict(r)
        caller = r.pop("caller")
        if caller is ROLE and session:
            caller = Caller(**{**ROLE.__dict__, "session_policy": session})
        c = call(caller, r.pop("now"), source_ip=r.pop("source_ip"), secure_transport=r.pop("secure_transport"),
                 region=r.pop("region"))
        args = (c, r.pop("action"), r.pop("resource"))
        kwargs = {"keys": r.pop("keys"), "resource_policy": resource_policy,
                  "resource_account": r.pop("resource_account")}
        assert az.decide(*args, **kwargs) == reference_decide(store, *args, **kwargs)


# --- invalidation -----------------------------------------------------------------------------------------

@pytest.fixture
def nodes(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    key = secrets.token_bytes(32)
    a, b = open_store(url, key), open_store(url, key)   # two nodes, one database
    a.ensure_account(ACCT, T0)
    a.create_user(User(ACCT, "alice", "AIDAALICE", ALICE.arn, "/", T0))
    a.put_user_policy(ACCT, "alice", InlinePolicy("admin", ADMIN))
    yield a, b
    a.close()
    b.close()


@pytest.mark.parametrize("revoke", [
    lambda s: s.delete_user_policy(ACCT, "alice", "admin"),
    lambda s: s.put_user_policy(ACCT, "alice", InlinePolicy("admin", doc({"Effect": "Allow", "Action": "iam:*",
                                                                          "Resource": "*"}))),
    lambda s: s.put_user_policy(ACCT, "alice", InlinePolicy("no-ecr", doc({"Effect": "Deny", "Action": "ecr:*",
                                                                           "Resource": "*"}))),
], ids=["deleted", "narrowed", "denied"])
@pytest.mark.parametrize("writer", ["same-node", "other-node"])
def test_a_revoked_permission_denies_on_the_next_request(nodes, revoke, writer):
    a, b = nodes
    store = CachingStore(a)
    az = Authorizer(store, PolicyCache())  # type: ignore[arg-type]
    for _ in range(3):
        store.begin_request()
        az.require(call(), "ecr:GetAuthorizationToken", "*")
    revoke(a if writer == "same-node" else b)
    store.begin_request()
    with pytest.raises(AccessDenied):
        az.require(call(), "ecr:GetAuthorizationToken", "*")
    a.put_user_policy(ACCT, "alice", InlinePolicy("admin", ADMIN))      # and granted again: allowed again
    a.delete_user_policy(ACCT, "alice", "no-ecr")
    store.begin_request()
    az.require(call(), "ecr:GetAuthorizationToken", "*")


def test_clock_conditions_are_decided_at_each_request():
    store = FakeStore()
    store.user["alice"] = [InlinePolicy("p", doc({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {
        "DateLessThan": {"aws:CurrentTime": datetime.fromtimestamp(T0 + 10, timezone.utc).isoformat()}}}))]
    az = Authorizer(store, PolicyCache())  # type: ignore[arg-type]
    assert [az.decide(call(now=t), "ecr:GetAuthorizationToken", "*") for t in (T0, T0 + 20, T0)] == \
        [Decision.ALLOW, Decision.IMPLICIT_DENY, Decision.ALLOW]


def test_request_keys_a_policy_reads_are_part_of_the_memo():
    store = FakeStore()
    store.user["alice"] = [InlinePolicy("p", doc({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {
        "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}, "StringEquals": {"sts:AWSServiceName": "ecr.amazonaws.com"}}}))]
    az = Authorizer(store, PolicyCache())  # type: ignore[arg-type]
    keys = {"sts:AWSServiceName": "ecr.amazonaws.com"}
    seen = [az.decide(call(source_ip=ip), "sts:GetServiceBearerToken", "*", keys=k)
            for ip, k in [("10.0.0.1", keys), ("192.0.2.1", keys), ("10.0.0.1", keys),
                          ("10.0.0.1", {"sts:awsservicename": "x"}), ("10.0.0.1", None)]]
    assert seen == [Decision.ALLOW, Decision.IMPLICIT_DENY, Decision.ALLOW, Decision.IMPLICIT_DENY,
                    Decision.IMPLICIT_DENY]


def test_values_of_other_types_are_not_memoised():
    store = FakeStore()
    store.user["alice"] = [InlinePolicy("p", doc({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {
        "ForAnyValue:StringEquals": {"aws:TagKeys": "team"}}}))]
    cache = PolicyCache()
    az = Authorizer(store, cache)  # type: ignore[arg-type]
    for tags, expected in [(["team"], Decision.ALLOW), (["x"], Decision.IMPLICIT_DENY), (["team"], Decision.ALLOW)]:
        assert az.decide(call(), "ecr:GetAuthorizationToken", "*", keys={"aws:TagKeys": tags}) is expected
    assert not cache.decisions


def test_only_statements_for_the_action_make_it_read_keys():
    store = FakeStore()
    store.user["alice"] = [InlinePolicy("p", doc(
        {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {"Effect": "Allow", "Action": "sts:GetServiceBearerToken", "Resource": "*",
         "Condition": {"DateLessThan": {"aws:CurrentTime": "2000-01-01T00:00:00Z"}}}))]
    az = Authorizer(store, PolicyCache())  # type: ignore[arg-type]
    policies = az._policies.policy_set((tuple(p.document for p in store.user["alice"]), None, None))
    assert policies.reads("ecr:GetAuthorizationToken") == ()
    assert policies.reads("sts:GetServiceBearerToken") is None       # a clock key: never memoised
    assert policies.reads("STS:getservicebearertoken") is None     # actions match case-insensitively


def test_denials_raise_as_before_when_memoised():
    store = FakeStore()
    store.user["alice"] = [InlinePolicy("p", doc({"Effect": "Deny", "Action": "ecr:*", "Resource": "*"}))]
    az = Authorizer(store, PolicyCache())  # type: ignore[arg-type]
    messages = []
    for _ in range(2):
        with pytest.raises(AccessDenied) as info:
            az.require(call(), "ecr:GetAuthorizationToken", "*")
        messages.append((info.value.message, info.value.action, info.value.resource))  # type: ignore[attr-defined]
    assert messages[0] == messages[1] == (
        f"User: {ALICE.arn} is not authorized to perform: ecr:GetAuthorizationToken on resource: * "
        "with an explicit deny",
        "ecr:GetAuthorizationToken", "*")


def test_memo_is_bounded_and_cleared_with_the_policy_cache(monkeypatch):
    monkeypatch.setattr(authz_module, "_DECISIONS_SIZE", 8)
    store = FakeStore()
    store.user["alice"] = [InlinePolicy("p", ADMIN)]
    cache = PolicyCache()
    az = Authorizer(store, cache)  # type: ignore[arg-type]
    for i in range(50):
        assert az.decide(call(), "ecr:GetAuthorizationToken", f"arn:aws:ecr:us-east-1:{ACCT}:repository/r{i}")
        assert len(cache.decisions) <= 8
    cache.clear()
    assert not cache.decisions and not cache._sets
    assert az.decide(call(), "ecr:GetAuthorizationToken", "*") is Decision.ALLOW
