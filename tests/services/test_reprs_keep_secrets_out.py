"""No repr shows a secret (README: "Secrets never appear in logs, error messages or reprs"): the values
that carry a token, a signature, a session token or a password leave them out, so a debug line or a
traceback's locals cannot print them."""

from __future__ import annotations

from regauth.auth.acs import AcsClaim
from regauth.auth.canonical import HttpRequest
from regauth.protocols.aws.dispatch import Response
from regauth.services.ecr import AuthorizationData
from regauth.services.tokens import Issued

SECRET = "c2VjcmV0LXRoYXQtbXVzdC1ub3QtYmUtcmVwcmVk"


def test_values_that_carry_secrets_leave_them_out_of_their_repr() -> None:
    values = [
        HttpRequest("GET", "/", f"X-Amz-Signature={SECRET}", (("Authorization", f"AWS4 Signature={SECRET}"),
                                                               ("X-Amz-Security-Token", SECRET)), SECRET.encode()),
        AcsClaim("RPC_V1", "LTAIexample", {"SecurityToken": SECRET}, "GetAuthorizationToken", "2018-12-01",
                 "JSON", "nonce-1", 1.0, SECRET, SECRET),
        Issued(SECRET, "token-id-1", 1, 2.0),
        AuthorizationData(SECRET, 2.0, "https://registry.example"),
        Response(200, [("Content-Type", "application/json")], SECRET.encode()),
    ]
    for value in values:
        text = repr(value)
        assert SECRET not in text and SECRET.encode().hex() not in text, text
        assert type(value).__name__ in text               # still a useful repr
    assert "token-id-1" in repr(values[2]) and "LTAIexample" in repr(values[1])
