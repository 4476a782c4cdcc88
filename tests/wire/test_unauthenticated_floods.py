"""What a client without valid credentials can make a server hold or write, on the wire.

A key id that cannot be one (AWS's are 16 to 128 upper-case letters and digits) is answered as an
unknown one is, in each service's envelope (`tests/services/test_key_id_bounds.py` shows the store is
not asked and nothing is cached). Refusals before any principal is known are throttled per client,
an IPv6 client being its /64 (it picks its address in it); past a process-wide ceiling they are
answered as throttled whatever the address, not audited, and counted in an ERROR line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.fixtures.server import Keys, RegauthServer, regauth_cli, server_env, start_server

UNKNOWN = "AKIAZZZZZZZZZZZZZZZZ"
CEILING_LINE = "refusals past the process-wide ceiling are answered as throttled and not audited"


def _refused(server: RegauthServer, service: str, akid: str, forwarded_for: str | None = None) -> tuple[int, str]:
    """(HTTP status, error code) of a call botocore signs with `akid`, from `forwarded_for` as a
    trusted proxy would say."""
    client = server.client(service, Keys(akid, "x" * 40))
    if forwarded_for:
        def add(request, **_: object) -> None:
            request.headers["X-Forwarded-For"] = forwarded_for
        client.meta.events.register("before-send", add)
    call = {"sts": lambda: client.get_caller_identity(), "ecr": lambda: client.get_authorization_token(),
            "iam": lambda: client.list_users()}[service]
    with pytest.raises(ClientError) as err:
        call()
    return err.value.response["ResponseMetadata"]["HTTPStatusCode"], err.value.response["Error"]["Code"]


@pytest.mark.parametrize("service", ["sts", "ecr", "iam"])
def test_a_key_id_that_cannot_be_one_is_answered_as_an_unknown_key(regauth_server: RegauthServer,
                                                                     service: str) -> None:
    unknown = _refused(regauth_server, service, UNKNOWN)
    assert unknown in {(403, "InvalidClientTokenId"), (400, "UnrecognizedClientException"),
                       (403, "UnrecognizedClientException")}
    for akid in ("A" * 60_000, "AKIA" + "Z" * 125, "AKIAZZZZZZZ", "akiazzzzzzzzzzzzzzzz", "AKIAZZZZZZZZZZZZZZZ_"):
        assert _refused(regauth_server, service, akid) == unknown, akid[:30]


def _unauthenticated_rows(server: RegauthServer) -> list[dict]:
    audit = regauth_cli("admin", "audit", "--limit", "500", data_dir=server.data_dir)
    assert audit.returncode == 0, audit.stderr
    return [e for e in map(json.loads, audit.stdout.splitlines()) if not e["principal_arn"]]


def _logged(server: RegauthServer, text: str) -> bool:
    """Whether the server logged an ERROR line with `text` (another thread reads its output, in order)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any(text in line and " ERROR " in line for line in server.output):
            return True
        time.sleep(0.05)
    return False


def test_an_ipv6_client_is_its_slash_64_and_many_clients_meet_one_ceiling(tmp_path: Path) -> None:
    """Burst 1 a client, so 10 for the process (rate 0.001 a second: nothing refills meanwhile)."""
    env = {**server_env("161616161616"), "REGAUTH_RATE_LIMIT_PER_SECOND": "0.001", "REGAUTH_RATE_LIMIT_BURST": "1",
           "REGAUTH_TRUSTED_PROXIES": "127.0.0.0/8"}
    server = start_server(tmp_path / "data", env)
    try:
        # one /64, two addresses: one client
        assert _refused(server, "sts", UNKNOWN, "2001:db8:0:1::1") == (403, "InvalidClientTokenId")
        assert _refused(server, "sts", UNKNOWN, "2001:db8:0:1::2") == (400, "Throttling")
        assert _refused(server, "sts", UNKNOWN, "2001:db8:0:2::1") == (403, "InvalidClientTokenId")
        # an IPv4 address, and the same written as IPv4-mapped IPv6: one client
        assert _refused(server, "sts", UNKNOWN, "203.0.113.1") == (403, "InvalidClientTokenId")
        assert _refused(server, "sts", UNKNOWN, "::ffff:203.0.113.1") == (400, "Throttling")
        assert len(_unauthenticated_rows(server)) == 3
        # seven more clients reach the process's ceiling of ten refusals; past it, any client is throttled
        for n in range(2, 9):
            assert _refused(server, "sts", UNKNOWN, f"203.0.113.{n}") == (403, "InvalidClientTokenId")
        for n in range(9, 12):
            assert _refused(server, "sts", UNKNOWN, f"203.0.113.{n}") == (400, "Throttling")
        assert len(_unauthenticated_rows(server)) == 10
        assert _logged(server, CEILING_LINE)
        # a principal with keys has its own bucket
        keys = Keys(env["REGAUTH_BOOTSTRAP_ACCESS_KEY_ID"], env["REGAUTH_BOOTSTRAP_SECRET_ACCESS_KEY"])
        assert server.client("sts", keys).get_caller_identity()["Account"] == "161616161616"
    finally:
        server.stop()
