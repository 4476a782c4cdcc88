"""Alibaba ACR GetAuthorizationToken against a real `regauth serve`, driven by the real clients.

Clients (spec §1.1): the old SDK (aliyun-python-sdk-core + aliyun-python-sdk-cr; JSON through
do_action_with_exception, XML through the raw get_response path), the new SDK
(alibabacloud-cr20181201; ACS3 by default, HMAC-SHA1 RPC with signature_algorithm="v2") and
npm @alicloud/pop-core 1.8 (form body, codes ['success']) run by node from tests/node.
Users, policies and STS sessions are made through boto3 IAM/STS against the same server; the
instance through `regauth admin create-acr-instance`.

Each client gets a token, and each gets the right error, as that client reports it, for: wrong
secret, unknown key, unknown instance, missing permission, a replayed request (its exact bytes,
captured by a recording proxy, sent again on a raw socket) and a timestamp 20 minutes old.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pytest

from tests.fixtures.server import REPO, Keys, RegauthServer, new_user, regauth_cli, require_program, unique

pytestmark = pytest.mark.wire

REGION = "cn-hangzhou"
STALE = timedelta(minutes=20)
POPCORE_DIR = REPO / "tests" / "node" / "node_modules"


# --- outcome of one call, whatever the client ---------------------------------------------------

@dataclass
class Outcome:
    status: int | None = None          # HTTP status, when the client exposes it
    code: str = ""                     # error code as the client reports it
    message: str = ""
    body: dict[str, Any] | None = None  # success fields, names as on the wire

    @property
    def ok(self) -> bool:
        return self.body is not None


def _instance_host(server: RegauthServer) -> str:
    return server.url.split("://", 1)[1]


# --- the clients --------------------------------------------------------------------------------

def old_sdk(host: str, keys: Keys, instance_id: str, *, fmt: str = "JSON", region: str = REGION,
            **_: Any) -> Outcome:
    from aliyunsdkcore.acs_exception.exceptions import ServerException
    from aliyunsdkcore.auth.credentials import StsTokenCredential
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkcr.request.v20181201.GetAuthorizationTokenRequest import GetAuthorizationTokenRequest

    if keys.session_token:
        client = AcsClient(region_id=region, credential=StsTokenCredential(
            keys.access_key_id, keys.secret_access_key, keys.session_token))
    else:
        client = AcsClient(keys.access_key_id, keys.secret_access_key, region)
    req = GetAuthorizationTokenRequest()
    req.set_InstanceId(instance_id)
    req.set_endpoint(host)
    if fmt == "JSON":
        try:
            return Outcome(200, body=json.loads(client.do_action_with_exception(req)))
        except ServerException as e:
            return Outcome(e.get_http_status(), e.get_error_code(), e.get_error_msg())
    req.set_accept_format("XML")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        status, _headers, raw = client.get_response(req)
    root = ET.fromstring(raw)
    fields = {child.tag: child.text or "" for child in root}
    if status == 200:
        assert root.tag == "GetAuthorizationTokenResponse"
        fields["ExpireTime"] = int(fields["ExpireTime"])
        return Outcome(200, body=fields)
    assert root.tag == "Error"
    return Outcome(status, fields["Code"], fields["Message"])


def new_sdk(host: str, keys: Keys, instance_id: str, *, v2: bool = False, hours: int | None = None,
            **_: Any) -> Outcome:
    from alibabacloud_cr20181201 import models
    from alibabacloud_cr20181201.client import Client
    from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
    from alibabacloud_tea_openapi.models import Config

    extra: dict[str, Any] = {"signature_algorithm": "v2"} if v2 else {}
    if keys.session_token:
        extra["security_token"] = keys.session_token
    client = Client(Config(access_key_id=keys.access_key_id, access_key_secret=keys.secret_access_key,
                           region_id=REGION, endpoint=host, protocol="http", **extra))
    try:
        resp = client.get_authorization_token(models.GetAuthorizationTokenRequest(
            instance_id=instance_id, expires_in_hours=hours))
    except AlibabaCloudException as e:
        return Outcome(e.status_code, e.code or "", e.message or "")
    b = resp.body
    return Outcome(resp.status_code, body={
        "TempUsername": b.temp_username, "AuthorizationToken": b.authorization_token, "ExpireTime": b.expire_time,
        "Code": b.code, "IsSuccess": b.is_success, "RequestId": b.request_id})


POPCORE_JS = r"""
const path = require('path');
const a = JSON.parse(process.env.ACR_ARGS);
if (a.skewMs) {                  // a client clock 20 minutes behind: pop-core stamps with new Date()
  const Real = Date;
  global.Date = class extends Real {
    constructor(...x) { if (x.length) { super(...x); } else { super(Real.now() + a.skewMs); } }
    static now() { return Real.now() + a.skewMs; }
  };
}
const RPCClient = require(path.join(a.dir, '@alicloud', 'pop-core')).RPCClient;
const cfg = {accessKeyId: a.ak, accessKeySecret: a.secret, endpoint: a.endpoint, apiVersion: '2018-12-01',
             codes: ['success']};
if (a.token) cfg.securityToken = a.token;
new RPCClient(cfg).request('GetAuthorizationToken', {InstanceId: a.instanceId, RegionId: a.regionId}, {method: 'POST'})
  .then(r => process.stdout.write(JSON.stringify({ok: r})))
  .catch(e => process.stdout.write(JSON.stringify({error: {
    code: e.code || e.name, message: e.message, data: e.data || null,
    status: (e.entry && e.entry.response && e.entry.response.statusCode) || null}})));
"""


def popcore(host: str, keys: Keys, instance_id: str, *, region: str = REGION, skew: timedelta | None = None,
            **_: Any) -> Outcome:
    node = require_program(shutil.which("node"), "node (for npm @alicloud/pop-core)")
    if not (POPCORE_DIR / "@alicloud" / "pop-core" / "package.json").is_file():
        require_program(None, f"@alicloud/pop-core in {POPCORE_DIR} (make test runs npm ci in tests/node)")
    args = {"dir": str(POPCORE_DIR), "endpoint": f"http://{host}", "ak": keys.access_key_id,
            "secret": keys.secret_access_key, "token": keys.session_token, "instanceId": instance_id,
            "regionId": region, "skewMs": int(skew.total_seconds() * 1000) if skew else 0}
    proc = subprocess.run([node, "-e", POPCORE_JS], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "ACR_ARGS": json.dumps(args)})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    if "ok" in out:
        return Outcome(200, body=out["ok"])
    err = out["error"]
    assert err["data"] is not None, f"pop-core did not get a JSON error body: {err}"
    return Outcome(err["status"], err["code"], err["data"]["Message"])


Client = Callable[..., Outcome]
CLIENTS: dict[str, tuple[Client, dict[str, Any]]] = {
    "old-json": (old_sdk, {}),
    "old-xml": (old_sdk, {"fmt": "XML"}),
    "new-acs3": (new_sdk, {}),
    "new-v2": (new_sdk, {"v2": True}),
    "popcore": (popcore, {}),
}


def call(name: str, host: str, keys: Keys, instance_id: str, **kw: Any) -> Outcome:
    fn, fixed = CLIENTS[name]
    return fn(host, keys, instance_id, **fixed, **kw)


# --- a recording proxy and a raw-socket sender (for the replay case) -----------------------------------

def read_http_message(sock: socket.socket) -> bytes:
    """One HTTP/1.1 message (Content-Length framed, as every client and regauth send)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return buf
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head + b"\r\n\r\n" + rest


def send_raw(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw)
        response = read_http_message(s)
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split(" ")[1]), headers, body


class RecordingProxy:
    """Forwards each request to regauth unchanged and keeps its exact bytes."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = upstream_port
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                raw = read_http_message(conn)
                if not raw:
                    continue
                self.requests.append(raw)
                with socket.create_connection(("127.0.0.1", self.upstream), timeout=10) as up:
                    up.sendall(raw)
                    conn.sendall(read_http_message(up))

    def close(self) -> None:
        self.sock.close()


# --- fixtures ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def instance(regauth_server: RegauthServer) -> dict[str, str]:
    proc = regauth_cli("admin", "create-acr-instance", "--account-id", regauth_server.account_id,
                       "--region", REGION, "--name", unique("reg"), "--login-server", "127.0.0.1:5000",
                       data_dir=regauth_server.data_dir)
    assert proc.returncode == 0, proc.stderr
    created = json.loads(proc.stdout)
    assert created["InstanceId"].startswith("cri-") and created["RegionId"] == REGION
    return created


@pytest.fixture(scope="module")
def arn(regauth_server: RegauthServer, instance: dict[str, str]) -> str:
    return f"acs:cr:{REGION}:{regauth_server.account_id}:instance/{instance['InstanceId']}"


@pytest.fixture(scope="module")
def allowed(regauth_server: RegauthServer, arn: str) -> Keys:
    return new_user(regauth_server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "cr:GetAuthorizationToken", "Resource": arn}]})


@pytest.fixture(scope="module")
def not_allowed(regauth_server: RegauthServer) -> Keys:
    return new_user(regauth_server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "cr:PullRepository", "Resource": "*"}]})


@pytest.fixture(scope="module")
def session(regauth_server: RegauthServer, allowed: Keys) -> tuple[Keys, float]:
    """Temporary credentials (GetSessionToken, 15 min) of the allowed user, and their expiry."""
    creds = regauth_server.client("sts", allowed).get_session_token(DurationSeconds=900)["Credentials"]
    keys = Keys(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    assert keys.access_key_id.startswith("ASIA")
    return keys, creds["Expiration"].timestamp()


def token_claims(token: str) -> dict[str, Any]:
    assert token.startswith("rgacr_") and ":" not in token
    middle = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(middle + "=" * (-len(middle) % 4)))


def assert_token(out: Outcome, arn: str, keys: Keys, expires_at: float) -> dict[str, Any]:
    assert out.ok, (out.status, out.code, out.message)
    b = out.body or {}
    assert b["TempUsername"] == "cr_temp_user"
    assert b["Code"] == "success" and b["IsSuccess"] in (True, "true")
    assert isinstance(b["ExpireTime"], int) and abs(b["ExpireTime"] / 1000 - expires_at) <= 5
    claims = token_claims(b["AuthorizationToken"])
    assert claims["scope"] == arn and claims["k"] == "acr"
    decoded = json.dumps(claims)
    for secret in (keys.secret_access_key, keys.session_token):
        assert not secret or secret not in decoded
    return claims


# --- success ------------------------------------------------------------------------------------------

SUCCESS_CASES = ["old-json", "old-xml", "new-acs3", "new-v2", "popcore"]


@pytest.mark.parametrize("client", SUCCESS_CASES)
@pytest.mark.parametrize("temporary", [False, True], ids=["ak", "sts"])
def test_token(regauth_server, instance, arn, allowed, session, client: str, temporary: bool) -> None:
    keys, expiry = session if temporary else (allowed, time.time() + 3600)
    out = call(client, _instance_host(regauth_server), keys, instance["InstanceId"])
    claims = assert_token(out, arn, keys, expiry)
    # the ACS-signed call and a SigV4-signed call with the same key are the same caller
    assert claims["sub"] == regauth_server.client("sts", keys).get_caller_identity()["Arn"]


@pytest.mark.parametrize("client", ["new-acs3", "new-v2"])
def test_expires_in_hours(regauth_server, instance, arn, allowed, session, client: str) -> None:
    out = call(client, _instance_host(regauth_server), allowed, instance["InstanceId"], hours=2)
    assert_token(out, arn, allowed, time.time() + 7200)
    keys, expiry = session                       # never beyond the temporary credentials
    out = call(client, _instance_host(regauth_server), keys, instance["InstanceId"], hours=3)
    assert_token(out, arn, keys, expiry)


def test_cli_lists_the_instance(regauth_server, instance) -> None:
    proc = regauth_cli("admin", "list-acr-instances", "--account-id", regauth_server.account_id,
                       data_dir=regauth_server.data_dir)
    assert proc.returncode == 0, proc.stderr
    assert instance in json.loads(proc.stdout)["Instances"]


# --- errors, as each client reports them -------------------------------------------------------------------

ERROR_CLIENTS = ["old-json", "old-xml", "new-acs3", "new-v2", "popcore"]


def assert_error(out: Outcome, status: int, code: str) -> None:
    assert not out.ok, out.body
    assert (out.status, out.code) == (status, code), out.message
    assert out.message


@pytest.mark.parametrize("client", ERROR_CLIENTS)
def test_wrong_secret(regauth_server, instance, allowed, client: str) -> None:
    keys = Keys(allowed.access_key_id, allowed.secret_access_key[:-1] + "x")
    out = call(client, _instance_host(regauth_server), keys, instance["InstanceId"])
    if client == "old-json":
        # our string to sign equals the SDK's own (text after the first ':'), so the SDK names the secret
        assert_error(out, 400, "InvalidAccessKeySecret")
    else:
        assert_error(out, 400, "SignatureDoesNotMatch")
        assert "server string to sign is:" in out.message


def test_wrong_secret_with_a_session_token_is_not_echoed(regauth_server, instance, session) -> None:
    keys, _ = session
    out = call("old-json", _instance_host(regauth_server), Keys(keys.access_key_id, "wrong", keys.session_token),
               instance["InstanceId"])
    assert_error(out, 400, "SignatureDoesNotMatch")       # redacted: no longer the SDK's own string to sign
    assert keys.session_token and keys.session_token not in out.message


@pytest.mark.parametrize("client", ERROR_CLIENTS)
def test_unknown_key(regauth_server, instance, client: str) -> None:
    keys = Keys("AKIA" + "Z" * 16, "x" * 40)
    assert_error(call(client, _instance_host(regauth_server), keys, instance["InstanceId"]), 404,
                 "InvalidAccessKeyId.NotFound")


@pytest.mark.parametrize("client", ERROR_CLIENTS)
def test_unknown_instance(regauth_server, allowed, client: str) -> None:
    assert_error(call(client, _instance_host(regauth_server), allowed, "cri-doesnotexist0000"), 404,
                 "INSTANCE_NOT_EXIST")


@pytest.mark.parametrize("client", ERROR_CLIENTS)
def test_missing_permission(regauth_server, instance, not_allowed, client: str) -> None:
    assert_error(call(client, _instance_host(regauth_server), not_allowed, instance["InstanceId"]), 403,
                 "Forbidden.RAM")


@pytest.mark.parametrize("client", ERROR_CLIENTS)
def test_replayed_request(regauth_server, instance, arn, allowed, client: str) -> None:
    port = int(regauth_server.url.rsplit(":", 1)[1])
    proxy = RecordingProxy(port)
    try:
        out = call(client, f"127.0.0.1:{proxy.port}", allowed, instance["InstanceId"])
        assert_token(out, arn, allowed, time.time() + 3600)
        assert len(proxy.requests) == 1
        raw = proxy.requests[0]
    finally:
        proxy.close()
    status, headers, body = send_raw(port, raw)
    assert status == 400
    if client == "old-xml":
        assert headers["content-type"].startswith("text/xml")
        code = ET.fromstring(body).find("Code").text       # type: ignore[union-attr]
    else:
        assert headers["content-type"].startswith("application/json")
        code = json.loads(body)["Code"]
    assert code == "SignatureNonceUsed"


@pytest.mark.parametrize("client", ERROR_CLIENTS)
def test_stale_timestamp(regauth_server, instance, allowed, client: str, monkeypatch) -> None:
    stale = (datetime.now(timezone.utc) - STALE).strftime("%Y-%m-%dT%H:%M:%SZ")
    if client.startswith("old"):
        from aliyunsdkcore.utils import parameter_helper
        monkeypatch.setattr(parameter_helper, "get_iso_8061_date", lambda: stale)
    elif client.startswith("new"):
        from alibabacloud_tea_openapi.utils import Utils
        monkeypatch.setattr(Utils, "get_timestamp", staticmethod(lambda: stale))
    out = call(client, _instance_host(regauth_server), allowed, instance["InstanceId"],
               **({"skew": -STALE} if client == "popcore" else {}))
    assert_error(out, 400, "InvalidTimeStamp.Expired")


@pytest.mark.parametrize("client", ["old-json", "popcore"])
def test_region_must_be_the_instance_region(regauth_server, instance, allowed, client: str) -> None:
    assert_error(call(client, _instance_host(regauth_server), allowed, instance["InstanceId"], region="cn-shanghai"),
                 400, "InvalidParameter")


def test_session_token_required_for_temporary_keys(regauth_server, instance, session) -> None:
    keys, _ = session
    assert_error(call("new-acs3", _instance_host(regauth_server), Keys(keys.access_key_id, keys.secret_access_key),
                      instance["InstanceId"]), 400, "MissingSecurityToken")
    assert_error(call("old-json", _instance_host(regauth_server),
                      Keys(keys.access_key_id, keys.secret_access_key, keys.session_token + "x"),
                      instance["InstanceId"]), 400, "InvalidSecurityToken.MismatchWithAccessKey")


def test_denials_and_issuance_are_audited(regauth_server, instance, arn, allowed, not_allowed) -> None:
    assert call("new-acs3", _instance_host(regauth_server), allowed, instance["InstanceId"]).ok
    assert not call("new-acs3", _instance_host(regauth_server), not_allowed, instance["InstanceId"]).ok
    proc = regauth_cli("admin", "audit", "--limit", "200", data_dir=regauth_server.data_dir)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    denied = [e for e in events if e["outcome"] == "denied" and e["action"] == "cr:GetAuthorizationToken"]
    assert any(e["resource"] == arn and e["detail"].startswith("AccessDenied") for e in denied)
    assert any(e["outcome"] == "allowed" and e["resource"] == arn and e["token_id"] for e in events)


def hand_rpc(server: RegauthServer, keys: Keys, **params: str) -> tuple[int, str, bytes]:
    """A hand-written RPC v1 GET (HMAC-SHA1, signed as spec §1.5 says), for what no SDK sends: no Format."""
    import hashlib
    import hmac
    import urllib.error
    import urllib.request
    import uuid
    from urllib.parse import quote

    p = {"Action": "GetAuthorizationToken", "Version": "2018-12-01", "AccessKeyId": keys.access_key_id,
         "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureNonce": uuid.uuid4().hex,
         "Timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), **params}
    enc = lambda text: quote(text, safe="-_.~")  # noqa: E731
    canonical = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(p.items()))
    mac = hmac.new(f"{keys.secret_access_key}&".encode(), f"GET&%2F&{enc(canonical)}".encode(), hashlib.sha1)
    url = f"{server.url}/?{canonical}&Signature={enc(base64.b64encode(mac.digest()).decode())}"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def test_without_format_errors_come_as_xml_like_the_success(regauth_server, instance, allowed) -> None:
    """RPC's default format is XML (spec §1.4) and errors must match the request's format (§0.5)."""
    status, ctype, body = hand_rpc(regauth_server, allowed, InstanceId=instance["InstanceId"], RegionId=REGION)
    assert status == 200 and "xml" in ctype
    assert ET.fromstring(body).tag == "GetAuthorizationTokenResponse"
    status, ctype, body = hand_rpc(regauth_server, allowed, InstanceId="cri-doesnotexist0000")
    assert status == 404 and "xml" in ctype
    error = ET.fromstring(body)
    assert error.tag == "Error" and error.findtext("Code") == "INSTANCE_NOT_EXIST"
    status, ctype, body = hand_rpc(regauth_server, allowed, InstanceId=instance["InstanceId"], Format="JSON",
                                   RegionId="cn-nowhere")
    assert status == 400 and json.loads(body)["Code"] == "InvalidParameter"


def call_api_form(host: str, keys: Keys, query: dict[str, Any], body: dict[str, Any], *, v2: bool = False) -> Outcome:
    """The new SDK's generic `call_api` with parameters in a form body (`reqBodyType formData`), as its
    RPC-style APIs may send them; ACS3 signs the body through x-acs-content-sha256."""
    from alibabacloud_tea_openapi.client import Client
    from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
    from alibabacloud_tea_openapi.models import Config, OpenApiRequest, Params
    from darabonba.runtime import RuntimeOptions

    client = Client(Config(access_key_id=keys.access_key_id, access_key_secret=keys.secret_access_key,
                           region_id=REGION, endpoint=host, protocol="http",
                           **({"signature_algorithm": "v2"} if v2 else {})))
    params = Params(action="GetAuthorizationToken", version="2018-12-01", protocol="HTTPS", pathname="/",
                    method="POST", auth_type="AK", style="RPC", req_body_type="formData", body_type="json")
    try:
        resp = client.call_api(params, OpenApiRequest(query=query, body=body), RuntimeOptions())
    except AlibabaCloudException as e:
        return Outcome(e.status_code, e.code or "", e.message or "")
    return Outcome(resp["statusCode"], body=resp["body"])


@pytest.mark.parametrize("v2", [False, True], ids=["acs3", "rpc-v2"])
def test_parameters_in_a_signed_form_body_are_read(regauth_server, instance, allowed, v2: bool) -> None:
    host, iid = _instance_host(regauth_server), instance["InstanceId"]
    out = call_api_form(host, allowed, {"InstanceId": iid}, {"ExpiresInHours": 5}, v2=v2)
    assert out.ok, out
    hours = (out.body["ExpireTime"] / 1000 - time.time()) / 3600
    assert 4.9 < hours <= 5.0                                   # the body's ExpiresInHours, not the 1 h default
    out = call_api_form(host, allowed, {}, {"InstanceId": iid}, v2=v2)
    assert out.ok, out                                          # InstanceId from the body alone
    out = call_api_form(host, allowed, {"InstanceId": iid}, {"ExpiresInHours": 99}, v2=v2)
    assert (out.status, out.code) == (400, "InvalidParameter")  # checked as in the query
    out = call_api_form(host, allowed, {"InstanceId": iid}, {"InstanceId": iid}, v2=v2)
    assert out.status == 400 and "appears more than once" in out.message
