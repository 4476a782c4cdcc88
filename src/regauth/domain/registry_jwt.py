"""Registry JWTs for CNCF distribution: ES256, signed by a leaf key whose certificate (`x5c`) chains
to a CA the registry trusts (`auth.token.rootcertbundle`).

Why this shape (spec/registries.md, every point checked against distribution 2.8):
- `x5c` rather than `kid`: the registry reads its bundle only at start, so the bundle holds one
  long-lived CA and the leaf keys that sign tokens rotate freely; the same token verifies on
  distribution v3, whose `kid` format differs.
- `aud` is a string and every time claim an integer: a list or a float makes the token "malformed".
- `x5c` is standard base64 of DER (not base64url), leaf first.

The CA key lives in the store, sealed; each process makes its own leaf key in memory, never
stored, and replaces it a day before its certificate ends.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from regauth.domain.principals import RegistryCa
from regauth.domain.secret import Secret

CA_DAYS = 3650
LEAF_SECONDS = 7 * 86400
LEAF_RENEW_SECONDS = 86400          # a leaf always has a day left: far more than any token's life
BACKDATE_SECONDS = 300              # certificates start a little early: the registry's clock may lag


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(seconds), dt.timezone.utc)


def new_ca(now: float, common_name: str = "regauth registry token CA") -> RegistryCa:
    """A P-256 CA certificate (self-signed, may sign leaves only) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_utc(now - BACKDATE_SECONDS)).not_valid_after(_utc(now + CA_DAYS * 86400))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return RegistryCa(cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem=Secret(key_pem))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


class _Leaf:
    __slots__ = ("key", "head", "not_before", "not_after")

    def __init__(self, key: ec.EllipticCurvePrivateKey, x5c: str, not_before: float, not_after: float) -> None:
        self.key, self.not_before, self.not_after = key, not_before, not_after
        # the JWS header is the same for every token the leaf signs: encoded once
        self.head = _b64url(_compact({"alg": "ES256", "typ": "JWT", "x5c": [x5c]}))


class RegistrySigner:
    """Signs registry JWTs with a leaf key certified by the CA. Thread-safe."""

    def __init__(self, ca: RegistryCa) -> None:
        self._ca_pem = ca.cert_pem
        self._ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.encode())
        key = serialization.load_pem_private_key(ca.key_pem.reveal().encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the registry CA key is not an EC key")
        self._ca_key = key
        self._lock = threading.Lock()
        self._leaf: _Leaf | None = None

    def __repr__(self) -> str:
        return "RegistrySigner(<keys hidden>)"

    @property
    def ca_cert_pem(self) -> str:
        """The CA certificate as stored (PEM)."""
        return self._ca_pem

    def _current_leaf(self, now: float) -> _Leaf:
        leaf = self._leaf
        if leaf is not None and _usable(leaf, now):
            return leaf
        with self._lock:
            leaf = self._leaf
            if leaf is None or not _usable(leaf, now):
                leaf = self._leaf = self._new_leaf(now)
        return leaf

    def _new_leaf(self, now: float) -> _Leaf:
        key = ec.generate_private_key(ec.SECP256R1())
        not_after = min(now + LEAF_SECONDS, self._ca_cert.not_valid_after_utc.timestamp())
        if not_after - now <= LEAF_RENEW_SECONDS:
            raise ValueError("the registry CA certificate ends within a day: make a new one")
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "regauth registry token signer")]))
                .issuer_name(self._ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(_utc(now - BACKDATE_SECONDS)).not_valid_after(_utc(not_after))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                             crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._ca_key.public_key()),
                               critical=False)
                .sign(self._ca_key, hashes.SHA256()))
        return _Leaf(key, base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode(),
                     _utc(now - BACKDATE_SECONDS).timestamp(), not_after)

    def token(self, *, issuer: str, audience: str, subject: str, access: list[dict[str, Any]], now: float,
              lifetime: int, token_id: str) -> str:
        """A registry JWT: `registry_claims`, signed."""
        return self.sign(registry_claims(issuer=issuer, audience=audience, subject=subject, access=access, now=now,
                                         lifetime=lifetime, token_id=token_id), now)

    def sign(self, claims: dict[str, Any], now: float) -> str:
        """A compact JWS: ES256, header {"alg","typ","x5c":[leaf]}; `claims` as given (the caller
        keeps `aud` a string and times integers)."""
        leaf = self._current_leaf(now)
        signing_input = f"{leaf.head}.{_b64url(json.dumps(claims, separators=(',', ':')).encode())}"
        r, s = decode_dss_signature(leaf.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def _usable(leaf: _Leaf, now: float) -> bool:
    """Has a day left, and began at least BACKDATE_SECONDS before `now`. A leaf made while the clock
    ran ahead (stepped back since) would be "not yet valid" to every registry until the clock caught
    up: it is replaced, as one near its end is."""
    return leaf.not_before <= now - BACKDATE_SECONDS and now < leaf.not_after - LEAF_RENEW_SECONDS


def registry_claims(*, issuer: str, audience: str, subject: str, access: list[dict[str, Any]], now: float,
                    lifetime: int, token_id: str) -> dict[str, Any]:
    """The claim set distribution reads: `aud` a string, times integers, `access` the grants."""
    issued = int(now)
    return {"iss": issuer, "sub": subject, "aud": audience, "exp": issued + int(lifetime), "nbf": issued,
            "iat": issued, "jti": token_id, "access": access}
