"""Stale request dates and expired sessions, with the server's clock moved by libfaketime."""

from __future__ import annotations

import json
from typing import Iterator

import pytest

from tests.fixtures.clock import ShiftedServer
from tests.fixtures.server import Keys, unique
from tests.wire.clients import ApiError
from tests.wire.conftest import CA_TOKEN_POLICY, CLIENTS, make_client



@pytest.fixture(params=CLIENTS)
def shifted_client(request: pytest.FixtureRequest, shifted_server: ShiftedServer) -> Iterator[object]:
    shifted_server.shift(0)
    yield make_client(request.param, shifted_server.server)
    shifted_server.shift(0)


@pytest.fixture(scope="module")
def shifted_domain(shifted_server: ShiftedServer) -> str:
    name = unique("clock")
    shifted_server.server.client("codeartifact").create_domain(domain=name)
    return name


def _code(fn) -> str:
    with pytest.raises(ApiError) as err:
        fn()
    return err.value.code


def test_stale_request_date_refused(shifted_client, shifted_server: ShiftedServer, shifted_domain: str) -> None:
    shifted_server.shift(20 * 60)   # the server runs 20 minutes ahead: every client date is stale
    assert _code(lambda: shifted_client.call("codeartifact", "GetAuthorizationToken",
                                             {"domain": shifted_domain})) == "InvalidSignatureException"
    assert _code(lambda: shifted_client.call("sts", "GetCallerIdentity")) == "SignatureDoesNotMatch"
    shifted_server.shift(-20 * 60)  # and 20 minutes behind
    assert _code(lambda: shifted_client.call("sts", "GetCallerIdentity")) == "SignatureDoesNotMatch"


def test_expired_session_refused(shifted_client, shifted_server: ShiftedServer, shifted_domain: str) -> None:
    server = shifted_server.server
    role = unique("short")
    iam = server.client("iam")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": server.account_id}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=json.dumps(CA_TOKEN_POLICY))
    creds = server.client("sts").assume_role(RoleArn=f"arn:aws:iam::{server.account_id}:role/{role}",
                                             RoleSessionName="short", DurationSeconds=900)["Credentials"]
    session = Keys(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    assert shifted_client.call("codeartifact", "GetAuthorizationToken", {"domain": shifted_domain}, session)
    later = 16 * 60
    shifted_server.shift(later)
    prefix = ShiftedServer.client_prefix(later)
    assert _code(lambda: shifted_client.call("codeartifact", "GetAuthorizationToken", {"domain": shifted_domain},
                                             session, time_prefix=prefix)) == "ExpiredTokenException"
    assert _code(lambda: shifted_client.call("sts", "GetCallerIdentity", {}, session,
                                             time_prefix=prefix)) == "ExpiredToken"


def test_an_expired_token_is_refused_as_expired_at_the_realm_and_the_verifier(shifted_server: ShiftedServer,
                                                                           shifted_domain: str) -> None:
    """spec/users-and-security.md: on expiry answer 401 with an explicit "token expired" message; the
    audit trail keeps whose token it was and its id (its MAC was good)."""
    import base64
    import urllib.error
    import urllib.request

    from tests.fixtures.server import regauth_cli

    server = shifted_server.server
    shifted_server.shift(0)
    data = server.client("ecr").get_authorization_token()["authorizationData"][0]
    password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)[1]
    service = data["proxyEndpoint"].split("://", 1)[1]
    ca_token = server.client("codeartifact").get_authorization_token(domain=shifted_domain,
                                                                     durationSeconds=900)["authorizationToken"]

    def get(path: str, user: str, secret: str) -> tuple[int, bytes]:
        auth = base64.b64encode(f"{user}:{secret}".encode()).decode()
        req = urllib.request.Request(f"{server.url}{path}", headers={"Authorization": f"Basic {auth}",
                                                                      "X-Original-Method": "GET"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    realm = f"/token?service={service}"
    verify = f"/auth/verify?domain={shifted_domain}&domain-owner={server.account_id}&region=us-east-1&repository=any-repo"
    assert get(realm, "AWS", password)[0] == 200
    shifted_server.shift(17 * 60)                     # past the CodeArtifact token's 15 minutes and the leeway
    status, body = get(verify, "aws", ca_token)
    assert status == 401 and body == b"token expired\n"
    assert get(realm, "AWS", password)[0] == 200      # the 12-hour ECR token still opens
    # a registry JWT does not outlive the token it came from: 100 s before its expiry, 100 s of life
    shifted_server.shift(12 * 3600 - 100)
    status, body = get(realm, "AWS", password)
    jwt_claims = body and json.loads(base64.urlsafe_b64decode(json.loads(body)["token"].split(".")[1] + "=="))
    assert status == 200 and 95 <= json.loads(body)["expires_in"] <= 100
    assert 95 <= jwt_claims["exp"] - jwt_claims["iat"] <= 100
    shifted_server.shift(12 * 3600 + 120)
    status, body = get(realm, "AWS", password)
    assert status == 401 and json.loads(body)["errors"][0] == {"code": "UNAUTHORIZED", "message": "token expired"}
    # a forged token is still only "invalid username or password"
    status, body = get(realm, "AWS", password[:-2] + ("AA" if not password.endswith("AA") else "BB"))
    assert status == 401 and json.loads(body)["errors"][0]["message"] == "invalid username or password"
    shifted_server.shift(0)
    audit = regauth_cli("admin", "audit", "--limit", "30", data_dir=server.data_dir)
    refusals = [e for e in map(json.loads, audit.stdout.splitlines()) if e["detail"] == "expired"]
    assert {e["action"] for e in refusals} >= {"registry:GetToken", "package:GET"}
    assert all(e["principal_arn"].endswith(":user/admin") and e["token_id"] for e in refusals)
    assert password not in audit.stdout and ca_token not in audit.stdout


def test_token_issue_time_is_when_the_session_was_issued(shifted_server: ShiftedServer, shifted_domain: str) -> None:
    """IAM's "revoke active sessions" policy denies credentials issued before a time with
    `DateLessThan aws:TokenIssueTime`: the key is the credentials' issue time, not the request's."""
    from datetime import datetime, timedelta, timezone

    server = shifted_server.server
    shifted_server.shift(0)
    client = make_client("boto3", server)
    iam, role = server.client("iam"), unique("revoked")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": server.account_id}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=json.dumps(CA_TOKEN_POLICY))

    c = server.client("sts").assume_role(RoleArn=f"arn:aws:iam::{server.account_id}:role/{role}",
                                         RoleSessionName="s1")["Credentials"]
    older = Keys(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    issued = datetime.now(timezone.utc)
    cut = (issued + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    iam.put_role_policy(RoleName=role, PolicyName="AWSRevokeOlderSessions", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*",
                                                "Condition": {"DateLessThan": {"aws:TokenIssueTime": cut}}}]}))
    try:
        later = 10 * 60                 # past the cut: a session issued now is newer than it
        shifted_server.shift(later)
        prefix = ShiftedServer.client_prefix(later)
        c = client.call("sts", "AssumeRole", {"RoleArn": f"arn:aws:iam::{server.account_id}:role/{role}",
                                              "RoleSessionName": "s2"}, time_prefix=prefix)["Credentials"]
        newer = Keys(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
        call = lambda keys: client.call("codeartifact", "GetAuthorizationToken",   # noqa: E731
                                        {"domain": shifted_domain}, keys, time_prefix=prefix)
        assert _code(lambda: call(older)) == "AccessDeniedException"
        assert call(newer)["authorizationToken"]
    finally:
        shifted_server.shift(0)
        iam.delete_role_policy(RoleName=role, PolicyName="AWSRevokeOlderSessions")

