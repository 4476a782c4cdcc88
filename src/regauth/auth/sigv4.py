"""AWS Signature Version 4 (AWS4-HMAC-SHA256), verified server-side.

`parse` reads the claim (Authorization header or presigned query), `verify` recomputes the
signature over exactly the headers the client listed and compares in constant time.

What the HTTP adapter must hand over (see `HttpRequest`): the path and query exactly as sent,
decoded from bytes as UTF-8 with errors="surrogateescape"; header values decoded as latin-1
(botocore signs the str it then sends latin-1 encoded); the Host header as sent, incl. ':port'
(synthesised from ':authority' for HTTP/2); the body bytes as received (not decompressed).
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import hmac
import re
from dataclasses import field
from datetime import date as _date
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from regauth.auth.canonical import HttpRequest
from regauth.auth.sigv4_canonical import (
    CONTENT_SHA256_HEADER,
    body_sha256,
    canonical_headers,
    canonical_query,
    canonical_uri,
    payload_hash,
    query_pairs,
    wire_bytes,
)
from regauth.domain.arn import REGION_NAME
from regauth.domain.macs import KeyedMac
from regauth.domain.secret import Secret
from regauth.errors import IncompleteSignature, RequestExpired, SignatureMismatch
from regauth.records import record

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_PRESIGN_EXPIRES = 604800  # one week, as on AWS
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method."
)
PAYLOAD_MISMATCH_MESSAGE = "The provided 'x-amz-content-sha256' header does not match what was computed."

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_BASIC_DATE = re.compile(r"\d{8}T\d{6}Z")
_SCOPE_DATE = re.compile(r"\d{8}")
_QUERY_PARAMS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                 "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token")
_QUERY_REQUIRED = (
    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
    "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
)


@record
class SigV4Claim:
    """What the client claims: who signed, for which scope, when, over which headers."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str
    timestamp: float
    session_token: str | None = field(repr=False)
    presigned: bool
    expires: int | None

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{TERMINATOR}"


# --- parsing ----------------------------------------------------------------------------------

def parse(req: HttpRequest) -> SigV4Claim | None:
    """The SigV4 claim of a request; None if it carries none; IncompleteSignature if malformed."""
    headers = req.header_map()
    auth = headers.get("authorization")
    query = _amz_query_params(req.query)
    presigned = "X-Amz-Algorithm" in query
    if not auth and not presigned:
        return None
    if auth and presigned:
        raise IncompleteSignature(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter "
            "or the Authorization header should be specified.")
    if presigned:
        fields = _presigned_fields(query)
        amz_date, timestamp = _parse_basic_date(fields["Date"])
        token = fields.get("Security-Token", _single_header(headers, "x-amz-security-token"))
        expires = _parse_expires(fields["Expires"])
    else:
        if len(auth) != 1:
            raise IncompleteSignature("Only one Authorization header is allowed.")
        fields = _authorization_fields(auth[0])
        amz_date, timestamp = _header_timestamp(headers)
        token = _single_header(headers, "x-amz-security-token")
        expires = None
    akid, date, region, service = _parse_credential(fields["Credential"])
    if date != amz_date[:8]:
        raise IncompleteSignature(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{date}' != '{amz_date[:8]}', from '{amz_date}'.")
    signed = _parse_signed_headers(fields["SignedHeaders"], headers)
    signature = fields["Signature"]
    if not _HEX64.fullmatch(signature):
        raise IncompleteSignature("Signature must be 64 hexadecimal characters.")
    _check_declared_payload(headers)
    return SigV4Claim(
        access_key_id=akid, date=date, region=region, service=service, signed_headers=signed,
        signature=signature, amz_date=amz_date, timestamp=timestamp, session_token=token,
        presigned=presigned, expires=expires)


def _amz_query_params(raw_query: str) -> dict[str, list[str]]:
    """The decoded values of the X-Amz-* auth parameters found in the query."""
    found: dict[str, list[str]] = {}
    if "X-Amz-" not in raw_query and "%" not in raw_query:
        return found                    # no key is, or decodes to, an X-Amz-* name
    for raw_key, raw_value in query_pairs(raw_query):
        key = raw_key.decode("utf-8", "surrogateescape")
        if key in _QUERY_PARAMS:
            found.setdefault(key, []).append(raw_value.decode("utf-8", "surrogateescape"))
    return found


def _presigned_fields(query: dict[str, list[str]]) -> dict[str, str]:
    """Credential, SignedHeaders, Signature, Date, Expires (+ Security-Token) of a presigned query."""
    if any(len(values) > 1 for values in query.values()):
        raise IncompleteSignature("Each X-Amz-* authentication parameter must appear only once.")
    fields = {key.removeprefix("X-Amz-"): values[0] for key, values in query.items()}
    if fields["Algorithm"] != ALGORITHM:
        raise IncompleteSignature(f'X-Amz-Algorithm only supports "{ALGORITHM}".')
    if any(name not in fields for name in ("Credential", "SignedHeaders", "Signature", "Date", "Expires")):
        raise IncompleteSignature(_QUERY_REQUIRED)
    return fields


_SHORT = 256     # parsed texts up to this long are remembered (a client sends the same ones all day)


def _authorization_fields(value: str) -> dict[str, str]:
    """Credential, SignedHeaders and Signature from 'AWS4-HMAC-SHA256 K=V, K=V, K=V'.

    The components before the last comma (a client's credential and signed headers, the same all
    day) are read once (`_components_cached`); the last (the signature) is read as the loop in
    `_components` would read it, after them. The result is the same as `_components(rest)`."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme != ALGORITHM:
        raise IncompleteSignature(f"Unsupported Authorization type; expected {ALGORITHM}.")
    head, comma, last = rest.rpartition(",")
    if not comma or len(head) > _SHORT:
        fields = _components(rest)
    else:
        fields = dict(_components_cached(head))
        _add_component(fields, last)
    for required in ("Credential", "SignedHeaders", "Signature"):
        if required not in fields:
            raise IncompleteSignature(f"Authorization header requires '{required}' parameter.")
    return fields


def _components(text: str) -> dict[str, str]:
    """'K=V, K=V, ...' -> {K: V} (whitespace around items and values dropped, empty items skipped)."""
    fields: dict[str, str] = {}
    for item in text.split(","):
        _add_component(fields, item)
    return fields


def _add_component(fields: dict[str, str], item: str) -> None:
    item = item.strip()
    if not item:
        return
    key, sep, val = item.partition("=")
    if not sep:
        raise IncompleteSignature(
            "Authorization header component is not a valid key=value pair (missing equal-sign).")
    if key in fields:
        raise IncompleteSignature(f"Authorization header has a duplicate '{key}' parameter.")
    fields[key] = val.strip()


_components_cached = functools.lru_cache(maxsize=1024)(_components)    # copied before use: never mutated


def _parse_credential(credential: str) -> tuple[str, str, str, str]:
    return _credential_cached(credential) if len(credential) <= _SHORT else _credential(credential)


def _credential(credential: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or not parts[0]:
        raise IncompleteSignature(
            "Credential is malformed; expecting "
            '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".')
    akid, date, region, service, terminator = parts
    if terminator != TERMINATOR:
        raise IncompleteSignature(f"Credential should be scoped with a valid terminator: '{TERMINATOR}'.")
    if not _SCOPE_DATE.fullmatch(date):
        raise IncompleteSignature("Credential scope date must be in YYYYMMDD format.")
    if not REGION_NAME.fullmatch(region):        # a region name: it goes into ARNs and endpoints as it is
        raise IncompleteSignature("Credential should be scoped to a valid region.")
    if not service.strip():
        raise IncompleteSignature("Credential should be scoped to correct service.")
    return akid, date, region, service


_credential_cached = functools.lru_cache(maxsize=1024)(_credential)    # refusals raise: not kept


def _parse_signed_headers(value: str, headers: dict[str, list[str]]) -> tuple[str, ...]:
    names = _signed_names_cached(value) if len(value) <= _SHORT else _signed_names(value)
    for name in names:
        if name not in headers:
            raise IncompleteSignature(f"Signed header '{name}' is not present in the request.")
    if "x-amz-target" in headers and "x-amz-target" not in names:    # it selects the operation
        raise IncompleteSignature("The X-Amz-Target header must be signed (in SignedHeaders).")
    return names


def _signed_names(value: str) -> tuple[str, ...]:
    """The names of a SignedHeaders value, lower-cased, in its order (host among them)."""
    names = tuple([name.strip().lower() for name in value.split(";")])
    if not value or any(not name for name in names):
        raise IncompleteSignature("SignedHeaders is malformed.")
    if "host" not in names:
        raise IncompleteSignature("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    return names


_signed_names_cached = functools.lru_cache(maxsize=1024)(_signed_names)


def _single_header(headers: dict[str, list[str]], name: str) -> str | None:
    """The trimmed value of a header (lower-case `name`) sent at most once; None if absent."""
    values = headers.get(name)
    if values is None:
        return None
    if len(values) > 1:
        raise IncompleteSignature(f"Header {name} must appear only once.")
    return values[0].strip()


def _check_declared_payload(headers: dict[str, list[str]]) -> None:
    declared = _single_header(headers, CONTENT_SHA256_HEADER)
    if declared is not None and declared != UNSIGNED_PAYLOAD and not _HEX64.fullmatch(declared):
        raise IncompleteSignature(
            "x-amz-content-sha256 must be a hex SHA-256 digest or UNSIGNED-PAYLOAD.")


# --- timestamps -------------------------------------------------------------------------------

def _header_timestamp(headers: dict[str, list[str]]) -> tuple[str, float]:
    """X-Amz-Date (basic format) if present, else a Date header (RFC 1123 or ISO 8601)."""
    amz_date = _single_header(headers, "x-amz-date")
    if amz_date is not None:
        return _parse_basic_date(amz_date)
    date = _single_header(headers, "date")
    if date is None:
        raise IncompleteSignature(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    return _parse_http_date(date)


_EPOCH_ORDINAL = _date(1970, 1, 1).toordinal()


@functools.lru_cache(maxsize=256)     # concurrent requests mostly share their second
def _parse_basic_date(text: str) -> tuple[str, float]:
    """'YYYYMMDDTHHMMSSZ' -> (text, epoch seconds).

    ASCII text is read by slicing; it is accepted exactly when the regex + strptime below would
    accept it (a real date, hour < 24, minute and second < 60). Anything else (e.g. non-ASCII
    decimal digits, which both `\\d` and strptime admit) takes that original path.
    """
    if (len(text) == 16 and text.isascii() and text[8] == "T" and text[15] == "Z"
            and text[:8].isdigit() and text[9:15].isdigit()):
        hour, minute, second = int(text[9:11]), int(text[11:13]), int(text[13:15])
        try:
            day = _date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        except ValueError:
            day = None
        if day is not None and hour < 24 and minute < 60 and second < 60:
            seconds = (day.toordinal() - _EPOCH_ORDINAL) * 86400 + hour * 3600 + minute * 60 + second
            return text, float(seconds)
    try:
        if not _BASIC_DATE.fullmatch(text):
            raise ValueError(text)
        parsed = datetime.strptime(text, AMZ_DATE_FORMAT)
    except ValueError:
        raise IncompleteSignature(
            "X-Amz-Date must be in ISO-8601 basic format YYYYMMDD'T'HHMMSS'Z'.") from None
    return text, float(calendar.timegm(parsed.timetuple()))


def _parse_http_date(text: str) -> tuple[str, float]:
    parsed: datetime | None
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        parsed = None
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise IncompleteSignature("Date header must be an RFC 1123 or ISO-8601 date.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        whole = parsed.astimezone(timezone.utc).replace(microsecond=0)
    except OverflowError:           # 9999-12-31T23:59:59-01:00 is past the last date there is
        raise IncompleteSignature("Date header must be an RFC 1123 or ISO-8601 date.") from None
    return whole.strftime(AMZ_DATE_FORMAT), whole.timestamp()


def _parse_expires(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        raise IncompleteSignature("X-Amz-Expires must be a non-negative integer number of seconds.")
    return int(text)


def _format_epoch(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), timezone.utc).strftime(AMZ_DATE_FORMAT)


# --- signing ----------------------------------------------------------------------------------

def canonical_request(req: HttpRequest, claim: SigV4Claim, *, normalize_path: bool = True,
                      payload: str | None = None) -> str:
    """The canonical request over the claim's signed headers.

    `payload` overrides the payload hash (used for presigned UNSIGNED-PAYLOAD); by default it is
    the X-Amz-Content-SHA256 header value if present, else hex(sha256(body)).
    """
    drop = (b"X-Amz-Signature",) if claim.presigned else ()
    return "\n".join((
        req.method,
        canonical_uri(req.path, normalize=normalize_path),
        canonical_query(req.query, drop=drop),
        canonical_headers(req, claim.signed_headers),
        ";".join(claim.signed_headers),
        payload if payload is not None else payload_hash(req),
    ))


def string_to_sign(claim: SigV4Claim, canonical: str) -> str:
    digest = hashlib.sha256(wire_bytes(canonical)).hexdigest()
    return "\n".join((ALGORITHM, claim.amz_date, claim.scope, digest))


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """kSigning = HMAC chain over date, region, service, 'aws4_request' (bounded cache)."""
    return _derive_signing_key(secret, date, region, service)


@functools.lru_cache(maxsize=1024)
def _derive_signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, TERMINATOR):
        key = _hmac(key, part)
    return key


@functools.lru_cache(maxsize=1024)
def _signer(secret: str, date: str, region: str, service: str) -> KeyedMac:
    """HMAC under kSigning, its pads hashed once: a client signs with the same key all day."""
    return KeyedMac(_derive_signing_key(secret, date, region, service))


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.digest(key, wire_bytes(message), "sha256")


# --- verification -----------------------------------------------------------------------------

def verify(req: HttpRequest, claim: SigV4Claim, secret: Secret, *, now: float,
           skew: float = 900.0, normalize_path: bool = True) -> None:
    """Raise RequestExpired / IncompleteSignature / SignatureMismatch unless the claim holds."""
    _check_time(claim, now, skew)
    signer = _signer(secret.reveal(), claim.date, claim.region, claim.service)
    declared_values = req.header_map().get(CONTENT_SHA256_HEADER)
    declared = declared_values[0].strip() if declared_values else None
    payloads = [body_sha256(req) if declared is None else declared]   # what payload_hash(req) gives
    if claim.presigned and declared is None:
        # botocore presigns with UNSIGNED-PAYLOAD; other signers (aws-c-auth, Go v1 for non-S3)
        # use the body hash. Accept either; only a signature over that exact text matches.
        payloads.append(UNSIGNED_PAYLOAD)
    presented = claim.signature.encode("utf-8", "replace")
    ours: list[str] = []
    matched: str | None = None
    for payload in payloads:
        sts = string_to_sign(claim, canonical_request(
            req, claim, normalize_path=normalize_path, payload=payload))
        ours.append(sts)
        expected = signer.digest(wire_bytes(sts)).hex().encode()
        if hmac.compare_digest(expected, presented):
            matched = payload
    if matched is None:
        raise SignatureMismatch(MISMATCH_MESSAGE, string_to_sign=ours[0])
    if (matched == UNSIGNED_PAYLOAD or declared == UNSIGNED_PAYLOAD) and req.body:
        # The services regauth speaks always sign their bodies; a body outside the signature
        # could be swapped in transit, so it is refused.
        raise IncompleteSignature("UNSIGNED-PAYLOAD is not accepted for a request with a body.")
    _check_payload(req, declared, ours[0])


def _check_time(claim: SigV4Claim, now: float, skew: float) -> None:
    """A presigned request lives X-Amz-Expires seconds, but never longer than the signature window
    (REGAUTH_SIGNATURE_WINDOW_SECONDS, 15 min by default), as STS honours a presigned
    GetCallerIdentity for 15 minutes whatever it says: every operation here mints or changes
    credentials, and a week-long URL leaked from a proxy's log would do so for a week."""
    if claim.presigned:
        if claim.expires is None or not 1 <= claim.expires <= MAX_PRESIGN_EXPIRES:
            raise IncompleteSignature(
                f"X-Amz-Expires must be between 1 and {MAX_PRESIGN_EXPIRES} seconds.")
        lives = min(claim.expires, int(skew))
        if now > claim.timestamp + lives:
            raise RequestExpired(
                f"Request has expired: {claim.amz_date} + {lives} s is earlier than "
                f"{_format_epoch(now)}.")
    elif now - claim.timestamp > skew:
        raise RequestExpired(
            f"Signature expired: {claim.amz_date} is now earlier than "
            f"{_format_epoch(now - skew)} ({_format_epoch(now)} - {skew / 60:g} min.)")
    if claim.timestamp - now > skew:
        raise RequestExpired(
            f"Signature not yet current: {claim.amz_date} is still later than "
            f"{_format_epoch(now + skew)} ({_format_epoch(now)} + {skew / 60:g} min.)")


def _check_payload(req: HttpRequest, declared: str | None, sts: str) -> None:
    """A declared (signed, trimmed) body hash must be the body's: otherwise the body is not covered."""
    if declared is None or declared == UNSIGNED_PAYLOAD:
        return
    if not hmac.compare_digest(declared.lower().encode(), body_sha256(req).encode()):
        raise SignatureMismatch(PAYLOAD_MISMATCH_MESSAGE, string_to_sign=sts)
