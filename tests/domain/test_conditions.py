"""The condition-operator table (regauth.domain.conditions): every family, IfExists, missing keys,
set qualifiers, policy variables in values, and malformed Condition elements."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regauth.domain.conditions import OPERATORS, parse_conditions, split_operator
from regauth.errors import MalformedPolicy

MISSING = object()


def holds(operator: str, value: object, request: object = MISSING, *, key: str = "k:k",
          variables: bool = True, **extra: object) -> bool:
    """Does {operator: {key: value}} hold when the request has key=request (and extra keys)?"""
    (condition,) = parse_conditions({operator: {key: value}}, variables=variables)
    keys = {k.replace("__", ":").lower(): v for k, v in extra.items()}
    if request is not MISSING:
        keys[key.lower()] = request
    return condition.holds(keys)


# --- String ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("operator", "value", "request_value", "expected"), [
    ("StringEquals", "abc", "abc", True),
    ("StringEquals", "abc", "ABC", False),
    ("StringEquals", ["x", "abc"], "abc", True),          # values OR'ed
    ("StringEquals", "a*", "abc", False),                 # no wildcards in Equals
    ("StringEquals", "true", True, True),                 # a bool reads as "true"
    ("StringEquals", 3600, 3600, True),                   # JSON number value, int request
    ("StringEquals", "2030-01-01T12:00:00Z", datetime(2030, 1, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))), True),
    ("StringNotEquals", "abc", "abd", True),
    ("StringNotEquals", "abc", "abc", False),
    ("StringNotEquals", ["x", "abc"], "abc", False),      # negated values NOR'ed
    ("StringNotEquals", ["x", "y"], "abc", True),
    ("StringEqualsIgnoreCase", "AbC", "aBc", True),
    ("StringEqualsIgnoreCase", "abc", "abd", False),
    ("StringNotEqualsIgnoreCase", "AbC", "aBc", False),
    ("StringNotEqualsIgnoreCase", "abc", "abd", True),
    ("StringLike", "code*.amazonaws.com", "codeartifact.amazonaws.com", True),
    ("StringLike", "team-?", "team-a", True),
    ("StringLike", "team-?", "team-ab", False),
    ("StringLike", "Team*", "team-a", False),              # case-sensitive
    ("StringNotLike", "key1*", "key1:legal", False),
    ("StringNotLike", "key1*", "key2:audit", True),
    ("StringNotLike", ["a*", "b*"], "bx", False),
])
def test_string_operators(operator: str, value: object, request_value: object, expected: bool) -> None:
    assert holds(operator, value, request_value) is expected


# --- Numeric --------------------------------------------------------------------------------

@pytest.mark.parametrize(("operator", "value", "request_value", "expected"), [
    ("NumericEquals", "10", 10, True),
    ("NumericEquals", "10", "10.0", True),
    ("NumericEquals", "1.5", 1.5, True),
    ("NumericEquals", "10", 11, False),
    ("NumericNotEquals", "10", 11, True),
    ("NumericNotEquals", ["10", "11"], 11, False),
    ("NumericLessThan", "3600", 3599, True),
    ("NumericLessThan", "3600", 3600, False),
    ("NumericLessThanEquals", "3600", 3600, True),
    ("NumericLessThanEquals", "3600", 3601, False),
    ("NumericLessThanEquals", 3600, "900", True),
    ("NumericGreaterThan", "900", 901, True),
    ("NumericGreaterThan", "900", 900, False),
    ("NumericGreaterThanEquals", "900", 900, True),
    ("NumericGreaterThanEquals", "900", -900, False),
    ("NumericLessThan", "1", 10 ** 400, False),            # huge ints are compared exactly
    ("NumericLessThan", "0.3", Decimal("0.2"), True),
])
def test_numeric_operators(operator: str, value: object, request_value: object, expected: bool) -> None:
    assert holds(operator, value, request_value) is expected


@pytest.mark.parametrize("operator", ["NumericEquals", "NumericNotEquals", "NumericLessThan",
                                      "NumericGreaterThanEquals"])
@pytest.mark.parametrize("request_value", ["abc", "", "1e3", "0x10", "\u0661\u0662", True, float("nan"),
                                           float("inf"), b"12", {"a": 1}])
def test_numeric_unreadable_request_values_are_false_even_when_negated(operator: str, request_value: object) -> None:
    assert holds(operator, "12", request_value) is False


# --- Date -----------------------------------------------------------------------------------

NOON = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("operator", "value", "request_value", "expected"), [
    ("DateEquals", "2030-01-01T12:00:00Z", NOON, True),
    ("DateEquals", "2030-01-01T12:00:00Z", NOON + timedelta(seconds=1), False),
    ("DateNotEquals", "2030-01-01T12:00:00Z", NOON + timedelta(seconds=1), True),
    ("DateNotEquals", "2030-01-01T12:00:00Z", NOON, False),
    ("DateLessThan", "2030-01-01T12:00:01Z", NOON, True),
    ("DateLessThan", "2030-01-01T12:00:00Z", NOON, False),
    ("DateLessThanEquals", "2030-01-01T12:00:00Z", NOON, True),
    ("DateGreaterThan", "2030-01-01T11:59:59Z", NOON, True),
    ("DateGreaterThan", "2030-01-01T12:00:00Z", NOON, False),
    ("DateGreaterThanEquals", "2030-01-01T12:00:00Z", NOON, True),
    ("DateEquals", str(int(NOON.timestamp())), NOON, True),                  # epoch policy value
    ("DateEquals", "2030-01-01T12:00:00Z", int(NOON.timestamp()), True),      # epoch request value
    ("DateEquals", "2030-01-01T12:00:00Z", str(int(NOON.timestamp())), True),
    ("DateEquals", "2030-01-01T12:00:00Z", "2030-01-01T13:00:00+01:00", True),
    ("DateEquals", "2030-01-01T12:00:00Z", datetime(2030, 1, 1, 12, 0), True),  # naive = UTC
    ("DateEquals", "2030-01-01T12:00:00Z", datetime(2030, 1, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))), True),
    ("DateLessThan", "2030-01-02", NOON, True),
    ("DateLessThan", "2030-01-02", "not a date", False),
    ("DateNotEquals", "2030-01-02", "not a date", False),
    ("DateLessThan", "2030-01-02", True, False),
])
def test_date_operators(operator: str, value: object, request_value: object, expected: bool) -> None:
    assert holds(operator, value, request_value) is expected


# --- Bool, Binary, IP, ARN ------------------------------------------------------------------

@pytest.mark.parametrize(("value", "request_value", "expected"), [
    ("true", True, True), ("true", False, False), ("false", False, True), (True, "TRUE", True),
    ("true", "yes", False), ("true", 1, False),
])
def test_bool(value: object, request_value: object, expected: bool) -> None:
    assert holds("Bool", value, request_value) is expected


def test_binary_equals_compares_decoded_bytes() -> None:
    assert holds("BinaryEquals", "QmluYXJ5", b"Binary")
    assert holds("BinaryEquals", "QmluYXJ5", "QmluYXJ5")
    assert not holds("BinaryEquals", "QmluYXJ5", b"binary")
    assert not holds("BinaryEquals", "QmluYXJ5", "%%%")


@pytest.mark.parametrize(("operator", "value", "request_value", "expected"), [
    ("IpAddress", "203.0.113.0/24", "203.0.113.7", True),
    ("IpAddress", "203.0.113.0/24", "203.0.114.7", False),
    ("IpAddress", "203.0.113.7", "203.0.113.7", True),                        # bare address = /32
    ("IpAddress", ["10.0.0.0/8", "203.0.113.0/24"], "10.1.2.3", True),
    ("IpAddress", "2001:db8::/32", "2001:DB8:0:1::5", True),
    ("IpAddress", "2001:db8::/32", "2001:db9::5", False),
    ("IpAddress", "0.0.0.0/0", "2001:db8::5", False),                         # family mismatch
    ("IpAddress", "10.0.0.0/8", "::ffff:10.1.2.3", True),                      # v4-mapped v6
    ("IpAddress", "10.0.0.0/8", ipaddress.ip_address("10.9.9.9"), True),
    ("IpAddress", "10.0.0.0/8", "10.0.0.256", False),
    ("NotIpAddress", "10.0.0.0/8", "192.0.2.1", True),
    ("NotIpAddress", "10.0.0.0/8", "10.0.0.1", False),
    ("NotIpAddress", "10.0.0.0/8", "garbage", False),
])
def test_ip_address(operator: str, value: object, request_value: object, expected: bool) -> None:
    assert holds(operator, value, request_value) is expected


@pytest.mark.parametrize(("operator", "value", "request_value", "expected"), [
    ("ArnLike", "arn:aws:iam::*:role/deploy-*", "arn:aws:iam::123456789012:role/deploy-prod", True),
    ("ArnEquals", "arn:aws:iam::*:role/deploy-*", "arn:aws:iam::123456789012:role/deploy-prod", True),
    ("ArnLike", "arn:aws:iam::*:role/deploy-*", "arn:aws:iam::123456789012:role/admin", False),
    ("ArnLike", "arn:aws:iam::*:role/x", "arn:aws:iam::1:foo:role/x", False),
    ("ArnNotLike", "arn:aws:iam::*:role/deploy-*", "arn:aws:iam::123456789012:role/admin", True),
    ("ArnNotEquals", "arn:aws:iam::*:role/deploy-*", "arn:aws:iam::123456789012:role/deploy-x", False),
    ("ArnLike", "acs:ram::*:role/*", "acs:ram::123456789012:role/ci", True),
    ("ArnLike", "arn:aws:iam::*:role/*", "not-an-arn", False),
    ("ArnNotLike", "arn:aws:iam::*:role/*", "not-an-arn", False),
])
def test_arn_operators(operator: str, value: object, request_value: object, expected: bool) -> None:
    assert holds(operator, value, request_value) is expected


# --- missing keys, IfExists, Null -------------------------------------------------------------

POSITIVE = {"StringEquals": "a", "StringEqualsIgnoreCase": "a", "StringLike": "a*", "NumericEquals": "1",
            "NumericLessThan": "1", "NumericLessThanEquals": "1", "NumericGreaterThan": "1",
            "NumericGreaterThanEquals": "1", "DateEquals": "2030-01-01", "DateLessThan": "2030-01-01",
            "DateLessThanEquals": "2030-01-01", "DateGreaterThan": "2030-01-01",
            "DateGreaterThanEquals": "2030-01-01", "Bool": "true", "BinaryEquals": "QQ==",
            "IpAddress": "10.0.0.0/8", "ArnEquals": "arn:aws:s3:::b", "ArnLike": "arn:aws:s3:::*"}
NEGATED = {"StringNotEquals": "a", "StringNotEqualsIgnoreCase": "a", "StringNotLike": "a*",
           "NumericNotEquals": "1", "DateNotEquals": "2030-01-01", "NotIpAddress": "10.0.0.0/8",
           "ArnNotEquals": "arn:aws:s3:::b", "ArnNotLike": "arn:aws:s3:::*"}


def test_the_table_has_every_documented_operator() -> None:
    assert set(OPERATORS) == set(POSITIVE) | set(NEGATED)


@pytest.mark.parametrize(("operator", "value"), POSITIVE.items())
def test_missing_key_makes_a_positive_operator_false(operator: str, value: str) -> None:
    assert holds(operator, value) is False


@pytest.mark.parametrize(("operator", "value"), NEGATED.items())
def test_missing_key_makes_a_negated_operator_true(operator: str, value: str) -> None:
    assert holds(operator, value) is True


@pytest.mark.parametrize(("operator", "value"), {**POSITIVE, **NEGATED}.items())
def test_if_exists_makes_a_missing_key_true(operator: str, value: str) -> None:
    assert holds(operator + "IfExists", value) is True


@pytest.mark.parametrize(("operator", "value", "good", "bad"), [
    ("StringEqualsIfExists", "a", "a", "b"),
    ("NumericLessThanEqualsIfExists", "3600", 3600, 3601),
    ("BoolIfExists", "true", True, False),
    ("IpAddressIfExists", "10.0.0.0/8", "10.0.0.1", "11.0.0.1"),
    ("StringNotEqualsIfExists", "a", "b", "a"),
    ("DateLessThanIfExists", "2030-01-01", NOON - timedelta(days=1), NOON),
])
def test_if_exists_tests_a_present_key_normally(operator: str, value: str, good: object, bad: object) -> None:
    assert holds(operator, value, good) is True
    assert holds(operator, value, bad) is False


def test_null_tests_presence() -> None:
    assert holds("Null", "true") is True
    assert holds("Null", "true", "x") is False
    assert holds("Null", "false", "x") is True
    assert holds("Null", "false") is False
    assert holds("Null", False, "") is True          # an empty string is a present value
    assert holds("Null", "true", []) is True         # an empty list is an absent key
    assert holds("Null", ["true", "false"], "x") is True


# --- set qualifiers -------------------------------------------------------------------------

@pytest.mark.parametrize(("request_value", "expected"), [
    (MISSING, True), ([], True), (["team-a"], True), (["team-a", "team-b"], True),
    (["team-a", "owner"], False), ("team-a", True), ("owner", False),
])
def test_for_all_values(request_value: object, expected: bool) -> None:
    assert holds("ForAllValues:StringLike", "team-*", request_value) is expected


@pytest.mark.parametrize(("request_value", "expected"), [
    (["key1:legal"], False), (["key1:hr", "key1:personnel"], False), (["key2:audit"], True), (MISSING, True),
])
def test_for_all_values_string_not_like_matches_the_iam_guide_table(request_value: object, expected: bool) -> None:
    assert holds("ForAllValues:StringNotLike", "key1*", request_value, key="aws:TagKeys") is expected


@pytest.mark.parametrize(("operator", "request_value", "expected"), [
    ("ForAnyValue:StringEquals", MISSING, False),
    ("ForAnyValue:StringEquals", [], False),
    ("ForAnyValue:StringEqualsIfExists", MISSING, False),       # IfExists does not rescue ForAnyValue
    ("ForAnyValue:StringEquals", ["Dept", "SIC"], False),
    ("ForAnyValue:StringEquals", ["DataClass", "Dept"], True),
    ("ForAnyValue:StringEquals", "Owner", True),
    ("ForAnyValue:StringNotEquals", MISSING, False),
    ("ForAnyValue:StringNotEquals", ["DataClass", "Owner"], False),
    ("ForAnyValue:StringNotEquals", ["DataClass", "Dept"], True),
    ("ForAllValues:StringEquals", ["DataClass", "Owner"], True),
    ("ForAllValues:StringEqualsIfExists", MISSING, True),
    ("ForAllValues:StringNotEquals", ["Dept"], True),
    ("ForAllValues:StringNotEquals", ["Dept", "Owner"], False),
])
def test_set_qualifiers_on_tag_keys(operator: str, request_value: object, expected: bool) -> None:
    assert holds(operator, ["DataClass", "Owner"], request_value) is expected


@pytest.mark.parametrize("operator", ["StringEquals", "StringNotEquals", "StringLike", "StringNotLike"])
def test_an_operator_without_qualifier_is_false_on_a_multivalued_key(operator: str) -> None:
    assert holds(operator, "a*", ["a", "ab"]) is False


def test_for_all_values_with_an_unreadable_member_is_false() -> None:
    assert holds("ForAllValues:NumericLessThan", "10", [1, "x"]) is False
    assert holds("ForAnyValue:NumericLessThan", "10", [1, "x"]) is True


# --- policy variables in values ---------------------------------------------------------------

def test_variables_are_substituted_in_string_values() -> None:
    assert holds("StringEquals", "${aws:username}", "alice", aws__username="alice")
    assert not holds("StringEquals", "${aws:username}", "alice", aws__username="bob")
    assert holds("StringLike", "home/${aws:username}/*", "home/alice/x", aws__username="alice")
    assert holds("StringEquals", "${AWS:UserName}", "alice", aws__username="alice")    # variable keys ignore case


def test_variable_values_are_literal_inside_like_patterns() -> None:
    assert holds("StringLike", "${aws:username}", "a*", aws__username="a*")
    assert not holds("StringLike", "${aws:username}", "abc", aws__username="a*")


def test_escapes_and_defaults() -> None:
    assert holds("StringLike", "a${*}", "a*")
    assert not holds("StringLike", "a${*}", "ab")
    assert holds("StringLike", "a${?}", "a?")
    assert not holds("StringLike", "a${?}", "ab")
    assert holds("StringEquals", "${$}{x}", "${x}")
    assert holds("StringEquals", "${aws:username, 'nobody'}", "nobody")
    assert holds("StringEquals", "${aws:username, 'it''s'}", "it's")
    assert holds("StringEquals", "${aws:username, 'nobody'}", "alice", aws__username="alice")


def test_an_unresolvable_variable_matches_nothing() -> None:
    assert holds("StringEquals", "${aws:username}", "x") is False
    assert holds("StringNotEquals", "${aws:username}", "x") is True
    assert holds("StringEquals", ["${aws:username}", "x"], "x") is True
    assert holds("StringEquals", "${aws:TagKeys}", "a", aws__TagKeys=["a"]) is False    # multivalued
    assert holds("StringEquals", "${}", "") is False


def test_variables_in_arn_values() -> None:
    assert holds("ArnLike", "arn:aws:iam::${aws:PrincipalAccount}:role/*",
                 "arn:aws:iam::123456789012:role/ci", aws__PrincipalAccount="123456789012")
    assert not holds("ArnLike", "arn:aws:iam::${aws:PrincipalAccount}:role/*",
                     "arn:aws:iam::123456789012:role/ci", aws__PrincipalAccount="210987654321")


def test_without_variables_the_text_is_literal() -> None:
    assert holds("StringEquals", "${aws:username}", "${aws:username}", variables=False, aws__username="x")
    assert holds("StringLike", "${*}", "${anything}", variables=False)     # '*' is a wildcard again
    assert not holds("StringLike", "${*}", "anything", variables=False)


def test_variables_are_not_read_in_numeric_values() -> None:
    with pytest.raises(MalformedPolicy):
        parse_conditions({"NumericEquals": {"k:k": "${aws:x}"}}, variables=True)


# --- operator names and malformed Condition elements ------------------------------------------

@pytest.mark.parametrize(("name", "expected"), [
    ("StringEquals", (None, "StringEquals", False)),
    ("StringEqualsIfExists", (None, "StringEquals", True)),
    ("ForAllValues:StringLike", ("ForAllValues", "StringLike", False)),
    ("ForAnyValue:ArnNotLikeIfExists", ("ForAnyValue", "ArnNotLike", True)),
    ("Null", (None, "Null", False)),
    ("NullIfExists", None), ("ForAllValues:Null", None), ("stringEquals", None), ("StringEqualsIfExist", None),
    ("ForAllValues:ForAnyValue:StringEquals", None), ("IfExists", None), ("ForAllValues:", None),
    ("StringLikeIgnoreCase", None),
])
def test_split_operator(name: str, expected: object) -> None:
    assert split_operator(name) == expected


@pytest.mark.parametrize(("condition", "message"), [
    ({"stringEquals": {"aws:username": "a"}}, "Invalid Condition type : stringEquals"),
    ({"NullIfExists": {"aws:username": "true"}}, "Invalid Condition type : NullIfExists"),
    ({"StringEquals": "aws:username"}, "Syntax errors in policy."),
    ({"StringEquals": {"username": "a"}}, "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    ({"StringEquals": {"aws:username": []}}, "Syntax errors in policy."),
    ({"StringEquals": {"aws:username": None}}, "Syntax errors in policy."),
    ({"StringEquals": {"aws:username": [["a"]]}}, "Syntax errors in policy."),
    ({"StringEquals": {"aws:username": {"a": 1}}}, "Syntax errors in policy."),
    ({"NumericEquals": {"sts:DurationSeconds": "ten"}}, "Invalid value for condition NumericEquals on key sts:DurationSeconds"),
    ({"NumericEquals": {"sts:DurationSeconds": 1e400}}, "Invalid value for condition NumericEquals on key sts:DurationSeconds"),
    ({"DateLessThan": {"aws:CurrentTime": "tomorrow"}}, "Invalid value for condition DateLessThan on key aws:CurrentTime"),
    ({"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}}, "Invalid value for condition IpAddress on key aws:SourceIp"),
    ({"Bool": {"aws:SecureTransport": "yes"}}, "Invalid value for condition Bool on key aws:SecureTransport"),
    ({"BinaryEquals": {"k:k": "%%"}}, "Invalid value for condition BinaryEquals on key k:k"),
    ({"ArnLike": {"aws:SourceArn": "not-an-arn"}}, "Invalid value for condition ArnLike on key aws:SourceArn"),
    ({"Null": {"aws:username": "maybe"}}, "Null condition on aws:username must be true or false"),
    ([], "Syntax errors in policy."),
])
def test_malformed_conditions(condition: object, message: str) -> None:
    with pytest.raises(MalformedPolicy) as raised:
        parse_conditions(condition, variables=True)
    assert raised.value.message == message


def test_empty_condition_blocks_hold() -> None:
    assert parse_conditions({}, variables=True) == ()
    assert parse_conditions({"StringEquals": {}}, variables=True) == ()


def test_condition_keys_are_lower_cased() -> None:
    (condition,) = parse_conditions({"StringEquals": {"AWS:UserName": "a"}}, variables=True)
    assert condition.key == "aws:username"


# --- never raises on request values -------------------------------------------------------------

REQUEST_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.binary(max_size=8)
    | st.datetimes(timezones=st.none() | st.just(timezone.utc)) | st.decimals(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=6)
OPERATOR_VALUES = {**POSITIVE, **NEGATED}


@settings(max_examples=200, deadline=None)
@given(operator=st.sampled_from(sorted(OPERATOR_VALUES)), qualifier=st.sampled_from(["", "ForAllValues:", "ForAnyValue:"]),
       if_exists=st.booleans(), request_value=REQUEST_VALUES)
def test_holds_never_raises_on_any_request_value(operator: str, qualifier: str, if_exists: bool,
                                                 request_value: object) -> None:
    name = qualifier + operator + ("IfExists" if if_exists else "")
    assert holds(name, OPERATOR_VALUES[operator], request_value) in (True, False)
