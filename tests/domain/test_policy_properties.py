"""Properties of the policy engine (Hypothesis): deny monotonicity, order independence,
no allow without an Allow, the admin policy, and parse_policy's single failure mode."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regauth.domain.conditions import OPERATORS
from regauth.domain.policy import Decision, Policy, RequestContext, evaluate, parse_policy
from regauth.errors import MalformedPolicy

ACCOUNT = "123456789012"
ACTIONS = ["codeartifact:GetAuthorizationToken", "codeartifact:ReadFromRepository", "sts:GetServiceBearerToken",
           "ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr-public:GetAuthorizationToken",
           "cr:GetAuthorizationToken", "cr:PullRepository"]
RESOURCES = [f"arn:aws:codeartifact:us-east-1:{ACCOUNT}:domain/d1",
             f"arn:aws:codeartifact:us-east-1:{ACCOUNT}:repository/d1/r1",
             f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/app",
             "arn:aws:ecr:eu-west-1:210987654321:repository/other",
             f"acs:cr:cn-hangzhou:{ACCOUNT}:instance/cri-abc", "*"]
ACTION_PATTERNS = ["*", "codeartifact:*", "codeartifact:Get*", "sts:GetServiceBearerToken", "ecr:*",
                   "ecr:?atchGetImage", "ECR-PUBLIC:*", "cr:*Repository"]
RESOURCE_PATTERNS = ["*", "arn:aws:codeartifact:*:*:domain/*", f"arn:aws:codeartifact:us-east-1:{ACCOUNT}:*",
                     "arn:aws:ecr:*:*:repository/team/*", "arn:aws:ecr:*", "acs:cr:*:*:instance/*",
                     "arn:aws:ecr:*:${aws:PrincipalAccount}:repository/*",
                     "arn:aws:codeartifact:*:*:repository/d1/${aws:username}"]
CONDITIONS = [
    {"StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"}},
    {"NumericLessThanEquals": {"sts:DurationSeconds": 3600}},
    {"Bool": {"aws:SecureTransport": "true"}},
    {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    {"NotIpAddressIfExists": {"aws:SourceIp": ["192.0.2.0/24"]}},
    {"StringNotEquals": {"aws:username": "mallory"}},
    {"Null": {"aws:username": "false"}},
    {"ForAllValues:StringLike": {"aws:TagKeys": "team*"}},
    {"ForAnyValue:StringEquals": {"aws:TagKeys": ["owner", "team"]}},
    {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
]
KEY_VALUES: dict[str, list[object]] = {
    "sts:AWSServiceName": ["codeartifact.amazonaws.com", "ecr.amazonaws.com"],
    "sts:DurationSeconds": [900, 3600, 43200, "abc"],
    "aws:SecureTransport": [True, False, "true"],
    "aws:SourceIp": ["10.1.2.3", "192.0.2.5", "2001:db8::1", "bogus"],
    "aws:username": ["alice", "mallory", "r1"],
    "aws:TagKeys": [[], ["team-a"], ["team-a", "owner"], "team"],
    "aws:CurrentTime": [datetime(2029, 1, 1, tzinfo=timezone.utc), datetime(2031, 1, 1, tzinfo=timezone.utc)],
}


def one_or_list(values: list[str]) -> st.SearchStrategy[Any]:
    return st.sampled_from(values) | st.lists(st.sampled_from(values), min_size=1, max_size=3)


def _statement(effect: str, action: tuple[str, Any], resource: tuple[str, Any],
               conditions: list[dict[str, Any]]) -> dict[str, Any]:
    stmt: dict[str, Any] = {"Effect": effect, action[0]: action[1], resource[0]: resource[1]}
    if conditions:
        stmt["Condition"] = {op: block for c in conditions for op, block in c.items()}
    return stmt


def statements(effect: str | None = None) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(_statement,
                     st.just(effect) if effect else st.sampled_from(["Allow", "Deny"]),
                     st.tuples(st.sampled_from(["Action", "NotAction"]), one_or_list(ACTION_PATTERNS)),
                     st.tuples(st.sampled_from(["Resource", "NotResource"]), one_or_list(RESOURCE_PATTERNS)),
                     st.lists(st.sampled_from(CONDITIONS), max_size=2))


def policy(stmts: list[dict[str, Any]]) -> Policy:
    return parse_policy(json.dumps({"Version": "2012-10-17", "Statement": stmts}))


statement_lists = st.lists(st.lists(statements(), min_size=1, max_size=4), min_size=1, max_size=3)
contexts = st.builds(
    RequestContext,
    action=st.sampled_from(ACTIONS) | st.sampled_from(ACTIONS).map(str.upper),
    resource=st.sampled_from(RESOURCES),
    principal_arns=st.just((f"arn:aws:iam::{ACCOUNT}:user/alice",)),
    principal_account=st.sampled_from([ACCOUNT, "210987654321", ""]),
    keys=st.fixed_dictionaries({}, optional={k: st.sampled_from(v) for k, v in KEY_VALUES.items()}))


def decide(groups: list[list[dict[str, Any]]], ctx: RequestContext) -> Decision:
    return evaluate([policy(g) for g in groups if g], ctx)


SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(statement_lists, statements(effect="Deny"), contexts)
def test_adding_a_deny_never_turns_a_non_allow_into_allow(groups: list[list[dict[str, Any]]],
                                                         extra: dict[str, Any], ctx: RequestContext) -> None:
    before = decide(groups, ctx)
    after = decide([*groups, [extra]], ctx)
    assert after is not Decision.ALLOW or before is Decision.ALLOW
    assert after is Decision.DENY or after is before
    if before is Decision.DENY:
        assert after is Decision.DENY


@SETTINGS
@given(statement_lists, contexts)
def test_adding_a_matching_deny_always_denies(groups: list[list[dict[str, Any]]], ctx: RequestContext) -> None:
    assert decide([*groups, [{"Effect": "Deny", "Action": "*", "Resource": "*"}]], ctx) is Decision.DENY
    assert decide([[*groups[0], {"Effect": "Deny", "Action": "*", "Resource": "*"}], *groups[1:]], ctx) is Decision.DENY


@SETTINGS
@given(st.data(), statement_lists, contexts)
def test_evaluation_is_independent_of_statement_and_policy_order(data: st.DataObject,
                                                                 groups: list[list[dict[str, Any]]],
                                                                 ctx: RequestContext) -> None:
    shuffled = [data.draw(st.permutations(g)) for g in data.draw(st.permutations(groups))]
    assert decide(shuffled, ctx) is decide(groups, ctx)
    merged = [s for g in groups for s in g]
    assert decide([merged], ctx) is decide(groups, ctx)      # splitting into policies changes nothing


@SETTINGS
@given(statement_lists, contexts)
def test_without_allow_statements_nothing_is_allowed(groups: list[list[dict[str, Any]]], ctx: RequestContext) -> None:
    denies_only = [[s for s in g if s["Effect"] == "Deny"] for g in groups]
    assert decide(denies_only, ctx) is not Decision.ALLOW


@SETTINGS
@given(statement_lists, contexts)
def test_an_allow_needs_a_matching_allow_statement(groups: list[list[dict[str, Any]]], ctx: RequestContext) -> None:
    if decide(groups, ctx) is Decision.ALLOW:
        assert any(s.allows and s.applies(ctx) for g in groups for s in policy(g).statements)


ANY_KEYS = st.dictionaries(
    st.text(max_size=12),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
                 | st.datetimes(), lambda inner: st.lists(inner, max_size=3), max_leaves=5),
    max_size=4)


@settings(max_examples=200, deadline=None)
@given(action=st.text(max_size=40), resource=st.text(max_size=60), arns=st.lists(st.text(max_size=30), max_size=3),
       account=st.text(max_size=12), keys=ANY_KEYS)
def test_the_admin_policy_allows_every_context(action: str, resource: str, arns: list[str], account: str,
                                               keys: dict[str, object]) -> None:
    admin = parse_policy('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}')
    assert evaluate([admin], RequestContext(action, resource, tuple(arns), account, keys)) is Decision.ALLOW


@SETTINGS
@given(statement_lists, ANY_KEYS, st.sampled_from(ACTIONS), st.sampled_from(RESOURCES))
def test_evaluate_never_raises_on_odd_request_values(groups: list[list[dict[str, Any]]], keys: dict[str, object],
                                                     action: str, resource: str) -> None:
    weird = {**keys, **{k: v for k, v in zip(KEY_VALUES, keys.values())}}
    assert decide(groups, RequestContext(action, resource, keys=weird)) in Decision


# --- parse_policy fails only with MalformedPolicy ------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)
WORDS = ["Version", "Id", "Statement", "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource",
         "Principal", "NotPrincipal", "Condition", "AWS", "Service", "Allow", "Deny", "*", "2012-10-17",
         "2008-10-17", "aws:username", "ecr:*", "arn:aws:ecr:*:*:repository/*", "acs:cr:*:*:instance/*",
         "${aws:username}", "${*}", "123456789012", "arn:aws:iam::123456789012:root", "10.0.0.0/8", "true",
         *OPERATORS, "ForAllValues:StringLike", "ForAnyValue:StringEquals", "Null", "StringEqualsIfExists"]
WORDY_JSON = st.recursive(
    st.sampled_from(WORDS) | st.none() | st.booleans() | st.integers(-5, 5000),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(WORDS), inner, max_size=5),
    max_leaves=30)


def parses_or_is_malformed(text: str) -> None:
    for kind in ("identity", "resource", "trust"):
        try:
            result = parse_policy(text, kind=kind)
        except MalformedPolicy as e:
            assert e.message
        else:
            assert isinstance(result, Policy)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_parse_policy_on_arbitrary_text(text: str) -> None:
    parses_or_is_malformed(text)


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_parse_policy_on_arbitrary_json(value: object) -> None:
    parses_or_is_malformed(json.dumps(value))


@settings(max_examples=200, deadline=None)
@given(WORDY_JSON)
def test_parse_policy_on_policy_shaped_json(value: object) -> None:
    parses_or_is_malformed(json.dumps(value))


@settings(max_examples=200, deadline=None)
@given(st.lists(statements(), min_size=1, max_size=3), st.sampled_from(["Statement", "Sid", "Effect", "Action",
       "Resource", "Condition", "Principal"]), JSON)
def test_parse_policy_on_valid_policies_with_one_element_replaced(stmts: list[dict[str, Any]], element: str,
                                                                  junk: object) -> None:
    stmts[0][element] = junk
    parses_or_is_malformed(json.dumps({"Version": "2012-10-17", "Statement": stmts}))
