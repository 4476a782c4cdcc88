"""ARN parsing/formatting and IAM wildcard matching (regauth.domain.arn)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regauth.domain.arn import (
    Arn,
    ArnPattern,
    Glob,
    InvalidArn,
    arn_matches,
    format_arn,
    is_arn,
    parse_arn,
)

DOMAIN = "arn:aws:codeartifact:us-east-1:123456789012:domain/my-domain"
REPO = "arn:aws:ecr:us-east-1:123456789012:repository/a/b"
ACR = "acs:cr:cn-hangzhou:123456789012:instance/cri-abc"


# --- parse / format -------------------------------------------------------------------------

def test_parse_splits_aws_arn_into_six_fields() -> None:
    assert parse_arn(DOMAIN) == Arn("arn", "aws", "codeartifact", "us-east-1", "123456789012", "domain/my-domain")


def test_parse_keeps_colons_and_slashes_in_the_resource() -> None:
    arn = parse_arn("arn:aws:sts::123456789012:assumed-role/r/s:extra")
    assert (arn.service, arn.region, arn.account, arn.resource) == ("sts", "", "123456789012", "assumed-role/r/s:extra")


def test_parse_splits_alibaba_arn_into_five_fields() -> None:
    assert parse_arn(ACR) == Arn("acs", "", "cr", "cn-hangzhou", "123456789012", "instance/cri-abc")


def test_parse_accepts_other_aws_partitions() -> None:
    assert parse_arn("arn:aws-cn:ecr:cn-north-1:123456789012:repository/x").partition == "aws-cn"


@pytest.mark.parametrize("text", [DOMAIN, REPO, ACR, "arn:aws:iam::123456789012:root",
                                  "arn:aws:s3:::bucket/key:with:colons"])
def test_format_round_trips_parse(text: str) -> None:
    assert str(parse_arn(text)) == text


def test_format_arn_builds_both_layouts() -> None:
    assert format_arn("ecr", "us-east-1", "123456789012", "repository/a/b") == REPO
    assert format_arn("cr", "cn-hangzhou", "123456789012", "instance/cri-abc", scheme="acs") == ACR
    with pytest.raises(InvalidArn):
        format_arn("x", "r", "a", "res", scheme="urn")


@pytest.mark.parametrize("text", ["", "arn", "arn:aws", "arn:aws:s3", "arn:aws:s3:::", "arn::s3:::bucket",
                                  "arn:aws::us-east-1:1:x", "acs:cr:cn-hangzhou:123", "urn:aws:s3:::bucket",
                                  "*", "ARN:aws:s3:::bucket"])
def test_parse_rejects_non_arns(text: str) -> None:
    with pytest.raises(InvalidArn):
        parse_arn(text)
    assert not is_arn(text)


def test_is_arn_is_false_for_non_strings() -> None:
    assert not is_arn(None)
    assert not is_arn(42)


# --- Glob -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "text", "expected"), [
    ("*", "", True),
    ("*", "anything/at:all", True),
    ("abc", "abc", True),
    ("abc", "abd", False),
    ("abc", "ABC", False),
    ("a*c", "abbbc", True),
    ("a*c", "ab", False),
    ("a?c", "abc", True),
    ("a?c", "ac", False),
    ("?", "", False),
    ("?*?", "ab", True),
    ("?*?", "a", False),
    ("a*", "a", True),
    ("*a*a*b", "aaab", True),
    ("*a*a*b", "ab", False),
    ("a*b*c", "acb", False),
    ("a*b?c", "axxbyc", True),
    ("ab*ba", "aba", False),
    ("*ab*ab*", "xabx", False),                # one occurrence cannot serve two runs
    ("*ab*ab*", "xababx", True),
    ("*.txt", "x.txt", True),
    ("a**b", "ab", True),
])
def test_glob_matches_like_iam(pattern: str, text: str, expected: bool) -> None:
    assert Glob.compile(pattern).matches(text) is expected


def test_glob_with_literal_segments_does_not_expand_wildcards() -> None:
    g = Glob.from_segments((("a", True), ("*", False), ("*", True)))
    assert g.matches("a*")
    assert g.matches("a*xyz")
    assert not g.matches("axyz")
    q = Glob.from_segments((("?", False), ("?", True)))
    assert q.matches("?x")
    assert not q.matches("xx")


def test_glob_survives_a_pattern_that_would_backtrack_exponentially() -> None:
    assert not Glob.compile("*a" * 40 + "b").matches("a" * 5000)


def _oracle(pattern: str, text: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


@settings(max_examples=250, deadline=None)
@given(st.text(alphabet="ab*?", max_size=8), st.text(alphabet="ab", max_size=10))
def test_glob_agrees_with_a_regex_oracle(pattern: str, text: str) -> None:
    assert Glob.compile(pattern).matches(text) is _oracle(pattern, text)


# --- ArnPattern -----------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "arn", "expected"), [
    ("*", DOMAIN, True),
    ("*", "*", True),
    (DOMAIN, DOMAIN, True),
    (DOMAIN, DOMAIN.upper(), False),
    ("arn:aws:codeartifact:us-east-1:123456789012:domain/*", DOMAIN, True),
    ("arn:aws:codeartifact:*:*:domain/my-domain", DOMAIN, True),
    ("arn:aws:codeartifact:us-*:123456789012:domain/my-?omain", DOMAIN, True),
    ("arn:aws:codeartifact:eu-*:123456789012:domain/*", DOMAIN, False),
    ("arn:aws:codeartifact:us-east-1:210987654321:domain/*", DOMAIN, False),
    ("arn:aws:ecr:us-east-1:123456789012:repository/*", REPO, True),          # resource * spans '/'
    ("arn:aws:ecr:us-east-1:123456789012:repository/a", REPO, False),
    ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a:b/c", True),              # resource * spans ':'
    ("arn:aws:s3:::b/*:x", "arn:aws:s3:::b/y:z:x", True),                      # ':' in the resource is literal
    ("arn:aws:s3:::b/*:x", "arn:aws:s3:::b/y:z", False),
    ("arn:aws:iam::*:role/x", "arn:aws:iam::1:foo:role/x", False),             # account * stays in its field
    ("arn:aws:iam::12345678901?:role/x", "arn:aws:iam::123456789012:role/x", True),
    ("arn:aws:iam::1234567890?:role/x", "arn:aws:iam::123456789012:role/x", False),
    ("arn:aws:s3:*", "arn:aws:s3:::bucket/key", True),                         # trailing * spans fields
    ("arn:aws:s3:*", "arn:aws:ec2:us-east-1:1:instance/i", False),
    ("arn:*", REPO, True),
    ("arn:*", ACR, False),
    ("acs:cr:*:*:instance/*", ACR, True),
    ("acs:cr:*:*:instance/*", "acs:cr:cn-hangzhou:123456789012:instance", False),
    ("acs:cr:cn-hangzhou:123456789012:instance/cri-abc", ACR, True),
    ("arn:aws:cr:*:*:instance/*", ACR, False),
    ("arn:aws:ecr:*:*:repository/*", "*", False),
    ("arn:aws:ecr:*:*:repository/*", "not an arn", False),
])
def test_arn_pattern_matches_per_field(pattern: str, arn: str, expected: bool) -> None:
    assert ArnPattern.compile(pattern).matches(arn) is expected
    assert arn_matches(pattern, arn) is expected


@pytest.mark.parametrize("pattern", ["", "foo", "arn", "arn:aws:s3", "ar*:aws:s3:::x", "urn:aws:s3:::x",
                                     "arn:aws:s3:x", "acs:cr"])
def test_arn_pattern_rejects_non_patterns(pattern: str) -> None:
    with pytest.raises(InvalidArn):
        ArnPattern.compile(pattern)
    assert arn_matches(pattern, REPO) is False


def test_arn_pattern_from_segments_keeps_substituted_text_literal() -> None:
    # what a policy variable value becomes: its ':' and '*' are not structure
    p = ArnPattern.from_segments((("arn:aws:s3:::bucket/", True), ("a:*", False), ("/*", True)))
    assert p.matches("arn:aws:s3:::bucket/a:*/x")
    assert not p.matches("arn:aws:s3:::bucket/a:b/x")


def test_arn_pattern_rejects_a_substituted_scheme() -> None:
    with pytest.raises(InvalidArn):
        ArnPattern.from_segments((("arn", False), (":aws:s3:::x", True)))
