"""Registry JWTs as distribution 2.8 reads them (spec/registries.md §1.5): ES256, x5c leaf under the
CA, `aud` a string, integer times. Checked here with `cryptography` alone, independently of the
signer; the wire tests show a real registry accepting them."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature

from regauth.domain import registry_jwt
from regauth.domain.registry_jwt import LEAF_RENEW_SECONDS, LEAF_SECONDS, RegistrySigner, new_ca, registry_claims
from tests.fixtures.registry_jwt import jwt_part, open_registry_jwt

NOW = 1_800_000_000.0


def test_a_token_verifies_against_the_ca_alone() -> None:
    ca = new_ca(NOW)
    signer = RegistrySigner(ca)
    access = [{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}]
    claims = registry_claims(issuer="regauth", audience="registry.internal:5000", subject="arn:aws:iam::1:user/u",
                             access=access, now=NOW + 0.75, lifetime=300, token_id="t1")
    _, got, leaf = open_registry_jwt(signer.sign(claims, NOW), ca.cert_pem)
    assert got == {"iss": "regauth", "sub": "arn:aws:iam::1:user/u", "aud": "registry.internal:5000",
                   "exp": int(NOW) + 300, "nbf": int(NOW), "iat": int(NOW), "jti": "t1", "access": access}
    assert all(type(got[k]) is int for k in ("exp", "nbf", "iat")) and type(got["aud"]) is str
    assert leaf.not_valid_before_utc.timestamp() <= NOW <= leaf.not_valid_after_utc.timestamp()
    basic = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca is False


def test_a_token_from_another_ca_or_tampered_does_not_verify() -> None:
    ca, other = new_ca(NOW), new_ca(NOW)
    token = RegistrySigner(other).sign({"aud": "x", "exp": 1}, NOW)
    with pytest.raises((ValueError, InvalidSignature)):
        open_registry_jwt(token, ca.cert_pem)
    good = RegistrySigner(ca).sign({"aud": "x", "exp": 1}, NOW)
    head, body, sig = good.split(".")
    forged = ".".join([head, base64.urlsafe_b64encode(b'{"aud":"x","exp":2}').rstrip(b"=").decode(), sig])
    with pytest.raises(InvalidSignature):
        open_registry_jwt(forged, ca.cert_pem)


def test_the_leaf_is_kept_then_replaced_before_it_ends() -> None:
    signer = RegistrySigner(new_ca(NOW))
    first = json.loads(jwt_part(signer.sign({}, NOW).split(".")[0]))["x5c"][0]
    assert json.loads(jwt_part(signer.sign({}, NOW + 3600).split(".")[0]))["x5c"][0] == first
    later = NOW + LEAF_SECONDS - LEAF_RENEW_SECONDS
    assert json.loads(jwt_part(signer.sign({}, later).split(".")[0]))["x5c"][0] != first


def test_the_ca_key_never_shows() -> None:
    ca = new_ca(NOW)
    assert "PRIVATE" in ca.key_pem.reveal()
    for text in (repr(ca), str(ca), repr(RegistrySigner(ca))):
        assert "PRIVATE" not in text and ca.key_pem.reveal()[40:80] not in text


def test_a_ca_about_to_end_signs_nothing() -> None:
    signer = RegistrySigner(new_ca(NOW))
    with pytest.raises(ValueError, match="ends within a day"):
        signer.sign({}, NOW + registry_jwt.CA_DAYS * 86400 - 3600)
