"""The ACR dialect in process: routing, the error table, JSON/XML envelopes, the check order, audit.

Requests are signed here by a small independent signer (RPC v1 HMAC-SHA1 and ACS3-HMAC-SHA256,
written from spec §1.4/§1.5); the real SDKs drive a real server in tests/wire/test_acr_sdks.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import pytest

from regauth.auth.acs import MISMATCH_MESSAGE
from regauth.auth.canonical import HttpRequest
from regauth.auth.nonces import NonceCache, NonceCacheFull
from regauth.config import Settings
from regauth.errors import (AccessDenied, ExpiredToken, IncompleteSignature, InternalFailure, InvalidInput,
                            MissingAuthentication, MissingParameter, NonceReused, NotFound, RequestExpired,
                            SignatureMismatch, Throttled, UnknownAccessKey, UnknownOperation, UnsupportedOperation)
from regauth.protocols.acr import AcrDialect
from regauth.protocols.acr_errors import MissingSecurityToken, SecurityTokenMismatch, to_wire
from regauth.services.acr import instance_arn
from tests.services.test_acr_service import ACCT, REGION, T0, World, allow

HOST = "cr.cn-hangzhou.aliyuncs.com"
SIGV4_AUTH = "AWS4-HMAC-SHA256 Credential=AKIA/20261122/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00"


def pe(s: str) -> str:
    return quote(s, safe="~")


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def rpc(params: dict[str, str], akid: str, secret: str, *, at: float = T0, method: str = "POST",
        form: bool = False, token: str | None = None, nonce: str | None = None, fmt: str | None = "JSON",
        version: str = "2018-12-01", action: str = "GetAuthorizationToken") -> HttpRequest:
    """An RPC v1 request like the old SDK's (query) or pop-core's (form body)."""
    p = {"Action": action, "Version": version, "AccessKeyId": akid, "SignatureMethod": "HMAC-SHA1",
         "SignatureVersion": "1.0", "SignatureNonce": nonce or secrets.token_hex(16), "Timestamp": iso(at), **params}
    if fmt is not None:
        p["Format"] = fmt
    if token is not None:
        p["SecurityToken"] = token
    canonical = "&".join(f"{pe(k)}={pe(v)}" for k, v in sorted(p.items()))
    sts = f"{method}&%2F&{pe(canonical)}"
    p["Signature"] = base64.b64encode(hmac.new((secret + "&").encode(), sts.encode(), hashlib.sha1).digest()).decode()
    encoded = "&".join(f"{pe(k)}={pe(v)}" for k, v in p.items())
    headers: list[tuple[str, str]] = [("Host", HOST), ("x-acs-action", action), ("x-acs-version", version)]
    if form:
        headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        return HttpRequest(method, "/", "", tuple(headers), encoded.encode(), "10.0.0.1")
    return HttpRequest(method, "/", encoded, tuple(headers), b"", "10.0.0.1")


def acs3(query: dict[str, str], akid: str, secret: str, *, at: float = T0, token: str | None = None,
         nonce: str | None = None, action: str = "GetAuthorizationToken", version: str = "2018-12-01") -> HttpRequest:
    """An ACS3-HMAC-SHA256 request like the new SDK's default."""
    headers = {"host": HOST, "x-acs-action": action, "x-acs-version": version, "x-acs-date": iso(at),
               "x-acs-signature-nonce": nonce or secrets.token_hex(16), "accept": "application/json",
               "x-acs-content-sha256": hashlib.sha256(b"").hexdigest()}
    if token is not None:
        headers.update({"x-acs-security-token": token, "x-acs-accesskey-id": akid})
    signed = sorted(headers)
    canonical_query = "&".join(f"{pe(k)}={pe(v)}" for k, v in sorted(query.items()))
    canonical = "\n".join(["POST", "/", canonical_query, "".join(f"{h}:{headers[h]}\n" for h in signed),
                           ";".join(signed), hashlib.sha256(b"").hexdigest()])
    sts = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    sig = hmac.new(secret.encode(), sts.encode(), hashlib.sha256).hexdigest()
    auth = f"ACS3-HMAC-SHA256 Credential={akid},SignedHeaders={';'.join(signed)},Signature={sig}"
    query_text = "&".join(f"{pe(k)}={pe(v)}" for k, v in query.items())
    return HttpRequest("POST", "/", query_text, tuple([*headers.items(), ("Authorization", auth)]), b"", "10.0.0.1")


@pytest.fixture
def world(tmp_path: Path):
    w = World.build(tmp_path)
    yield w
    w.services.store.close()


class Served(AcrDialect):
    """`handle` as the app serves it: the answer's records (tokens, audit events) stored first."""

    def handle(self, req: HttpRequest):
        response = super().handle(req)
        if response.pending:
            self._s.auditor.commit([response.pending])
        return response


@pytest.fixture
def dialect(world: World) -> AcrDialect:
    return Served(world.services)


@pytest.fixture
def user(world: World) -> tuple[str, str]:
    akid, secret = world.user(allow())
    return akid, secret.reveal()


def body(resp) -> dict:
    ctype = dict((k.lower(), v) for k, v in resp.headers)["content-type"]
    if ctype.startswith("text/xml"):
        root = ET.fromstring(resp.body)
        return {"_root": root.tag, **{child.tag: child.text or "" for child in root}}
    assert ctype == "application/json;charset=utf-8"
    return json.loads(resp.body)


def header(resp, name: str) -> str | None:
    return next((v for k, v in resp.headers if k.lower() == name.lower()), None)


def assert_error(resp, status: int, code: str, fmt: str = "JSON") -> dict:
    assert resp.status == status, resp.body
    b = body(resp)
    if fmt == "XML":
        assert b["_root"] == "Error" and resp.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert b["Code"] == code
    assert b["HostId"] == HOST and b["Message"]
    assert b["RequestId"] == header(resp, "x-acs-request-id")
    assert b["Recommend"] == f"https://api.aliyun.com/troubleshoot?q={code}&product=cr&requestId={b['RequestId']}"
    return b


# --- routing --------------------------------------------------------------------------------------

@pytest.mark.parametrize("req, expected", [
    (rpc({"InstanceId": "cri-x"}, "AK", "s"), True),
    (rpc({"InstanceId": "cri-x"}, "AK", "s", form=True), True),
    (acs3({"InstanceId": "cri-x"}, "AK", "s"), True),
    (HttpRequest("POST", "/", "", (("x-acs-action", "GetAuthorizationToken"),)), True),
    (HttpRequest("GET", "/", "Action=GetAuthorizationToken&Version=2018-12-01&InstanceId=cri-x", ()), True),
    (HttpRequest("GET", "/", "AccessKeyId=AK&SignatureNonce=n&Signature=%zz", ()), True),  # Alibaba, malformed
    (HttpRequest("POST", "/", "", (("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),),
                 b"Action=UpdateAccessKey&Version=2010-05-08&AccessKeyId=AKIAEXAMPLE&Status=Inactive"), False),
    (HttpRequest("POST", "/", "", (("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
                                   ("Authorization", SIGV4_AUTH)),
                 b"Action=GetCallerIdentity&Version=2011-06-15"), False),
    (HttpRequest("GET", "/", "Action=ListUsers&Version=2010-05-08&AWSAccessKeyId=AKIA&Signature=x", ()), False),
    (HttpRequest("POST", "/v1/authorization-token", "domain=d&domain-owner=123456789012", ()), False),
    (HttpRequest("GET", "/token", "service=registry&scope=repository:a:pull", ()), False),
    (HttpRequest("GET", "/healthz", "", ()), False),
], ids=["rpc-query", "rpc-form", "acs3", "x-acs-action", "unsigned-action-version", "malformed", "iam-access-key-param", "aws-sts-form",
        "aws-sigv2", "codeartifact", "token-realm", "healthz"])
def test_claims(dialect: AcrDialect, req: HttpRequest, expected: bool) -> None:
    assert dialect.claims(req) is expected


# --- success envelopes -------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["rpc-query", "rpc-get", "rpc-form", "acs3"])
def test_success_json(world: World, dialect: AcrDialect, user, variant: str) -> None:
    akid, secret = user
    params = {"InstanceId": world.instance.instance_id, "RegionId": REGION}
    req = {"rpc-query": lambda: rpc(params, akid, secret),
           "rpc-get": lambda: rpc(params, akid, secret, method="GET"),
           "rpc-form": lambda: rpc(params, akid, secret, form=True),
           "acs3": lambda: acs3({"InstanceId": world.instance.instance_id}, akid, secret)}[variant]()
    resp = dialect.handle(req)
    assert resp.status == 200, resp.body
    b = body(resp)
    assert set(b) == {"TempUsername", "RequestId", "AuthorizationToken", "ExpireTime", "Code", "IsSuccess"}
    assert b["TempUsername"] == "cr_temp_user" and b["Code"] == "success" and b["IsSuccess"] is True
    assert b["ExpireTime"] == int(T0 + 3600) * 1000 and isinstance(b["ExpireTime"], int)
    assert b["AuthorizationToken"].startswith("rgacr_")
    assert b["RequestId"] == header(resp, "x-acs-request-id") and b["RequestId"] == b["RequestId"].upper()


@pytest.mark.parametrize("fmt", ["XML", "xml", None])
def test_success_xml_when_asked_or_by_rpc_default(world: World, dialect: AcrDialect, user, fmt: str | None) -> None:
    akid, secret = user
    resp = dialect.handle(rpc({"InstanceId": world.instance.instance_id}, akid, secret, fmt=fmt))
    assert resp.status == 200
    assert header(resp, "Content-Type") == "text/xml;charset=utf-8"
    assert resp.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?><GetAuthorizationTokenResponse>')
    b = body(resp)
    assert b["_root"] == "GetAuthorizationTokenResponse"
    assert b["IsSuccess"] == "true" and b["Code"] == "success" and b["TempUsername"] == "cr_temp_user"
    assert int(b["ExpireTime"]) == int(T0 + 3600) * 1000


def test_lowercase_json_format_and_expires_in_hours(world: World, dialect: AcrDialect, user) -> None:
    akid, secret = user
    resp = dialect.handle(rpc({"InstanceId": world.instance.instance_id, "ExpiresInHours": "2"}, akid, secret,
                              fmt="json"))
    assert body(resp)["ExpireTime"] == int(T0 + 7200) * 1000
    resp = dialect.handle(acs3({"InstanceId": world.instance.instance_id, "ExpiresInHours": "24"}, akid, secret))
    assert body(resp)["ExpireTime"] == int(T0 + 86400) * 1000


def test_sts_session_caps_the_lifetime(world: World, dialect: AcrDialect, user) -> None:
    sts_key, sts_secret, token = world.session(user[0], 900)
    for req in (rpc({"InstanceId": world.instance.instance_id}, sts_key, sts_secret.reveal(), token=token.reveal()),
                acs3({"InstanceId": world.instance.instance_id, "ExpiresInHours": "3"}, sts_key, sts_secret.reveal(),
                     token=token.reveal())):
        resp = dialect.handle(req)
        assert resp.status == 200, resp.body
        assert body(resp)["ExpireTime"] == int(T0 + 900) * 1000


# --- the error table -------------------------------------------------------------------------------

@pytest.mark.parametrize("exc, status, code", [
    (SignatureMismatch(MISMATCH_MESSAGE + "POST&%2F&x", "POST&%2F&x"), 400, "SignatureDoesNotMatch"),
    (IncompleteSignature("bad"), 400, "IncompleteSignature"),
    (MissingAuthentication("none"), 400, "IncompleteSignature"),
    (RequestExpired("x"), 400, "InvalidTimeStamp.Expired"),
    (NonceReused("x"), 400, "SignatureNonceUsed"),
    (MissingSecurityToken("x"), 400, "MissingSecurityToken"),
    (SecurityTokenMismatch("x"), 400, "InvalidSecurityToken.MismatchWithAccessKey"),
    (ExpiredToken("x"), 400, "InvalidSecurityToken.Expired"),
    (UnknownAccessKey("x"), 404, "InvalidAccessKeyId.NotFound"),
    (MissingParameter("The input parameter \"InstanceId\" ...", "InstanceId"), 400, "MissingParameter"),
    (InvalidInput("bad hours", "ExpiresInHours"), 400, "InvalidParameter"),
    (UnknownOperation("x"), 404, "InvalidAction.NotFound"),
    (UnknownOperation("x", "Version"), 400, "InvalidVersion"),
    (UnsupportedOperation("x"), 400, "UnsupportedHTTPMethod"),
    (AccessDenied("User: arn is not authorized"), 403, "Forbidden.RAM"),
    (NotFound("instance", "cri-x"), 404, "INSTANCE_NOT_EXIST"),
    (Throttled("x", retry_after=2), 400, "Throttling.User"),
    (NonceCacheFull("x"), 400, "Throttling.User"),
    (InternalFailure("db down: password=hunter2"), 500, "InternalError"),
    (RuntimeError("secret stuff"), 500, "InternalError"),
])
def test_error_table(exc: Exception, status: int, code: str) -> None:
    wire = to_wire(exc)
    assert (wire.status, wire.code) == (status, code)
    assert wire.message
    if status == 500:
        assert wire.message == "The request processing has failed due to some unknown error."
    if isinstance(exc, Throttled):
        assert wire.retry_after_ms == exc.retry_after * 1000


def test_messages_of_the_table() -> None:
    assert to_wire(SignatureMismatch(MISMATCH_MESSAGE + "STS", "STS")).message == MISMATCH_MESSAGE + "STS"
    assert to_wire(UnknownAccessKey("x")).message == "Specified access key is not found."
    assert to_wire(RequestExpired("x")).message == "Specified time stamp or date value is expired."
    assert to_wire(NonceReused("x")).message == "Specified signature nonce was used already."
    assert to_wire(UnknownOperation("x", "Version")).message == "Specified parameter Version is not valid."
    assert to_wire(Throttled("x")).message == "Request was denied due to user flow control."


# --- errors on the wire, in order ---------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["JSON", "XML"])
def test_wrong_secret_names_the_string_to_sign(world: World, dialect: AcrDialect, user, fmt: str) -> None:
    akid, secret = user
    req = rpc({"InstanceId": world.instance.instance_id}, akid, secret + "x", fmt=fmt)
    b = assert_error(dialect.handle(req), 400, "SignatureDoesNotMatch", fmt)
    prefix, _, sts = b["Message"].partition(":")
    assert prefix + ":" == MISMATCH_MESSAGE
    assert sts.startswith("POST&%2F&AccessKeyId%3D") and "Signature%3D" not in sts
    # the nonce of a refused request is not consumed: the correctly signed twin still passes
    nonce = dict(p.split("=", 1) for p in req.query.split("&"))["SignatureNonce"]
    ok = rpc({"InstanceId": world.instance.instance_id}, akid, secret, nonce=nonce)
    assert dialect.handle(ok).status == 200


def test_wrong_secret_with_a_session_token_never_echoes_the_token(world: World, dialect: AcrDialect, user) -> None:
    sts_key, _, token = world.session(user[0], 900)
    req = rpc({"InstanceId": world.instance.instance_id}, sts_key, "wrong", token=token.reveal())
    b = assert_error(dialect.handle(req), 400, "SignatureDoesNotMatch")
    assert token.reveal() not in b["Message"]
    assert "%26SecurityToken%3D%2528redacted%2529%26" in b["Message"]


def test_acs3_wrong_secret(world: World, dialect: AcrDialect, user) -> None:
    b = assert_error(dialect.handle(acs3({"InstanceId": world.instance.instance_id}, user[0], "nope")), 400,
                     "SignatureDoesNotMatch")
    assert b["Message"].startswith(MISMATCH_MESSAGE + "ACS3-HMAC-SHA256\n")


def test_unknown_and_inactive_keys(world: World, dialect: AcrDialect, user) -> None:
    assert_error(dialect.handle(rpc({"InstanceId": "cri-x"}, "AKIANOTAKEY000000000", "s")), 404,
                 "InvalidAccessKeyId.NotFound")
    akid, _ = user
    name = world.services.store.get_credential(akid).user_name
    world.services.store.update_access_key(ACCT, name, akid, "Inactive")
    assert_error(dialect.handle(rpc({"InstanceId": world.instance.instance_id}, akid, user[1])), 404,
                 "InvalidAccessKeyId.NotFound")


def test_replayed_nonce(world: World, dialect: AcrDialect, user) -> None:
    req = acs3({"InstanceId": world.instance.instance_id}, *user)
    assert dialect.handle(req).status == 200
    assert_error(dialect.handle(req), 400, "SignatureNonceUsed")
    form = rpc({"InstanceId": world.instance.instance_id}, *user, form=True)
    assert dialect.handle(form).status == 200
    assert_error(dialect.handle(form), 400, "SignatureNonceUsed")


@pytest.mark.parametrize("offset", [-20 * 60, 20 * 60])
def test_stale_or_future_timestamp(world: World, dialect: AcrDialect, user, offset: int) -> None:
    assert_error(dialect.handle(rpc({"InstanceId": world.instance.instance_id}, *user, at=T0 + offset)), 400,
                 "InvalidTimeStamp.Expired")
    assert_error(dialect.handle(acs3({"InstanceId": world.instance.instance_id}, *user, at=T0 + offset)), 400,
                 "InvalidTimeStamp.Expired")


def test_session_tokens(world: World, dialect: AcrDialect, user) -> None:
    sts_key, sts_secret, token = world.session(user[0], 900)
    iid = world.instance.instance_id
    assert_error(dialect.handle(rpc({"InstanceId": iid}, sts_key, sts_secret.reveal())), 400, "MissingSecurityToken")
    assert_error(dialect.handle(rpc({"InstanceId": iid}, sts_key, sts_secret.reveal(), token="RGSTwrong")), 400,
                 "InvalidSecurityToken.MismatchWithAccessKey")
    assert_error(dialect.handle(acs3({"InstanceId": iid}, *user, token=token.reveal())), 400,
                 "InvalidSecurityToken.MismatchWithAccessKey")
    world.clock.advance(901)
    assert_error(dialect.handle(rpc({"InstanceId": iid}, sts_key, sts_secret.reveal(), token=token.reveal(),
                                    at=world.clock.now())), 400, "InvalidSecurityToken.Expired")


def test_version_then_action(world: World, dialect: AcrDialect, user) -> None:
    iid = world.instance.instance_id
    assert_error(dialect.handle(rpc({"InstanceId": iid}, *user, version="2016-06-07")), 400, "InvalidVersion")
    assert_error(dialect.handle(rpc({"InstanceId": iid}, *user, action="ListInstance")), 404, "InvalidAction.NotFound")
    assert_error(dialect.handle(acs3({"InstanceId": iid}, *user, action="GetInstance")), 404,
                 "InvalidAction.NotFound")


@pytest.mark.parametrize("params, code, needle", [
    ({}, "MissingParameter", '"InstanceId"'),
    ({"InstanceId": ""}, "MissingParameter", '"InstanceId"'),
    ({"InstanceId": "@", "ExpiresInHours": "abc"}, "InvalidParameter", "ExpiresInHours"),
    ({"InstanceId": "@", "ExpiresInHours": "25"}, "InvalidParameter", "ExpiresInHours"),
    ({"InstanceId": "@", "ExpiresInHours": "0"}, "InvalidParameter", "ExpiresInHours"),
    ({"InstanceId": "@", "RegionId": "cn-beijing"}, "InvalidParameter", "RegionId"),
])
def test_parameters(world: World, dialect: AcrDialect, user, params: dict, code: str, needle: str) -> None:
    params = {k: (world.instance.instance_id if v == "@" else v) for k, v in params.items()}
    b = assert_error(dialect.handle(rpc(params, *user)), 400, code)
    assert needle in b["Message"]


def test_unknown_instance_and_missing_permission(world: World, dialect: AcrDialect, user) -> None:
    b = assert_error(dialect.handle(rpc({"InstanceId": "cri-nosuchinstance"}, *user)), 404, "INSTANCE_NOT_EXIST")
    assert "cri-nosuchinstance" in b["Message"]
    akid, secret = world.user(allow(action="cr:PullRepository"))
    b = assert_error(dialect.handle(rpc({"InstanceId": world.instance.instance_id}, akid, secret.reveal(),
                                        fmt="XML")), 403, "Forbidden.RAM", "XML")
    assert "cr:GetAuthorizationToken" in b["Message"]


def test_unsigned_and_malformed(world: World, dialect: AcrDialect) -> None:
    unsigned = HttpRequest("GET", "/", "Action=GetAuthorizationToken&Version=2018-12-01&InstanceId=cri-x",
                           (("Host", HOST),))
    assert_error(dialect.handle(unsigned), 400, "IncompleteSignature")
    missing = HttpRequest("GET", "/", "AccessKeyId=AK&Signature=x&Format=XML", (("Host", HOST),))
    assert_error(dialect.handle(missing), 400, "MissingParameter", "XML")
    put = HttpRequest("PUT", "/", "Action=GetAuthorizationToken&Version=2018-12-01", (("Host", HOST),))
    assert_error(dialect.handle(put), 400, "UnsupportedHTTPMethod")


def test_throttled(tmp_path: Path) -> None:
    w = World.build(tmp_path, Settings(data_dir=tmp_path, rate_limit_per_second=0.5, rate_limit_burst=1))
    try:
        d = AcrDialect(w.services)
        akid, secret = w.user(allow())
        assert d.handle(rpc({"InstanceId": w.instance.instance_id}, akid, secret.reveal())).status == 200
        resp = d.handle(rpc({"InstanceId": w.instance.instance_id}, akid, secret.reveal()))
        assert_error(resp, 400, "Throttling.User")
        assert header(resp, "x-acs-retry-after") == "2000"
    finally:
        w.services.store.close()


def test_internal_error_is_generic_and_logged(world: World, dialect: AcrDialect, user, monkeypatch, caplog) -> None:
    def boom(*args, **kwargs):
        raise RuntimeError("leaky detail 42")
    monkeypatch.setattr(world.services.acr, "get_authorization_token", boom)
    with caplog.at_level(logging.ERROR, logger="regauth.acr"):
        b = assert_error(dialect.handle(rpc({"InstanceId": world.instance.instance_id}, *user)), 500, "InternalError")
    assert "leaky" not in json.dumps(b)
    assert "leaky detail 42" in caplog.text


def test_one_nonce_cache_per_dialect(world: World, user) -> None:
    req = rpc({"InstanceId": world.instance.instance_id}, *user)
    first, second = AcrDialect(world.services), AcrDialect(world.services)
    assert first.handle(req).status == 200
    assert first.handle(req).status == 400
    assert isinstance(first._nonces, NonceCache) and first._nonces is not second._nonces


# --- audit and secrecy ---------------------------------------------------------------------------------

def test_denials_and_issuance_are_audited(world: World, dialect: AcrDialect, user) -> None:
    akid, secret = world.user(None)
    arn = world.caller(akid).arn
    dialect.handle(rpc({"InstanceId": world.instance.instance_id}, akid, secret.reveal()))
    dialect.handle(rpc({"InstanceId": world.instance.instance_id}, akid, "wrong"))
    dialect.handle(rpc({"InstanceId": world.instance.instance_id}, *user))
    events = world.services.store.list_audit_events(limit=10)
    denied = [e for e in events if e.outcome == "denied"]
    assert {e.detail.split()[0] for e in denied} == {"AccessDenied", "SignatureMismatch"}
    forbidden = next(e for e in denied if e.detail.startswith("AccessDenied"))
    assert forbidden.principal_arn == arn and forbidden.resource == instance_arn(world.instance)
    assert forbidden.action == "cr:GetAuthorizationToken" and forbidden.source_ip == "10.0.0.1"
    mismatch = next(e for e in denied if e.detail.startswith("SignatureMismatch"))
    assert mismatch.principal_arn == "" and f"key={akid}" in mismatch.detail
    assert any(e.outcome == "allowed" and e.token_id for e in events)


def test_no_secret_in_bodies_or_logs(world: World, dialect: AcrDialect, user, caplog) -> None:
    sts_key, sts_secret, token = world.session(user[0], 900)
    secrets_ = [user[1], sts_secret.reveal(), token.reveal()]
    iid = world.instance.instance_id
    with caplog.at_level(logging.DEBUG):
        ok = dialect.handle(rpc({"InstanceId": iid}, sts_key, sts_secret.reveal(), token=token.reveal()))
        issued = body(ok)["AuthorizationToken"]
        responses = [
            dialect.handle(rpc({"InstanceId": iid}, sts_key, sts_secret.reveal(), token=token.reveal() + "x")),
            dialect.handle(rpc({"InstanceId": iid}, sts_key, "wrong", token=token.reveal())),
            dialect.handle(rpc({"InstanceId": "cri-missing"}, *user)),
        ]
    text = caplog.text + "".join(r.body.decode() for r in responses)
    text += json.dumps([e.__dict__ for e in world.services.store.list_audit_events(limit=20)])
    for s in [*secrets_, issued]:
        assert s not in text
    mid = issued.split(".")[1]
    decoded = base64.urlsafe_b64decode(mid + "=" * (-len(mid) % 4)).decode()
    assert json.loads(decoded)["scope"] == instance_arn(world.instance)
    for s in secrets_:
        assert s not in decoded
