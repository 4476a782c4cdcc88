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

