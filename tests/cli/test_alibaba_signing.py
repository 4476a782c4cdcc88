"""`regauth cr` signs as the official Alibaba SDK does: its ACS3-HMAC-SHA256 Authorization equals the one
alibabacloud_tea_openapi computes for the same request, for AK and STS credentials and awkward values."""

from __future__ import annotations

import pytest
from alibabacloud_tea_openapi.utils import Utils
from Tea.request import TeaRequest

from regauth.cli.alibaba_client import AlibabaCredentials, sign

HEADERS = {"accept": "application/json", "user-agent": "regauth/test", "x-acs-action": "GetAuthorizationToken",
           "x-acs-version": "2018-12-01", "x-acs-date": "2026-11-22T20:40:40Z",
           "x-acs-signature-nonce": "bf51edb4770d9634e2c56e8bf982fb42"}


@pytest.mark.parametrize("query", [
    {"InstanceId": "cri-abc123xyz"},
    {"InstanceId": "cri a*b~c/d+e=f&gé", "ExpiresInHours": "2", "RegionId": "cn-hangzhou"},
    {},
])
@pytest.mark.parametrize("token", [None, "sts-token-value/+="])
def test_authorization_equals_the_sdk_s(query: dict[str, str], token: str | None) -> None:
    creds = AlibabaCredentials("STS.testkeyid" if token else "testAccessKeyId", "testSecret", token)
    signed = sign("POST", "127.0.0.1:18080", "/", query, HEADERS, b"", creds)

    request = TeaRequest()
    request.method, request.pathname, request.query = "POST", "/", dict(query)
    request.headers = {k: v for k, v in signed.items() if k != "authorization"}
    expected = Utils.get_authorization(request, "ACS3-HMAC-SHA256", signed["x-acs-content-sha256"],
                                       creds.access_key_id, creds.access_key_secret)
    assert signed["authorization"] == expected
    assert signed["x-acs-content-sha256"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    if token:
        assert signed["x-acs-security-token"] == token and signed["x-acs-accesskey-id"] == "STS.testkeyid"
        assert "x-acs-security-token" in expected


def test_credentials_repr_hides_secrets() -> None:
    creds = AlibabaCredentials("LTAIexample", "very-secret-value", "very-secret-token")
    assert "very-secret" not in repr(creds)
