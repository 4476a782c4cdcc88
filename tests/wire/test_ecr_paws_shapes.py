"""ECR and ECR Public requests shaped like R paws' (aws-wire.md Appendix A), and error bodies paws can read.

paws' jsonrpc client takes the code from `__type` (the part BEFORE any '#'), crashes on a body with
no `__type` or with both `message` and `Message`, and reads timestamps only as JSON numbers (§2.4, §5).

`paws_request` (test_paws_shapes.py) always sends and signs `Accept`, which paws does for rest-json
and query but not for jsonrpc: the ECR capture is signed
`content-length;content-type;host;x-amz-date;x-amz-security-token;x-amz-target`. `json_request`
below sends exactly that set, and lets the region vary (paws_request signs for us-east-1 only).
"""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

import pytest

from tests.fixtures.server import Keys, RegauthServer, new_user
from tests.wire.sign import sign
from tests.wire.test_ecr_public_token import ECR_PUBLIC_TOKEN_POLICY
from tests.wire.test_ecr_token import ECR_TOKEN_POLICY, TWELVE_HOURS, claims, default_endpoint, docker_password
from tests.wire.test_paws_shapes import paws_request

ECR_TARGET = "AmazonEC2ContainerRegistry_V20150921."
PUBLIC_TARGET = "SpencerFrontendService."
JSON_11 = "application/x-amz-json-1.1"


def json_request(server: RegauthServer, keys: Keys, service: str, target: str, body: bytes,
                 region: str = "us-east-1") -> tuple[int, dict[str, str], bytes, str]:
    """POST / exactly as paws sends a jsonrpc call; returns the SignedHeaders it used, too."""
    netloc = urlsplit(server.url).netloc
    signed = sign("POST", "/", "", {"Host": netloc, "X-Amz-Target": target, "Content-Type": JSON_11,
                                    "Content-Length": str(len(body))},
                  body, keys.access_key_id, keys.secret_access_key, service, region, keys.session_token)
    conn = http.client.HTTPConnection(netloc, timeout=30)
    conn.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
    for k, v in {**signed, "User-Agent": "paws/0.7.7 (R4.2.2; linux-gnu; x86_64)",
                 "Accept-Encoding": "deflate, gzip, br, zstd"}.items():
        conn.putheader(k, v)
    conn.endheaders(body)
    resp = conn.getresponse()
    signed_headers = signed["Authorization"].split("SignedHeaders=", 1)[1].split(",", 1)[0]
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read(), signed_headers


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@pytest.fixture(scope="module")
def ecr_keys(regauth_server: RegauthServer) -> Keys:
    return new_user(regauth_server, ECR_TOKEN_POLICY)


@pytest.fixture(scope="module")
def public_keys(regauth_server: RegauthServer) -> Keys:
    return new_user(regauth_server, ECR_PUBLIC_TOKEN_POLICY)


@pytest.fixture(scope="module")
def no_policy_keys(regauth_server: RegauthServer) -> Keys:
    return new_user(regauth_server, None)


def session_of(server: RegauthServer, keys: Keys) -> Keys:
    creds = server.client("sts", keys).get_session_token(DurationSeconds=900)["Credentials"]
    return Keys(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


# --- success shapes -------------------------------------------------------------------------------

@pytest.mark.parametrize("with_registry_id", [False, True], ids=["body-{}", "body-registryIds"])
@pytest.mark.parametrize("temporary", [False, True], ids=["long-term", "session"])
def test_ecr_token_paws_shape(regauth_server: RegauthServer, ecr_keys: Keys, with_registry_id: bool,
                              temporary: bool) -> None:
    acct = regauth_server.account_id
    keys = session_of(regauth_server, ecr_keys) if temporary else ecr_keys
    body = json.dumps({"registryIds": [acct]}, separators=(",", ":")).encode() if with_registry_id else b"{}"
    before = time.time()
    status, headers, raw, signed = json_request(regauth_server, keys, "ecr", ECR_TARGET + "GetAuthorizationToken",
                                                body)
    assert signed == ("content-length;content-type;host;x-amz-date;" + ("x-amz-security-token;" if temporary else "")
                      + "x-amz-target")
    assert status == 200, raw
    assert headers["content-type"] == JSON_11
    assert headers.get("x-amzn-requestid")
    doc = json.loads(raw)
    assert list(doc) == ["authorizationData"] and len(doc["authorizationData"]) == 1
    entry = doc["authorizationData"][0]
    assert is_number(entry["expiresAt"]), entry["expiresAt"]
    assert before + TWELVE_HOURS - 2 <= entry["expiresAt"] <= time.time() + TWELVE_HOURS + 2
    assert entry["proxyEndpoint"] == default_endpoint(acct)
    assert claims(docker_password(entry["authorizationToken"]))["exp"] == entry["expiresAt"]


def test_ecr_public_token_paws_shape(regauth_server: RegauthServer, public_keys: Keys) -> None:
    before = time.time()
    status, headers, raw, _ = json_request(regauth_server, session_of(regauth_server, public_keys), "ecr-public",
                                           PUBLIC_TARGET + "GetAuthorizationToken", b"{}")
    assert status == 200, raw
    assert headers["content-type"] == JSON_11
    data = json.loads(raw)["authorizationData"]
    assert isinstance(data, dict) and set(data) == {"authorizationToken", "expiresAt"}
    assert is_number(data["expiresAt"])
    assert before + TWELVE_HOURS - 2 <= data["expiresAt"] <= time.time() + TWELVE_HOURS + 2
    docker_password(data["authorizationToken"], prefix="rgecp_")


def test_paws_request_with_signed_accept_also_works(regauth_server: RegauthServer, ecr_keys: Keys) -> None:
    """The shared paws_request shape (Accept and Content-Length signed) is accepted too."""
    status, _, raw = paws_request(regauth_server, ecr_keys, "POST", "/", b"{}", service="ecr",
                                  extra={"X-Amz-Target": ECR_TARGET + "GetAuthorizationToken"})
    assert status == 200, raw
    assert is_number(json.loads(raw)["authorizationData"][0]["expiresAt"])


# --- error bodies ---------------------------------------------------------------------------------

def assert_paws_error(status: int, headers: dict[str, str], raw: bytes, code: str) -> dict:
    assert status == 400, (status, raw)
    assert headers["content-type"] == JSON_11
    assert headers.get("x-amzn-requestid")
    doc = json.loads(raw)
    assert set(doc) == {"__type", "message"}, doc           # no "Message", nothing paws would trip on
    assert doc["__type"] == code, doc                       # no "namespace#", no ":suffix"
    assert isinstance(doc["message"], str) and doc["message"]
    return doc


@pytest.mark.parametrize("body, code, needle", [
    (b'{"registryIds":[]}', "InvalidParameterException", "registryIds"),     # clients refuse this (min 1)
    (b'{"registryIds":["abc"]}', "InvalidParameterException", "registryIds"),
    (b'{"registryIds":["111122223333","1","2","3","4","5","6","7","8","9","10"]}', "InvalidParameterException",
     "registryIds"),
])
def test_ecr_validation_error_body(regauth_server: RegauthServer, ecr_keys: Keys, body: bytes, code: str,
                                   needle: str) -> None:
    got = paws_request(regauth_server, ecr_keys, "POST", "/", body, service="ecr",
                       extra={"X-Amz-Target": ECR_TARGET + "GetAuthorizationToken"})
    assert needle in assert_paws_error(*got, code)["message"]


@pytest.mark.parametrize("service, target, body", [
    ("ecr", ECR_TARGET, b"{not json"),
    ("ecr", ECR_TARGET, b"[]"),
    ("ecr", ECR_TARGET, b'{"registryIds":"111122223333"}'),      # a string where the model has a list
    ("ecr", ECR_TARGET, b'{"registryIds":[111122223333]}'),      # a number where it has a string
    ("ecr-public", PUBLIC_TARGET, b'{"a":'),
    ("ecr-public", PUBLIC_TARGET, b'"text"'),
])
def test_unreadable_body_is_a_serialization_exception(regauth_server: RegauthServer, ecr_keys: Keys,
                                                      public_keys: Keys, service: str, target: str,
                                                      body: bytes) -> None:
    # awsJson1_1 services answer a body that is not a JSON object of the operation's types before
    # the operation sees it: SerializationException, 400 (not the operation's InvalidParameterException).
    keys = ecr_keys if service == "ecr" else public_keys
    status, headers, raw, _ = json_request(regauth_server, keys, service, target + "GetAuthorizationToken", body)
    doc = assert_paws_error(status, headers, raw, "SerializationException")
    assert "Cannot parse" in doc["message"]


def test_ecr_access_denied_body(regauth_server: RegauthServer, no_policy_keys: Keys) -> None:
    got = paws_request(regauth_server, no_policy_keys, "POST", "/", b"{}", service="ecr",
                       extra={"X-Amz-Target": ECR_TARGET + "GetAuthorizationToken"})
    assert "ecr:GetAuthorizationToken" in assert_paws_error(*got, "AccessDeniedException")["message"]


@pytest.mark.parametrize("service, target", [("ecr", ECR_TARGET), ("ecr-public", PUBLIC_TARGET)])
def test_auth_failure_bodies(regauth_server: RegauthServer, ecr_keys: Keys, service: str, target: str) -> None:
    wrong = Keys(ecr_keys.access_key_id, "x" * 40)
    got = paws_request(regauth_server, wrong, "POST", "/", b"{}", service=service,
                       extra={"X-Amz-Target": target + "GetAuthorizationToken"})
    assert "x" * 40 not in assert_paws_error(*got, "InvalidSignatureException")["message"]
    unknown = Keys("AKIAZZZZZZZZZZZZZZZZ", "x" * 40)
    got = paws_request(regauth_server, unknown, "POST", "/", b"{}", service=service,
                       extra={"X-Amz-Target": target + "GetAuthorizationToken"})
    assert_paws_error(*got, "UnrecognizedClientException")


def test_repository_error_bodies(regauth_server: RegauthServer) -> None:
    admin = regauth_server.admin
    got = paws_request(regauth_server, admin, "POST", "/", b'{"repositoryNames":["paws-missing"]}', service="ecr",
                       extra={"X-Amz-Target": ECR_TARGET + "DescribeRepositories"})
    assert "paws-missing" in assert_paws_error(*got, "RepositoryNotFoundException")["message"]
    got = paws_request(regauth_server, admin, "POST", "/", b'{"repositoryName":"Bad_Name"}', service="ecr",
                       extra={"X-Amz-Target": ECR_TARGET + "CreateRepository"})
    assert "repositoryName" in assert_paws_error(*got, "InvalidParameterException")["message"]


def test_ecr_public_errors_body(regauth_server: RegauthServer, public_keys: Keys, no_policy_keys: Keys) -> None:
    got = json_request(regauth_server, public_keys, "ecr-public", PUBLIC_TARGET + "GetAuthorizationToken", b"{}",
                       region="us-west-2")[:3]
    assert assert_paws_error(*got, "UnsupportedCommandException")["message"] == \
        "GetAuthorizationToken command is only supported in us-east-1."
    got = json_request(regauth_server, no_policy_keys, "ecr-public", PUBLIC_TARGET + "GetAuthorizationToken",
                       b"{}")[:3]
    assert_paws_error(*got, "AccessDeniedException")
