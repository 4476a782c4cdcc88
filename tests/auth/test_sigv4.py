"""SigV4 verifier: requests shaped like the real clients, error cases, and a mutation property."""

from __future__ import annotations

import calendar
import hashlib
import hmac
import sys
import time
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlsplit

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from regauth.auth import sigv4
from regauth.auth.canonical import HttpRequest
from regauth.auth.sigv4_canonical import canonical_query, canonical_uri, remove_dot_segments
from regauth.domain.secret import Secret
from regauth.errors import IncompleteSignature, RequestExpired, SignatureMismatch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the vector helpers, in any import mode
from test_sigv4_vectors import CASES, VectorCase, load_case  # noqa: E402

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLETOKEN//+/=="
ENDPOINT = "http://127.0.0.1:18765"
VERIFY_ERRORS = (SignatureMismatch, IncompleteSignature, RequestExpired)


# --- helpers ------------------------------------------------------------------------------------

def botocore_signed(method: str, url: str, *, service: str, region: str = "us-east-1",
                    data: object = b"", headers: dict[str, str] | None = None,
                    token: str | None = None, presign_expires: int | None = None,
                    ) -> tuple[HttpRequest, float]:
    """Sign with botocore itself, then hand the request over as the HTTP adapter would."""
    aws = AWSRequest(method=method, url=url, data=data, headers=headers or {})
    creds = Credentials(AKID, SECRET, token)
    signer = (SigV4Auth(creds, service, region) if presign_expires is None
              else SigV4QueryAuth(creds, service, region, expires=presign_expires))
    signer.add_auth(aws)
    prepared = aws.prepare()
    split = urlsplit(prepared.url)
    body = prepared.body or b""
    wire = [("Host", split.netloc), ("Accept-Encoding", "identity"),
            ("User-Agent", "Boto3/1.43.11 md/Botocore#1.43.11 ua/2.1 os/linux")]
    wire += [(k, v) for k, v in prepared.headers.items()]
    req = HttpRequest(method, split.path, split.query, tuple(wire),
                      body.encode() if isinstance(body, str) else body, "127.0.0.1")
    ts = calendar.timegm(time.strptime(aws.context["timestamp"], "%Y%m%dT%H%M%SZ"))
    return req, float(ts)


def with_header(req: HttpRequest, name: str, value: str | None) -> HttpRequest:
    """A copy with every `name` header removed, then (if value) one appended."""
    kept = tuple((k, v) for k, v in req.headers if k.lower() != name.lower())
    extra = ((name, value),) if value is not None else ()
    return HttpRequest(req.method, req.path, req.query, kept + extra, req.body, req.source_ip)


def replace_in(req: HttpRequest, header: str, old: str, new: str) -> HttpRequest:
    value = req.header(header)
    assert value is not None and old in value
    return with_header(req, header, value.replace(old, new, 1))


def parse_ok(req: HttpRequest) -> sigv4.SigV4Claim:
    claim = sigv4.parse(req)
    assert claim is not None
    return claim


def codeartifact_request(**kw: object) -> tuple[HttpRequest, float]:
    return botocore_signed("POST", f"{ENDPOINT}/v1/authorization-token?domain=my-domain&duration=900",
                           service="codeartifact", **kw)  # type: ignore[arg-type]


def sts_form_request(**kw: object) -> tuple[HttpRequest, float]:
    return botocore_signed(
        "POST", f"{ENDPOINT}/", service="sts",
        data={"Action": "GetCallerIdentity", "Version": "2011-06-15"},
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        **kw)  # type: ignore[arg-type]


# --- real client shapes -------------------------------------------------------------------------

def test_boto3_codeartifact_get_authorization_token_verifies() -> None:
    req, ts = codeartifact_request(region="eu-west-1")
    claim = parse_ok(req)
    assert (claim.access_key_id, claim.region, claim.service) == (AKID, "eu-west-1", "codeartifact")
    assert claim.signed_headers == ("host", "x-amz-date")
    assert claim.session_token is None and not claim.presigned and claim.timestamp == ts
    canonical = sigv4.canonical_request(req, claim)
    assert canonical.splitlines()[:4] == [
        "POST", "/v1/authorization-token", "domain=my-domain&duration=900", "host:127.0.0.1:18765"]
    sigv4.verify(req, claim, Secret(SECRET), now=ts)


def test_boto3_codeartifact_with_session_token_verifies() -> None:
    req, ts = codeartifact_request(token=TOKEN)
    claim = parse_ok(req)
    assert claim.signed_headers == ("host", "x-amz-date", "x-amz-security-token")
    assert claim.session_token == TOKEN
    sigv4.verify(req, claim, Secret(SECRET), now=ts)


def test_boto3_sts_form_post_verifies() -> None:
    req, ts = sts_form_request()
    claim = parse_ok(req)
    assert claim.signed_headers == ("content-type", "host", "x-amz-date")
    assert req.body == b"Action=GetCallerIdentity&Version=2011-06-15"
    sigv4.verify(req, claim, Secret(SECRET), now=ts)


def test_paws_shaped_sts_request_verifies_against_an_independent_signature() -> None:
    # paws 0.7.7 signs accept and content-length too, and its own header order (spec §2.2).
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    amz_date, date = "20261122T204551Z", "20261122"
    signed = "accept;content-length;content-type;host;x-amz-date;x-amz-security-token"
    canonical = "\n".join([
        "POST", "/", "",
        "accept:application/xml",
        "content-length:43",
        "content-type:application/x-www-form-urlencoded; charset=utf-8",
        "host:127.0.0.1:18765",
        f"x-amz-date:{amz_date}",
        f"x-amz-security-token:{TOKEN}",
        "", signed, hashlib.sha256(body).hexdigest()])
    scope = f"{date}/us-east-1/sts/aws4_request"
    sts = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = ("AWS4" + SECRET).encode()
    for part in (date, "us-east-1", "sts", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    req = HttpRequest("POST", "/", "", (
        ("Host", "127.0.0.1:18765"),
        ("Accept-Encoding", "deflate, gzip, br, zstd"),
        ("Accept", "application/xml"),
        ("User-Agent", "paws/0.7.7 (R4.2.2; linux-gnu; x86_64)"),
        ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
        ("X-Amz-Security-Token", TOKEN),
        ("X-Amz-Date", amz_date),
        ("Authorization", f"AWS4-HMAC-SHA256 Credential={AKID}/{scope}, "
                          f"SignedHeaders={signed}, Signature={signature}"),
        ("Content-Length", "43"),
    ), body)
    claim = parse_ok(req)
    assert sigv4.canonical_request(req, claim) == canonical
    assert sigv4.string_to_sign(claim, canonical) == sts
    sigv4.verify(req, claim, Secret(SECRET), now=claim.timestamp + 60)


def test_double_encoded_slash_in_path_verifies() -> None:
    # botocore encodes the already-encoded path again for non-S3 services: %2F -> %252F.
    req, ts = botocore_signed("GET", f"{ENDPOINT}/v1/package/version/a%2Fb?domain=d",
                              service="codeartifact")
    claim = parse_ok(req)
    assert sigv4.canonical_request(req, claim).splitlines()[1] == "/v1/package/version/a%252Fb"
    sigv4.verify(req, claim, Secret(SECRET), now=ts)
    decoded = HttpRequest(req.method, "/v1/package/version/a/b", req.query, req.headers)
    with pytest.raises(SignatureMismatch):
        sigv4.verify(decoded, claim, Secret(SECRET), now=ts)


def test_date_header_instead_of_x_amz_date_verifies() -> None:
    # botocore keeps (and re-stamps, RFC 1123) a Date header if one is present, and omits X-Amz-Date.
    req, ts = codeartifact_request(headers={"Date": "Thu, 01 Jan 1970 00:00:00 GMT"})
    assert req.header("X-Amz-Date") is None
    claim = parse_ok(req)
    assert "date" in claim.signed_headers
    assert claim.timestamp == ts and claim.amz_date == time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ts))
    sigv4.verify(req, claim, Secret(SECRET), now=ts)


@pytest.mark.parametrize("date", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00",
                                  "Fri, 31 Dec 9999 23:59:59 -2359"])
def test_a_date_header_past_the_calendar_is_incomplete_not_a_fault(date: str) -> None:
    req = HttpRequest("POST", "/", "", (("Host", "x"), ("Date", date), ("Authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261124/us-east-1/ecr/aws4_request, SignedHeaders=host, "
        "Signature=" + "a" * 64)))
    with pytest.raises(IncompleteSignature, match="Date header"):
        sigv4.parse(req)


def test_presigned_query_request_verifies_until_it_expires() -> None:
    req, ts = botocore_signed("GET", f"{ENDPOINT}/?Action=GetCallerIdentity&Version=2011-06-15",
                              service="sts", token=TOKEN, presign_expires=300)
    claim = parse_ok(req)
    assert claim.presigned and claim.expires == 300 and claim.session_token == TOKEN
    assert claim.signed_headers == ("host",)
    for now in (ts, ts + 300):
        sigv4.verify(req, claim, Secret(SECRET), now=now)
    with pytest.raises(RequestExpired):
        sigv4.verify(req, claim, Secret(SECRET), now=ts + 301)
    with pytest.raises(RequestExpired):
        sigv4.verify(req, claim, Secret(SECRET), now=ts - 901)


def test_a_presigned_request_lives_no_longer_than_the_signature_window() -> None:
    """X-Amz-Expires up to a week is accepted as a value, but the request is honoured only within the
    window (900 s here), as STS does for a presigned GetCallerIdentity."""
    req, ts = botocore_signed("GET", f"{ENDPOINT}/?Action=GetCallerIdentity&Version=2011-06-15",
                              service="sts", presign_expires=604800)
    claim = parse_ok(req)
    sigv4.verify(req, claim, Secret(SECRET), now=ts + 900)
    with pytest.raises(RequestExpired, match=r"\+ 900 s is earlier"):
        sigv4.verify(req, claim, Secret(SECRET), now=ts + 901)
    with pytest.raises(RequestExpired):
        sigv4.verify(req, claim, Secret(SECRET), now=ts + 6 * 86400)


@pytest.mark.parametrize("expires", [0, 604801])
def test_presigned_expires_out_of_range_is_rejected(expires: int) -> None:
    req, ts = botocore_signed("GET", f"{ENDPOINT}/?Action=GetCallerIdentity&Version=2011-06-15",
                              service="sts", presign_expires=expires)
    with pytest.raises(IncompleteSignature, match="X-Amz-Expires"):
        sigv4.verify(req, parse_ok(req), Secret(SECRET), now=ts)


def test_unsigned_payload_header_verifies_and_a_declared_hash_must_match_the_body() -> None:
    req, ts = codeartifact_request(headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    claim = parse_ok(req)
    assert "x-amz-content-sha256" in claim.signed_headers
    assert sigv4.canonical_request(req, claim).endswith("\nUNSIGNED-PAYLOAD")
    sigv4.verify(req, claim, Secret(SECRET), now=ts)

    declared = hashlib.sha256(b"{}").hexdigest()
    req, ts = codeartifact_request(headers={"X-Amz-Content-SHA256": declared})
    claim = parse_ok(req)
    tampered = HttpRequest(req.method, req.path, req.query, req.headers, b"{}")
    sigv4.verify(tampered, claim, Secret(SECRET), now=ts)  # declared hash is the body's
    with pytest.raises(SignatureMismatch, match="x-amz-content-sha256"):
        sigv4.verify(req, claim, Secret(SECRET), now=ts)  # body is empty, declared is not


# --- time ---------------------------------------------------------------------------------------

def test_skew_window_is_fifteen_minutes_each_way() -> None:
    req, ts = codeartifact_request()
    claim = parse_ok(req)
    for now in (ts + 899, ts + 900, ts - 899):
        sigv4.verify(req, claim, Secret(SECRET), now=now)
    with pytest.raises(RequestExpired) as old:
        sigv4.verify(req, claim, Secret(SECRET), now=ts + 901)
    fmt = lambda t: time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))  # noqa: E731
    assert old.value.message == (f"Signature expired: {claim.amz_date} is now earlier than "
                                 f"{fmt(ts + 1)} ({fmt(ts + 901)} - 15 min.)")
    with pytest.raises(RequestExpired, match="not yet current"):
        sigv4.verify(req, claim, Secret(SECRET), now=ts - 901)


# --- malformed claims ---------------------------------------------------------------------------

def test_no_sigv4_at_all_is_none() -> None:
    assert sigv4.parse(HttpRequest("GET", "/", "a=1", (("Host", "h"),))) is None


@pytest.mark.parametrize("mutate, message", [
    (lambda r: with_header(r, "Authorization", "Basic QUtJRDpzZWNyZXQ="), "Unsupported Authorization"),
    (lambda r: replace_in(r, "Authorization", ", Signature=", ", Sig="),
     "Authorization header requires 'Signature' parameter"),
    (lambda r: replace_in(r, "Authorization", "Credential=", "Cred="), "requires 'Credential'"),
    (lambda r: replace_in(r, "Authorization", "SignedHeaders=", "Headers="), "requires 'SignedHeaders'"),
    (lambda r: replace_in(r, "Authorization", "/aws4_request", "/aws4_requests"), "terminator"),
    (lambda r: replace_in(r, "Authorization", "/us-east-1/", "/us-east-1/x/"), "malformed"),
    (lambda r: replace_in(r, "Authorization", "/us-east-1/", "//"), "valid region"),
    (lambda r: replace_in(r, "Authorization", "/codeartifact/", "//"), "correct service"),
    (lambda r: replace_in(r, "Authorization", "Signature=", "Signature=zz"), "64 hexadecimal"),
    (lambda r: replace_in(r, "Authorization", "SignedHeaders=host;", "SignedHeaders="), "'Host' must be"),
    (lambda r: with_header(r, "X-Amz-Date", None), "'X-Amz-Date' or a 'Date'"),
    (lambda r: with_header(r, "X-Amz-Date", "2026-11-22T20:38:50Z"), "basic format"),
    (lambda r: HttpRequest(r.method, r.path, r.query + "&X-Amz-Algorithm=AWS4-HMAC-SHA256", r.headers),
     "Only one auth mechanism"),
], ids=["other-scheme", "no-signature", "no-credential", "no-signed-headers", "bad-terminator",
        "six-part-credential", "empty-region", "empty-service", "signature-not-hex", "host-unsigned",
        "no-date", "extended-date", "header-and-query-auth"])
def test_malformed_claims_are_incomplete_signatures(mutate, message: str) -> None:
    req, _ = codeartifact_request()
    with pytest.raises(IncompleteSignature, match=message):
        sigv4.parse(mutate(req))


def test_scope_date_must_be_the_timestamp_date() -> None:
    req, _ = codeartifact_request()
    date = parse_ok(req).date
    other = "19991231"
    with pytest.raises(IncompleteSignature, match="Date in Credential scope does not match"):
        sigv4.parse(replace_in(req, "Authorization", f"/{date}/", f"/{other}/"))


def test_empty_region_in_scope_is_rejected() -> None:
    # An empty AWS_DEFAULT_REGION makes botocore sign "AKID/20261122//sts/aws4_request".
    req, _ = sts_form_request(region="")
    assert "//sts/aws4_request" in (req.header("Authorization") or "")
    with pytest.raises(IncompleteSignature, match="region"):
        sigv4.parse(req)


@pytest.mark.parametrize("region", ["x:y", "A B", "us-east-1:444455556666", "-x", "us_east_1", "a" * 64])
def test_a_region_that_is_not_a_region_name_is_rejected(region: str) -> None:
    """The region goes into ARNs and endpoints as it is: ':' would shift an ARN's fields."""
    req, _ = sts_form_request()
    with pytest.raises(IncompleteSignature, match="valid region"):
        sigv4.parse(replace_in(req, "Authorization", "/us-east-1/", f"/{region}/"))
    assert parse_ok(replace_in(req, "Authorization", "/us-east-1/", "/cn-northwest-1/")).region == "cn-northwest-1"


def test_an_unsigned_x_amz_target_is_rejected() -> None:
    """X-Amz-Target selects the JSON protocols' operation: outside the signature, a captured request
    could be replayed as another operation. Every client signs it (aws-wire.md §2.2)."""
    target = {"X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken",
              "Content-Type": "application/x-amz-json-1.1"}
    req, _ = botocore_signed("POST", f"{ENDPOINT}/", service="ecr", data=b"{}", headers=target)
    assert "x-amz-target" in parse_ok(req).signed_headers
    unsigned = replace_in(req, "Authorization", ";x-amz-target", "")
    with pytest.raises(IncompleteSignature, match="X-Amz-Target"):
        sigv4.parse(unsigned)


def test_signed_header_missing_from_request_is_rejected() -> None:
    req, _ = sts_form_request()
    with pytest.raises(IncompleteSignature, match="content-type"):
        sigv4.parse(with_header(req, "Content-Type", None))


def test_presigned_request_without_expires_is_incomplete() -> None:
    req, _ = botocore_signed("GET", f"{ENDPOINT}/?Action=GetCallerIdentity", service="sts",
                             presign_expires=60)
    query = "&".join(p for p in req.query.split("&") if not p.startswith("X-Amz-Expires="))
    with pytest.raises(IncompleteSignature, match="X-Amz-Expires"):
        sigv4.parse(HttpRequest(req.method, req.path, query, req.headers))


# --- mismatch and secrecy -----------------------------------------------------------------------

def test_wrong_secret_is_a_mismatch_that_reveals_no_secret() -> None:
    req, ts = sts_form_request(token=TOKEN)
    claim = parse_ok(req)
    wrong = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYWRONGKEY0"
    with pytest.raises(SignatureMismatch) as err:
        sigv4.verify(req, claim, Secret(wrong), now=ts)
    exc = err.value
    assert exc.message == sigv4.MISMATCH_MESSAGE
    assert exc.string_to_sign == sigv4.string_to_sign(claim, sigv4.canonical_request(req, claim))
    shown = " ".join([str(exc), repr(exc), repr(exc.args), repr(vars(exc)), repr(claim)])
    for secret in (wrong, SECRET, TOKEN):
        assert secret not in shown
    key = sigv4.signing_key(wrong, claim.date, claim.region, claim.service)
    assert key.hex() not in shown and wrong not in repr(sigv4.signing_key)


def test_signing_key_matches_the_aws_documentation_example() -> None:
    # docs.aws.amazon.com "Examples of how to derive a signing key for Signature Version 4"
    key = sigv4.signing_key(SECRET, "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
    assert sigv4._derive_signing_key.cache_info().maxsize == 1024


# --- canonicalisation details ---------------------------------------------------------------------

def test_query_canonicalisation() -> None:
    # '+' is a literal plus (-> %2B), never a space; %XX is decoded and re-encoded upper-case.
    assert canonical_query("b=2&a=x+y&a=%7e%2f&c") == "a=x%2By&a=~%2F&b=2&c="
    assert canonical_query("next-token=a%2Bb%2Fc%3Dd%20e~f") == "next-token=a%2Bb%2Fc%3Dd%20e~f"
    assert canonical_query("") == ""


def test_uri_canonicalisation() -> None:
    assert canonical_uri("") == "/"
    assert canonical_uri("/a//b/./c/../d/") == "/a/b/d/"
    assert canonical_uri("//a//b/..", normalize=False) == "//a//b/.."
    assert canonical_uri("/a b/%2F~") == "/a%20b/%252F~"
    assert remove_dot_segments("/example/..") == "/"


# --- property: any single-byte change to a signed part is rejected ------------------------------

def _same_query(a: str, b: str) -> bool:
    """Equal under SigV4 query semantics (percent-decoded pairs, e.g. %e1 == %E1)."""
    def decoded(q: str) -> list[tuple[bytes, bytes]]:
        raw = lambda t: unquote_to_bytes(t.encode("utf-8", "surrogateescape"))  # noqa: E731
        return sorted((raw(k), raw(v))
                      for k, _, v in (p.partition("=") for p in q.split("&")))
    return decoded(a) == decoded(b)


def _mutate(original: str, position: int, byte: int, encoding: str) -> str:
    raw = bytearray(original.encode(encoding, "surrogateescape"))
    raw[position % len(raw)] = byte
    return raw.decode(encoding, "surrogateescape")


@st.composite
def single_byte_mutations(draw: st.DrawFn) -> tuple[HttpRequest, HttpRequest, VectorCase]:
    case = load_case(draw(st.sampled_from(CASES)))
    req = case.request("header")
    claim = parse_ok(req)
    targets = ["method", "path", "signature"] + ["query"] * bool(req.query) + ["body"] * bool(req.body)
    targets += [f"header:{i}" for i, (name, _) in enumerate(req.headers)
                if name.lower() in claim.signed_headers]
    target = draw(st.sampled_from(targets))
    position, byte = draw(st.integers(0, 10_000)), draw(st.integers(0, 255))
    method, path, query, body, headers = req.method, req.path, req.query, req.body, list(req.headers)
    if target == "method":
        method = _mutate(method, position, byte, "utf-8")
    elif target == "path":
        path = _mutate(path, position, byte, "utf-8")
        norm = remove_dot_segments if case.normalize else (lambda p: p)
        assume(norm(path) != norm(req.path))  # e.g. '/example/..' -> '/exampl!/..' is still '/'
    elif target == "query":
        query = _mutate(query, position, byte, "utf-8")
        assume(not _same_query(query, req.query))
    elif target == "body":
        body = bytes(_mutate(body.decode("latin-1"), position, byte, "latin-1"), "latin-1")
    elif target == "signature":
        i = next(i for i, (n, _) in enumerate(headers) if n.lower() == "authorization")
        head, sig = headers[i][1].rsplit("Signature=", 1)
        headers[i] = (headers[i][0], head + "Signature=" + _mutate(sig, position, byte, "latin-1"))
    else:
        i = int(target.split(":")[1])
        value = _mutate(headers[i][1], position, byte, "latin-1")
        assume(" ".join(value.split()) != " ".join(headers[i][1].split()))  # trimall-equal
        headers[i] = (headers[i][0], value)
    mutated = HttpRequest(method, path, query, tuple(headers), body)
    assume(mutated != req)
    return req, mutated, case


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(single_byte_mutations())
def test_any_single_byte_change_to_a_signed_part_is_rejected(
        sample: tuple[HttpRequest, HttpRequest, VectorCase]) -> None:
    original, mutated, case = sample
    sigv4.verify(original, parse_ok(original), case.secret, now=case.timestamp,
                 normalize_path=case.normalize)  # the unmutated request does verify
    with pytest.raises(VERIFY_ERRORS):
        claim = sigv4.parse(mutated)
        assert claim is not None
        sigv4.verify(mutated, claim, case.secret, now=case.timestamp, normalize_path=case.normalize)


def test_unsigned_payload_with_a_body_is_refused() -> None:
    """A body outside the signature could be swapped in transit: refused for these services."""
    from botocore.auth import SigV4Auth as _Auth
    from botocore.awsrequest import AWSRequest as _Req
    from botocore.credentials import Credentials as _Creds

    from regauth.auth import sigv4 as _sigv4
    from regauth.auth.canonical import HttpRequest as _Http
    from regauth.domain.secret import Secret as _Secret
    from regauth.errors import IncompleteSignature as _Incomplete

    body = b"Action=PutUserPolicy&Version=2010-05-08&UserName=u&PolicyName=p&PolicyDocument=%7B%7D"
    req = _Req(method="POST", url="http://127.0.0.1:1/", data=body,
               headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                        "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    signer = _Auth(_Creds("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), "iam", "us-east-1")
    signer.add_auth(req)
    http = _Http(method="POST", path="/", query="", body=body,
                 headers=tuple((k, v) for k, v in req.headers.items()) + (("Host", "127.0.0.1:1"),))
    claim = _sigv4.parse(http)
    assert claim is not None
    with pytest.raises(_Incomplete, match="UNSIGNED-PAYLOAD"):
        _sigv4.verify(http, claim, _Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), now=claim.timestamp)
