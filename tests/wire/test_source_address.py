"""The client address regauth audits and matches `aws:SourceIp` against: the TCP peer, unless the
request comes through a proxy the operator trusts (REGAUTH_TRUSTED_PROXIES)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.server import regauth_cli, server_env, start_server

FORWARDED = "203.0.113.7"


def _unsigned_call_seen_from(tmp_path: Path, extra_env: dict[str, str]) -> str:
    server = start_server(tmp_path / "data", {**server_env(), **extra_env})
    try:
        req = urllib.request.Request(server.url + "/", data=b"Action=GetCallerIdentity&Version=2011-06-15",
                                     headers={"Content-Type": "application/x-www-form-urlencoded",
                                              "X-Forwarded-For": FORWARDED})
        with pytest.raises(urllib.error.HTTPError) as refused:    # unsigned: denied, and audited
            urllib.request.urlopen(req, timeout=30)
        assert refused.value.code in (400, 403)
    finally:
        server.stop()
    out = regauth_cli("admin", "audit", "--limit", "5", data_dir=tmp_path / "data")
    assert out.returncode == 0, out.stderr
    denied = [json.loads(line) for line in out.stdout.splitlines() if json.loads(line)["outcome"] == "denied"]
    return denied[0]["source_ip"]


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(tmp_path: Path) -> None:
    assert _unsigned_call_seen_from(tmp_path / "a", {}) == "127.0.0.1"


def test_forwarded_for_from_a_trusted_proxy_names_the_client(tmp_path: Path) -> None:
    assert _unsigned_call_seen_from(tmp_path / "b", {"REGAUTH_TRUSTED_PROXIES": "127.0.0.0/8"}) == FORWARDED



@pytest.mark.parametrize("trusted", [True, False])
def test_secure_transport_is_what_a_trusted_proxy_says_of_the_client_s_connection(tmp_path: Path,
                                                                                  trusted: bool) -> None:
    """regauth speaks plain HTTP; TLS ends at the reverse proxy. `aws:SecureTransport` is true when a
    trusted proxy says the client came over HTTPS (X-Forwarded-Proto), never on anyone else's word."""
    from botocore.exceptions import ClientError

    from tests.fixtures.server import new_user
    from tests.wire.conftest import CA_TOKEN_POLICY

    env = {**server_env(), **({"REGAUTH_TRUSTED_PROXIES": "127.0.0.0/8"} if trusted else {})}
    server = start_server(tmp_path / "data", env)
    try:
        server.client("codeartifact").create_domain(domain="tls")
        keys = new_user(server, {"Version": "2012-10-17", "Statement": [
            *CA_TOKEN_POLICY["Statement"],
            {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})

        def outcome(proto: str | None) -> str:
            client = server.client("codeartifact", keys)
            if proto is not None:       # added after signing, as a proxy adds it
                client.meta.events.register("before-send.*", lambda request, **_: request.headers.__setitem__(
                    "X-Forwarded-Proto", proto))
            try:
                client.get_authorization_token(domain="tls")
                return "OK"
            except ClientError as err:
                return err.response["Error"]["Code"]

        assert outcome("https") == ("OK" if trusted else "AccessDeniedException")
        assert outcome(None) == "AccessDeniedException"
        assert outcome("http") == "AccessDeniedException"
        assert outcome("https, http") == "AccessDeniedException"     # the nearest proxy's word counts
    finally:
        server.stop()
