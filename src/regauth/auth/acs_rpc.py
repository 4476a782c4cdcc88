"""Alibaba RPC signature v1 (HMAC-SHA1), parameters in the query string and/or a form body.

Spec §1.4: old SDK and new SDK `signature_algorithm="v2"` put everything in the query;
pop-core puts everything, Signature included, in an application/x-www-form-urlencoded body.

    StringToSign = METHOD & %2F & percentEncode(sorted percentEncode(k)=percentEncode(v) joined by '&')
    Signature    = base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from urllib.parse import unquote_plus

from regauth.auth.acs import (FORM, RPC_V1, AcsClaim, canonical_params, check_key_id, check_nonce, has_raw_key,
                              missing, normalize_format, parse_timestamp, request_params)
from regauth.auth.canonical import HttpRequest
from regauth.domain.macs import KeyedMac
from regauth.domain.secret import Secret
from regauth.errors import IncompleteSignature

_FORMAT = re.compile(r"(?:^|&)Format(?:=([^&]*))?(?=&|$)")     # a part named Format, and its value


def looks_like_rpc(req: HttpRequest) -> bool:
    """AccessKeyId or Signature among the query (or form body) names; never raises.

    A Signature next to AWSAccessKeyId (and no AccessKeyId) is AWS SigV2 Query, not ours.
    """
    texts = [req.query]
    if req.body and (req.header("Content-Type") or "").split(";", 1)[0].strip().lower() == FORM:
        texts.append(req.body.decode("utf-8", "replace"))
    if any(has_raw_key(text, "AccessKeyId") for text in texts):
        return True
    return (any(has_raw_key(text, "Signature") for text in texts)
            and not any(has_raw_key(text, "AWSAccessKeyId") for text in texts))


def parse(req: HttpRequest) -> AcsClaim:
    params = request_params(req)
    signature = params.pop("Signature", "")

    def need(name: str) -> str:
        value = params.get(name, "")
        if not value:
            raise missing(name)
        return value

    key_id = check_key_id(need("AccessKeyId"), "AccessKeyId")
    if not signature:
        raise missing("Signature")
    if need("SignatureMethod") != "HMAC-SHA1":
        raise IncompleteSignature(
            "Unsupported SignatureMethod: this server supports HMAC-SHA1 only for RPC signatures "
            "(use ACS3-HMAC-SHA256 for SHA-256).")
    if need("SignatureVersion") != "1.0":
        raise IncompleteSignature("Unsupported SignatureVersion: only 1.0 is supported.")
    if params.get("SignatureType", ""):
        raise IncompleteSignature("Unsupported SignatureType: bearer-token signatures are not supported.")
    timestamp = parse_timestamp(need("Timestamp"), "Timestamp")
    nonce = check_nonce(need("SignatureNonce"), "SignatureNonce")
    action, version = need("Action"), need("Version")
    return AcsClaim(
        scheme=RPC_V1,
        access_key_id=key_id,
        params=params,
        action=action,
        version=version,
        format=normalize_format(params.get("Format"), "XML"),
        nonce=nonce,
        timestamp=timestamp,
        security_token=params.get("SecurityToken") or None,
        signature=signature,
    )


def string_to_sign(req: HttpRequest, claim: AcsClaim) -> str:
    # claim.params is exactly what parse() decoded from req (verify() checks), minus Signature.
    canonical = canonical_params(claim.params)
    # percent_encode(canonical): canonical holds only unreserved characters, '=', '&' and the '%'
    # of its %XX escapes, so encoding it again comes down to these three replacements.
    encoded = canonical.replace("%", "%25").replace("&", "%26").replace("=", "%3D")
    return f"{req.method}&%2F&{encoded}"


def sign(sts: str, secret: Secret) -> str:
    return base64.b64encode(_signer(secret.reveal()).digest(sts.encode("utf-8"))).decode("ascii")


@functools.lru_cache(maxsize=1024)
def _signer(secret: str) -> KeyedMac:
    """HMAC-SHA1 under AccessKeySecret + "&", its pads hashed once per key."""
    return KeyedMac((secret + "&").encode("utf-8"), hashlib.sha1)


def sniff_format(req: HttpRequest) -> str | None:
    """Best-effort Format (upper-cased) from query or form body, without validation: the value of the
    first part named Format. Found by one search, not part by part: it answers every error, of
    requests of any size too."""
    sources = [req.query]
    if (req.header("Content-Type") or "").split(";", 1)[0].strip().lower() == FORM:
        sources.append(req.body.decode("utf-8", "replace"))
    for raw in sources:
        found = _FORMAT.search(raw)
        if found:
            return unquote_plus(found.group(1) or "", errors="replace").upper()
    return None
