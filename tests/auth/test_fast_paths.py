"""The request-path shortcuts in auth/ give exactly what the general algorithms give.

Each shortcut (date slicing, "nothing to encode" checks, header map, claim binding) is checked
against a verbatim copy of the code it short-cuts, on generated inputs that reach both the fast
and the general path. No timing here: speed is measured with bench/profiling.py.
"""

from __future__ import annotations

import calendar
import dataclasses
import hashlib
import re
import sys
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, quote_from_bytes, unquote_to_bytes

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regauth.auth import acs, acs3, acs_rpc, sigv4
from regauth.auth.canonical import HttpRequest
from regauth.auth.nonces import NonceCache
from regauth.auth.sigv4_canonical import (body_sha256, canonical_query, canonical_uri, remove_dot_segments,
                                          wire_bytes)
from regauth.domain.secret import Secret
from regauth.errors import IncompleteSignature

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the test_acs signer, in any import mode
from test_acs import common_rpc, rpc_request  # noqa: E402

# --- the general algorithms, as they were before the shortcuts ------------------------------------


def old_parse_basic_date(text: str) -> tuple[str, float]:
    try:
        if not re.fullmatch(r"\d{8}T\d{6}Z", text):
            raise ValueError(text)
        parsed = datetime.strptime(text, "%Y%m%dT%H%M%SZ")
    except ValueError:
        raise IncompleteSignature("bad date") from None
    return text, float(calendar.timegm(parsed.timetuple()))


def old_canonical_uri(raw_path: str, normalize: bool) -> str:
    path = raw_path or "/"
    if normalize:
        path = remove_dot_segments(path)
    return quote_from_bytes(wire_bytes(path), safe="/")


def old_canonical_query(raw_query: str, drop: frozenset[bytes]) -> str:
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        key, _, value = part.partition("=")
        pairs.append((unquote_to_bytes(wire_bytes(key)), unquote_to_bytes(wire_bytes(value))))
    encoded = sorted((quote_from_bytes(k, safe=""), quote_from_bytes(v, safe="")) for k, v in pairs if k not in drop)
    return "&".join(f"{key}={value}" for key, value in encoded)


def old_percent_encode(s: str) -> str:
    return quote(s, safe="~", encoding="utf-8", errors="strict")


def old_form_decode(s: str) -> str:
    s = s.replace("+", " ")
    if re.search(r"%(?![0-9A-Fa-f]{2})", s):
        raise IncompleteSignature("bad escape")
    try:
        return unquote_to_bytes(s).decode("utf-8")
    except UnicodeDecodeError:
        raise IncompleteSignature("bad utf-8") from None


def old_acs3_canonical_uri(path: str) -> str:
    segments = []
    for seg in (path or "/").split("/"):
        if re.search(r"%(?![0-9A-Fa-f]{2})", seg):
            raise IncompleteSignature("bad escape")
        try:
            segments.append(old_percent_encode(unquote_to_bytes(seg).decode("utf-8")))
        except UnicodeDecodeError:
            raise IncompleteSignature("bad utf-8") from None
    return "/".join(segments)


def old_authorization_fields(value: str) -> dict[str, str]:
    scheme, _, rest = value.strip().partition(" ")
    if scheme != "AWS4-HMAC-SHA256":
        raise IncompleteSignature("Unsupported Authorization type; expected AWS4-HMAC-SHA256.")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, val = item.partition("=")
        if not sep:
            raise IncompleteSignature(
                "Authorization header component is not a valid key=value pair (missing equal-sign).")
        if key in fields:
            raise IncompleteSignature(f"Authorization header has a duplicate '{key}' parameter.")
        fields[key] = val.strip()
    for required in ("Credential", "SignedHeaders", "Signature"):
        if required not in fields:
            raise IncompleteSignature(f"Authorization header requires '{required}' parameter.")
    return fields


def old_parse_credential(credential: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or not parts[0]:
        raise IncompleteSignature(
            "Credential is malformed; expecting "
            '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".')
    akid, date, region, service, terminator = parts
    if terminator != "aws4_request":
        raise IncompleteSignature("Credential should be scoped with a valid terminator: 'aws4_request'.")
    if not re.fullmatch(r"\d{8}", date):
        raise IncompleteSignature("Credential scope date must be in YYYYMMDD format.")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", region):
        raise IncompleteSignature("Credential should be scoped to a valid region.")
    if not service.strip():
        raise IncompleteSignature("Credential should be scoped to correct service.")
    return akid, date, region, service


def old_parse_signed_headers(value: str, headers: dict[str, list[str]]) -> tuple[str, ...]:
    names = tuple([name.strip().lower() for name in value.split(";")])
    if not value or any(not name for name in names):
        raise IncompleteSignature("SignedHeaders is malformed.")
    if "host" not in names:
        raise IncompleteSignature("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    for name in names:
        if name not in headers:
            raise IncompleteSignature(f"Signed header '{name}' is not present in the request.")
    if "x-amz-target" in headers and "x-amz-target" not in names:
        raise IncompleteSignature("The X-Amz-Target header must be signed (in SignedHeaders).")
    return names


def old_raw_keys(raw: str) -> set[str]:
    return {part.partition("=")[0] for part in raw.split("&") if part}


def same_words(new, old, *args):
    """Both return the same value, or both raise the same error with the same message."""
    try:
        expected = old(*args)
    except IncompleteSignature as exc:
        with pytest.raises(IncompleteSignature) as raised:
            new(*args)
        assert raised.value.message == exc.message
        return
    assert new(*args) == expected


def same(new, old, *args):
    """Both return the same value, or both raise the same kind of error."""
    try:
        expected = old(*args)
    except Exception as exc:  # noqa: BLE001
        with pytest.raises(type(exc)):
            new(*args)
        return
    assert new(*args) == expected


# --- X-Amz-Date ----------------------------------------------------------------------------------

OTHER_DIGITS = "٠١٢٣٤٥٦٧٨٩０１２９۳߃१৫"      # Unicode decimal digits: both \d and strptime admit them
DATE_CHARS = "0123456789" + OTHER_DIGITS + "TZtz -:+.²½"


@st.composite
def basic_dates(draw) -> str:
    """Near-valid 'YYYYMMDDTHHMMSSZ' strings: fields in and just out of range, then maybe a change."""
    y = draw(st.integers(0, 9999))
    mo, d = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    h, mi, s = draw(st.integers(0, 25)), draw(st.integers(0, 61)), draw(st.integers(0, 62))
    text = f"{y:04d}{mo:02d}{d:02d}T{h:02d}{mi:02d}{s:02d}Z"
    if draw(st.booleans()):
        i = draw(st.integers(0, len(text) - 1))
        text = text[:i] + draw(st.sampled_from(DATE_CHARS)) + text[i + 1:]
    return text


@settings(max_examples=2000, deadline=None, database=None)
@given(st.one_of(basic_dates(), st.text(DATE_CHARS, min_size=14, max_size=18),
                 st.datetimes().map(lambda d: d.strftime("%Y%m%dT%H%M%SZ"))))
def test_basic_date_accepts_and_rejects_what_strptime_did(text: str) -> None:
    same(sigv4._parse_basic_date.__wrapped__, old_parse_basic_date, text)
    same(sigv4._parse_basic_date, old_parse_basic_date, text)        # and through its cache


@pytest.mark.parametrize("text", ["20260229T000000Z", "20240229T235959Z", "00010101T000000Z", "99991231T235959Z",
                                  "20261123T240000Z", "20261123T006000Z", "20261123T000060Z", "00000101T000000Z",
                                  "2026112３T000000Z", "20261123t000000Z", "20261123T000000z", "20261123T000000"])
def test_basic_date_edges(text: str) -> None:
    same(sigv4._parse_basic_date.__wrapped__, old_parse_basic_date, text)


# --- SigV4 URI and query --------------------------------------------------------------------------

PATH_CHARS = "/./.a~-_Z09%2Fé +:\udc80"
QUERY_CHARS = "aB1-_.~&&==%2F%7e+ é\udc80"


@settings(max_examples=2000, deadline=None, database=None)
@given(st.text(PATH_CHARS, max_size=16), st.booleans())
def test_canonical_uri_is_the_general_algorithm(path: str, normalize: bool) -> None:
    same(lambda p, n: canonical_uri(p, normalize=n), old_canonical_uri, path, normalize)


@settings(max_examples=2000, deadline=None, database=None)
@given(st.text(QUERY_CHARS, max_size=24), st.sampled_from([frozenset(), frozenset({b"a"}), frozenset({b"a", b"B1"})]))
def test_canonical_query_is_the_general_algorithm(query: str, drop: frozenset[bytes]) -> None:
    same(lambda q, d: canonical_query(q, drop=d), old_canonical_query, query, drop)


def test_canonical_query_drop_may_be_any_iterable() -> None:
    assert canonical_query("X-Amz-Signature=ab&b=1&a=2", drop=iter([b"X-Amz-Signature"])) == "a=2&b=1"


# --- SigV4 Authorization header, credential scope, signed headers, body hash -----------------------

AUTH_PARTS = ["Credential=AKIDEXAMPLE/20261123/us-east-1/ecr/aws4_request", "SignedHeaders=host;x-amz-date",
              "Signature=" + "a" * 64, "Signature=" + "b" * 64, "Credential=", "SignedHeaders", "X=1", "", " ",
              " Signature = ab ", "Credential=" + "K" * 300 + "/20261123/r/s/aws4_request", "=", "a=b=c"]


@settings(max_examples=3000, deadline=None, database=None)
@given(st.sampled_from(["AWS4-HMAC-SHA256 ", " AWS4-HMAC-SHA256  ", "AWS4-HMAC-SHA1 ", "AWS4-HMAC-SHA256", ""]),
       st.lists(st.sampled_from(AUTH_PARTS), max_size=6), st.sampled_from([",", ", ", " ,"]),
       st.sampled_from(["", " ", ","]))
def test_authorization_fields_are_the_general_algorithm(scheme: str, parts: list[str], sep: str, end: str) -> None:
    value = scheme + sep.join(parts) + end
    same_words(sigv4._authorization_fields, old_authorization_fields, value)
    same_words(sigv4._authorization_fields, old_authorization_fields, value)     # and through the cache


@settings(max_examples=2000, deadline=None, database=None)
@given(st.lists(st.sampled_from(["AKID", "", "20261123", "2026112", "２０２６１１２３", "us-east-1", " ", "ecr",
                                 "aws4_request", "aws4_requests", "K" * 300, "x:y", "US-EAST-1"]), max_size=6))
def test_credential_scope_is_the_general_algorithm(parts: list[str]) -> None:
    credential = "/".join(parts)
    same_words(sigv4._parse_credential, old_parse_credential, credential)
    same_words(sigv4._parse_credential, old_parse_credential, credential)


@settings(max_examples=2000, deadline=None, database=None)
@given(st.lists(st.sampled_from(["host", "Host", " host ", "x-amz-date", "X-Amz-Date", "", " ", "absent",
                                 "h" * 300]), max_size=5))
def test_signed_headers_are_the_general_algorithm(names: list[str]) -> None:
    value = ";".join(names)
    headers = {"host": ["x"], "x-amz-date": ["20261123T000000Z"], "h" * 300: ["y"]}
    same_words(lambda v: sigv4._parse_signed_headers(v, headers), lambda v: old_parse_signed_headers(v, headers), value)
    same_words(lambda v: sigv4._parse_signed_headers(v, headers), lambda v: old_parse_signed_headers(v, headers), value)


@pytest.mark.parametrize("body", [b"", b"{}", b"{ }", b"{}\n", b"Action=GetCallerIdentity&Version=2011-06-15", b"x" * 100])
def test_body_hash_is_sha256(body: bytes) -> None:
    assert body_sha256(HttpRequest("POST", "/", "", (), body)) == hashlib.sha256(body).hexdigest()


# --- Alibaba parameter names as sent -----------------------------------------------------------------

@settings(max_examples=3000, deadline=None, database=None)
@given(st.text("&=aA+% SignatureNonceAccessKeyIdAWS", max_size=40),
       st.sampled_from(["AccessKeyId", "Signature", "SignatureNonce", "AWSAccessKeyId", "a"]))
def test_has_raw_key_is_membership_in_the_raw_names(raw: str, name: str) -> None:
    assert acs.has_raw_key(raw, name) == (name in old_raw_keys(raw))


@pytest.mark.parametrize("raw, name, found", [
    ("AccessKeyId=x", "AccessKeyId", True), ("a=1&AccessKeyId", "AccessKeyId", True),
    ("AWSAccessKeyId=x", "AccessKeyId", False), ("AccessKeyIds=x", "AccessKeyId", False),
    ("x=AccessKeyId", "AccessKeyId", False), ("&&AccessKeyId=&&", "AccessKeyId", True), ("", "AccessKeyId", False)])
def test_has_raw_key_edges(raw: str, name: str, found: bool) -> None:
    assert acs.has_raw_key(raw, name) is found


# --- Alibaba codec --------------------------------------------------------------------------------

ACS_CHARS = "aZ9-_.~ +%2f%2F%zz%E9=&:/é\udc80"


@settings(max_examples=2000, deadline=None, database=None)
@given(st.text(ACS_CHARS, max_size=16))
def test_acs_codec_is_the_general_algorithm(s: str) -> None:
    # short values go through the codec's caches (twice: a miss, then a hit), long ones around them
    for value in (s, s, s * 5 + "x" * acs.SHORT):
        same(acs.percent_encode, old_percent_encode, value)
        same(lambda x: acs.form_decode(x, "query string"), old_form_decode, value)
    same(acs3._canonical_uri, old_acs3_canonical_uri, s)


@pytest.mark.parametrize("value, escape", [("%zz", True), ("a%2", True), ("x" * 70 + "%zz", True),
                                           ("%E9", False), ("x" * 70 + "%E9", False)])
def test_a_refused_value_names_where_it_was_each_time(value: str, escape: bool) -> None:
    for where in ("query string", "form body", "query string"):     # the second and third from the cache
        with pytest.raises(IncompleteSignature) as err:
            acs.form_decode(value, where)
        assert err.value.message == (f"Malformed percent-encoding in the {where}." if escape else
                                     f"The {where} is not valid UTF-8 after percent-decoding.")


@settings(max_examples=1000, deadline=None, database=None)
@given(st.dictionaries(st.text(ACS_CHARS.replace("\udc80", ""), max_size=8),
                       st.text(ACS_CHARS.replace("\udc80", ""), max_size=8), max_size=5),
       st.sampled_from(["GET", "POST"]))
def test_rpc_string_to_sign_is_the_spec_one(params: dict[str, str], method: str) -> None:
    claim = acs.AcsClaim(scheme=acs.RPC_V1, access_key_id="k", params=params, action="a", version="v",
                         format="JSON", nonce="n", timestamp=0.0, security_token=None, signature="s")
    req = HttpRequest(method, "/", "", ())
    expected = f"{method}&%2F&{old_percent_encode(acs.canonical_params(params))}"
    assert acs_rpc.string_to_sign(req, claim) == expected


# --- HttpRequest header map -----------------------------------------------------------------------

def test_header_values_are_case_insensitive_in_wire_order() -> None:
    req = HttpRequest("GET", "/", "", (("X-A", "1"), ("Host", "h"), ("x-a", "2"), ("X-A", "3")))
    assert req.header_values("x-a") == ["1", "2", "3"]
    assert req.header_values("X-A") == ["1", "2", "3"]
    assert req.header_values("HOST") == ["h"] and req.header("host") == "h"
    assert req.header_values("missing") == [] and req.header("missing", "d") == "d"
    assert HttpRequest("GET", "/", "", ()).header_values("host") == []
    assert req == HttpRequest("GET", "/", "", req.headers)       # the cached map is not part of equality
    assert "_lower" not in repr(req)


# --- Alibaba claim bound to its request -----------------------------------------------------------

SECRET = Secret("testAccessKeySecret")


def test_a_claim_verified_against_its_own_request_is_not_parsed_again(monkeypatch) -> None:
    req = rpc_request(common_rpc())
    claim = acs.parse(req)
    assert claim is not None
    calls = []
    real = acs.parse
    monkeypatch.setattr(acs, "parse", lambda r: calls.append(r) or real(r))
    acs.verify(req, claim, SECRET, now=claim.timestamp, nonces=NonceCache())
    assert calls == []
    twin = HttpRequest(req.method, req.path, req.query, req.headers, req.body)     # equal, not the same
    acs.verify(twin, claim, SECRET, now=claim.timestamp, nonces=NonceCache())
    assert calls == [twin]


def test_a_changed_claim_is_parsed_again_and_refused() -> None:
    req = rpc_request(common_rpc())
    claim = acs.parse(req)
    assert claim is not None
    changed = dataclasses.replace(claim, params={**claim.params, "InstanceId": "cri-other"})
    with pytest.raises(ValueError):
        acs.verify(req, changed, SECRET, now=claim.timestamp, nonces=NonceCache())
    with pytest.raises(TypeError):
        claim.params["InstanceId"] = "cri-other"     # type: ignore[index]
    direct = acs_rpc.parse(req)                        # not through acs.parse: not bound, so re-parsed
    acs.verify(req, direct, SECRET, now=claim.timestamp, nonces=NonceCache())


def old_decode_pairs(raw: str) -> list[tuple[str, str]]:
    pairs = []
    for part in raw.split("&"):
        if part:
            k, _, v = part.partition("=")
            pairs.append((old_form_decode(k), old_form_decode(v)))
    return pairs


@settings(max_examples=1000, deadline=None, database=None)
@given(st.text(ACS_CHARS, max_size=24))
def test_acs_decode_pairs_is_the_general_algorithm(raw: str) -> None:
    same(lambda r: acs.decode_pairs(r, "query string"), old_decode_pairs, raw)
