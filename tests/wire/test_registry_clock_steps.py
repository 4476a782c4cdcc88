"""The registry side when the server's clock steps (libfaketime moves it; the registries, skopeo and the
admin commands keep the real time): a real docker-registry (CNCF distribution) checks the JWTs."""

from __future__ import annotations

import base64
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.clock import ShiftedServer, libfaketime
from tests.fixtures.registries import Distribution, make_oci_image, skopeo_env, start_distribution
from tests.fixtures.server import regauth_cli, require_program, server_env, start_server, unique

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
