"""The registry side, container path: Debian's docker-registry (CNCF distribution 2.8) with regauth as
its token realm, driven by skopeo with passwords from ECR GetAuthorizationToken (boto3).

The registry trusts only `regauth admin registry-ca`; its `service` is the host ECR hands out as
proxyEndpoint (`regauth admin set-registry-endpoint`). Everything here is real: the realm's JWTs
are checked offline by the registry itself.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from tests.fixtures.registries import Distribution, make_oci_image, skopeo_env, start_distribution
from tests.fixtures.server import (Keys, RegauthServer, create_account, new_user, regauth_cli, require_program,
                                   server_env, start_server, unique)

pytestmark = pytest.mark.wire
REGION = "us-east-1"


def ecr_policy(*actions: str, resource: str = "*") -> dict:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        *([{"Effect": "Allow", "Action": list(actions), "Resource": resource}] if actions else [])]}


class Env:
    def __init__(self, server: RegauthServer, registry: Distribution, home: Path, work: Path) -> None:
        self.server, self.registry, self.home, self.work = server, registry, home, work

    def password(self, keys: Keys) -> str:
        data = self.server.client("ecr", keys).get_authorization_token()["authorizationData"][0]
        assert data["proxyEndpoint"] == self.registry.url
        user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        assert user == "AWS"
        return password

    def skopeo(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        exe = require_program(shutil.which("skopeo"), "skopeo (Debian package)")
        return subprocess.run([exe, *args], input=stdin, capture_output=True, text=True, timeout=120,
                              env=skopeo_env(self.home))

    def push(self, password: str, repo: str, tag: str = "v1", payload: bytes = b"hello\n") -> subprocess.CompletedProcess:
        source = make_oci_image(self.work / unique("img"), tag, payload)
        return self.skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"AWS:{password}", source,
                           f"docker://{self.registry.host}/{repo}:{tag}")

    def inspect(self, password: str, repo: str, tag: str = "v1") -> subprocess.CompletedProcess:
        return self.skopeo("inspect", "--raw", "--tls-verify=false", "--creds", f"AWS:{password}",
                           f"docker://{self.registry.host}/{repo}:{tag}")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("realm")
    server = start_server(base / "data", server_env())
    try:
        ca = regauth_cli("admin", "registry-ca", data_dir=server.data_dir)
        assert ca.returncode == 0 and ca.stdout.startswith("-----BEGIN CERTIFICATE-----"), ca.stderr
        bundle = base / "regauth-ca.pem"
        bundle.write_text(ca.stdout)
        registry = start_distribution(base / "registry", realm=f"{server.url}/token", service="{host}",
                                      issuer="regauth", bundle=bundle)
        try:
            set_ep = regauth_cli("admin", "set-registry-endpoint", "--account-id", server.account_id,
                                 "--region", REGION, "--url", registry.url, data_dir=server.data_dir)
            assert set_ep.returncode == 0, set_ep.stderr
            yield Env(server, registry, base / "home", base / "work")
        finally:
            registry.stop()
    finally:
        server.stop()


def test_push_then_pull_with_ecr_passwords(env: Env) -> None:
    repo = unique("team/app")
    writer = env.password(new_user(env.server, ecr_policy("ecr:BatchGetImage", "ecr:PutImage")))
    pushed = env.push(writer, repo, payload=b"pushed through regauth\n")
    assert pushed.returncode == 0, pushed.stderr + env.registry.log()[-2000:]
    reader = env.password(new_user(env.server, ecr_policy("ecr:BatchGetImage")))
    got = env.inspect(reader, repo)
    assert got.returncode == 0, got.stderr
    manifest = json.loads(got.stdout)
    assert manifest["schemaVersion"] == 2 and len(manifest["layers"]) == 1
    pulled = env.skopeo("copy", "--src-tls-verify=false", "--src-creds", f"AWS:{reader}",
                        f"docker://{env.registry.host}/{repo}:v1", f"oci:{env.work / unique('pulled')}:v1")
    assert pulled.returncode == 0, pulled.stderr


def test_login_succeeds_and_a_bad_password_is_refused(env: Env) -> None:
    writer = env.password(new_user(env.server, ecr_policy("ecr:BatchGetImage")))
    ok = env.skopeo("login", "--tls-verify=false", "-u", "AWS", "--password-stdin", env.registry.host, stdin=writer)
    assert ok.returncode == 0 and "Login Succeeded" in ok.stdout, ok.stderr
    forged = writer[:-4] + ("AAAA" if not writer.endswith("AAAA") else "BBBB")
    bad = env.inspect(forged, "team/none")
    assert bad.returncode != 0 and "unauthorized" in bad.stderr.lower() and "invalid username/password" in bad.stderr
    assert forged not in bad.stderr and forged not in "\n".join(env.server.output)


def test_a_reader_cannot_push(env: Env) -> None:
    reader = env.password(new_user(env.server, ecr_policy("ecr:BatchGetImage")))
    out = env.push(reader, unique("team/ro"))
    assert out.returncode != 0
    assert "denied" in out.stderr.lower() or "unauthorized" in out.stderr.lower(), out.stderr


def test_permissions_are_read_at_use_not_at_issue(env: Env) -> None:
    """A token stands for its principal: removing the policy closes the registry to a token issued before."""
    writer_keys = new_user(env.server, ecr_policy("ecr:BatchGetImage", "ecr:PutImage"), name=unique("w"))
    repo = unique("team/live")
    writer = env.password(writer_keys)
    assert env.push(writer, repo).returncode == 0
    reader_name = unique("r")
    reader = env.password(new_user(env.server, ecr_policy("ecr:BatchGetImage"), name=reader_name))
    assert env.inspect(reader, repo).returncode == 0
    env.server.client("iam").put_user_policy(UserName=reader_name, PolicyName="p",
                                             PolicyDocument=json.dumps(ecr_policy()))
    out = env.inspect(reader, repo)
    assert out.returncode != 0 and ("denied" in out.stderr.lower() or "unauthorized" in out.stderr.lower())


def test_a_revoked_token_is_refused_at_once(env: Env) -> None:
    keys = new_user(env.server, ecr_policy("ecr:BatchGetImage", "ecr:PutImage"))
    repo = unique("team/rev")
    password = env.password(keys)
    assert env.push(password, repo).returncode == 0
    claims = json.loads(base64.urlsafe_b64decode(password.split(".")[1] + "==="))
    out = regauth_cli("admin", "revoke", "--token-id", claims["jti"], "--reason", "test",
                      data_dir=env.server.data_dir)
    assert out.returncode == 0, out.stderr
    refused = env.inspect(password, repo)
    assert refused.returncode != 0 and "invalid username/password" in refused.stderr
    assert env.inspect(env.password(keys), repo).returncode == 0      # a token issued afterwards works


def test_a_token_for_another_accounts_registry_is_refused(env: Env) -> None:
    """Account B's token names B's registry host; the registry here is account A's."""
    account_b, admin_b = create_account(env.server)
    data = env.server.client("ecr", admin_b).get_authorization_token()["authorizationData"][0]
    assert account_b in data["proxyEndpoint"]
    password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)[1]
    out = env.inspect(password, "team/anything")
    assert out.returncode != 0 and "invalid username/password" in out.stderr


def test_skopeo_through_the_credential_helper(env: Env) -> None:
    """`credHelpers` names docker-credential-regauth for the registry: no password is ever typed,
    the helper asks regauth for one with the usual AWS settings; for another registry it has none."""
    keys = new_user(env.server, ecr_policy("ecr:BatchGetImage", "ecr:PutImage"))
    home = env.home.parent / unique("helper-home")
    helper_env = skopeo_env(home)
    auth = Path(helper_env["REGISTRY_AUTH_FILE"])
    auth.write_text(json.dumps({"credHelpers": {env.registry.host: "regauth"}}))
    bin_dir = Path(sys.executable).parent
    helper = bin_dir / "docker-credential-regauth"
    assert helper.exists(), "pip install . puts docker-credential-regauth next to regauth"
    helper_env.update({k: v for k, v in keys.env().items()}, AWS_ENDPOINT_URL=env.server.url,
                      AWS_DEFAULT_REGION=REGION, PATH=f"{bin_dir}:{helper_env['PATH']}")
    repo = unique("team/helper")
    source = make_oci_image(env.work / unique("img"), "v1")
    skopeo = shutil.which("skopeo") or "skopeo"
    pushed = subprocess.run([skopeo, "copy", "--dest-tls-verify=false", source,
                             f"docker://{env.registry.host}/{repo}:v1"], capture_output=True, text=True,
                            env=helper_env, timeout=120)
    assert pushed.returncode == 0, pushed.stderr
    got = subprocess.run([str(helper), "get"], input=f"https://{env.registry.host}", capture_output=True, text=True,
                         env=helper_env, timeout=60)
    assert got.returncode == 0 and got.stderr == ""
    answer = json.loads(got.stdout)
    assert answer["Username"] == "AWS" and answer["Secret"].startswith("rgecr_")
    other = subprocess.run([str(helper), "get"], input="registry.elsewhere:5000", capture_output=True, text=True,
                           env=helper_env, timeout=60)
    assert other.returncode == 1 and other.stdout.strip() == "credentials not found in native keychain"
    assert "rgecr_" not in other.stdout + other.stderr


def test_delete_needs_its_own_permission(env: Env) -> None:
    """skopeo delete asks for `*` and `delete`: granted only with ecr:BatchDeleteImage."""
    repo = unique("team/del")
    pusher = env.password(new_user(env.server, ecr_policy("ecr:BatchGetImage", "ecr:PutImage")))
    assert env.push(pusher, repo).returncode == 0
    ref = f"docker://{env.registry.host}/{repo}:v1"
    refused = env.skopeo("delete", "--tls-verify=false", "--creds", f"AWS:{pusher}", ref)
    assert refused.returncode != 0 and env.inspect(pusher, repo).returncode == 0
    deleter = env.password(new_user(env.server, ecr_policy("ecr:BatchGetImage", "ecr:BatchDeleteImage")))
    deleted = env.skopeo("delete", "--tls-verify=false", "--creds", f"AWS:{deleter}", ref)
    assert deleted.returncode == 0, deleted.stderr
    gone = env.inspect(pusher, repo)
    assert gone.returncode != 0 and "manifest unknown" in gone.stderr


def test_an_acr_token_opens_the_instance_s_registry(env: Env) -> None:
    """Alibaba's flow: the SDK's GetAuthorizationToken gives TempUsername and AuthorizationToken, which
    skopeo uses as they are, against an instance whose login server is this registry."""
    from tests.wire.test_registry_token_http import acr_credentials

    user, token = acr_credentials(env.server, env.registry.host, ["cr:PullRepository", "cr:PushRepository"],
                                  "team/*")
    creds = f"{user}:{token}"
    repo = unique("team/acr")
    source = make_oci_image(env.work / unique("img"), "v1")
    pushed = env.skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds, source,
                        f"docker://{env.registry.host}/{repo}:v1")
    assert pushed.returncode == 0, pushed.stderr
    got = env.skopeo("inspect", "--raw", "--tls-verify=false", "--creds", creds,
                     f"docker://{env.registry.host}/{repo}:v1")
    assert got.returncode == 0 and json.loads(got.stdout)["schemaVersion"] == 2
    outside = env.skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds, source,
                         f"docker://{env.registry.host}/{unique('other/acr')}:v1")
    assert outside.returncode != 0                    # no cr:PushRepository outside team/*
