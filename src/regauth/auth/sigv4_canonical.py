"""SigV4 canonicalisation of the parts of a request as it arrived: URI, query, headers, payload.

Pure functions over raw wire text. Text that came off the wire is turned back into bytes with
UTF-8 + ``surrogateescape``, so an adapter that decodes raw bytes the same way round-trips
every byte exactly (see the module docstring of ``sigv4`` for what the adapter must do).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from urllib.parse import quote_from_bytes, unquote_to_bytes

from regauth.auth.canonical import HttpRequest
from regauth.errors import IncompleteSignature

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
CONTENT_SHA256_HEADER = "x-amz-content-sha256"
# Characters RFC 3986 encoding leaves alone (for str.rstrip: text made only of these is unchanged).
UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
_PATH_PLAIN = UNRESERVED + "/"
_QUERY_PLAIN = UNRESERVED + "&="


def wire_bytes(text: str) -> bytes:
    """The bytes behind wire text (UTF-8, undecodable bytes kept via surrogateescape)."""
    return text.encode("utf-8", "surrogateescape")


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 dot-segment removal, also collapsing empty segments ('//'), as botocore does."""
    if not path:
        return "/"
    kept: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if kept:
                kept.pop()
            continue
        kept.append(segment)
    head = "/" if path.startswith("/") else ""
    tail = "/" if path.endswith("/") and kept else ""
    return head + "/".join(kept) + tail or "/"


def canonical_uri(raw_path: str, *, normalize: bool = True) -> str:
    """Percent-encode the (optionally normalised) raw path again; '%2F' becomes '%252F'.

    This is the non-S3 rule: the path as sent is already encoded and is encoded once more.
    """
    path = raw_path or "/"
    # Without '//', a '.' segment or a leading '.', normalising changes nothing.
    if normalize and ("//" in path or "/." in path or path[0] == "."):
        path = remove_dot_segments(path)
    if not path.rstrip(_PATH_PLAIN):
        return path                     # nothing to encode
    return quote_from_bytes(wire_bytes(path), safe="/")


def uri_encode(raw: bytes) -> str:
    """RFC 3986 encoding: everything but A-Z a-z 0-9 - _ . ~ as %XX (upper-case hex)."""
    return quote_from_bytes(raw, safe="")


def query_pairs(raw_query: str) -> list[tuple[bytes, bytes]]:
    """Split a raw query into percent-decoded (key, value) byte pairs, in wire order.

    Only %XX escapes are decoded. A literal '+' stays a '+' (so it canonicalises to %2B), which is
    what AWS does: SigV4 is defined over RFC 3986 encoding, not HTML-form encoding. botocore and
    paws never put a raw '+' or space in a query (they send %2B and %20), so no real client is
    affected; a client that used '+' for a space signed '%20' and will not verify, as on AWS.
    A part without '=' is a key with an empty value; empty parts ('a=1&&b=2') are kept as an
    empty key, as botocore's canonicaliser does.
    """
    if not raw_query:
        return []
    pairs = []
    for part in raw_query.split("&"):
        key, _, value = part.partition("=")
        pairs.append((unquote_to_bytes(wire_bytes(key)), unquote_to_bytes(wire_bytes(value))))
    return pairs


def canonical_query(raw_query: str, *, drop: Iterable[bytes] = ()) -> str:
    """Decode, re-encode (RFC 3986) and sort the query; keys in `drop` (decoded) are left out."""
    if not raw_query:
        return ""
    dropped = frozenset(drop)
    if not raw_query.rstrip(_QUERY_PLAIN):
        # No escapes and nothing to encode: decoding and re-encoding are both the identity,
        # unless a value holds a second '=' (encoded as %3D); then take the general path.
        skip = {key.decode("utf-8", "surrogateescape") for key in dropped}
        plain = []
        for part in raw_query.split("&"):
            key, _, value = part.partition("=")
            if "=" in value:
                break
            if key not in skip:
                plain.append((key, value))
        else:
            plain.sort()
            return "&".join([f"{key}={value}" for key, value in plain])
    encoded = sorted(
        (uri_encode(key), uri_encode(value))
        for key, value in query_pairs(raw_query)
        if key not in dropped
    )
    return "&".join(f"{key}={value}" for key, value in encoded)


def trimall(value: str) -> str:
    """Strip and collapse whitespace runs to one space (botocore's `' '.join(value.split())`)."""
    return " ".join(value.split())


def canonical_headers(req: HttpRequest, signed_headers: Iterable[str]) -> str:
    """One 'name:value\\n' line per signed header, in the order listed; repeated headers joined by ','."""
    headers = req.header_map()
    lines = []
    for name in signed_headers:
        values = headers.get(name) or req.header_values(name)
        if len(values) == 1:
            lines.append(f"{name}:{' '.join(values[0].split())}\n")    # trimall, inlined
        elif values:
            lines.append(f"{name}:{','.join([trimall(v) for v in values])}\n")
        else:
            raise IncompleteSignature(f"Signed header '{name}' is not present in the request.")
    return "".join(lines)


_BRACES_SHA256 = hashlib.sha256(b"{}").hexdigest()


def body_sha256(req: HttpRequest) -> str:
    body = req.body
    if not body:
        return EMPTY_SHA256
    if body == b"{}":               # what the JSON SDKs send for an operation without parameters
        return _BRACES_SHA256
    return hashlib.sha256(body).hexdigest()


def payload_hash(req: HttpRequest) -> str:
    """The declared X-Amz-Content-SHA256 value if any (trimmed), else hex(sha256(body))."""
    declared = req.header_values(CONTENT_SHA256_HEADER)
    return declared[0].strip() if declared else body_sha256(req)
