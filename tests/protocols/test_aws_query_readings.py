"""The request parser reads a query string as the SigV4 verifier does, and refuses what the signature
leaves open: which of a key's values comes first (the canonical query is sorted).

tests/wire/test_signed_query_readings.py shows the same over real signed requests; these are the
cheap sweeps."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regauth.auth.sigv4_canonical import query_pairs
from regauth.errors import Unparseable
from regauth.protocols.aws import parse
from regauth.protocols.aws.models import AwsModels

from . import aws_models, raw

MODELS = aws_models()


@settings(max_examples=400, deadline=None)
@given(text=st.text(alphabet="ab=&+%2FC3. é", max_size=24) | st.text(max_size=12))
def test_the_query_string_is_read_as_the_verifier_reads_it(text):
    """Same pairs as the verifier's (bytes as UTF-8; an empty part, which carries nothing, left out),
    or Unparseable when they are not UTF-8 text."""
    verified = [pair for part in text.split("&") if part for pair in query_pairs(part)]
    try:
        expected = [(k.decode("utf-8"), v.decode("utf-8")) for k, v in verified]
    except UnicodeDecodeError:
        with pytest.raises(Unparseable):
            parse._query_pairs(text)
        return
    assert parse._query_pairs(text) == expected


ROLE = "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=s1"


def test_plus_is_a_plus_in_the_query_string_and_a_space_in_a_form_body():
    sts = MODELS["sts"]
    get = raw("GET", "/", ROLE + "&Policy=a+b%2Bc%20d")
    assert parse.parse_request(sts, get)[1]["Policy"] == "a+b+c d"
    post = raw("POST", "/", "", (), (ROLE + "&Policy=a+b%2Bc%20d").encode())
    assert parse.parse_request(sts, post)[1]["Policy"] == "a b+c d"


@pytest.mark.parametrize("query, body", [
    ("Action=GetSessionToken&Version=2011-06-15&DurationSeconds=900&DurationSeconds=3600", b""),
    ("Action=GetSessionToken&Version=2011-06-15&DurationSeconds=900&Duration%53econds=3600", b""),  # same key
    ("DurationSeconds=3600", b"Action=GetSessionToken&Version=2011-06-15&DurationSeconds=900"),
    ("", b"Action=GetSessionToken&Version=2011-06-15&DurationSeconds=900&DurationSeconds=900"),
    ("Action=GetSessionToken", b"Action=GetCallerIdentity&Version=2011-06-15"),
    ("Action=GetCallerIdentity&Version=2011-06-15&x=1&x=1", b""),       # a key the operation does not read
])
def test_query_protocol_refuses_any_key_given_twice(query, body):
    req = raw("POST" if body else "GET", "/", query, (), body)
    with pytest.raises(Unparseable, match=r"expected one value, not 2"):
        parse.parse_request(MODELS["sts"], req)


def test_query_protocol_nested_keys_given_once_are_read():
    req = raw("POST", "/", "", (), (ROLE + "&Tags.member.1.Key=k&Tags.member.1.Value=v&Tags.member.2.Key=k2"
                                    "&Tags.member.2.Value=v").encode())
    assert parse.parse_request(MODELS["sts"], req)[1]["Tags"] == [{"Key": "k", "Value": "v"},
                                                                  {"Key": "k2", "Value": "v"}]


@pytest.mark.parametrize("query, field", [
    ("domain=dom-a&duration=900&duration=43200", "durationSeconds"),
    ("domain=dom-a&domain=dom-b", "domain"),
    ("domain=dom-a&domain-owner=123456789012&domain-owner=210987654321", "domainOwner"),
])
def test_rest_json_refuses_a_scalar_given_twice(query, field):
    req = raw("POST", "/v1/authorization-token", query)
    with pytest.raises(Unparseable, match=r"expected one '[a-z-]+' parameter, not 2") as err:
        parse.parse_request(MODELS["codeartifact"], req)
    assert err.value.field == field


def test_rest_json_ignores_an_unread_key_given_twice():
    req = raw("POST", "/v1/authorization-token", "domain=dom-a&x=1&x=2")
    assert parse.parse_request(MODELS["codeartifact"], req)[1] == {"domain": "dom-a"}


class _ListQueryLoader:
    """A rest-json operation with a list in the querystring (none of the five models has one)."""

    def load_service_model(self, name, type_name):
        return {"version": "2.0", "metadata": {"protocol": "rest-json", "apiVersion": "2020-01-01",
                                               "signingName": "x", "endpointPrefix": "x", "serviceId": "x"},
                "operations": {"List": {"name": "List", "http": {"method": "GET", "requestUri": "/things"},
                                        "input": {"shape": "In"}}},
                "shapes": {"S": {"type": "string"}, "L": {"type": "list", "member": {"shape": "S"}},
                           "In": {"type": "structure", "members": {
                               "names": {"shape": "L", "location": "querystring", "locationName": "name"},
                               "owner": {"shape": "S", "location": "querystring", "locationName": "owner"}}}}}


def test_rest_json_list_members_may_repeat():
    spec = AwsModels(loader=_ListQueryLoader(), services=["codeartifact"])["codeartifact"]
    assert parse.parse_request(spec, raw("GET", "/things", "name=b&name=a&owner=o"))[1] == {
        "names": ["b", "a"], "owner": "o"}
    with pytest.raises(Unparseable):
        parse.parse_request(spec, raw("GET", "/things", "name=b&owner=o&owner=p"))
