"""The compiled request/response paths against the code they replaced (tests/protocols/reference):
same params or the same error for every request, the same bytes for every result; and each
compiled validator against `ServiceSpec.violations`, the checker it stands in for."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl

import pytest
from botocore.model import Shape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regauth.auth.canonical import HttpRequest
from regauth.errors import RegauthError
from regauth.protocols.aws import parse as fast_parse
from regauth.protocols.aws import serialize as fast_serialize
from regauth.protocols.aws.errors import WireError
from regauth.protocols.aws.models import AwsModels

from . import aws_models, raw
from . import botocore_request as _botocore_request
from .reference import parse as ref_parse
from .reference import serialize as ref_serialize

MODELS = aws_models()
SERVICES = ("codeartifact", "ecr", "ecr-public", "sts", "iam")
OPERATIONS = [(s, op) for s in SERVICES for op in MODELS[s].operation_names]
TOKEN_OPERATIONS = [("codeartifact", "GetAuthorizationToken"), ("ecr", "GetAuthorizationToken"),
                    ("ecr-public", "GetAuthorizationToken"), ("sts", "GetCallerIdentity")]
EXAMPLES = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ECR_TARGET = "AmazonEC2ContainerRegistry_V20150921"


def outcome(fn: Any, *args: Any) -> tuple[Any, ...]:
    """What a call returns, or what it raises (class and, for regauth errors, every field)."""
    try:
        return ("ok", fn(*args))
    except RegauthError as exc:
        return ("error", type(exc), exc.message, exc.field, getattr(exc, "reason", None))
    except Exception as exc:  # noqa: BLE001 - compared, not handled
        return ("crash", type(exc), str(exc))


# --- values shaped by the model ----------------------------------------------------------------------

TEXTS = ["", "a", "ab", "my-domain", "123456789012", "12345678901", "abc_def", "a/b", "UPPER", "with space",
         "ü-é", "数字", "😀", "tab\there", "bell\x07", "&<>\r'\"", "\ud800x", "arn:aws:iam::123456789012:role/r",
         "arn:aws:iam::123456789012:user/alice", "*", "a" * 64, "a" * 65]


def text_for(shape: Shape) -> st.SearchStrategy[str]:
    meta, options = shape.metadata, [st.sampled_from(TEXTS), st.text(max_size=16)]
    if shape.enum:
        options.append(st.sampled_from(shape.enum))
    for bound in (meta.get("min"), meta.get("max")):
        if bound is not None and bound < 3000:
            options.append(st.sampled_from(["a" * max(0, int(bound) + d) for d in (-1, 0, 1)]))
    return st.one_of(options)


def number_for(shape: Shape) -> st.SearchStrategy[Any]:
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    edges = [0, 1, -1] + [int(b) + d for b in (lo, hi) if b is not None for d in (-1, 0, 1)]
    ints = st.sampled_from(edges) | st.integers(-(2**31), 2**31 - 1)
    return ints.map(float) if shape.type_name in ("float", "double") else ints


def converted(shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values as parse_request hands them to the checker."""
    t = shape.type_name
    if t == "structure":
        if depth > 4:
            return st.just({})
        return st.fixed_dictionaries({}, optional={n: converted(m, depth + 1) for n, m in shape.members.items()})
    if t == "list":
        return st.lists(st.none() | converted(shape.member, depth + 1), max_size=12)
    if t == "map":
        return st.dictionaries(text_for(shape.key), st.none() | converted(shape.value, depth + 1), max_size=4)
    if t == "string":
        return text_for(shape)
    if t in ("integer", "long", "float", "double"):
        return number_for(shape)
    if t == "boolean":
        return st.booleans()
    if t == "blob":
        return st.binary(max_size=8)
    return st.datetimes(timezones=st.just(timezone.utc))


def clean(value: Any) -> Any:
    """Without None inside lists and maps (botocore cannot serialise those)."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [clean(v) for v in value if v is not None]
    return value


def result_value(shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    """Anything a handler might put in a result, well-typed or not (None and extra keys included)."""
    t = shape.type_name
    if t == "structure":
        if depth > 4:
            return st.just({})
        members = {n: st.none() | result_value(m, depth + 1) for n, m in shape.members.items()}
        return st.fixed_dictionaries({}, optional={**members, "Unmodelled": st.just("x")}) | st.just("not a dict")
    if t == "list":
        return st.lists(st.none() | result_value(shape.member, depth + 1), max_size=4) | \
            st.tuples(result_value(shape.member, depth + 1))
    if t == "map":
        return st.dictionaries(st.text(max_size=6) | st.integers(), st.none() | result_value(shape.value, depth + 1),
                               max_size=3)
    if t == "timestamp":
        moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1))
        return st.one_of(moments, moments.map(lambda d: d.replace(tzinfo=timezone.utc)),
                         moments.map(lambda d: d.replace(tzinfo=timezone(timedelta(hours=5)))),
                         st.floats(0, 7e9), st.integers(0, 7_000_000_000), st.just("2026-01-02T03:04:05Z"))
    if t == "blob":
        return st.binary(max_size=8) | st.text(max_size=8)
    if t == "boolean":
        return st.booleans() | st.integers(0, 2)
    if t in ("integer", "long"):
        return st.integers(-(2**40), 2**40) | st.floats(-1e6, 1e6) | st.just("12")
    if t in ("float", "double"):
        return st.floats(allow_nan=False, allow_infinity=False) | st.integers(-99, 99)
    return st.text(max_size=12) | st.sampled_from(TEXTS) | st.integers(-5, 5)


# --- validators ---------------------------------------------------------------------------------------

@EXAMPLES
@given(data=st.data(), which=st.sampled_from(OPERATIONS))
def test_compiled_validator_agrees_with_the_checker(data, which):
    service, operation = which
    spec = MODELS[service]
    shape = spec.model.operation_model(operation).input_shape
    if shape is None:
        return
    value = data.draw(converted(shape))
    assert fast_parse._validator(spec, shape)(value) == (not spec.violations(shape, value))


class _RecursiveLoader:
    """A model whose input shape contains itself (and a member named differently on the wire)."""

    def load_service_model(self, name, type_name):
        return {"version": "2.0", "metadata": {"protocol": "json", "apiVersion": "2020-01-01", "targetPrefix": "T",
                                               "signingName": "x", "endpointPrefix": "x", "serviceId": "x"},
                "operations": {"Put": {"name": "Put", "http": {"method": "POST", "requestUri": "/"},
                                       "input": {"shape": "Node"}, "output": {"shape": "Node"}}},
                "shapes": {"Name": {"type": "string", "min": 2, "pattern": "[a-z]+"},
                           "Nodes": {"type": "list", "member": {"shape": "Node"}, "max": 2},
                           "Node": {"type": "structure", "required": ["name"],
                                    "members": {"name": {"shape": "Name"},
                                                "children": {"shape": "Nodes", "locationName": "kids"}}}}}


@pytest.mark.parametrize("body", [{"name": "ab"}, {"name": "a"}, {"name": "ab", "children": [{"name": "cd"}]},
                                  {"name": "ab", "children": [{"name": "cd", "children": [{}]}]},
                                  {"name": "ab", "children": [{"name": "cd"}] * 3}, {"children": []},
                                  {"name": "ab", "kids": [{"name": "cd"}]}])
def test_recursive_shapes(body):
    spec = AwsModels(loader=_RecursiveLoader(), services=["ecr"])["ecr"]
    req = raw("POST", "/", "", (("X-Amz-Target", "T.Put"),), json.dumps(body).encode())
    assert outcome(fast_parse.parse_request, spec, req) == outcome(ref_parse.parse_request, spec, req)
    result = (spec, "Put", body, "rid")
    assert outcome(fast_serialize.serialize_result, *result) == outcome(ref_serialize.serialize_result, *result)


# --- requests -----------------------------------------------------------------------------------------

def botocore_request(spec, operation: str, params: dict[str, Any], endpoint: str) -> HttpRequest:
    """The request botocore puts on the wire for `params`, without its client-side validation."""
    return _botocore_request(spec, operation, params, endpoint, validate=False)


def same_parse(spec, req):
    assert outcome(fast_parse.parse_request, spec, req) == outcome(ref_parse.parse_request, spec, req)


@EXAMPLES
@given(data=st.data(), which=st.sampled_from(OPERATIONS + TOKEN_OPERATIONS * 20),
       endpoint=st.sampled_from(["http://127.0.0.1:1", "http://127.0.0.1:1/prefix/"]))
def test_botocore_requests_parse_alike(data, which, endpoint):
    service, operation = which
    spec = MODELS[service]
    shape = spec.model.operation_model(operation).input_shape
    params = clean(data.draw(converted(shape))) if shape is not None else {}
    try:
        req = botocore_request(spec, operation, params, endpoint)
    except Exception:  # noqa: BLE001 - botocore cannot put every value on the wire (e.g. empty uri labels)
        return
    same_parse(spec, req)


QUERY_KEYS = ["Action", "Version", "RoleArn", "RoleSessionName", "DurationSeconds", "Tags.member.1.Key",
              "Tags.member.1.Value", "Tags.member.x", "PolicyArns.member.2.arn", "UserName", "Action.x", "x"]


@EXAMPLES
@given(pairs=st.lists(st.tuples(st.sampled_from(QUERY_KEYS), st.sampled_from(
    ["AssumeRole", "GetCallerIdentity", "GetSessionToken", "CreateUser", "2011-06-15", "2010-05-08", "900", "a+b",
     "a%20b", "%FF", "r", "", "arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr"]) | st.text(max_size=8)), max_size=7),
    in_body=st.booleans(), service=st.sampled_from(["sts", "iam"]), noise=st.sampled_from(["", "&", "&&x", "=&="]))
def test_query_requests_parse_alike(pairs, in_body, service, noise):
    text = "&".join(f"{k}={v}" for k, v in pairs) + noise
    req = raw("POST", "/", "", (), text.encode()) if in_body else raw("GET", "/", text)
    same_parse(MODELS[service], req)


@EXAMPLES
@given(target=st.sampled_from([f"{ECR_TARGET}.GetAuthorizationToken", f"{ECR_TARGET}.CreateRepository",
                               "SpencerFrontendService.GetAuthorizationToken", f"{ECR_TARGET}.Nope", "", "x"]),
       body=st.sampled_from([b"{}", b"", b"  ", b"{ }", b"[]", b"null", b"{}x", b"\xef\xbb\xbf{}",
                             b'{"registryIds":[]}', b'{"registryIds":["123456789012"]}', b'{"registryIds":[null]}',
                             b'{"repositoryName":1}', "{}".encode("utf-16")]) | st.binary(max_size=24),
       service=st.sampled_from(["ecr", "ecr-public"]))
def test_json_requests_parse_alike(target, body, service):
    same_parse(MODELS[service], raw("POST", "/", "", (("X-Amz-Target", target),), body))


@EXAMPLES
@given(method=st.sampled_from(["POST", "GET", "PUT", "DELETE", "post"]),
       path=st.sampled_from(["/v1/authorization-token", "/prefix/v1/authorization-token", "/v1/domain", "/v1/domains",
                             "/v1/repository", "/v1/repository/endpoint", "/v1/nope", "/", ""]),
       query=st.lists(st.tuples(st.sampled_from(["domain", "domain-owner", "duration", "repository", "format", "x"]),
                                st.sampled_from(["my-domain", "123456789012", "900", "-1", "pypi", "%FF", "a%2Fb", "",
                                                 "a+b", "99999999999999999999"]) | st.text(max_size=6)), max_size=4),
       body=st.sampled_from([b"", b"{}", b'{"maxResults": 5}', b"[1]", b"{bad"]))
def test_rest_json_requests_parse_alike(method, path, query, body):
    qs = "&".join(f"{k}={v}" for k, v in query)
    for _ in range(2):          # the second time from the route memo
        same_parse(MODELS["codeartifact"], raw(method, path, qs, (), body))


class _LiteralQueryLoader:
    """rest-json routes told apart by a literal query part: the query must keep deciding the route."""

    def load_service_model(self, name, type_name):
        member = {"shape": "S", "location": "uri", "locationName": "Id"}
        return {"version": "2.0", "metadata": {"protocol": "rest-json", "apiVersion": "2020-01-01",
                                               "signingName": "x", "endpointPrefix": "x", "serviceId": "x"},
                "operations": {
                    "GetThing": {"name": "GetThing", "http": {"method": "GET", "requestUri": "/things/{Id}"},
                                 "input": {"shape": "In"}},
                    "GetTags": {"name": "GetTags", "http": {"method": "GET", "requestUri": "/things/{Id}?tagging"},
                                "input": {"shape": "In"}}},
                "shapes": {"S": {"type": "string"}, "In": {"type": "structure", "members": {"Id": member}}}}


def test_routes_with_literal_query_parts_are_not_memoised_by_path():
    spec = AwsModels(loader=_LiteralQueryLoader(), services=["codeartifact"])["codeartifact"]
    for query, operation in [("tagging", "GetTags"), ("", "GetThing"), ("tagging=", "GetTags"), ("x=1", "GetThing")]:
        assert fast_parse.parse_request(spec, raw("GET", "/things/a", query))[0] == operation


@EXAMPLES
@given(text=st.text(alphabet="ab=&+%2F.é", max_size=24) | st.text(max_size=12))
def test_form_pairs_are_parse_qsl(text):
    assert outcome(fast_parse._form_pairs, text) == outcome(ref_parse._form_pairs, text)
    if "%" not in text:
        assert fast_parse._form_pairs(text) == parse_qsl(text, keep_blank_values=True)


@EXAMPLES
@given(text=st.text(alphabet="ab=&+%2FC3.é", max_size=24))
def test_rest_query_strings_alike(text):
    assert outcome(fast_parse._rest_query, text) == outcome(ref_parse._rest_query, text)


# --- responses ----------------------------------------------------------------------------------------

def same_result(spec, operation, result):
    args = (spec, operation, result, "req-1 <&>")
    assert outcome(fast_serialize.serialize_result, *args) == outcome(ref_serialize.serialize_result, *args)


@EXAMPLES
@given(data=st.data(), which=st.sampled_from(OPERATIONS + TOKEN_OPERATIONS * 20))
def test_results_serialise_byte_for_byte_alike(data, which):
    service, operation = which
    spec = MODELS[service]
    shape = spec.model.operation_model(operation).output_shape
    result = data.draw(result_value(shape)) if shape is not None else data.draw(st.none() | st.just({"x": 1}))
    same_result(spec, operation, result if isinstance(result, dict) or result is None else {})


@pytest.mark.parametrize(("service", "operation", "result"), [
    ("ecr", "GetAuthorizationToken", {"authorizationData": [
        {"authorizationToken": "QVdTOnRva2Vu", "expiresAt": 1800043200.123456, "proxyEndpoint": "http://r:8080"}]}),
    ("ecr", "GetAuthorizationToken", {"authorizationData": []}),
    ("ecr", "GetAuthorizationToken", None),
    ("ecr-public", "GetAuthorizationToken", {"authorizationData": {"authorizationToken": "t", "expiresAt": 1.5}}),
    ("codeartifact", "GetAuthorizationToken", {"authorizationToken": "t\u2028é", "expiration": datetime(2030, 1, 1)}),
    ("sts", "GetCallerIdentity", {"UserId": "AIDA", "Account": "123456789012", "Arn": "arn:aws:iam::1:user/<a&b>\r"}),
    ("sts", "GetCallerIdentity", {"UserId": "\x00\ud800\ufffe", "Account": 123, "Arn": None}),
    ("ecr", "GetAuthorizationToken", {"authorizationData": [{"expiresAt": float("nan")}]}),
    ("ecr", "GetAuthorizationToken", {"authorizationData": [{"expiresAt": "soon"}]}),
])
def test_token_results_alike(service, operation, result):
    same_result(MODELS[service], operation, result)


@EXAMPLES
@given(text=st.text())
def test_xml_escaping_alike(text):
    assert fast_serialize._esc(text) == ref_serialize._esc(text)


def test_xml_escaping_every_code_point():
    every = "".join(map(chr, range(0x110000)))
    assert fast_serialize._esc(every) == ref_serialize._esc(every)
    for cp in range(0x110000):
        plain = fast_serialize._XML_SPECIAL.search(chr(cp)) is None
        assert plain == (ref_serialize._esc(chr(cp)) == chr(cp)), hex(cp)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=10)


@EXAMPLES
@given(value=json_values)
def test_json_encoding_is_json_dumps(value):
    assert outcome(fast_serialize._dumps, value) == outcome(ref_serialize._dumps, value)


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("code", ["ValidationException", "ResourceNotFoundException", "ThrottlingException", "X"])
def test_error_envelopes_alike(service, code):
    err = WireError(code=code, status=400, message="bad <value> & \"more\" é\r", sender_fault=code != "X",
                    fields={"resourceId": "r", "retryAfterSeconds": 3, "message": "m"}, headers=[("Retry-After", "1")])
    assert fast_serialize.serialize_error(MODELS[service], err, "rid") == \
        ref_serialize.serialize_error(MODELS[service], err, "rid")


def test_xml_character_classes_match_their_definitions_on_every_code_point() -> None:
    import re

    from regauth.protocols.aws import serialize

    invalid = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
    special = re.compile("[^\t\n\x20-\x25\x27-\x3b\x3d\x3f-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
    text = "".join(map(chr, range(0x110000)))
    assert [m.start() for m in serialize._XML_INVALID.finditer(text)] == [m.start() for m in invalid.finditer(text)]
    assert [m.start() for m in serialize._XML_SPECIAL.finditer(text)] == [m.start() for m in special.finditer(text)]
