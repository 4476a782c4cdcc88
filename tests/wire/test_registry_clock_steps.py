"""The registry side when the server's clock steps (libfaketime moves it; the registries, skopeo and the
admin commands keep the real time): a real docker-registry (CNCF distribution) checks the JWTs."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from tests.fixtures.clock import ShiftedServer, libfaketime
from tests.fixtures.registries import Distribution, make_oci_image, skopeo_env, start_distribution
from tests.fixtures.server import new_user, regauth_cli, require_program, server_env, start_server, unique

pytestmark = pytest.mark.wire
REGION = "us-east-1"


def shifted(data: Path, **env: str) -> ShiftedServer:
    """A server whose clock follows `<data>/faketime` (as tests.fixtures.clock's shifted_server)."""
    lib = require_program(libfaketime(), "libfaketime (Debian package faketime)")
    data.mkdir(parents=True, exist_ok=True)
    offset = data / "faketime"
    offset.write_text("+0\n")
    full = {**server_env(), "LD_PRELOAD": lib, "FAKETIME_TIMESTAMP_FILE": str(offset), "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_DONT_RESET": "1", **env}
    return ShiftedServer(start_server(data, full), offset)


def get(url: str, user: str, secret: str, **headers: str) -> tuple[int, bytes]:
    auth = base64.b64encode(f"{user}:{secret}".encode()).decode()
    req = urllib.request.Request(url, headers={"Authorization": f"Basic {auth}", **headers})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def audit(shift: ShiftedServer, limit: int = 20) -> list[dict]:
    out = regauth_cli("admin", "audit", "--limit", str(limit), data_dir=shift.server.data_dir)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


class Setup:
    def __init__(self, shift: ShiftedServer, registry: Distribution, work: Path) -> None:
        self.shift, self.registry, self.work = shift, registry, work
        self.server = shift.server

    def ecr_password(self) -> str:
        data = self.server.client("ecr").get_authorization_token()["authorizationData"][0]
        assert data["proxyEndpoint"] == self.registry.url
        return base64.b64decode(data["authorizationToken"]).decode().split(":", 1)[1]

    def push(self, password: str) -> subprocess.CompletedProcess:
        source = make_oci_image(self.work / unique("img"), "v1")
        exe = require_program(shutil.which("skopeo"), "skopeo (Debian package)")
        return subprocess.run([exe, "copy", "--dest-tls-verify=false", "--dest-creds", f"AWS:{password}", source,
                               f"docker://{self.registry.host}/{unique('team/app')}:v1"], capture_output=True,
                              text=True, timeout=120, env=skopeo_env(self.work / "home"))


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    base = tmp_path_factory.mktemp("clock-steps")
    shift = shifted(base / "data")
    try:
        ca = regauth_cli("admin", "registry-ca", data_dir=shift.server.data_dir)   # made at the real time
        assert ca.returncode == 0, ca.stderr
        (base / "ca.pem").write_text(ca.stdout)
        registry = start_distribution(base / "registry", realm=f"{shift.server.url}/token", service="{host}",
                                      issuer="regauth", bundle=base / "ca.pem")
        try:
            out = regauth_cli("admin", "set-registry-endpoint", "--account-id", shift.server.account_id,
                              "--region", REGION, "--url", registry.url, data_dir=shift.server.data_dir)
            assert out.returncode == 0, out.stderr
            yield Setup(shift, registry, base / "work")
        finally:
            registry.stop()
    finally:
        shift.shift(0)
        shift.server.stop()


def test_a_leaf_made_while_the_clock_ran_ahead_is_replaced_once_it_is_fixed(tmp_path: Path) -> None:
    """The server's first JWT is signed while its clock runs two hours ahead: the leaf certificate made
    then begins in the registry's future. Once the clock is put right, that leaf is replaced; it was
    kept, and the registry refused every JWT ("x509: certificate ... is not yet valid") for a week."""
    shift = shifted(tmp_path / "data")     # its own server: the first leaf must be made ahead
    registry = None
    try:
        ca = regauth_cli("admin", "registry-ca", data_dir=shift.server.data_dir)
        assert ca.returncode == 0, ca.stderr
        (tmp_path / "ca.pem").write_text(ca.stdout)
        registry = start_distribution(tmp_path / "registry", realm=f"{shift.server.url}/token", service="{host}",
                                      issuer="regauth", bundle=tmp_path / "ca.pem")
        out = regauth_cli("admin", "set-registry-endpoint", "--account-id", shift.server.account_id,
                          "--region", REGION, "--url", registry.url, data_dir=shift.server.data_dir)
        assert out.returncode == 0, out.stderr
        setup = Setup(shift, registry, tmp_path / "work")
        password = setup.ecr_password()
        shift.shift(2 * 3600)
        status, body = get(f"{shift.server.url}/token?service={registry.host}", "AWS", password)
        assert status == 200, body                 # signed by a leaf that begins two hours from now
        shift.shift(0)
        pushed = setup.push(password)
        assert pushed.returncode == 0, pushed.stderr + registry.log()[-2000:]
    finally:
        if registry is not None:
            registry.stop()
        shift.server.stop()


def test_a_genuine_token_from_the_future_is_refused_under_its_principal_and_id(setup: Setup) -> None:
    """A token whose `iat` is more than 60 s after the server's now (the clock stepped back by two
    minutes) is refused at the realm and the verifier, and the refusal is audited under the token's
    principal and id: the token is genuine. It was audited with neither."""
    server, shift = setup.server, setup.shift
    domain = unique("future")
    server.client("codeartifact").create_domain(domain=domain)
    shift.shift(0)
    password = setup.ecr_password()
    ca_token = server.client("codeartifact").get_authorization_token(domain=domain)["authorizationToken"]
    token_ids = {json.loads(base64.urlsafe_b64decode(t.split(".")[1] + "==="))["jti"] for t in (password, ca_token)}
    try:
        shift.shift(-120)
        status, body = get(f"{server.url}/token?service={setup.registry.host}", "AWS", password)
        assert status == 401 and json.loads(body)["errors"][0]["message"] == "invalid username or password"
        status, body = get(f"{server.url}/auth/verify?domain={domain}&domain-owner={server.account_id}"
                           f"&region={REGION}&repository=any-repo", "aws", ca_token, **{"X-Original-Method": "GET"})
        assert status == 401 and body == b"invalid username or password\n"
    finally:
        shift.shift(0)
    refusals = [e for e in audit(setup.shift) if e["outcome"] == "denied" and e["detail"] == "not yet valid"]
    assert {e["action"] for e in refusals} == {"registry:GetToken", "package:GET"}
    assert {e["token_id"] for e in refusals} == token_ids
    assert all(e["principal_arn"] == f"arn:aws:iam::{server.account_id}:user/admin" for e in refusals)


def test_a_jwt_asked_for_within_the_token_s_expiry_leeway_lives_one_second(setup: Setup) -> None:
    """The 60 s leeway past a token's expiry is for clocks that differ (a node ahead of the one that
    minted it must not refuse it early), so the realm still grants then; the JWT cannot end before it
    begins, so it lives 1 s, not the token's remaining (negative) life (docs/decisions.md)."""
    server, shift = setup.server, setup.shift
    shift.shift(0)
    password = setup.ecr_password()
    expires = json.loads(base64.urlsafe_b64decode(password.split(".")[1] + "==="))["exp"]
    issued = json.loads(base64.urlsafe_b64decode(password.split(".")[1] + "==="))["iat"]
    try:
        shift.shift(expires - issued + 30)        # 30 s past the token's expiry, by the server's clock
        status, body = get(f"{server.url}/token?service={setup.registry.host}", "AWS", password)
        assert status == 200, body
        jwt = json.loads(body)["token"]
        claims = json.loads(base64.urlsafe_b64decode(jwt.split(".")[1] + "==="))
        assert json.loads(body)["expires_in"] == 1 and claims["exp"] - claims["iat"] == 1
        assert claims["exp"] > expires          # it ends after the token, at most 61 s after it
        shift.shift(expires - issued + 61)         # past the leeway: "token expired"
        status, body = get(f"{server.url}/token?service={setup.registry.host}", "AWS", password)
        assert status == 401 and json.loads(body)["errors"][0]["message"] == "token expired"
    finally:
        shift.shift(0)


def test_a_principal_revocation_covers_tokens_a_node_running_ahead_issued_before_it(setup: Setup) -> None:
    """Nodes' clocks differ (a token is accepted up to 60 s ahead of the clock where it is used): a token
    issued by a node running 30 s ahead, its principal revoked a moment later on the real clock, has an
    `iat` past the revocation's time. It was taken for a later token and stayed valid until it expired;
    the revocation now reaches a minute past its time, so it is refused, at the realm and the verifier."""
    server, shift = setup.server, setup.shift
    domain = unique("ahead")
    server.client("codeartifact").create_domain(domain=domain)
    server.client("codeartifact").create_repository(domain=domain, repository="any-repo")
    keys = new_user(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ecr:*", "codeartifact:*", "sts:GetServiceBearerToken"], "Resource": "*"}]})
    name = server.client("sts", keys).get_caller_identity()["Arn"]
    try:
        shift.shift(30)
        data = server.client("ecr", keys).get_authorization_token()["authorizationData"][0]
        ca_token = server.client("codeartifact", keys).get_authorization_token(
            domain=domain, domainOwner=server.account_id)["authorizationToken"]
    finally:
        shift.shift(0)
    password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)[1]

    def uses() -> tuple[int, int]:
        realm = get(f"{server.url}/token?service={setup.registry.host}", "AWS", password)[0]
        verifier = get(f"{server.url}/auth/verify?domain={domain}&domain-owner={server.account_id}"
                       f"&region={REGION}&repository=any-repo", "aws", ca_token, **{"X-Original-Method": "GET"})[0]
        return realm, verifier

    assert uses() == (200, 200)
    out = regauth_cli("admin", "revoke", "--principal-arn", name, data_dir=server.data_dir)   # the real clock
    assert out.returncode == 0, out.stderr
    assert uses() == (401, 401)
