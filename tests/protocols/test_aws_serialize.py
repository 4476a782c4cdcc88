"""serialize_result: what we write, read back by botocore's own response parsers."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regauth.protocols.aws.models import AwsModels
from regauth.protocols.aws.serialize import serialize_result

from . import aws_models, botocore_parse

RID = "01234567-89ab-cdef-0123-456789abcdef"
T0 = datetime(2026, 11, 22, 20, 38, 50, tzinfo=timezone.utc)
T_MS = T0 + timedelta(milliseconds=241)


@pytest.fixture(scope="module")
def models() -> AwsModels:
    return aws_models()


def roundtrip(models, service, operation, result):
    spec = models[service]
    status, headers, body = serialize_result(spec, operation, result, RID)
    parsed = botocore_parse(spec, operation, status, headers, body)
    assert parsed["ResponseMetadata"]["RequestId"] == RID
    assert dict(headers)["x-amzn-RequestId"] == RID
    parsed.pop("ResponseMetadata")
    return status, dict(headers), body, parsed


def test_codeartifact_get_authorization_token(models):
    status, headers, body, parsed = roundtrip(models, "codeartifact", "GetAuthorizationToken",
                                              {"authorizationToken": "tok.en-_", "expiration": T0})
    assert (status, headers["Content-Type"]) == (200, "application/json")
    wire = json.loads(body)
    assert wire == {"authorizationToken": "tok.en-_", "expiration": T0.timestamp()}
    assert isinstance(wire["expiration"], float)       # a NUMBER: paws turns ISO strings into NA
    assert parsed == {"authorizationToken": "tok.en-_", "expiration": T0}


@pytest.mark.parametrize("value", [T0.timestamp(), int(T0.timestamp()), T0, T0.replace(tzinfo=None),
                                   T0.astimezone(timezone(timedelta(hours=5)))])
def test_timestamp_inputs_are_equivalent(models, value):
    _, _, body, parsed = roundtrip(models, "codeartifact", "GetAuthorizationToken",
                                   {"authorizationToken": "t", "expiration": value})
    assert json.loads(body)["expiration"] == T0.timestamp()
    assert parsed["expiration"] == T0


DOMAIN = {"name": "my-domain", "owner": "123456789012", "arn": "arn:aws:codeartifact:us-east-1:123456789012:domain/my-domain",
          "status": "Active", "createdTime": T_MS, "encryptionKey": "arn:aws:kms:us-east-1:123456789012:key/k",
          "repositoryCount": 2, "assetSizeBytes": 2**40, "s3BucketArn": None}
REPO = {"name": "my-repo", "administratorAccount": "123456789012", "domainName": "my-domain",
        "domainOwner": "123456789012", "arn": "arn:aws:codeartifact:us-east-1:123456789012:repository/my-domain/my-repo",
        "description": "d <&> \"q\" ü", "upstreams": [{"repositoryName": "up"}],
        "externalConnections": [{"externalConnectionName": "public:pypi", "packageFormat": "pypi",
                                 "status": "Available"}], "createdTime": T0}


@pytest.mark.parametrize(("operation", "result", "expected"), [
    ("CreateDomain", {"domain": DOMAIN, "internal": "dropped"},
     {"domain": {k: v for k, v in DOMAIN.items() if v is not None}}),
    ("DescribeDomain", {"domain": DOMAIN}, {"domain": {k: v for k, v in DOMAIN.items() if v is not None}}),
    ("ListDomains", {"domains": [{"name": "a1", "owner": "123456789012", "createdTime": T0, "status": "Active"}],
                     "nextToken": "n+/="},
     {"domains": [{"name": "a1", "owner": "123456789012", "createdTime": T0, "status": "Active"}],
      "nextToken": "n+/="}),
    ("ListDomains", {"domains": []}, {"domains": []}),
    ("CreateRepository", {"repository": REPO}, {"repository": REPO}),
    ("GetRepositoryEndpoint", {"repositoryEndpoint": "https://d-1.d.codeartifact.us-east-1.amazonaws.com/pypi/r/"},
     {"repositoryEndpoint": "https://d-1.d.codeartifact.us-east-1.amazonaws.com/pypi/r/"}),
    ("GetDomainPermissionsPolicy", {"policy": {"resourceArn": "arn:x", "revision": "r1", "document": "{}"}},
     {"policy": {"resourceArn": "arn:x", "revision": "r1", "document": "{}"}}),
    ("DeleteDomainPermissionsPolicy", {}, {}),
])
def test_codeartifact_results(models, operation, result, expected):
    status, headers, _, parsed = roundtrip(models, "codeartifact", operation, result)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert parsed == expected


def test_rest_json_header_and_payload_members(models):
    status, headers, body, parsed = roundtrip(models, "codeartifact", "GetPackageVersionAsset", {
        "asset": b"\x00binary", "assetName": "pkg-1.0.tar.gz", "packageVersion": "1.0",
        "packageVersionRevision": "rev"})
    assert body == b"\x00binary" and headers["X-AssetName"] == "pkg-1.0.tar.gz"
    assert parsed.pop("asset") in (b"\x00binary", "\x00binary")   # botocore hands a non-streamed blob back as text
    assert parsed == {"assetName": "pkg-1.0.tar.gz", "packageVersion": "1.0", "packageVersionRevision": "rev"}


def test_ecr_get_authorization_token(models):
    data = [{"authorizationToken": "QVdTOnB3", "expiresAt": T_MS,
             "proxyEndpoint": f"https://{rid}.dkr.ecr.us-east-1.amazonaws.com"}
            for rid in ("123456789012", "210987654321")]
    status, headers, body, parsed = roundtrip(models, "ecr", "GetAuthorizationToken", {"authorizationData": data})
    assert (status, headers["Content-Type"]) == (200, "application/x-amz-json-1.1")
    assert json.loads(body)["authorizationData"][0]["expiresAt"] == round(T_MS.timestamp(), 3)
    assert parsed == {"authorizationData": data}


def test_ecr_public_get_authorization_token_is_one_object(models):
    _, _, body, parsed = roundtrip(models, "ecr-public", "GetAuthorizationToken", {
        "authorizationData": {"authorizationToken": "QVdTOnB3", "expiresAt": T0.timestamp(),
                              "proxyEndpoint": "not modeled here"}})
    assert json.loads(body) == {"authorizationData": {"authorizationToken": "QVdTOnB3", "expiresAt": T0.timestamp()}}
    assert parsed == {"authorizationData": {"authorizationToken": "QVdTOnB3", "expiresAt": T0}}


@pytest.mark.parametrize(("operation", "result"), [
    ("CreateRepository", {"repository": {"repositoryArn": "arn:aws:ecr:us-east-1:123456789012:repository/team/app",
                                         "registryId": "123456789012", "repositoryName": "team/app",
                                         "repositoryUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app",
                                         "createdAt": T_MS, "imageTagMutability": "MUTABLE",
                                         "imageScanningConfiguration": {"scanOnPush": False},
                                         "encryptionConfiguration": {"encryptionType": "AES256"}}}),
    ("DescribeRepositories", {"repositories": [], "nextToken": "n"}),
    ("DescribeRegistry", {"registryId": "123456789012", "replicationConfiguration": {"rules": []}}),
    ("DeleteRepository", {"repository": {"repositoryName": "x1", "createdAt": T0}}),
])
def test_ecr_results(models, operation, result):
    assert roundtrip(models, "ecr", operation, result)[3] == result


CREDS = {"AccessKeyId": "ASIAEXAMPLE123456789", "SecretAccessKey": "s/e+c=r", "SessionToken": "tok<&>en",
         "Expiration": T0}


def test_sts_assume_role_xml_exactly(models):
    status, headers, body, parsed = roundtrip(models, "sts", "AssumeRole", {
        "Credentials": CREDS, "PackedPolicySize": 6,
        "AssumedRoleUser": {"AssumedRoleId": "AROA123EXAMPLE123:TestAR",
                            "Arn": "arn:aws:sts::123456789012:assumed-role/demo/TestAR"}})
    assert (status, headers["Content-Type"]) == (200, "text/xml")
    assert body.decode() == (
        '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
        "<Credentials><AccessKeyId>ASIAEXAMPLE123456789</AccessKeyId><SecretAccessKey>s/e+c=r</SecretAccessKey>"
        "<SessionToken>tok&lt;&amp;&gt;en</SessionToken><Expiration>2026-11-22T20:38:50Z</Expiration></Credentials>"
        "<AssumedRoleUser><AssumedRoleId>AROA123EXAMPLE123:TestAR</AssumedRoleId>"
        "<Arn>arn:aws:sts::123456789012:assumed-role/demo/TestAR</Arn></AssumedRoleUser>"
        "<PackedPolicySize>6</PackedPolicySize></AssumeRoleResult>"
        f"<ResponseMetadata><RequestId>{RID}</RequestId></ResponseMetadata></AssumeRoleResponse>")
    assert parsed["Credentials"] == CREDS and parsed["PackedPolicySize"] == 6


def test_sts_other_results(models):
    assert roundtrip(models, "sts", "GetSessionToken", {"Credentials": CREDS})[3] == {"Credentials": CREDS}
    ident = {"UserId": "AIDAEXAMPLEUSERID0001", "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/alice"}
    assert roundtrip(models, "sts", "GetCallerIdentity", ident)[3] == ident


USER = {"Path": "/", "UserName": "alice", "UserId": "AIDAEXAMPLE", "Arn": "arn:aws:iam::123456789012:user/alice",
        "CreateDate": T0, "Tags": [{"Key": "team", "Value": "a&b"}]}


@pytest.mark.parametrize(("operation", "result"), [
    ("CreateUser", {"User": USER}),
    ("GetUser", {"User": USER}),
    ("CreateAccessKey", {"AccessKey": {"UserName": "alice", "AccessKeyId": "AKIAEXAMPLE", "Status": "Active",
                                       "SecretAccessKey": "x/y+z", "CreateDate": T0}}),
    ("ListAccessKeys", {"AccessKeyMetadata": [{"UserName": "alice", "AccessKeyId": "AKIA1", "Status": "Inactive",
                                               "CreateDate": T0}] * 2, "IsTruncated": True, "Marker": "m"}),
    ("ListAccessKeys", {"AccessKeyMetadata": [], "IsTruncated": False}),
    ("GetUserPolicy", {"UserName": "alice", "PolicyName": "p", "PolicyDocument": '{"a": "<b> & \\"c\\"\\r\\n"}'}),
    ("CreateRole", {"Role": {"Path": "/", "RoleName": "r", "RoleId": "AROA1", "Arn": "arn:aws:iam::1:role/r",
                             "CreateDate": T0, "MaxSessionDuration": 3600}}),
    ("UpdateAccessKey", {}),
    ("DeleteUser", {}),
])
def test_iam_results(models, operation, result):
    status, headers, body, parsed = roundtrip(models, "iam", operation, result)
    assert (status, headers["Content-Type"]) == (200, "text/xml")
    assert body.startswith(f'<{operation}Response xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'.encode())
    assert parsed == result


def test_query_booleans_lowercase_and_no_result_element_without_output(models):
    _, _, body, _ = roundtrip(models, "iam", "ListAccessKeys", {"AccessKeyMetadata": [], "IsTruncated": False})
    assert b"<IsTruncated>false</IsTruncated>" in body and b"<AccessKeyMetadata></AccessKeyMetadata>" in body
    _, _, body, _ = roundtrip(models, "iam", "UpdateAccessKey", {"ignored": 1})
    assert b"Result>" not in body and RID.encode() in body


def _xml_clean(text: str) -> str:
    """What XML 1.0 can carry: other characters are sent as U+FFFD."""
    return "".join(c if c in "\t\n\r" or " " <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd" or c >= "\U00010000"
                   else "\ufffd" for c in text)


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=40), ts=st.floats(min_value=0, max_value=4102444800))
def test_fuzz_text_and_times_round_trip(models, text, ts):
    value = round(ts, 3)
    got = roundtrip(models, "codeartifact", "GetAuthorizationToken", {"authorizationToken": text, "expiration": value})[3]
    assert got["authorizationToken"] == text
    assert abs(got["expiration"].timestamp() - value) < 0.001
    got = roundtrip(models, "sts", "GetCallerIdentity", {"Arn": text, "Account": "1"})[3]
    assert got.get("Arn", "") == _xml_clean(text)
