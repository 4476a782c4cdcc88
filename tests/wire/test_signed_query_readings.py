"""A query string is read as its signature fixes it, over real signed requests (botocore's SigV4Auth).

SigV4's canonical query sorts a key's values, so their order is not signed: anyone holding a signed
request can swap `duration=900&duration=43200`. A parameter read as one value and given twice is
refused (CodeArtifact: ValidationException; STS/IAM: ValidationError, any key, query string and
body together). The verifier reads a '+' in the query string as a plus (its canonical form is %2B),
so the parser does too; a form body keeps '+' as a space, as botocore writes it.
"""

from __future__ import annotations

import http.client
import json
import secrets
from urllib.parse import quote, urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.fixtures.server import Keys, RegauthServer, new_user

FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
SESSION_TOKEN = "Action=GetSessionToken&Version=2011-06-15"


def signed_send(server: RegauthServer, keys: Keys, service: str, method: str, path: str, query: str,
                sent_query: str | None = None, body: bytes = b"",
                headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Sign `query` as botocore does, send `sent_query` (the same signature) instead if given:
    status, error type header (rest-json) and body."""
    url = f"{server.url}{path}?{query}" if query else server.url + path
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(Credentials(keys.access_key_id, keys.secret_access_key, keys.session_token),
              service, "us-east-1").add_auth(req)
    sent = sent_query if sent_query is not None else query
    conn = http.client.HTTPConnection(urlsplit(server.url).netloc, timeout=30)
    try:
        conn.request(method, f"{path}?{sent}" if sent else path, body=body, headers=dict(req.headers))
        resp = conn.getresponse()
        return resp.status, resp.getheader("x-amzn-ErrorType") or "", resp.read().decode()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def sts_user(regauth_server: RegauthServer) -> Keys:
    return new_user(regauth_server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:GetSessionToken", "Resource": "*"}]})


# --- a key given twice ------------------------------------------------------------------------------

@pytest.mark.parametrize("query, swapped", [
    ("domain={d}&duration=900&duration=43200", "domain={d}&duration=43200&duration=900"),
    ("domain={d}&domain=other&duration=900", "domain=other&domain={d}&duration=900"),
])
def test_codeartifact_refuses_a_scalar_given_twice_in_either_order(regauth_server: RegauthServer, token_user: Keys,
                                                                  domain: str, query: str, swapped: str) -> None:
    query, swapped = query.format(d=domain), swapped.format(d=domain)
    for sent in (query, swapped):
        status, error_type, body = signed_send(regauth_server, token_user, "codeartifact", "POST",
                                               "/v1/authorization-token", query, sent)
        assert (status, error_type.split(":")[0]) == (400, "ValidationException"), body
        assert json.loads(body)["reason"] == "CANNOT_PARSE"
        assert "expected one '" in json.loads(body)["message"]


def test_codeartifact_takes_each_parameter_given_once(regauth_server: RegauthServer, token_user: Keys,
                                                      domain: str) -> None:
    status, _, body = signed_send(regauth_server, token_user, "codeartifact", "POST", "/v1/authorization-token",
                                  f"duration=900&domain={domain}")
    assert status == 200, body
    assert json.loads(body)["authorizationToken"]


def _refused_as_validation_error(status: int, body: str) -> None:
    assert status == 400, body
    assert "<Code>ValidationError</Code>" in body and "<Type>Sender</Type>" in body, body


def test_sts_refuses_a_key_given_twice_in_a_get_query_in_either_order(regauth_server: RegauthServer,
                                                                      sts_user: Keys) -> None:
    query = f"{SESSION_TOKEN}&DurationSeconds=900&DurationSeconds=3600"
    swapped = f"{SESSION_TOKEN}&DurationSeconds=3600&DurationSeconds=900"
    for sent in (query, swapped):
        status, _, body = signed_send(regauth_server, sts_user, "sts", "GET", "/", query, sent)
        _refused_as_validation_error(status, body)
        assert "'DurationSeconds': expected one value, not 2" in body


@pytest.mark.parametrize("query, body", [
    ("DurationSeconds=3600", f"{SESSION_TOKEN}&DurationSeconds=900"),          # query string and body
    ("", f"{SESSION_TOKEN}&DurationSeconds=900&DurationSeconds=3600"),         # inside the (signed) body
    ("Action=GetSessionToken", "Version=2011-06-15&Action=GetCallerIdentity"),  # the action itself
])
def test_sts_refuses_a_key_given_twice_across_query_and_body(regauth_server: RegauthServer, sts_user: Keys,
                                                              query: str, body: str) -> None:
    status, _, text = signed_send(regauth_server, sts_user, "sts", "POST", "/", query, body=body.encode(),
                                  headers=FORM)
    _refused_as_validation_error(status, text)


def test_sts_get_query_given_once_is_answered(regauth_server: RegauthServer, sts_user: Keys) -> None:
    status, _, body = signed_send(regauth_server, sts_user, "sts", "GET", "/", f"{SESSION_TOKEN}&DurationSeconds=900")
    assert status == 200 and "<SessionToken>" in body, body


# --- '+' in a query string ----------------------------------------------------------------------------

POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*",
                                                   "Condition": {"StringEquals": {"aws:UserAgent": "a+b c"}}}]}


@pytest.mark.parametrize("plus_on_the_wire", [True, False])
def test_iam_query_string_plus_is_a_plus_as_signed(regauth_server: RegauthServer, plus_on_the_wire: bool) -> None:
    """botocore signs the %2B form; the verifier takes a '+' sent instead as that same %2B, so the
    parameter must be read as 'a+b', not 'a b' (which no one signed)."""
    iam = regauth_server.client("iam")
    user = "plus-" + secrets.token_hex(4)
    iam.create_user(UserName=user)
    document = json.dumps(POLICY)
    query = (f"Action=PutUserPolicy&Version=2010-05-08&UserName={user}&PolicyName=p&PolicyDocument="
             + quote(document, safe="-_.~"))
    assert "%2B" in query and "%20" in query
    sent = query.replace("%2B", "+") if plus_on_the_wire else query
    status, _, body = signed_send(regauth_server, regauth_server.admin, "iam", "POST", "/", query, sent)
    assert status == 200, body
    stored = iam.get_user_policy(UserName=user, PolicyName="p")["PolicyDocument"]
    assert stored["Statement"][0]["Condition"]["StringEquals"]["aws:UserAgent"] == "a+b c"


def test_codeartifact_query_string_plus_is_a_plus(regauth_server: RegauthServer, token_user: Keys) -> None:
    """rest-json read a '+' as a plus already; kept so: the value refused is the one signed."""
    status, _, body = signed_send(regauth_server, token_user, "codeartifact", "POST", "/v1/authorization-token",
                                  "domain=a%2Bb", "domain=a+b")
    assert status == 400, body
    assert "Value 'a+b' at 'domain'" in json.loads(body)["message"]


# --- ordinary clients --------------------------------------------------------------------------------

def test_clients_form_bodies_keep_spaces_and_plus_signs(client, regauth_server: RegauthServer) -> None:
    """boto3 and the AWS CLI send STS/IAM as a form body, a space as '+' and a plus as %2B."""
    user = "form-" + secrets.token_hex(4)
    client.call("iam", "CreateUser", {"UserName": user})
    client.call("iam", "PutUserPolicy", {"UserName": user, "PolicyName": "p", "PolicyDocument": json.dumps(POLICY)})
    stored = regauth_server.client("iam").get_user_policy(UserName=user, PolicyName="p")["PolicyDocument"]
    assert stored["Statement"][0]["Condition"]["StringEquals"]["aws:UserAgent"] == "a+b c"


def test_clients_get_session_tokens(client, sts_user: Keys) -> None:
    out = client.call("sts", "GetSessionToken", {"DurationSeconds": 900}, sts_user)
    assert out["Credentials"]["SessionToken"]
