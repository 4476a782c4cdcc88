"""Requests shaped exactly like R paws' (spec alibaba-acr-and-paws.md §2.2-2.3), signed by the test.

paws is not installable here (CRAN is out of reach), so the test sends its exact request shape: a
signed Content-Type: application/x-amz-json-1.1 on an empty body, signed Content-Length and Accept,
query in shape order, integer duration. Checked: what paws needs to read the answer.
"""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

import pytest
from tests.fixtures.server import Keys, RegauthServer
from tests.wire.sign import sign


def paws_request(server: RegauthServer, keys: Keys, method: str, path: str, body: bytes = b"",
                 service: str = "codeartifact", extra: dict[str, str] | None = None,
                 content_type: str = "application/x-amz-json-1.1") -> tuple[int, dict[str, str], bytes]:
    """paws signs every header it sends except Authorization and User-Agent (Accept and
    Content-Length included); the request is sent byte for byte with those headers."""
    netloc = urlsplit(server.url).netloc
    raw_path, _, query = path.partition("?")
    signed = sign(method, raw_path, query,
                  {"Host": netloc, "Accept": "application/json, text/xml, application/xml, */*",
                   "Content-Type": content_type, "Content-Length": str(len(body)), **(extra or {})},
                  body, keys.access_key_id, keys.secret_access_key, service, "us-east-1", keys.session_token)
    conn = http.client.HTTPConnection(netloc, timeout=30)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for k, v in {**signed, "User-Agent": "paws/0.7.7 (R4.2.2; linux-gnu; x86_64)",
                 "Accept-Encoding": "deflate, gzip, br, zstd"}.items():
        conn.putheader(k, v)
    conn.endheaders(body)
    resp = conn.getresponse()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()


def test_paws_get_authorization_token(regauth_server: RegauthServer, domain: str, token_user: Keys) -> None:
    before = time.time()
    status, headers, body = paws_request(
        regauth_server, token_user, "POST",
        f"/v1/authorization-token?domain={domain}&domain-owner={regauth_server.account_id}&duration=900")
    assert status == 200, body
    out = json.loads(body)
    assert isinstance(out["expiration"], (int, float)) and not isinstance(out["expiration"], bool)
    assert before + 898 <= out["expiration"] <= time.time() + 902
    assert out["authorizationToken"].startswith("rgca_")
    assert headers.get("x-amzn-requestid")


def test_paws_with_session_token(regauth_server: RegauthServer, domain: str, token_user: Keys) -> None:
    creds = regauth_server.client("sts", token_user).get_session_token(DurationSeconds=900)["Credentials"]
    session = Keys(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    status, _, body = paws_request(regauth_server, session, "POST", f"/v1/authorization-token?domain={domain}")
    assert status == 200, body


@pytest.mark.parametrize("path, status, code", [
    ("/v1/authorization-token?domain=missing-domain", 404, "ResourceNotFoundException"),
    ("/v1/authorization-token?domain=dom&duration=899", 400, "ValidationException"),
])
def test_paws_error_shape(regauth_server: RegauthServer, token_user: Keys, path: str, status: int,
                          code: str) -> None:
    got, headers, body = paws_request(regauth_server, token_user, "POST", path)
    assert got == status
    # paws: code from X-Amzn-Errortype (text before ':'), message only from lowercase "message"
    assert headers["x-amzn-errortype"].split(":")[0] == code
    assert "#" not in headers["x-amzn-errortype"]
    doc = json.loads(body)
    assert isinstance(doc["message"], str) and doc["message"] and "Message" not in doc


def test_paws_bad_signature_is_invalid_signature(regauth_server: RegauthServer, domain: str,
                                                 token_user: Keys) -> None:
    wrong = Keys(token_user.access_key_id, "x" * 40)
    got, headers, body = paws_request(regauth_server, wrong, "POST", f"/v1/authorization-token?domain={domain}")
    assert got == 403
    assert headers["x-amzn-errortype"].split(":")[0] == "InvalidSignatureException"
    assert "x" * 40 not in body.decode()


def test_paws_sts_get_caller_identity(regauth_server: RegauthServer, token_user: Keys) -> None:
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    status, headers, out = paws_request(regauth_server, token_user, "POST", "/", body, service="sts",
                                        content_type="application/x-www-form-urlencoded; charset=utf-8")
    assert status == 200, out
    assert b"<GetCallerIdentityResult>" in out and regauth_server.account_id.encode() in out


@pytest.mark.parametrize("body, code", [
    ("Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fr"
     "&RoleSessionName=s&DurationSeconds=900", "ValidationError"),            # session name below min 2
    ("Action=GetSessionToken&Version=2011-06-15&DurationSeconds=899", "ValidationError"),
    ("Action=GetSessionToken&Version=2011-06-15&DurationSeconds=129601", "ValidationError"),
    ("Action=GetSessionToken&Version=2011-06-15&DurationSeconds=abc", "ValidationError"),
    ("Action=NoSuchThing&Version=2011-06-15", "InvalidAction"),
])
def test_server_enforces_bounds_clients_check_first(regauth_server: RegauthServer, token_user: Keys, body: str,
                                                    code: str) -> None:
    """boto3 and the CLIs refuse these before sending; the server must refuse them too."""
    status, _, out = paws_request(regauth_server, token_user, "POST", "/", body.encode(), service="sts",
                                  content_type="application/x-www-form-urlencoded; charset=utf-8")
    assert status == 400, out
    assert f"<Code>{code}</Code>".encode() in out
