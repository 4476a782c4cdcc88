"""CodeArtifact GetAuthorizationToken through boto3, AWS CLI v1 and AWS CLI v2, against a real server."""

from __future__ import annotations

import base64
import json
import time

import pytest

from tests.fixtures.server import Keys, RegauthServer, new_user, regauth_cli, unique
from tests.wire.clients import ApiError, epoch
from tests.wire.conftest import CA_TOKEN_POLICY


def token(client, domain: str, keys: Keys | None = None, **params) -> dict:
    return client.call("codeartifact", "GetAuthorizationToken", {"domain": domain, **params}, keys)


def assert_error(code: str, fn, *args, **kwargs) -> ApiError:
    with pytest.raises(ApiError) as err:
        fn(*args, **kwargs)
    assert err.value.code == code, err.value.message
    return err.value


@pytest.mark.parametrize("duration", [None, 900, 43200])
def test_token_lifetime_when_duration_given(client, domain: str, token_user: Keys, duration: int | None) -> None:
    before = time.time()
    out = token(client, domain, token_user, **({} if duration is None else {"durationSeconds": duration}))
    after = time.time()
    expected = 43200 if duration is None else duration
    assert before + expected - 2 <= epoch(out["expiration"]) <= after + expected + 2
    assert out["authorizationToken"].startswith("rgca_")
    assert ":" not in out["authorizationToken"]


def test_duration_zero_with_long_term_keys_means_twelve_hours(client, domain: str, token_user: Keys) -> None:
    before = time.time()
    out = token(client, domain, token_user, durationSeconds=0)
    assert before + 43200 - 2 <= epoch(out["expiration"]) <= time.time() + 43200 + 2


def test_duration_zero_follows_the_session_and_default_outlives_it(client, regauth_server: RegauthServer,
                                                                   domain: str) -> None:
    role = unique("role")
    acct = regauth_server.account_id
    iam = regauth_server.client("iam")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=json.dumps(CA_TOKEN_POLICY))
    creds = client.call("sts", "AssumeRole", {"RoleArn": f"arn:aws:iam::{acct}:role/{role}",
                                             "RoleSessionName": "s1", "DurationSeconds": 900})["Credentials"]
    session = Keys(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    session_end = epoch(creds["Expiration"])
    zero = token(client, domain, session, durationSeconds=0)
    assert epoch(zero["expiration"]) == session_end          # "the same expiration", to the second
    default = token(client, domain, session)
    assert epoch(default["expiration"]) >= time.time() + 43200 - 5


def test_duration_zero_never_passes_the_twelve_hour_maximum(client, domain: str, token_user: Keys) -> None:
    """GetSessionToken credentials live up to 36 h; a token set to expire with them still stops at
    12 h ("up to a maximum of 12 hours", seed 000)."""
    creds = client.call("sts", "GetSessionToken", {"DurationSeconds": 129600}, token_user)["Credentials"]
    session = Keys(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    before = time.time()
    out = token(client, domain, session, durationSeconds=0)
    assert before + 43200 - 2 <= epoch(out["expiration"]) <= time.time() + 43200 + 2


@pytest.mark.parametrize("duration", [1, 899, 43201, 50000])
def test_out_of_range_durations_refused(client, domain: str, token_user: Keys, duration: int) -> None:
    assert_error("ValidationException", token, client, domain, token_user, durationSeconds=duration)


@pytest.mark.parametrize("bad", ["My_Domain!!", "a" * 51, "-leading-dash", "trailing-"])
def test_bad_domain_names_refused(client, token_user: Keys, bad: str) -> None:
    assert_error("ValidationException", token, client, bad, token_user)


def test_unknown_domain_not_found(client, token_user: Keys) -> None:
    assert_error("ResourceNotFoundException", token, client, unique("nope"), token_user)


def test_unknown_domain_names_resource_type(regauth_server: RegauthServer, token_user: Keys) -> None:
    from tests.wire.clients import Boto3Client
    err = assert_error("ResourceNotFoundException", token, Boto3Client(regauth_server), "missing-dom", token_user)
    assert err.response["resourceId"] == "missing-dom" and err.response["resourceType"] == "domain"


def test_a_missing_domain_is_named_only_to_callers_who_could_have_used_it(regauth_server: RegauthServer,
                                                                          token_user: Keys,
                                                                          second_account: tuple[str, Keys]) -> None:
    """Without the permission, a missing domain is refused as an existing one would be (and audited):
    "not found" would tell a caller with no rights which domain names exist, in any account."""
    from tests.wire.clients import Boto3Client

    client = Boto3Client(regauth_server)
    other_acct, other_admin = second_account
    nobody = new_user(regauth_server, None)
    existing = unique("there")
    regauth_server.client("codeartifact").create_domain(domain=existing)
    regauth_server.client("codeartifact", other_admin).create_domain(domain=existing)
    for owner in (None, other_acct):
        kw = {} if owner is None else {"domainOwner": owner}
        assert_error("AccessDeniedException", token, client, existing, nobody, **kw)
        assert_error("AccessDeniedException", token, client, unique("absent"), nobody, **kw)
        assert_error("AccessDeniedException", client.call, "codeartifact", "DescribeDomain",
                     {"domain": unique("absent"), **kw}, nobody)
    # another account's missing domain: not even a permitted caller could open it without its policy
    assert_error("AccessDeniedException", token, client, unique("absent"), token_user, domainOwner=other_acct)
    # the caller's own account, with the permission: it is simply not there
    assert_error("ResourceNotFoundException", token, client, unique("absent"), token_user)
    audit = regauth_cli("admin", "audit", "--limit", "20", data_dir=regauth_server.data_dir).stdout
    denials = [e for e in map(json.loads, audit.splitlines())
               if e["outcome"] == "denied" and "domain/absent-" in e["resource"]]
    assert len(denials) >= 5


def test_foreign_domain_owner_needs_the_domain_policy(client, regauth_server: RegauthServer, token_user: Keys,
                                                      second_account: tuple[str, Keys]) -> None:
    other_acct, other_admin = second_account
    name = unique("foreign")
    regauth_server.client("codeartifact", other_admin).create_domain(domain=name)
    assert_error("AccessDeniedException", token, client, name, token_user, domainOwner=other_acct)
    # with the caller's own account as owner the foreign domain is simply not there
    assert_error("ResourceNotFoundException", token, client, name, token_user)
    user_arn = regauth_server.client("sts", token_user).get_caller_identity()["Arn"]
    regauth_server.client("codeartifact", other_admin).put_domain_permissions_policy(
        domain=name, policyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "codeartifact:GetAuthorizationToken",
             "Resource": "*"}]}))
    out = token(client, name, token_user, domainOwner=other_acct)
    assert out["authorizationToken"].startswith("rgca_")


@pytest.mark.parametrize("missing", ["codeartifact", "sts"])
def test_user_lacking_either_permission_is_denied(client, regauth_server: RegauthServer, domain: str,
                                                  missing: str) -> None:
    statements = [s for s in CA_TOKEN_POLICY["Statement"] if not s["Action"].startswith(missing)]
    keys = new_user(regauth_server, {"Version": "2012-10-17", "Statement": statements})
    assert_error("AccessDeniedException", token, client, domain, keys)
    # the audit trail names the permission that was missing, and where
    audit = regauth_cli("admin", "audit", "--limit", "1", "--principal",
                        regauth_server.client("sts", keys).get_caller_identity()["Arn"],
                        data_dir=regauth_server.data_dir).stdout
    event = json.loads(audit.splitlines()[0])
    assert event["action"] == "codeartifact:GetAuthorizationToken" and event["outcome"] == "denied"
    if missing == "sts":
        assert event["detail"].startswith("AccessDenied sts:GetServiceBearerToken ") and event["resource"] == "*"
    else:
        assert event["detail"].startswith("AccessDenied key=") and event["resource"].endswith(f":domain/{domain}")


def test_service_name_and_duration_conditions_are_enforced(client, regauth_server: RegauthServer,
                                                           domain: str) -> None:
    policy = {"Version": "2012-10-17", "Statement": [
        CA_TOKEN_POLICY["Statement"][0],
        {"Effect": "Allow", "Action": "sts:GetServiceBearerToken", "Resource": "*",
         "Condition": {"StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"},
                       "NumericLessThanEquals": {"sts:DurationSeconds": 3600}}}]}
    keys = new_user(regauth_server, policy)
    assert token(client, domain, keys, durationSeconds=900)["authorizationToken"]
    assert_error("AccessDeniedException", token, client, domain, keys)            # default 43200 > 3600
    wrong_service = {"Version": "2012-10-17", "Statement": [
        CA_TOKEN_POLICY["Statement"][0],
        {"Effect": "Allow", "Action": "sts:GetServiceBearerToken", "Resource": "*",
         "Condition": {"StringEquals": {"sts:AWSServiceName": "ecr-public.amazonaws.com"}}}]}
    assert_error("AccessDeniedException", token, client, domain, new_user(regauth_server, wrong_service))


def test_explicit_deny_on_the_domain_wins(client, regauth_server: RegauthServer, domain: str) -> None:
    policy = {"Version": "2012-10-17", "Statement": CA_TOKEN_POLICY["Statement"] + [
        {"Effect": "Deny", "Action": "codeartifact:*", "Resource": f"arn:aws:codeartifact:*:*:domain/{domain}"}]}
    assert_error("AccessDeniedException", token, client, domain, new_user(regauth_server, policy))


def test_bad_signature_refused(client, domain: str, token_user: Keys) -> None:
    wrong = Keys(token_user.access_key_id, token_user.secret_access_key[:-4] + "abcd")
    assert_error("InvalidSignatureException", token, client, domain, wrong)


def test_unknown_key_refused(client, domain: str) -> None:
    assert_error("UnrecognizedClientException", token, client, domain, Keys("AKIAZZZZZZZZZZZZZZZZ", "x" * 40))


def test_inactive_key_refused_and_reactivated(client, regauth_server: RegauthServer, domain: str) -> None:
    keys = new_user(regauth_server, CA_TOKEN_POLICY, name=unique("inactive"))
    iam = regauth_server.client("iam")
    user = regauth_server.client("sts", keys).get_caller_identity()["Arn"].rsplit("/", 1)[1]
    iam.update_access_key(UserName=user, AccessKeyId=keys.access_key_id, Status="Inactive")
    assert_error("UnrecognizedClientException", token, client, domain, keys)
    iam.update_access_key(UserName=user, AccessKeyId=keys.access_key_id, Status="Active")
    assert token(client, domain, keys)["authorizationToken"]


def test_audit_records_issuance_and_denial_without_the_token(regauth_server: RegauthServer, domain: str,
                                                              token_user: Keys) -> None:
    from tests.wire.clients import Boto3Client
    client = Boto3Client(regauth_server)
    issued = token(client, domain, token_user)["authorizationToken"]
    with pytest.raises(ApiError):
        token(client, domain, Keys(token_user.access_key_id, "wrong" * 8))
    proc = regauth_cli("admin", "audit", "--limit", "20", data_dir=regauth_server.data_dir)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    body = issued.split(".")[1]
    jti = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["jti"]
    assert any(e["outcome"] == "allowed" and e["action"] == "codeartifact:GetAuthorizationToken"
               and e["token_id"] == jti for e in events)
    assert any(e["outcome"] == "denied" and token_user.access_key_id in e["detail"] for e in events)
    assert issued not in proc.stdout
    assert token_user.secret_access_key not in proc.stdout
    log = "\n".join(regauth_server.output)
    assert issued not in log and token_user.secret_access_key not in log
