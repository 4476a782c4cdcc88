"""A valid value with a newline after it is refused wherever a client or an operator can send one.

Python's `$` also matches just before a final "\\n": checked with `^...$` and `.match`, a token sent as
`printf 'AWS:%s\\n' "$TOKEN" | base64` opened the registry realm and the package verifier, and the
scope `repository:team/app%0A:pull` got a JWT granting `team/app\\n`.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator
from urllib.parse import urlencode

import pytest
from botocore.exceptions import ClientError

from tests.fixtures.server import RegauthServer, regauth_cli, server_env, start_server, unique

pytestmark = pytest.mark.wire
REGION = "us-east-1"
SERVICE = "registry.test:5000"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def status(server: RegauthServer, path: str, **headers: str) -> int:
    req = urllib.request.Request(server.url + path, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegauthServer]:
    server = start_server(tmp_path_factory.mktemp("newline"), server_env())
    try:
        out = regauth_cli("admin", "set-registry-endpoint", "--account-id", server.account_id, "--region", REGION,
                          "--url", f"https://{SERVICE}", data_dir=server.data_dir)
        assert out.returncode == 0, out.stderr
        yield server
    finally:
        server.stop()


def realm(server: RegauthServer, password: str, *scopes: str) -> int:
    query = urlencode([("service", SERVICE), *(("scope", s) for s in scopes)])
    return status(server, f"/token?{query}", Authorization=basic("AWS", password))


def test_the_realm_refuses_a_token_followed_by_a_newline(server: RegauthServer) -> None:
    data = server.client("ecr").get_authorization_token()["authorizationData"][0]
    token = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)[1]
    assert realm(server, token, "repository:team/app:pull") == 200
    assert realm(server, token + "\n", "repository:team/app:pull") == 401
    assert realm(server, token + "\n") == 401                         # a login, no scope


@pytest.mark.parametrize("scope", ["repository:team/app\n:pull", "repository\n:team/app:pull",
                                   "registry\n:catalog:*"])
def test_the_realm_refuses_a_scope_with_a_newline(server: RegauthServer, scope: str) -> None:
    data = server.client("ecr").get_authorization_token()["authorizationData"][0]
    token = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)[1]
    assert realm(server, token, scope.replace("\n", "")) == 200
    assert realm(server, token, scope) == 400


def test_the_verifier_refuses_a_token_followed_by_a_newline(server: RegauthServer) -> None:
    ca = server.client("codeartifact")
    domain, repo = unique("dom"), unique("pypi")
    ca.create_domain(domain=domain)
    ca.create_repository(domain=domain, repository=repo)
    token = ca.get_authorization_token(domain=domain)["authorizationToken"]
    path = (f"/auth/verify?domain={domain}&domain-owner={server.account_id}&region={REGION}"
            f"&repository={repo}")
    headers = {"X-Original-Method": "GET", "X-Original-URI": "/simple/"}
    assert status(server, path, Authorization=basic("aws", token), **headers) == 200
    assert status(server, path, Authorization=basic("aws", token + "\n"), **headers) == 401


def test_assume_role_calls_a_role_arn_followed_by_a_newline_invalid(server: RegauthServer) -> None:
    name = unique("nl-role")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"AWS": f"arn:aws:iam::{server.account_id}:root"}}]}
    arn = server.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    sts = server.client("sts")
    assert sts.assume_role(RoleArn=arn, RoleSessionName="nl")["AssumedRoleUser"]["Arn"].endswith(f"/{name}/nl")
    with pytest.raises(ClientError) as refused:
        sts.assume_role(RoleArn=arn + "\n", RoleSessionName="nl")
    error = refused.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("ValidationError", f"{arn}\n is invalid"), error


def test_an_acr_instance_field_followed_by_a_newline_is_refused(server: RegauthServer) -> None:
    fields = {"--account-id": server.account_id, "--region": "cn-hangzhou", "--name": unique("nl"),
              "--login-server": f"{unique('acr')}.test", "--instance-id": "cri-" + unique("nl").replace("-", "")}
    for spoiled in (*fields, "--login-server-port"):
        args = dict(fields)
        if spoiled == "--login-server-port":
            args["--login-server"] += ":5000\n"
        else:
            args[spoiled] += "\n"
        made = regauth_cli("admin", "create-acr-instance", *(x for kv in args.items() for x in kv),
                           data_dir=server.data_dir)
        assert made.returncode != 0 and "Traceback" not in made.stderr, (spoiled, made.stdout, made.stderr)
    made = regauth_cli("admin", "create-acr-instance", *(x for kv in fields.items() for x in kv),
                       data_dir=server.data_dir)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["InstanceId"] == fields["--instance-id"]


def test_serve_refuses_an_account_id_followed_by_a_newline(tmp_path: Path) -> None:
    """A value read from a file (a Kubernetes secret made with --from-file) keeps the file's last newline."""
    try:
        started = start_server(tmp_path, {**server_env(), "REGAUTH_ACCOUNT_ID": "111122223333\n"})
    except RuntimeError as refused:                      # start_server's "regauth did not start", with its output
        assert "REGAUTH_ACCOUNT_ID must be 12 digits" in str(refused), refused
    else:
        started.stop()
        pytest.fail("regauth served with REGAUTH_ACCOUNT_ID followed by a newline")
