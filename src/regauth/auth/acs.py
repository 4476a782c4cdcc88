"""Alibaba Cloud API signatures: RPC v1 (HMAC-SHA1) and ACS3-HMAC-SHA256 (V3).

Entry point for the Alibaba dialect (spec: shared/spec/alibaba-acr-and-paws.md §1.4-§1.6):

    claim = parse(req)             # None: not an Alibaba request at all
    verify(req, claim, secret, now=clock.now(), nonces=cache)

or, to admit the request (e.g. charge a rate limit) between its checks and the recording of its nonce:

    digest = verify_unrecorded(req, claim, secret, now=..., nonces=cache)
    ...
    record_nonce(claim, digest, now=..., nonces=cache)

The scheme-specific parts live in `acs_rpc.py` (query / form body, HMAC-SHA1, base64) and
`acs3.py` (Authorization header, HMAC-SHA256, hex). This module holds the claim, the shared
codec (form-decoding, RFC 3986 percent-encoding, timestamps) and the verification order.
"""

from __future__ import annotations

import functools
import hmac
import re
from calendar import timegm
from collections.abc import Mapping
from dataclasses import field
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from regauth.auth.canonical import HttpRequest
from regauth.auth.nonces import NonceCache
from regauth.domain.secret import Secret
from regauth.errors import (IncompleteSignature, InvalidInput, MissingAuthentication, MissingParameter, NonceReused,
                            RequestExpired, SignatureMismatch)
from regauth.records import record

RPC_V1 = "rpc-v1"
ACS3 = "acs3"

MAX_NONCE_LEN = 128          # SDKs send 32 hex chars, docs suggest a UUID (36)
MAX_KEY_ID_LEN = 128
# What one request's query (and form body) may carry, checked before anything is decoded: the SDKs'
# GetAuthorizationToken sends at most 14 parameters in under 1 KiB (spec §1.2). Decoding, encoding
# and signing is per parameter: 70,000 of them in a 910 KB body cost 0.2 s of CPU before the key id
# was even looked up.
MAX_PARAMS = 64
MAX_PARAMS_CHARS = 16 * 1024
# How much of the server's string to sign a SignatureDoesNotMatch shows: an SDK's is under 1,000
# characters (the old SDK compares it with its own), past this the rest is left out.
MAX_ECHOED = 4096

MISMATCH_MESSAGE = "Specified signature is not matched with our calculation. server string to sign is:"
EXPIRED_MESSAGE = "Specified time stamp or date value is expired."
NONCE_MESSAGE = "Specified signature nonce was used already."
RESTARTED_MESSAGE = (EXPIRED_MESSAGE + " The request is stamped before this server started (or before its "
                     "clock was set back), so its nonce cannot be checked: sign it again.")


@record
class AcsClaim:
    scheme: str                 # RPC_V1 | ACS3
    access_key_id: str
    # decoded parameters, without Signature (acs3: query + Action/Version); read-only. Not in the repr, as
    # the session token and the signature are not (a signature replays within the window)
    params: Mapping[str, str] = field(repr=False)
    action: str
    version: str
    format: str                 # "JSON" | "XML"
    nonce: str
    timestamp: float            # epoch seconds
    security_token: str | None = field(repr=False)
    signature: str = field(repr=False)
    # The request `parse` read this claim from (set by `parse` only; never copied by dataclasses.replace).
    _parsed_from: HttpRequest | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Read-only, so a claim stays exactly what was parsed from its request (the parsers hand
        # over a dict of their own, so a view is enough).
        object.__setattr__(self, "params", MappingProxyType(self.params))


# --- codec -----------------------------------------------------------------------------------

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
SHORT = 64                              # names and values up to this long go through the caches below


def percent_encode(s: str) -> str:
    """RFC 3986 with UTF-8: keep A-Z a-z 0-9 - _ . ~, everything else %XX (uppercase hex)."""
    if len(s) <= SHORT:
        return _encoded(s)
    if not s.rstrip(UNRESERVED):
        return s                        # nothing to encode
    return quote(s, safe="~", encoding="utf-8", errors="strict")


@functools.lru_cache(maxsize=1024)
def _encoded(s: str) -> str:
    """percent_encode of a short string. A request's names and most of its values (key id, action,
    version, region, instance, format, the Timestamp of its second) recur in every request, so the
    per-character test is made once per distinct string; values that never recur (a nonce) pass
    through and are evicted first. Bounded: at most 1024 strings of at most SHORT characters. A
    SecurityToken is longer (regauth's are 132 characters), so credentials are not kept here."""
    if not s.rstrip(UNRESERVED):
        return s
    return quote(s, safe="~", encoding="utf-8", errors="strict")


def form_decode(s: str, where: str) -> str:
    """'+' is a space, then %XX; malformed escapes or invalid UTF-8 are rejected (spec §1.6)."""
    if s.isascii() and "%" not in s:
        return s.replace("+", " ")      # no escapes, and ASCII is valid UTF-8
    decoded = _form_decoded(s) if len(s) <= SHORT else _form_decode(s)
    if decoded is _BAD_ESCAPES:
        raise IncompleteSignature(f"Malformed percent-encoding in the {where}.")
    if decoded is _BAD_UTF8:
        raise IncompleteSignature(f"The {where} is not valid UTF-8 after percent-decoding.")
    return decoded


_BAD_ESCAPES, _BAD_UTF8 = object(), object()


def _form_decode(s: str) -> Any:
    """The decoded string, or _BAD_ESCAPES / _BAD_UTF8."""
    s = s.replace("+", " ")
    if _BAD_ESCAPE.search(s):
        return _BAD_ESCAPES
    try:
        return unquote_to_bytes(s).decode("utf-8")
    except UnicodeDecodeError:
        return _BAD_UTF8


# A short value with escapes (e.g. a Timestamp's "%3A") recurs in every request of its second:
# decoded once, cached as `_encoded` is.
_form_decoded = functools.lru_cache(maxsize=1024)(_form_decode)


def has_raw_key(raw: str, name: str) -> bool:
    """Whether `name` (non-empty, without '&' or '=') is a parameter name of `raw` as it appears on
    the wire, undecoded: some '&'-separated part is `name` or starts with `name=` (cheap detection,
    never raises)."""
    if name not in raw:
        return False
    bounded = f"&{raw}&"
    return f"&{name}=" in bounded or f"&{name}&" in bounded


def decode_pairs(raw: str, where: str) -> list[tuple[str, str]]:
    """The (name, value) pairs of a query or form body, of at most MAX_PARAMS parts: more (empty ones
    count too) are refused before any is decoded."""
    pairs = []
    plain = raw.isascii()               # then a part without '%' is form-decoded by '+' -> ' ' alone
    parts = raw.split("&")
    if len(parts) > MAX_PARAMS:
        raise too_much()
    for part in parts:
        if not part:
            continue
        if plain and "%" not in part:
            k, _, v = part.replace("+", " ").partition("=")
            pairs.append((k, v))
        else:
            k, _, v = part.partition("=")
            pairs.append((form_decode(k, where), form_decode(v, where)))
    return pairs


def too_much() -> IncompleteSignature:
    """More parameters (or characters of them) than any SDK request comes near (MAX_PARAMS,
    MAX_PARAMS_CHARS): refused before anything is decoded, the characters by the schemes' parsers,
    the parameters by `decode_pairs`."""
    return IncompleteSignature(f"The request carries more than {MAX_PARAMS} parameters or more than "
                               f"{MAX_PARAMS_CHARS} characters of them (query and form body together).")


FORM = "application/x-www-form-urlencoded"


def is_form(req: HttpRequest) -> bool:
    types = req.header_values("Content-Type")
    if len(types) > 1:
        raise IncompleteSignature("The request has more than one Content-Type header.")
    return bool(types) and types[0].split(";", 1)[0].strip().lower() == FORM


def _form_text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise IncompleteSignature("The form body is not valid UTF-8.") from None


def request_params(req: HttpRequest) -> dict[str, str]:
    """A request's parameters: its query string's and, under the form content type, its body's, both
    schemes alike (an RPC-style API reads either: pop-core sends everything in the body; an ACS3
    request's body is signed through x-acs-content-sha256). A name given twice, in either or across
    both, is refused."""
    query = req.query
    if not is_form(req):
        if len(query) > MAX_PARAMS_CHARS:
            raise too_much()                                # before a byte is decoded (decode_pairs counts)
        return to_params(decode_pairs(query, "query string"))
    body = req.body
    if len(query) + len(body) > MAX_PARAMS_CHARS:
        raise too_much()
    pairs = decode_pairs(query, "query string") + decode_pairs(_form_text(body), "form body")
    if len(pairs) > MAX_PARAMS:
        raise too_much()
    return to_params(pairs)


def to_params(pairs: list[tuple[str, str]]) -> dict[str, str]:
    params: dict[str, str] = {}
    for k, v in pairs:
        if k in params:
            raise IncompleteSignature(f"Parameter {_short(k)} appears more than once.")
        params[k] = v
    return params


def canonical_params(params: Mapping[str, str]) -> str:
    """sorted percentEncode(k)=percentEncode(v) joined by '&' (empty values kept: 'SignatureType=').

    percent_encode's first step, written out: a call of the (C) cache per name and value, rather
    than a Python call each."""
    enc, short = _encoded, SHORT
    return "&".join([f"{enc(k) if len(k) <= short else percent_encode(k)}="
                     f"{enc(v) if len(v) <= short else percent_encode(v)}" for k, v in sorted(params.items())])


_TS = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?Z", re.ASCII)


@functools.lru_cache(maxsize=256)     # concurrent requests mostly share their second
def parse_timestamp(value: str, name: str) -> float:
    """UTC 'yyyy-MM-ddTHH:mm:ssZ' (fractional seconds tolerated) -> epoch seconds."""
    m = _TS.fullmatch(value)
    if not m:
        raise IncompleteSignature(f"{name} must be a UTC time in the form yyyy-MM-ddTHH:mm:ssZ.")
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    if not (y >= 1 and 1 <= mo <= 12 and 1 <= d <= 31 and h <= 23 and mi <= 59 and s <= 60):
        raise IncompleteSignature(f"{name} must be a UTC time in the form yyyy-MM-ddTHH:mm:ssZ.")
    return timegm((y, mo, d, h, mi, s, 0, 0, 0)) + (float(m.group(7)) if m.group(7) else 0.0)


def check_nonce(nonce: str, name: str) -> str:
    if len(nonce) > MAX_NONCE_LEN or not nonce.isprintable():
        raise IncompleteSignature(f"{name} must be at most {MAX_NONCE_LEN} printable characters.")
    return nonce


def check_key_id(key_id: str, name: str) -> str:
    if len(key_id) > MAX_KEY_ID_LEN or not key_id.isprintable():
        raise IncompleteSignature(f"{name} must be at most {MAX_KEY_ID_LEN} printable characters.")
    return key_id


def missing(name: str) -> MissingParameter:
    return MissingParameter(
        f'The input parameter "{name}" that is mandatory for processing this request is not supplied.', name)


def normalize_format(value: str | None, default: str) -> str:
    if value is None or value == "":
        return default
    fmt = value.upper()
    if fmt not in ("JSON", "XML"):
        raise InvalidInput("Format must be JSON or XML.", "Format")
    return fmt


def _short(s: str, n: int = 64) -> str:
    return repr(s if len(s) <= n else s[:n] + "...")


# --- public API -----------------------------------------------------------------------------

def parse(req: HttpRequest) -> AcsClaim | None:
    """Recognise and parse an Alibaba RPC-style request; None if it is not one at all.

    Raises MissingAuthentication / MissingParameter / IncompleteSignature for Alibaba requests
    that cannot be verified (messages never contain secrets or signatures).
    """
    auths = req.header_values("Authorization")
    is_acs3 = any(a.lstrip().startswith("ACS3-") for a in auths)
    is_rpc = acs_rpc.looks_like_rpc(req)
    if is_acs3 and is_rpc:
        raise IncompleteSignature("The request carries both an ACS3 Authorization header and RPC signature parameters.")
    if is_acs3:
        claim = acs3.parse(req)
    elif is_rpc:
        claim = acs_rpc.parse(req)
    elif req.header_values("x-acs-action"):
        raise MissingAuthentication(
            "The request names an Alibaba action (x-acs-action) but carries no signature: "
            "neither an ACS3 Authorization header nor AccessKeyId/Signature parameters.")
    else:
        return None
    object.__setattr__(claim, "_parsed_from", req)
    return claim


def string_to_sign(req: HttpRequest, claim: AcsClaim) -> str:
    """The server's string to sign: 'POST&%2F&...' (rpc-v1) or 'ACS3-HMAC-SHA256\\n<hex>' (acs3)."""
    if claim.scheme == RPC_V1:
        return acs_rpc.string_to_sign(req, claim)
    if claim.scheme == ACS3:
        return acs3.string_to_sign(req, claim)
    raise ValueError(f"unknown ACS scheme {claim.scheme!r}")


def error_format(req: HttpRequest) -> str:
    """The format errors are answered in, the one a success would have: the request's Format (query
    or form body) when it names one (anything but XML is JSON); without one, XML for an RPC request
    (signed in its parameters: the RPC default, as its success answers) and JSON for anything else
    (ACS3, whose SDK sends no Format and reads JSON; a request with no signature at all).

    Never raises: for the HTTP layer to pick the error envelope even when parse() failed.
    """
    try:
        fmt = acs_rpc.sniff_format(req)
        if fmt is not None:
            return "XML" if fmt == "XML" else "JSON"
        is_acs3 = any(a.lstrip().startswith("ACS3-") for a in req.header_values("Authorization"))
        return "XML" if not is_acs3 and acs_rpc.looks_like_rpc(req) else "JSON"
    except Exception:  # noqa: BLE001 - a best-effort sniff must never turn into a 500
        return "JSON"


def echoed(sts: str) -> str:
    """A string to sign as an error message shows it: whole up to MAX_ECHOED characters, else cut there."""
    if len(sts) <= MAX_ECHOED:
        return sts
    return f"{sts[:MAX_ECHOED]}...({len(sts) - MAX_ECHOED} more characters not shown)"


def mismatch(sts: str, message: str = MISMATCH_MESSAGE) -> SignatureMismatch:
    """SignatureDoesNotMatch, its message ending in the server's string to sign (the SDKs read what
    follows the ':'), cut at MAX_ECHOED characters; `string_to_sign` keeps it whole."""
    return SignatureMismatch(message + echoed(sts), string_to_sign=sts)


def verify(req: HttpRequest, claim: AcsClaim, secret: Secret, *, now: float, skew: float = 900.0,
           nonces: NonceCache) -> None:
    """Timestamp window, then signature (constant time), then the nonce (recorded only now)."""
    record_nonce(claim, verify_unrecorded(req, claim, secret, now=now, skew=skew, nonces=nonces), now=now, skew=skew,
                 nonces=nonces)


def verify_unrecorded(req: HttpRequest, claim: AcsClaim, secret: Secret, *, now: float, skew: float = 900.0,
                      nonces: NonceCache) -> bytes:
    """`verify` but for recording the nonce: timestamp window, signature (constant time), and a nonce
    already used (refused, NonceReused). The caller records it (`record_nonce`, given the digest this
    returns) once it admits the request, before serving it."""
    # The claim must be the one parse() read from this very request (requests are immutable);
    # any other claim is re-parsed from req and must be equal.
    if claim._parsed_from is not req and parse(req) != claim:
        raise ValueError("claim was not parsed from this request")
    if abs(now - claim.timestamp) > skew or claim.timestamp < nonces.latest - skew:
        raise RequestExpired(EXPIRED_MESSAGE)         # the latter: the clock was set back past forgotten nonces
    if nonces.since is not None and claim.timestamp < nonces.since:
        raise RequestExpired(RESTARTED_MESSAGE)        # its nonce may have been used before the restart
    sts = string_to_sign(req, claim)
    if claim.scheme == RPC_V1:
        expected = acs_rpc.sign(sts, secret)
    else:
        expected = acs3.sign(sts, secret)
    if not hmac.compare_digest(expected.encode("utf-8"), claim.signature.encode("utf-8")):
        raise mismatch(sts)
    if claim.scheme == ACS3:
        acs3.check_content_sha256(req, sts)
    digest = nonces.unused(claim.access_key_id, claim.nonce, now)
    if digest is None:
        raise NonceReused(NONCE_MESSAGE)
    return digest


def record_nonce(claim: AcsClaim, digest: bytes, *, now: float, skew: float = 900.0, nonces: NonceCache) -> None:
    """Remember a verified request's nonce (`digest`, from `verify_unrecorded`), for as long as the request
    could still pass the (inclusive) timestamp check. NonceReused if it is remembered already (two alike,
    both past `verify_unrecorded`); NonceCacheFull / NonceShareFull (throttling) if there is no room."""
    if nonces.seen_before(claim.access_key_id, claim.nonce, now, until=claim.timestamp + skew + 1.0, digest=digest):
        raise NonceReused(NONCE_MESSAGE)


# The scheme modules import the codec above; import them last (after it exists).
from regauth.auth import acs3, acs_rpc  # noqa: E402
