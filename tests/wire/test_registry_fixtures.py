"""Self-tests of tests/fixtures/registries.py, without a token service: the real registry, nginx front,
wheels and OCI images behave as the registry-side tests will assume. How nginx and the registry treat
regauth's own answers is tested against the real regauth, in test_package_verify.py and
test_registry_realm.py."""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fixtures.registries import (free_port, make_oci_image, make_wheel, pip_env, skopeo_env,
                                       start_distribution, start_pypi_front)
from tests.fixtures.server import require_program

pytestmark = pytest.mark.wire
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Message, bytes]:
    """Status, headers (case-insensitive: Go sends `Www-Authenticate`) and body; errors are answers too."""
    try:
        with _NO_PROXY.open(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers, e.read()


def self_signed_bundle(path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "regauth test token signer")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_distribution_challenges_clients_to_our_realm(tmp_path: Path) -> None:
    realm = "http://127.0.0.1:9/token"
    reg = start_distribution(tmp_path / "registry", realm=realm, service="registry.test", issuer="regauth-test",
                             bundle=self_signed_bundle(tmp_path / "bundle.pem"))
    try:
        status, headers, _ = http_get(reg.url + "/v2/")
        assert status == 401
        assert headers["WWW-Authenticate"] == f'Bearer realm="{realm}",service="registry.test"'
        assert reg.host == reg.url.removeprefix("http://")
    finally:
        reg.stop()
    assert reg.process.poll() is not None
    assert "listening on 127.0.0.1:" in reg.log()


def test_pypi_front_fails_closed_when_the_verifier_is_down(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/auth/verify?domain=d1&domain-owner=123456789012&region=us-east-1&repository=pypi-store"
    front = start_pypi_front(tmp_path / "front", verify_url=url)
    try:
        assert http_get(front.url + "simple/", {"Authorization": "Basic YXdzOng="})[0] == 500
        assert "auth request unexpected status: 502" in front.logs()
    finally:
        front.stop()
    assert front.nginx.poll() is not None and front.pypiserver.poll() is not None


def test_make_wheel_installs_offline_and_imports(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "dist", "Hand.Made-Pkg", "0.3.1")
    assert wheel.name == "hand_made_pkg-0.3.1-py3-none-any.whl"
    target = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--target", str(target), str(wheel)],
                         capture_output=True, text=True, env=pip_env(), timeout=120)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    out = subprocess.run([sys.executable, "-c", "import hand_made_pkg; print(hand_made_pkg.__version__)"],
                         capture_output=True, text=True, env=pip_env({"PYTHONPATH": str(target)}), timeout=60)
    assert out.stdout.strip() == "0.3.1", out.stderr


def test_make_oci_image_is_accepted_by_skopeo(tmp_path: Path) -> None:
    skopeo = require_program(shutil.which("skopeo"), "skopeo (Debian package)")
    make_oci_image(tmp_path / "img", "v1")
    ref = make_oci_image(tmp_path / "img", "v2", b"second\n")
    assert ref == f"oci:{tmp_path / 'img'}:v2"
    env = skopeo_env(tmp_path / "home")
    for tag in ("v1", "v2"):
        out = subprocess.run([skopeo, "inspect", f"oci:{tmp_path / 'img'}:{tag}"], capture_output=True, text=True,
                             env=env, timeout=60)
        assert out.returncode == 0, out.stderr
        info = json.loads(out.stdout)
        assert (info["Architecture"], info["Os"], len(info["Layers"])) == ("amd64", "linux", 1)
