"""Credentials issued by STS and IAM / CodeArtifact writes are in the audit trail ("who assumed this
role", "who granted that policy"), with names and key ids only: never a secret, a session token or a
policy document. Reads are not."""

from __future__ import annotations

import json
import time

import pytest

from tests.fixtures.server import RegauthServer, regauth_cli, unique


def audit(server: RegauthServer) -> list[dict]:
    proc = regauth_cli("admin", "audit", "--limit", "200", data_dir=server.data_dir)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_sts_credentials_and_iam_writes_are_audited_without_secrets(regauth_server: RegauthServer) -> None:
    iam, sts = regauth_server.client("iam"), regauth_server.client("sts")
    acct = regauth_server.account_id
    admin_arn = sts.get_caller_identity()["Arn"]
    user, role = unique("audited"), unique("audited")
    iam.create_user(UserName=user)
    document = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*", "Sid": "MarkerInDocument"}]})
    iam.put_user_policy(UserName=user, PolicyName="tokens", PolicyDocument=document)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": acct}, "Action": "sts:AssumeRole"}]}))
    assumed = sts.assume_role(RoleArn=f"arn:aws:iam::{acct}:role/{role}", RoleSessionName="deploy-42")
    session = sts.get_session_token()["Credentials"]
    iam.list_users()                                     # a read: not audited
    events = {(e["action"], e["request_id"]): e for e in audit(regauth_server) if e["principal_arn"] == admin_arn}
    by_action: dict[str, list[dict]] = {}
    for (action, _), e in events.items():
        by_action.setdefault(action, []).append(e)

    def one(action: str, **fields: str) -> dict:
        found = [e for e in by_action.get(action, []) if all(v in e[k] for k, v in fields.items())]
        assert len(found) == 1, (action, fields, by_action.get(action))
        assert found[0]["outcome"] == "allowed"
        return found[0]

    one("iam:CreateUser", resource=f"arn:aws:iam::{acct}:user/{user}")
    one("iam:PutUserPolicy", detail=f"UserName={user} PolicyName=tokens")
    one("iam:CreateAccessKey", detail=f"key={key['AccessKeyId']}")
    one("iam:CreateRole", resource=f"arn:aws:iam::{acct}:role/{role}")
    one("sts:AssumeRole", resource=assumed["AssumedRoleUser"]["Arn"],
        detail=f"key={assumed['Credentials']['AccessKeyId']}")
    one("sts:GetSessionToken", resource=admin_arn, detail=f"key={session['AccessKeyId']}")
    assert "iam:ListUsers" not in by_action and "sts:GetCallerIdentity" not in by_action
    trail = json.dumps(list(events.values())) + "\n".join(regauth_server.output)
    for secret in (key["SecretAccessKey"], assumed["Credentials"]["SecretAccessKey"],
                   assumed["Credentials"]["SessionToken"], session["SessionToken"], "MarkerInDocument"):
        assert secret not in trail


def test_codeartifact_writes_are_audited(regauth_server: RegauthServer) -> None:
    ca = regauth_server.client("codeartifact")
    name = unique("audited")
    domain = ca.create_domain(domain=name)["domain"]
    ca.create_repository(domain=name, repository="pypi-store")
    events = [e for e in audit(regauth_server) if name in e["resource"] + e["detail"]]
    assert {e["action"] for e in events} == {"codeartifact:CreateDomain", "codeartifact:CreateRepository"}
    assert any(e["resource"] == domain["arn"] for e in events)


def test_the_registry_ca_made_by_the_operator_is_audited_once(tmp_path) -> None:
    from tests.fixtures.server import start_server

    server = start_server(tmp_path / "d")
    try:
        for _ in range(2):
            proc = regauth_cli("admin", "registry-ca", data_dir=server.data_dir)
            assert proc.returncode == 0 and "BEGIN CERTIFICATE" in proc.stdout, proc.stderr
        made = [e for e in audit(server) if e["action"] == "regauth:CreateRegistryCa"]
        assert len(made) == 1 and len(made[0]["resource"].split(":")) == 32     # the CA's SHA-256 fingerprint
    finally:
        server.stop()


def test_sts_credentials_are_not_handed_out_unless_their_audit_event_is_stored(tmp_path) -> None:
    """As a token is not: the store refusing the event (a trigger here) turns AssumeRole into a 500,
    while an IAM change, already made, is answered; both leave their audit line in the log."""
    import sqlite3

    from botocore.exceptions import ClientError

    from tests.fixtures.server import start_server

    server = start_server(tmp_path / "d")
    try:
        iam, sts = server.client("iam"), server.client("sts")
        role = iam.create_role(RoleName="audited", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": server.account_id}, "Action": "sts:AssumeRole"}]}))["Role"]
        db = sqlite3.connect(server.data_dir / "regauth.db")
        db.execute("CREATE TRIGGER refuse BEFORE INSERT ON audit_events WHEN NEW.action IN "
                   "('sts:AssumeRole', 'iam:CreateUser') BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
        db.commit()
        db.close()
        with pytest.raises(ClientError) as err:
            sts.assume_role(RoleArn=role["Arn"], RoleSessionName="unaudited")
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        rid = err.value.response["ResponseMetadata"]["RequestId"]
        created = iam.create_user(UserName="made-anyway")["ResponseMetadata"]["RequestId"]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not all(
                any(f"not stored: audit allowed {action} {request_id}" in line for line in server.output)
                for action, request_id in (("sts:AssumeRole", rid), ("iam:CreateUser", created))):
            time.sleep(0.05)
        text = "\n".join(server.output)
        assert any("ERROR" in line and "regauth.commit not stored: audit allowed sts:AssumeRole " + rid in line
                   for line in server.output)                   # a line of its own, with the log's prefix
        assert f"not stored: audit allowed iam:CreateUser {created}" in text
        assert f"could not record the audit trail of request {created} (answered anyway)" in text
    finally:
        server.stop()
