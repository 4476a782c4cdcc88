"""Alibaba ACR floods against a real `regauth serve`, driven by the real SDKs and raw HTTP.

- A throttled request keeps no nonce: its exact bytes, sent again while the key is still throttled,
  are throttled again (not SignatureNonceUsed), and another key gets its token. (A zero-permission
  key's throttled flood, 3,300 requests a second, once filled the nonce cache and every key's
  requests were refused; the cache's size is counted in process: tests/protocols/test_acr_floods.py.)
- A form body of 70,000 parameters is refused before the key is looked up, and a
  SignatureDoesNotMatch shows a cut string to sign.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest

from regauth.auth.acs import MAX_ECHOED, MAX_PARAMS
from tests.fixtures.server import Keys, RegauthServer, new_user, regauth_cli, server_env, start_server, unique
from tests.wire.test_acr_sdks import REGION, RecordingProxy, assert_error, assert_token, call, send_raw

pytestmark = pytest.mark.wire

BURST = 16                  # each principal's (and address's) whole allowance: the rate refills 1 in 1,000 s


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RegauthServer, str]]:
    """A server whose rate limit, once a principal has spent its burst, throttles it for the test's
    length; and an ACR instance on it."""
    data: Path = tmp_path_factory.mktemp("regauth-limited")
    server = start_server(data, {**server_env(), "REGAUTH_RATE_LIMIT_PER_SECOND": "0.001",
                                 "REGAUTH_RATE_LIMIT_BURST": str(BURST)})
    try:
        proc = regauth_cli("admin", "create-acr-instance", "--account-id", server.account_id, "--region", REGION,
                           "--name", unique("reg"), "--login-server", "127.0.0.1:5000", data_dir=data)
        assert proc.returncode == 0, proc.stderr
        yield server, json.loads(proc.stdout)["InstanceId"]
    finally:
        server.stop()


@pytest.fixture(scope="module")
def allowed(limited) -> tuple[Keys, str]:
    """A user allowed a token for the instance (3 of the admin's BURST calls), and the instance's ARN."""
    server, instance = limited
    arn = f"acs:cr:{REGION}:{server.account_id}:instance/{instance}"
    return new_user(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "cr:GetAuthorizationToken", "Resource": arn}]}), arn


def _host(server: RegauthServer) -> str:
    return server.url.split("://", 1)[1]


def _port(server: RegauthServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


@pytest.mark.parametrize("client", ["old-json", "new-acs3", "new-v2", "popcore"])
def test_a_throttled_request_keeps_no_nonce_and_others_are_served(limited, allowed, client: str) -> None:
    server, instance = limited
    idle = new_user(server, None)                    # no permission at all (2 of the admin's BURST calls)
    for _ in range(BURST):                           # its allowance spent on refusals: Forbidden.RAM
        out = call("new-acs3", _host(server), idle, instance)
        if out.code == "Throttling.User":
            break
        assert_error(out, 403, "Forbidden.RAM")
    proxy = RecordingProxy(_port(server))
    try:
        assert_error(call(client, f"127.0.0.1:{proxy.port}", idle, instance), 400, "Throttling.User")
        raw = proxy.requests[-1]
    finally:
        proxy.close()
    status, _, body = send_raw(_port(server), raw)   # the very bytes again: throttled, as never served
    assert (status, json.loads(body)["Code"]) == (400, "Throttling.User"), body
    for _ in range(50):                              # a flood of them, each validly signed
        assert call("new-acs3", _host(server), idle, instance).code == "Throttling.User"
    keys, arn = allowed
    assert_token(call(client, _host(server), keys, instance), arn, keys, time.time() + 3600)


# --- what one request may carry (the session's server: no rate limit) ---------------------------------------

def _form_post(body: str) -> bytes:
    data = body.encode()
    return (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nx-sdk-client: python/2.0.0\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % len(data)) + data


def _head(key_id: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H%%3A%M%%3A%SZ")
    return (f"Format=JSON&Version=2018-12-01&AccessKeyId={key_id}&SignatureMethod=HMAC-SHA1&Timestamp={stamp}"
            f"&SignatureVersion=1.0&SignatureNonce={uuid.uuid4().hex}&Action=GetAuthorizationToken"
            "&InstanceId=cri-x&RegionId=cn-hangzhou&Signature=abc")


def test_seventy_thousand_parameters_are_refused_before_the_key_is_looked_up(regauth_server) -> None:
    extra = "&".join(f"p%3{i % 10}{i:x}=%41" for i in range(70_000))
    raw = _form_post(f"{_head('LTAI' + 'Z' * 20)}&{extra}")
    assert len(raw) > 900_000
    status, headers, body = send_raw(_port(regauth_server), raw)
    error = json.loads(body)
    assert (status, error["Code"]) == (400, "IncompleteSignature"), body       # not InvalidAccessKeyId.NotFound
    assert f"more than {MAX_PARAMS} parameters" in error["Message"]
    assert headers["content-type"].startswith("application/json")


def test_a_long_string_to_sign_is_shown_cut(regauth_server) -> None:
    keys: Keys = new_user(regauth_server, None)
    raw = _form_post(f"{_head(keys.access_key_id)}&Pad={'*' * 12_000}")      # signed as %252A: 60,000 characters
    status, _, body = send_raw(_port(regauth_server), raw)
    error = json.loads(body)
    assert (status, error["Code"]) == (400, "SignatureDoesNotMatch"), body
    shown = error["Message"].split(":", 1)[1]
    assert shown.startswith("POST&%2F&AccessKeyId%3D") and shown.endswith(" more characters not shown)")
    assert len(shown) < MAX_ECHOED + 100 and len(body) < MAX_ECHOED + 1000
