"""Policy documents (regauth.domain.policy): parsing like IAM and single-set evaluation."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from regauth.domain.policy import (
    MAX_IDENTITY_POLICY_SIZE,
    MAX_RESOURCE_POLICY_SIZE,
    MAX_TRUST_POLICY_SIZE,
    Decision,
    RequestContext,
    evaluate,
    parse_policy,
)
from regauth.errors import MalformedPolicy

ACCOUNT = "123456789012"
OTHER = "210987654321"
DOMAIN = f"arn:aws:codeartifact:us-east-1:{ACCOUNT}:domain/my-domain"
REPO = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/app"
ACR = f"acs:cr:cn-hangzhou:{ACCOUNT}:instance/cri-abc"
USER = f"arn:aws:iam::{ACCOUNT}:user/alice"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/deploy"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/ci-42"
ADMIN = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
BEARER = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:GetServiceBearerToken", "Resource": "*",
    "Condition": {"StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"},
                  "NumericLessThanEquals": {"sts:DurationSeconds": 3600}}}]})


def doc(*statements: dict[str, Any], version: str | None = "2012-10-17") -> str:
    body: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        body["Version"] = version
    return json.dumps(body)


def allow(action: Any = "*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any = "*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def decide(*statements: dict[str, Any], action: str = "ecr:GetAuthorizationToken", resource: str = "*",
           kind: str = "identity", version: str | None = "2012-10-17", **ctx: Any) -> Decision:
    policy = parse_policy(doc(*statements, version=version), kind=kind)
    return evaluate([policy], RequestContext(action, resource, **ctx))


def principal(value: Any, effect: str = "Allow", *, not_: bool = False) -> dict[str, Any]:
    return {"Effect": effect, "Action": "*", ("NotPrincipal" if not_ else "Principal"): value}


# --- the policies regauth itself uses ----------------------------------------------------------

@pytest.mark.parametrize(("action", "resource"), [
    ("codeartifact:GetAuthorizationToken", DOMAIN), ("ecr:GetAuthorizationToken", "*"),
    ("ecr-public:GetAuthorizationToken", "*"), ("sts:GetServiceBearerToken", "*"),
    ("cr:GetAuthorizationToken", ACR), ("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/x"),
])
def test_admin_policy_allows_everything(action: str, resource: str) -> None:
    assert evaluate([parse_policy(ADMIN)], RequestContext(action, resource)) is Decision.ALLOW


@pytest.mark.parametrize(("keys", "expected"), [
    ({"sts:AWSServiceName": "codeartifact.amazonaws.com", "sts:DurationSeconds": 3600}, Decision.ALLOW),
    ({"sts:AWSServiceName": "codeartifact.amazonaws.com", "sts:DurationSeconds": 900}, Decision.ALLOW),
    ({"STS:awsservicename": "codeartifact.amazonaws.com", "sts:durationseconds": "43"}, Decision.ALLOW),
    ({"sts:AWSServiceName": "codeartifact.amazonaws.com", "sts:DurationSeconds": 3601}, Decision.IMPLICIT_DENY),
    ({"sts:AWSServiceName": "codeartifact.amazonaws.com", "sts:DurationSeconds": 43200}, Decision.IMPLICIT_DENY),
    ({"sts:AWSServiceName": "ecr.amazonaws.com", "sts:DurationSeconds": 3600}, Decision.IMPLICIT_DENY),
    ({"sts:AWSServiceName": "CodeArtifact.amazonaws.com", "sts:DurationSeconds": 3600}, Decision.IMPLICIT_DENY),
    ({"sts:AWSServiceName": "codeartifact.amazonaws.com"}, Decision.IMPLICIT_DENY),
    ({"sts:DurationSeconds": 3600}, Decision.IMPLICIT_DENY),
    ({"sts:AWSServiceName": "codeartifact.amazonaws.com", "sts:DurationSeconds": "soon"}, Decision.IMPLICIT_DENY),
])
def test_bearer_token_policy(keys: dict[str, object], expected: Decision) -> None:
    ctx = RequestContext("sts:GetServiceBearerToken", "*", (USER,), ACCOUNT, keys)
    assert evaluate([parse_policy(BEARER)], ctx) is expected


def test_bearer_token_policy_grants_nothing_else() -> None:
    keys = {"sts:AWSServiceName": "codeartifact.amazonaws.com", "sts:DurationSeconds": 60}
    ctx = RequestContext("codeartifact:GetAuthorizationToken", DOMAIN, keys=keys)
    assert evaluate([parse_policy(BEARER)], ctx) is Decision.IMPLICIT_DENY


# --- single-set evaluation --------------------------------------------------------------------

def test_no_policies_is_an_implicit_deny() -> None:
    assert evaluate([], RequestContext("ecr:GetAuthorizationToken", "*")) is Decision.IMPLICIT_DENY


def test_explicit_deny_beats_allow_in_one_policy() -> None:
    assert decide(allow(), deny("ecr:*")) is Decision.DENY
    assert decide(deny("ecr:*"), allow()) is Decision.DENY


def test_explicit_deny_beats_allow_across_policies() -> None:
    policies = (parse_policy(ADMIN), parse_policy(doc(deny("ecr:GetAuthorizationToken"))))
    ctx = RequestContext("ecr:GetAuthorizationToken", "*")
    assert evaluate(policies, ctx) is Decision.DENY
    assert evaluate(reversed(policies), ctx) is Decision.DENY
    assert evaluate(iter(policies), ctx) is Decision.DENY


def test_a_deny_that_does_not_match_leaves_the_allow() -> None:
    assert decide(allow(), deny("iam:*")) is Decision.ALLOW


def test_a_deny_alone_is_an_explicit_deny_and_nothing_is_an_implicit_one() -> None:
    assert decide(deny()) is Decision.DENY
    assert decide(allow("iam:*")) is Decision.IMPLICIT_DENY


def test_a_conditional_deny_only_denies_when_its_condition_holds() -> None:
    stmts = (allow(), deny(Condition={"Bool": {"aws:SecureTransport": "false"}}))
    assert decide(*stmts, keys={"aws:SecureTransport": False}) is Decision.DENY
    assert decide(*stmts, keys={"aws:SecureTransport": True}) is Decision.ALLOW
    assert decide(*stmts) is Decision.ALLOW


# --- Action / NotAction -----------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "action", "expected"), [
    ("*", "codeartifact:GetAuthorizationToken", True),
    ("codeartifact:*", "codeartifact:GetAuthorizationToken", True),
    ("codeartifact:Get*", "codeartifact:GetAuthorizationToken", True),
    ("codeartifact:Get*", "codeartifact:PublishPackageVersion", False),
    ("codeartifact:?etAuthorizationToken", "codeartifact:GetAuthorizationToken", True),
    ("CodeArtifact:getauthorizationTOKEN", "codeartifact:GetAuthorizationToken", True),
    ("codeartifact:GetAuthorizationToken", "CODEARTIFACT:GETAUTHORIZATIONTOKEN", True),
    ("ecr:*", "ecr-public:GetAuthorizationToken", False),
    ("ecr*:*", "ecr-public:GetAuthorizationToken", None),        # None: vendor wildcards are rejected
    (["iam:*", "ecr:Get*"], "ecr:GetAuthorizationToken", True),
])
def test_action_matching(pattern: Any, action: str, expected: bool | None) -> None:
    if expected is None:
        with pytest.raises(MalformedPolicy):
            decide(allow(pattern), action=action)
        return
    assert (decide(allow(pattern), action=action) is Decision.ALLOW) is expected


def test_not_action_allows_everything_else() -> None:
    stmt = {"Effect": "Allow", "NotAction": ["iam:*", "sts:*"], "Resource": "*"}
    assert decide(stmt, action="ecr:BatchGetImage") is Decision.ALLOW
    assert decide(stmt, action="iam:CreateUser") is Decision.IMPLICIT_DENY
    assert decide(stmt, action="STS:GetServiceBearerToken") is Decision.IMPLICIT_DENY


def test_deny_with_not_action_denies_all_but_the_listed() -> None:
    stmts = (allow(), {"Effect": "Deny", "NotAction": "ecr:BatchGetImage", "Resource": "*"})
    assert decide(*stmts, action="ecr:BatchGetImage") is Decision.ALLOW
    assert decide(*stmts, action="ecr:PutImage") is Decision.DENY


# --- Resource / NotResource -------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "resource", "expected"), [
    ("*", DOMAIN, True),
    ("*", "*", True),
    (DOMAIN, DOMAIN, True),
    (DOMAIN, "*", False),
    (f"arn:aws:codeartifact:us-east-1:{ACCOUNT}:domain/*", DOMAIN, True),
    (f"arn:aws:codeartifact:*:{OTHER}:domain/*", DOMAIN, False),
    ("arn:aws:codeartifact:*:*:domain/MY-DOMAIN", DOMAIN, False),
    (f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/*", REPO, True),
    (f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/other/*", REPO, False),
    ("arn:aws:ecr:*", REPO, True),
    ("acs:cr:*:*:instance/*", ACR, True),
    (f"acs:cr:cn-hangzhou:{ACCOUNT}:instance/cri-xyz", ACR, False),
    (["arn:aws:s3:::*", "acs:cr:*:*:instance/cri-abc"], ACR, True),
])
def test_resource_matching(pattern: Any, resource: str, expected: bool) -> None:
    assert (decide(allow("*", pattern), resource=resource) is Decision.ALLOW) is expected


def test_not_resource() -> None:
    stmt = {"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:ecr:*:*:repository/team/*"}
    assert decide(stmt, resource=DOMAIN) is Decision.ALLOW
    assert decide(stmt, resource=REPO) is Decision.IMPLICIT_DENY


def test_a_deny_with_not_resource_fences_everything_outside() -> None:
    stmts = (allow(), {"Effect": "Deny", "Action": "*", "NotResource": "acs:cr:*:*:instance/*"})
    assert decide(*stmts, resource=ACR) is Decision.ALLOW
    assert decide(*stmts, resource=REPO) is Decision.DENY


# --- Principal / NotPrincipal (resource and trust policies) -------------------------------------

@pytest.mark.parametrize(("value", "arns", "account", "expected"), [
    ("*", (), "", True),
    ({"AWS": "*"}, (USER,), ACCOUNT, True),
    ({"AWS": ACCOUNT}, (USER,), ACCOUNT, True),
    ({"AWS": ACCOUNT}, (), ACCOUNT, True),
    ({"AWS": ACCOUNT}, (SESSION, ROLE), "", True),                      # account read from the ARNs
    ({"AWS": ACCOUNT}, (f"arn:aws:iam::{OTHER}:user/bob",), OTHER, False),
    ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, (USER,), ACCOUNT, True),
    ({"AWS": f"arn:aws:iam::{OTHER}:root"}, (USER,), ACCOUNT, False),
    ({"AWS": USER}, (USER,), ACCOUNT, True),
    ({"AWS": USER}, (f"arn:aws:iam::{ACCOUNT}:user/bob",), ACCOUNT, False),
    ({"AWS": ROLE}, (SESSION, ROLE), ACCOUNT, True),
    ({"AWS": SESSION}, (SESSION, ROLE), ACCOUNT, True),
    ({"AWS": ROLE}, (SESSION,), ACCOUNT, False),
    ({"AWS": [f"arn:aws:iam::{OTHER}:root", USER]}, (USER,), ACCOUNT, True),
    ({"Service": "codeartifact.amazonaws.com"}, (USER,), ACCOUNT, False),
    ({"Service": ["ecr.amazonaws.com"], "AWS": USER}, (USER,), ACCOUNT, True),
    ({"Federated": "cognito-identity.amazonaws.com"}, (USER,), ACCOUNT, False),
    ({"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}, (USER,), ACCOUNT, False),
    ({"AWS": "*"}, (), "", True),
    ({"AWS": ACCOUNT}, (), "", False),
])
def test_principal_matching(value: Any, arns: tuple[str, ...], account: str, expected: bool) -> None:
    for kind, stmt in (("resource", {**principal(value), "Resource": DOMAIN}), ("trust", principal(value))):
        result = decide(stmt, kind=kind, action="codeartifact:GetAuthorizationToken", resource=DOMAIN,
                        principal_arns=arns, principal_account=account)
        assert (result is Decision.ALLOW) is expected, kind


def test_alibaba_root_principal_means_the_account() -> None:
    stmt = principal({"AWS": f"acs:ram::{ACCOUNT}:root"})
    assert decide(stmt, kind="trust", principal_account=ACCOUNT) is Decision.ALLOW
    assert decide(stmt, kind="trust", principal_account=OTHER) is Decision.IMPLICIT_DENY


def test_not_principal_denies_everyone_but_the_listed() -> None:
    stmts = ({**principal("*"), "Resource": "*"},
             {**principal({"AWS": [ROLE, f"arn:aws:iam::{ACCOUNT}:root"]}, "Deny", not_=True), "Resource": "*"})
    assert decide(*stmts, kind="resource", principal_arns=(SESSION, ROLE), principal_account=ACCOUNT) is Decision.ALLOW
    assert decide(*stmts, kind="resource", principal_arns=(f"arn:aws:iam::{OTHER}:user/x",),
                  principal_account=OTHER) is Decision.DENY
    assert decide(*stmts, kind="resource") is Decision.DENY                    # anonymous


def test_resource_policy_without_resource_covers_every_resource() -> None:
    stmt = {**principal({"AWS": ACCOUNT}), "Action": "codeartifact:*"}
    assert decide(stmt, kind="resource", action="codeartifact:ReadFromRepository", resource=DOMAIN,
                  principal_account=ACCOUNT) is Decision.ALLOW


def test_trust_policy_has_no_resource_and_matches_sts_actions() -> None:
    trust = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
    assert decide(trust, kind="trust", action="sts:AssumeRole", resource=ROLE, principal_arns=(USER,)) is Decision.ALLOW
    assert decide(trust, kind="trust", action="sts:TagSession", principal_arns=(USER,)) is Decision.IMPLICIT_DENY


# --- policy variables -------------------------------------------------------------------------

def test_username_variable_in_resource() -> None:
    stmt = allow("ecr:*", "arn:aws:ecr:*:*:repository/${aws:username}/*")
    resource = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/alice/app"
    assert decide(stmt, resource=resource, keys={"aws:username": "alice"}) is Decision.ALLOW
    assert decide(stmt, resource=resource, keys={"aws:username": "bob"}) is Decision.IMPLICIT_DENY
    assert decide(stmt, resource=resource) is Decision.IMPLICIT_DENY        # unknown variable: no match


def test_principal_account_variable_comes_from_the_context() -> None:
    stmt = allow("codeartifact:*", "arn:aws:codeartifact:*:${aws:PrincipalAccount}:domain/*")
    assert decide(stmt, resource=DOMAIN, action="codeartifact:GetAuthorizationToken",
                  principal_account=ACCOUNT) is Decision.ALLOW
    assert decide(stmt, resource=DOMAIN, action="codeartifact:GetAuthorizationToken",
                  principal_account=OTHER) is Decision.IMPLICIT_DENY
    assert decide(stmt, resource=DOMAIN, action="codeartifact:GetAuthorizationToken",
                  principal_account=OTHER, keys={"aws:PrincipalAccount": ACCOUNT}) is Decision.ALLOW


def test_variable_default_value() -> None:
    stmt = allow("ecr:*", "arn:aws:ecr:*:*:repository/${aws:username, 'shared'}/*")
    assert decide(stmt, resource=f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/shared/x") is Decision.ALLOW


def test_unknown_variable_under_not_resource_matches_nothing() -> None:
    stmt = {"Effect": "Deny", "Action": "*", "NotResource": "arn:aws:ecr:*:*:repository/${aws:username}/*"}
    assert decide(allow(), stmt, resource=REPO) is Decision.DENY


@pytest.mark.parametrize("version", ["2008-10-17", None])
def test_variables_are_literal_text_in_old_or_absent_versions(version: str | None) -> None:
    stmt = allow("ecr:*", "arn:aws:ecr:*:*:repository/${aws:username}/*")
    alice = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/alice/app"
    literal = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/${{aws:username}}/app"
    assert decide(stmt, resource=alice, version=version, keys={"aws:username": "alice"}) is Decision.IMPLICIT_DENY
    assert decide(stmt, resource=literal, version=version, keys={"aws:username": "alice"}) is Decision.ALLOW


def test_variables_in_condition_values() -> None:
    stmt = allow(Condition={"StringEquals": {"aws:PrincipalTag/owner": "${aws:username}"}})
    assert decide(stmt, keys={"aws:username": "alice", "aws:PrincipalTag/owner": "alice"}) is Decision.ALLOW
    assert decide(stmt, keys={"aws:username": "alice", "aws:PrincipalTag/owner": "bob"}) is Decision.IMPLICIT_DENY


# --- conditions through the whole engine ---------------------------------------------------------

def test_current_time_comes_from_the_context() -> None:
    stmt = allow(Condition={"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}})
    assert decide(stmt, keys={"aws:CurrentTime": datetime(2029, 12, 31, tzinfo=timezone.utc)}) is Decision.ALLOW
    assert decide(stmt, keys={"aws:CurrentTime": datetime(2030, 1, 1, tzinfo=timezone.utc)}) is Decision.IMPLICIT_DENY
    assert decide(stmt, keys={"aws:EpochTime": 0}) is Decision.IMPLICIT_DENY


def test_source_ip_deny_outside_the_office() -> None:
    stmts = (allow(), deny(Condition={"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32"]}}))
    assert decide(*stmts, keys={"aws:SourceIp": "192.0.2.10"}) is Decision.ALLOW
    assert decide(*stmts, keys={"aws:SourceIp": "2001:db8::1"}) is Decision.ALLOW
    assert decide(*stmts, keys={"aws:SourceIp": "198.51.100.1"}) is Decision.DENY
    assert decide(*stmts) is Decision.DENY     # absent key: a negated operator is true


def test_every_condition_entry_must_hold() -> None:
    stmt = allow(Condition={"StringEquals": {"aws:username": "alice", "aws:PrincipalAccount": ACCOUNT},
                            "Bool": {"aws:SecureTransport": "true"}})
    good = {"aws:username": "alice", "aws:SecureTransport": True}
    assert decide(stmt, principal_account=ACCOUNT, keys=good) is Decision.ALLOW
    assert decide(stmt, principal_account=OTHER, keys=good) is Decision.IMPLICIT_DENY
    assert decide(stmt, principal_account=ACCOUNT, keys={**good, "aws:SecureTransport": False}) is Decision.IMPLICIT_DENY


# --- malformed documents --------------------------------------------------------------------

def _d(obj: Any) -> str:
    return obj if isinstance(obj, str) else json.dumps(obj)


MALFORMED: list[tuple[str, str, str]] = [
    ("identity", "", "Syntax errors in policy."),
    ("identity", "{not json", "Syntax errors in policy."),
    ("identity", "[]", "Syntax errors in policy."),
    ("identity", '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":NaN}]}',
     "Syntax errors in policy."),
    ("identity", '{"Statement":[],"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}',
     "Syntax errors in policy."),
    ("identity", _d({"Version": "2012-10-17"}), "Syntax errors in policy."),
    ("identity", _d({"Version": "2012-10-17", "Statement": []}), "Syntax errors in policy."),
    ("identity", _d({"Version": "2012-10-17", "Statement": ["x"]}), "Syntax errors in policy."),
    ("identity", _d({"Version": "2012-10-17", "Statement": allow(), "Extra": 1}), "Syntax errors in policy."),
    ("identity", _d({"Version": "2012-10-18", "Statement": allow()}), "The policy failed legacy parsing"),
    ("identity", _d({"Version": 2012, "Statement": allow()}), "Syntax errors in policy."),
    ("identity", _d({"Id": 7, "Statement": allow()}), "Syntax errors in policy."),
    ("identity", doc({**allow(), "Effect": "allow"}), "Syntax errors in policy."),
    ("identity", doc({"Action": "*", "Resource": "*"}), "Syntax errors in policy."),
    ("identity", doc({**allow(), "Foo": "bar"}), "Syntax errors in policy."),
    ("identity", doc({"Effect": "Allow", "Resource": "*"}), "Policy statement must contain actions."),
    ("identity", doc(allow([])), "Policy statement must contain actions."),
    ("identity", doc({**allow(), "NotAction": "iam:*"}), "Syntax errors in policy."),
    ("identity", doc(allow(["ecr:*", 7])), "Syntax errors in policy."),
    ("identity", doc(allow("GetAuthorizationToken")), "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    ("identity", doc(allow("ecr:Get:Token")), "Actions/Condition can contain only one colon."),
    ("identity", doc(allow("ec r:Get")), "Vendor ec r is not valid"),
    ("identity", doc({"Effect": "Allow", "Action": "*"}), "Policy statement must contain resources."),
    ("identity", doc(allow("*", [])), "Policy statement must contain resources."),
    ("identity", doc({**allow(), "NotResource": "*"}), "Syntax errors in policy."),
    ("identity", doc(allow("*", "my-domain")), 'Resource my-domain must be in ARN format or "*".'),
    ("identity", doc(allow("*", "arn:aws:s3")), 'Resource arn:aws:s3 must be in ARN format or "*".'),
    ("identity", doc(allow("*", "${aws:username}")), 'Resource ${aws:username} must be in ARN format or "*".'),
    ("identity", doc({**allow(), "Principal": "*"}), "Policy document should not specify a principal."),
    ("identity", doc({**allow(), "NotPrincipal": {"AWS": USER}}), "Policy document should not specify a principal."),
    ("identity", doc({**allow(), "Sid": "my-statement"}),
     "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*"),
    ("identity", doc({**allow(), "Sid": 1}), "Syntax errors in policy."),
    ("identity", doc({**allow(), "Sid": "A"}, {**deny(), "Sid": "A"}), "Statement IDs (SID) in a single policy must be unique."),
    ("identity", doc(allow(Condition={"StringEqualz": {"aws:username": "a"}})), "Invalid Condition type : StringEqualz"),
    ("identity", doc(allow(Condition=[{"StringEquals": {"aws:username": "a"}}])), "Syntax errors in policy."),
    ("identity", doc(allow(Condition={"NumericLessThan": {"sts:DurationSeconds": "an hour"}})),
     "Invalid value for condition NumericLessThan on key sts:DurationSeconds"),
    ("identity", "{" + '"Version":"2012-10-17","Statement":' + "[" * 100000 + "]" * 100000 + "}", "Cannot exceed quota for PolicySize: 10240"),
    ("identity", "[" * 3000 + "]" * 3000, "Syntax errors in policy."),
    ("trust", doc({"Effect": "Allow", "Action": "sts:AssumeRole"}), "Missing required field Principal"),
    ("trust", doc({**principal({"AWS": USER}), "Resource": "*"}), "Has prohibited field Resource"),
    ("trust", doc({**principal({"AWS": USER}), "NotResource": "*"}), "Has prohibited field NotResource"),
    ("trust", doc(principal({"AWS": USER}, "Deny", not_=True)), "Has prohibited field NotPrincipal"),
    ("trust", doc(principal({"AWS": "arn:aws:iam::123456789012:role/*"})),
     'Invalid principal in policy: "AWS":"arn:aws:iam::123456789012:role/*"'),
    ("trust", doc(principal({"AWS": "alice"})), 'Invalid principal in policy: "AWS":"alice"'),
    ("trust", doc(principal({"Robot": "x"})), 'Invalid principal in policy: {"Robot": "x"}'),
    ("trust", doc(principal({"AWS": []})), 'Invalid principal in policy: {"AWS": []}'),
    ("trust", doc(principal({})), "Invalid principal in policy: {}"),
    ("trust", doc(principal("someone")), 'Invalid principal in policy: "someone"'),
    ("trust", doc({**principal("*"), "NotPrincipal": "*"}), "Syntax errors in policy."),
    ("resource", doc({**principal({"AWS": USER}, "Allow", not_=True), "Resource": "*"}),
     'NotPrincipal is supported only with "Effect": "Deny"'),
    ("resource", doc(allow()), "Missing required field Principal"),
]


@pytest.mark.parametrize(("kind", "document", "message"), MALFORMED)
def test_malformed_documents(kind: str, document: str, message: str) -> None:
    with pytest.raises(MalformedPolicy) as raised:
        parse_policy(document, kind=kind)
    assert raised.value.message == message
    assert raised.value.reason == "CANNOT_PARSE"


def test_non_string_documents_are_malformed() -> None:
    for document in (None, b"{}", 7, {"Statement": []}):
        with pytest.raises(MalformedPolicy):
            parse_policy(document)  # type: ignore[arg-type]


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown policy kind"):
        parse_policy(ADMIN, kind="session")


@pytest.mark.parametrize(("kind", "limit"), [("identity", MAX_IDENTITY_POLICY_SIZE),
                                             ("resource", MAX_RESOURCE_POLICY_SIZE),
                                             ("trust", MAX_TRUST_POLICY_SIZE)])
def test_size_limit_counts_characters_without_whitespace(kind: str, limit: int) -> None:
    first = principal("*") if kind != "identity" else allow()
    base = doc({**first, "Sid": ""})
    padded = base.replace('"Sid": ""', '"Sid": "' + "A" * (limit - len("".join(base.split()))) + '"')
    assert len("".join(padded.split())) == limit
    parse_policy(padded.replace(", ", " ,\n\t  "), kind=kind)                       # exactly at the limit
    too_big = padded.replace('"Sid": "', '"Sid": "B')
    with pytest.raises(MalformedPolicy, match=f"Cannot exceed quota for PolicySize: {limit}"):
        parse_policy(too_big, kind=kind)


# --- the model --------------------------------------------------------------------------------

def test_policy_keeps_its_text_and_compares_by_text_and_kind() -> None:
    a, b = parse_policy(ADMIN), parse_policy(ADMIN)
    assert a.document == ADMIN and a.version == "2012-10-17" and len(a.statements) == 1
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != parse_policy(ADMIN.replace('"*"}', '"*", "Sid": "x"}'))


def test_statement_fields_are_exposed() -> None:
    (st,) = parse_policy(doc({**deny("ecr:*"), "Sid": "NoEcr"})).statements
    assert (st.sid, st.effect, st.allows, st.principals, st.conditions) == ("NoEcr", "Deny", False, None, ())


def test_request_context_is_hashable_and_normalises_principal_arns() -> None:
    ctx = RequestContext("ecr:GetAuthorizationToken", "*", [USER], ACCOUNT, {"aws:username": "alice"})  # type: ignore[arg-type]
    assert ctx.principal_arns == (USER,)
    assert hash(ctx) == hash(RequestContext("ecr:GetAuthorizationToken", "*", (USER,), ACCOUNT))
    assert RequestContext("a:b", "*") == RequestContext("a:b", "*")


def test_decision_values() -> None:
    assert [d.value for d in Decision] == ["allow", "deny", "implicit-deny"]


def test_a_pinned_principal_arn_names_only_the_principal_with_that_unique_id() -> None:
    alice = f"arn:aws:iam::{ACCOUNT}:user/alice"
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": alice}, "Action": "codeartifact:*", "Resource": "*"},
        {"Effect": "Deny", "NotPrincipal": {"AWS": alice}, "Action": "codeartifact:Delete*", "Resource": "*"}]})
    policy = parse_policy(doc, kind="resource")
    assert policy.principal_arns == {alice}
    pinned = policy.pinned([(alice, "AIDAALICE")])
    assert pinned != policy and pinned.document == policy.document

    def decide(p, uid: str, action: str = "codeartifact:GetAuthorizationToken") -> Decision:
        return evaluate([p], RequestContext(action, "*", (alice,), ACCOUNT, principal_id=uid))

    assert decide(pinned, "AIDAALICE") is Decision.ALLOW
    assert decide(pinned, "AIDALATER") is Decision.IMPLICIT_DENY       # a namesake created later
    assert decide(pinned, "AIDALATER", "codeartifact:DeleteDomain") is Decision.DENY
    assert decide(pinned, "AIDAALICE", "codeartifact:DeleteDomain") is Decision.ALLOW
    assert decide(policy, "AIDALATER") is Decision.ALLOW                # stored before ids were pinned
