"""`regauth admin rotate-registry-ca`, run against a live server and real docker-registry processes
(CNCF distribution), driven by skopeo: a registry updated with the bundle `admin registry-ca` prints
at each step accepts regauth's JWTs throughout, and after --activate the new CA is the one that signs
(a registry still trusting only the old CA refuses)."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.clock import libfaketime
from tests.fixtures.registries import Distribution, make_oci_image, skopeo_env, start_distribution
from tests.fixtures.server import RegauthServer, regauth_cli, require_program, server_env, start_server, unique

pytestmark = pytest.mark.wire
REGION = "us-east-1"


def admin(server: RegauthServer, *args: str) -> str:
    proc = regauth_cli("admin", *args, data_dir=server.data_dir)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def push(server: RegauthServer, registry: Distribution, work: Path) -> subprocess.CompletedProcess:
    """skopeo pushes an image to `registry` with a fresh ECR password for it."""
    admin(server, "set-registry-endpoint", "--account-id", server.account_id, "--region", REGION,
          "--url", registry.url)
    data = server.client("ecr").get_authorization_token()["authorizationData"][0]
    assert data["proxyEndpoint"] == registry.url
    password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)[1]
    source = make_oci_image(work / unique("img"), "v1")
    exe = require_program(shutil.which("skopeo"), "skopeo (Debian package)")
    return subprocess.run([exe, "copy", "--dest-tls-verify=false", "--dest-creds", f"AWS:{password}", source,
                           f"docker://{registry.host}/team/app:v1"], capture_output=True, text=True, timeout=120,
                          env=skopeo_env(work / "home"))


def test_a_rotation_in_three_steps_keeps_registries_working(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", server_env())
    registries: list[Distribution] = []
    try:
        def registry(name: str, bundle_text: str) -> Distribution:
            bundle = tmp_path / f"{name}.pem"
            bundle.write_text(bundle_text)
            registries.append(start_distribution(tmp_path / name, realm=f"{server.url}/token", service="{host}",
                                                 issuer="regauth", bundle=bundle))
            return registries[-1]

        first = admin(server, "registry-ca")
        assert first.count("BEGIN CERTIFICATE") == 1
        stale = registry("stale", first)                   # never updated: trusts only the first CA

        admin(server, "rotate-registry-ca", "--prepare")
        both = admin(server, "registry-ca")
        assert both.count("BEGIN CERTIFICATE") == 2 and both.startswith(first)
        updated = registry("updated", both)

        for reg in (stale, updated):                       # prepared, not signing: both still accept
            out = push(server, reg, tmp_path / "work")
            assert out.returncode == 0, out.stderr

        admin(server, "rotate-registry-ca", "--activate")
        out = push(server, updated, tmp_path / "work")
        assert out.returncode == 0, out.stderr
        refused = push(server, stale, tmp_path / "work")   # the new CA signs now: the stale registry refuses
        assert refused.returncode != 0 and "unauthorized" in (refused.stderr + refused.stdout).lower()

        # the JWTs the old CA signed may live REGAUTH_REGISTRY_TOKEN_SECONDS (300) and 60 s more: a
        # registry given the bundle without it would refuse them while clients still hold them
        early = regauth_cli("admin", "rotate-registry-ca", "--finish", data_dir=server.data_dir)
        assert early.returncode == 1 and "JWTs signed under the replaced CA may live" in early.stderr
        assert sorted(_certs(admin(server, "registry-ca"))) == sorted(_certs(both))      # both still trusted
        lib = require_program(libfaketime(), "libfaketime (Debian package faketime)")
        later = regauth_cli("admin", "rotate-registry-ca", "--finish", data_dir=server.data_dir,
                            env={"LD_PRELOAD": lib, "FAKETIME": "+400s"})
        assert later.returncode == 0, later.stderr
        last = admin(server, "registry-ca")
        assert last.count("BEGIN CERTIFICATE") == 1 and last != first and last in both
        final = registry("final", last)
        out = push(server, final, tmp_path / "work")
        assert out.returncode == 0, out.stderr
    finally:
        for reg in registries:
            reg.stop()
        server.stop()


def _certs(bundle: str) -> list[str]:
    import re

    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", bundle, re.S)
