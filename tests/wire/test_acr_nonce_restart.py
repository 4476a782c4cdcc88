"""An Alibaba request captured before a restart cannot be replayed after it. The nonce cache lives in
the process: the new one cannot know which nonces the old one accepted, so it refuses any request
signed before the second it started in (InvalidTimeStamp.Expired, saying why); clients sign each
attempt afresh, so only a replay is refused."""

from __future__ import annotations

import json
import calendar
import re
import time
from pathlib import Path

import pytest

from tests.fixtures.server import new_user, regauth_cli, start_server, unique
from tests.wire.test_acr_sdks import REGION, RecordingProxy, assert_token, call, send_raw


@pytest.mark.parametrize("client", ["old-json", "new-acs3"])
def test_a_request_signed_before_a_restart_is_refused_after_it(tmp_path: Path, client: str) -> None:
    data = tmp_path / "d"
    server = start_server(data)
    try:
        proc = regauth_cli("admin", "create-acr-instance", "--account-id", server.account_id, "--region", REGION,
                           "--name", unique("reg"), "--login-server", "127.0.0.1:5000", data_dir=data)
        assert proc.returncode == 0, proc.stderr
        instance = json.loads(proc.stdout)["InstanceId"]
        arn = f"acs:cr:{REGION}:{server.account_id}:instance/{instance}"
        keys = new_user(server, {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "cr:GetAuthorizationToken", "Resource": arn}]})
        proxy = RecordingProxy(int(server.url.rsplit(":", 1)[1]))
        try:
            assert_token(call(client, f"127.0.0.1:{proxy.port}", keys, instance), arn, keys, time.time() + 3600)
            raw = proxy.requests[0]
        finally:
            proxy.close()
    finally:
        server.stop()
    # the restart is in a later second than the stamp the client signed (on a loaded machine the call
    # can take over a second: a stamp read off the clock before it may be a second early)
    time.sleep(max(0.0, stamped(raw) + 1.05 - time.time()))
    again = start_server(data)
    try:
        status, headers, body = send_raw(int(again.url.rsplit(":", 1)[1]), raw)
        assert status == 400, body
        error = json.loads(body)
        assert error["Code"] == "InvalidTimeStamp.Expired"
        assert "stamped before this server started" in error["Message"]
        fresh = call(client, again.url.split("://", 1)[1], keys, instance)      # a client's new attempt
        assert_token(fresh, arn, keys, time.time() + 3600)
    finally:
        again.stop()


def stamped(raw: bytes) -> int:
    """The epoch second a captured Alibaba request is stamped with: ACS3's x-acs-date header or RPC's
    Timestamp parameter (ISO 8601, UTC, whole seconds)."""
    found = re.search(rb"(?im)^x-acs-date:\s*(\S+)\r?$", raw) or re.search(rb"[?&]Timestamp=([^&\s]+)", raw)
    assert found, raw
    value = found.group(1).decode().replace("%3A", ":").replace("%3a", ":")
    return calendar.timegm(time.strptime(value, "%Y-%m-%dT%H:%M:%SZ"))
