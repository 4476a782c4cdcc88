"""Alibaba ACS3-HMAC-SHA256 (signature V3), the new SDK's default (spec §1.5).

    Authorization: ACS3-HMAC-SHA256 Credential=<AK>,SignedHeaders=<h1;h2;...>,Signature=<64 hex>
    CanonicalRequest = METHOD \\n URI \\n sorted query \\n "name:trim(value)\\n"...
                       \\n SignedHeaders \\n hex(sha256(body))
    StringToSign     = "ACS3-HMAC-SHA256\\n" + hex(sha256(CanonicalRequest))
    Signature        = hex(HMAC-SHA256(AccessKeySecret, StringToSign))      # no '&' on the key
"""

from __future__ import annotations

import functools
import hashlib
import re
from urllib.parse import unquote_to_bytes

from regauth.auth.acs import (ACS3, UNRESERVED, AcsClaim, canonical_params, check_key_id, check_nonce, decode_pairs,
                              missing, normalize_format, parse_timestamp, percent_encode, request_params, to_params)
from regauth.auth.canonical import HttpRequest
from regauth.domain.macs import KeyedMac
from regauth.domain.secret import Secret
from regauth.errors import IncompleteSignature, SignatureMismatch

ALGORITHM = "ACS3-HMAC-SHA256"
# Docs: "all common request headers except Authorization, if present, must be signed".
REQUIRED_SIGNED = ("host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce",
                   "x-acs-version")
SIGNED_IF_PRESENT = ("x-acs-security-token", "x-acs-accesskey-id")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PATH_PLAIN = UNRESERVED + "/"
_MALFORMED = ("Malformed Authorization header: expected "
              "'ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<h1;h2;...>,Signature=<hex>'.")


def _authorization(req: HttpRequest) -> tuple[str, list[str], str]:
    values = req.header_values("Authorization")
    if len(values) != 1:
        raise IncompleteSignature("The request has more than one Authorization header.")
    algorithm, _, rest = values[0].strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignature("Unsupported signature algorithm: only ACS3-HMAC-SHA256 is supported.")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep or name not in ("Credential", "SignedHeaders", "Signature") or name in fields:
            raise IncompleteSignature(_MALFORMED)
        fields[name] = value.strip()
    if len(fields) != 3 or not fields["Credential"]:
        raise IncompleteSignature(_MALFORMED)
    if not _HEX64.fullmatch(fields["Signature"]):
        raise IncompleteSignature("The Authorization Signature must be 64 lowercase hex digits.")
    names = fields["SignedHeaders"].split(";")
    if any(not n or n != n.lower() for n in names) or names != sorted(set(names)):
        raise IncompleteSignature("SignedHeaders must be distinct lowercase header names, sorted, joined by ';'.")
    return fields["Credential"], names, fields["Signature"]


def _one(req: HttpRequest, name: str) -> str | None:
    values = req.header_values(name)
    if len(values) > 1:
        raise IncompleteSignature(f"The header {name} appears more than once.")
    return values[0].strip(" \t") if values else None


def parse(req: HttpRequest) -> AcsClaim:
    key_id, signed, signature = _authorization(req)
    check_key_id(key_id, "Credential")
    got: dict[str, str | None] = {}     # each header looked up once, in the order the checks need it
    for name in REQUIRED_SIGNED:
        got[name] = _one(req, name)
        if not got[name]:
            raise missing(name)
        if name not in signed:
            raise IncompleteSignature(f"SignedHeaders must include {name}.")
    for name in SIGNED_IF_PRESENT:
        got[name] = _one(req, name)
        if got[name] is not None and name not in signed:
            raise IncompleteSignature(f"SignedHeaders must include {name} when it is sent.")
    for name in signed:
        if name not in got:
            got[name] = _one(req, name)
        if got[name] is None:
            raise IncompleteSignature(f"The signed header {name} is not in the request.")
    if got["x-acs-accesskey-id"] not in (None, key_id):
        raise IncompleteSignature("The x-acs-accesskey-id header does not match the Authorization Credential.")
    if not _HEX64.fullmatch(got["x-acs-content-sha256"] or ""):
        raise IncompleteSignature("x-acs-content-sha256 must be 64 lowercase hex digits.")
    action, version = got["x-acs-action"] or "", got["x-acs-version"] or ""
    params = request_params(req)        # the query's and a form body's (signed: x-acs-content-sha256)
    for name, value in (("Action", action), ("Version", version)):
        if params.setdefault(name, value) != value:
            raise IncompleteSignature(f"The {name} parameter contradicts the x-acs-{name.lower()} header.")
    return AcsClaim(
        scheme=ACS3,
        access_key_id=key_id,
        params=params,
        action=action,
        version=version,
        format=normalize_format(params.get("Format"), "JSON"),
        nonce=check_nonce(got["x-acs-signature-nonce"] or "", "x-acs-signature-nonce"),
        timestamp=parse_timestamp(got["x-acs-date"] or "", "x-acs-date"),
        security_token=got["x-acs-security-token"] or None,
        signature=signature,
    )


def _canonical_uri(path: str) -> str:
    """Each '/'-separated segment decoded, then RFC 3986 encoded ('+' in a path is a literal plus)."""
    if not path.rstrip(_PATH_PLAIN):
        return path or "/"              # nothing to decode or encode
    segments = []
    for seg in path.split("/"):
        if _BAD_ESCAPE.search(seg):
            raise IncompleteSignature("Malformed percent-encoding in the path.")
        try:
            segments.append(percent_encode(unquote_to_bytes(seg).decode("utf-8")))
        except UnicodeDecodeError:
            raise IncompleteSignature("The path is not valid UTF-8 after percent-decoding.") from None
    return "/".join(segments)


def canonical_request(req: HttpRequest) -> str:
    _, signed, _ = _authorization(req)
    headers = "".join(f"{name}:{_one(req, name)}\n" for name in signed)
    query = canonical_params(to_params(decode_pairs(req.query, "query string")))
    payload = hashlib.sha256(req.body).hexdigest()
    return f"{req.method}\n{_canonical_uri(req.path)}\n{query}\n{headers}\n{';'.join(signed)}\n{payload}"


def string_to_sign(req: HttpRequest, claim: AcsClaim) -> str:
    return f"{ALGORITHM}\n{hashlib.sha256(canonical_request(req).encode('utf-8')).hexdigest()}"


def sign(sts: str, secret: Secret) -> str:
    return _signer(secret.reveal()).digest(sts.encode("utf-8")).hex()


@functools.lru_cache(maxsize=1024)
def _signer(secret: str) -> KeyedMac:
    """HMAC-SHA256 under AccessKeySecret, its pads hashed once per key."""
    return KeyedMac(secret.encode("utf-8"))


def check_content_sha256(req: HttpRequest, sts: str) -> None:
    """The signed x-acs-content-sha256 must be the body's hash (the canonical request used the body's)."""
    if _one(req, "x-acs-content-sha256") != hashlib.sha256(req.body).hexdigest():
        raise SignatureMismatch("The x-acs-content-sha256 header does not match the request body. "
                                "server string to sign is:" + sts, string_to_sign=sts)
