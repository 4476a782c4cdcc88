"""What evaluation can read: `Statement.reads` (what lets the Authorizer memoise decisions) must name
every context key evaluating the statement looks at, and `context_keys` is the context's view."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regauth.domain.conditions import parse_conditions, parse_template
from regauth.domain.policy import RequestContext, context_keys, evaluate, parse_policy

from .test_policy_properties import contexts, statement_lists


class Recording(dict):
    """Condition keys that remember which names were looked up."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.seen: set[str] = set()

    def get(self, key: Any, default: Any = None) -> Any:
        self.seen.add(key)
        return super().get(key, default)

    def __getitem__(self, key: Any) -> Any:
        self.seen.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: Any) -> bool:
        self.seen.add(key)
        return super().__contains__(key)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(groups=statement_lists, ctx=contexts)
def test_evaluation_reads_only_the_keys_statements_declare(groups, ctx):
    policies = [parse_policy(json.dumps({"Version": "2012-10-17", "Statement": g})) for g in groups]
    recording = Recording(ctx._keys)
    object.__setattr__(ctx, "_keys", recording)
    evaluate(policies, ctx)
    declared = set().union(*(s.reads for p in policies for s in p.statements if s.actions.matches(ctx._action)))
    assert recording.seen <= declared


def test_reads_of_conditions_and_variables():
    (condition,) = parse_conditions(
        {"StringLike": {"AWS:SourceVpc": "vpc-${aws:username}-${aws:PrincipalTag/team, 'x'}"}}, variables=True)
    assert condition.reads == {"aws:sourcevpc", "aws:username", "aws:principaltag/team"}
    assert parse_template("a${*}b${}c${aws:userid}", variables=True).keys == {"aws:userid"}
    assert parse_template("a${aws:userid}", variables=False).keys == frozenset()
    (statement,) = parse_policy(json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/${aws:username}/*",
        "Condition": {"Null": {"aws:TokenIssueTime": "true"}, "Bool": {"aws:SecureTransport": "true"}}}]})).statements
    assert statement.reads == {"aws:username", "aws:tokenissuetime", "aws:securetransport"}
    unversioned = '{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::${aws:username}"}}'
    (plain,) = parse_policy(unversioned).statements
    assert plain.reads == frozenset()          # no Version: variables are literal text


def test_context_keys_are_the_contexts_view():
    keys = {"AWS:SourceIp": "10.0.0.1", "aws:sourceip": "10.0.0.2", 7: "dropped", "aws:PrincipalAccount": "x"}
    assert context_keys(keys, "123456789012") == RequestContext("a:b", "*", (), "123456789012", keys)._keys == {
        "aws:sourceip": "10.0.0.2", "aws:principalaccount": "x"}
    assert context_keys({}, "123456789012") == {"aws:principalaccount": "123456789012"}
    assert context_keys({}) == {}
