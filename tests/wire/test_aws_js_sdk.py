"""The AWS SDK for JavaScript v3 against a real `regauth serve`: the clients GitHub Actions' ECR login
and CodeArtifact actions run (@aws-sdk/client-ecr, client-ecr-public, client-codeartifact, client-sts,
pinned in tests/node), unmodified, with only their endpoint pointed at regauth.

Each test runs node once (tests/wire/aws_js_sdk.mjs) for a list of calls and reads what the SDK made of
the answers: parsed Dates, and errors with the name, status, fault and modeled class the SDK gives them
(what the actions print and what code branching on `instanceof` sees). Users, roles, domains and
repositories are made with boto3 against the same server.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.server import REPO, Keys, RegauthServer, new_user, require_program, unique
from tests.wire.conftest import CA_TOKEN_POLICY
from tests.wire.test_ecr_public_token import ECR_PUBLIC_TOKEN_POLICY
from tests.wire.test_ecr_token import ECR_TOKEN_POLICY, TWELVE_HOURS, claims, default_endpoint, docker_password
from tests.wire.test_trailing_newline import status

pytestmark = pytest.mark.wire

NODE_DIR = REPO / "tests" / "node"
SCRIPT = Path(__file__).with_name("aws_js_sdk.mjs")
PACKAGES = ("client-ecr", "client-ecr-public", "client-codeartifact", "client-sts")
READ = "codeartifact:ReadFromRepository"


def js_keys(keys: Keys) -> dict[str, str]:
    out = {"accessKeyId": keys.access_key_id, "secretAccessKey": keys.secret_access_key}
    if keys.session_token:
        out["sessionToken"] = keys.session_token
    return out


def run_js(server: RegauthServer, *calls: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Run the calls in one node process; label -> {"ok": output} or {"error": what the SDK raised}.
    A call names `keys` (Keys) or `sessionFrom` (the label of an earlier AssumeRole)."""
    node = require_program(shutil.which("node"), "node (for the AWS SDK for JavaScript v3)")
    for package in PACKAGES:
        if not (NODE_DIR / "node_modules" / "@aws-sdk" / package / "package.json").is_file():
            require_program(None, f"@aws-sdk/{package} in {NODE_DIR} (make test runs npm ci there)")
    plan = [{**c, "keys": js_keys(c["keys"])} if "keys" in c else c for c in calls]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}   # only the keys given sign
    env["AWS_JS_ARGS"] = json.dumps({"dir": str(NODE_DIR), "endpoint": server.url, "calls": plan})
    proc = subprocess.run([node, str(SCRIPT)], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def ok(results: dict[str, dict[str, Any]], label: str) -> dict[str, Any]:
    assert "ok" in results[label], results[label]
    return results[label]["ok"]


def error(results: dict[str, dict[str, Any]], label: str) -> dict[str, Any]:
    assert "error" in results[label], results[label]
    return results[label]["error"]


def date(value: Any) -> float:
    """Epoch seconds of a field the SDK parsed into a Date (anything else fails here)."""
    assert isinstance(value, dict) and set(value) == {"$date"}, f"not a Date: {value!r}"
    return value["$date"] / 1000


def verify_status(server: RegauthServer, domain: str, repo: str, token: str) -> int:
    """/auth/verify as nginx's auth_request asks it for a pip read of `repo` (test_package_verify)."""
    query = f"domain={domain}&domain-owner={server.account_id}&region=us-east-1&repository={repo}"
    return status(server, f"/auth/verify?{query}", **{
        "Authorization": "Basic " + base64.b64encode(f"aws:{token}".encode()).decode(), "X-Original-Method": "GET"})


# --- fixtures -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def index(regauth_server: RegauthServer) -> tuple[str, str]:
    """A domain with one repository, made with boto3."""
    ca = regauth_server.client("codeartifact")
    domain, repo = unique("jsdom"), unique("jsrepo")
    ca.create_domain(domain=domain)
    ca.create_repository(domain=domain, repository=repo)
    return domain, repo


@pytest.fixture(scope="module")
def ca_reader(regauth_server: RegauthServer) -> Keys:
    return new_user(regauth_server, {"Version": "2012-10-17", "Statement": [
        *CA_TOKEN_POLICY["Statement"], {"Effect": "Allow", "Action": READ, "Resource": "*"}]})


# --- tokens ---------------------------------------------------------------------------------------

def test_ecr_token_as_amazon_ecr_login_gets_it(regauth_server: RegauthServer) -> None:
    acct = regauth_server.account_id
    user = new_user(regauth_server, ECR_TOKEN_POLICY)
    before = time.time()
    got = run_js(regauth_server,
                 {"label": "default", "client": "ecr", "keys": user, "command": "GetAuthorizationToken"},
                 {"label": "ids", "client": "ecr", "keys": user, "command": "GetAuthorizationToken",
                  "input": {"registryIds": [acct]}})
    after = time.time()
    for label in ("default", "ids"):
        data = ok(got, label)["authorizationData"]
        assert len(data) == 1, data
        expires = date(data[0]["expiresAt"])
        assert before + TWELVE_HOURS - 2 <= expires <= after + TWELVE_HOURS + 2
        assert data[0]["proxyEndpoint"] == default_endpoint(acct)
        token = claims(docker_password(data[0]["authorizationToken"]))
        assert token["k"] == "ecr" and token["acct"] == acct and abs(token["exp"] - expires) < 1


def test_ecr_public_token(regauth_server: RegauthServer) -> None:
    user = new_user(regauth_server, ECR_PUBLIC_TOKEN_POLICY)
    before = time.time()
    got = run_js(regauth_server, {"label": "public", "client": "ecrp", "region": "us-east-1", "keys": user,
                                  "command": "GetAuthorizationToken"})
    data = ok(got, "public")["authorizationData"]
    expires = date(data["expiresAt"])
    assert before + TWELVE_HOURS - 2 <= expires <= time.time() + TWELVE_HOURS + 2
    token = claims(docker_password(data["authorizationToken"], prefix="rgecp_"))
    assert token["k"] == "ecr-public" and token["acct"] == regauth_server.account_id


def test_codeartifact_token_for_fifteen_minutes_opens_the_index(regauth_server: RegauthServer,
                                                                 index: tuple[str, str], ca_reader: Keys) -> None:
    domain, repo = index
    before = time.time()
    got = run_js(regauth_server, {"label": "ca", "client": "ca", "keys": ca_reader, "command": "GetAuthorizationToken",
                                  "input": {"domain": domain, "durationSeconds": 900}})
    out = ok(got, "ca")
    assert before + 900 - 2 <= date(out["expiration"]) <= time.time() + 900 + 2
    token = out["authorizationToken"]
    assert verify_status(regauth_server, domain, repo, token) == 200
    assert verify_status(regauth_server, domain, repo, token[:-3] + "xyz") == 401


def test_assume_role_then_ecr_token_with_the_session(regauth_server: RegauthServer) -> None:
    """configure-aws-credentials' AssumeRole, then amazon-ecr-login signing with the session it returned."""
    acct = regauth_server.account_id
    role = unique("jsrole")
    iam = regauth_server.client("iam")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=json.dumps(ECR_TOKEN_POLICY))
    before = time.time()
    got = run_js(regauth_server,
                 {"label": "assume", "client": "sts", "keys": regauth_server.admin, "command": "AssumeRole",
                  "input": {"RoleArn": f"arn:aws:iam::{acct}:role/{role}", "RoleSessionName": "gha-42",
                            "DurationSeconds": 900}},
                 {"label": "ecr", "client": "ecr", "sessionFrom": "assume", "command": "GetAuthorizationToken"})
    assumed = ok(got, "assume")
    creds = assumed["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert before + 900 - 2 <= date(creds["Expiration"]) <= time.time() + 900 + 2
    assert assumed["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{acct}:assumed-role/{role}/gha-42"
    data = ok(got, "ecr")["authorizationData"]
    token = claims(docker_password(data[0]["authorizationToken"]))
    assert token["k"] == "ecr" and token["acct"] == acct
    assert token["sub"] == assumed["AssumedRoleUser"]["Arn"]


# --- errors, as the JavaScript SDK reports them ---------------------------------------------------

def expect_error(got: dict[str, dict[str, Any]], label: str, name: str, status: int, modeled: bool) -> None:
    """As the SDK raised it: its name, HTTP status and modeled class (`instanceof` the operation's own
    exception class), a client fault under the service's base exception, not retried."""
    err = error(got, label)
    assert (err["name"], err["status"], err["fault"], err["attempts"]) == (name, status, "client", 1), err
    assert err["modeled"] == ([name] if modeled else []) and err["serviceException"], err


def test_errors_as_the_sdk_reports_them(regauth_server: RegauthServer, index: tuple[str, str],
                                        ca_reader: Keys) -> None:
    domain, _ = index
    admin = regauth_server.admin
    wrong = Keys(admin.access_key_id, admin.secret_access_key[:-4] + "abcd")
    nobody = new_user(regauth_server, None)
    ca_call = {"client": "ca", "command": "GetAuthorizationToken", "input": {"domain": domain}}
    got = run_js(regauth_server,
                 {"label": "ecr-wrong", "client": "ecr", "keys": wrong, "command": "GetAuthorizationToken"},
                 {**ca_call, "label": "ca-wrong", "keys": wrong},
                 {**ca_call, "label": "ca-nobody", "keys": nobody},
                 {**ca_call, "label": "ca-899", "keys": ca_reader, "input": {"domain": domain, "durationSeconds": 899}},
                 {"label": "ecr-abc", "client": "ecr", "keys": admin, "command": "GetAuthorizationToken",
                  "input": {"registryIds": ["abc"]}})
    # a bad signature is in neither model: the SDK names the error from its code (ECR's is a 400)
    expect_error(got, "ecr-wrong", "InvalidSignatureException", 400, modeled=False)
    expect_error(got, "ca-wrong", "InvalidSignatureException", 403, modeled=False)
    expect_error(got, "ca-nobody", "AccessDeniedException", 403, modeled=True)
    expect_error(got, "ca-899", "ValidationException", 400, modeled=True)
    expect_error(got, "ecr-abc", "InvalidParameterException", 400, modeled=True)
    assert admin.secret_access_key[:-4] not in got["ecr-wrong"]["error"]["message"]
