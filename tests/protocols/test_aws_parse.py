"""parse_request: botocore round trips, paws-shaped requests, validation wording, fuzzing."""

from __future__ import annotations

import itertools
import json
import re
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regauth.errors import InvalidInput, MissingParameter, RegauthError, UnknownOperation
from regauth.protocols.aws.models import LINEAR_EQUIVALENTS, AwsModels, compile_java_pattern, input_patterns
from regauth.protocols.aws.parse import parse_request

from . import aws_models, botocore_request, raw

POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                                                             "Action": "codeartifact:*", "Resource": "*"}]})
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                            "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]})
ECR_TARGET = "AmazonEC2ContainerRegistry_V20150921"

ROUND_TRIPS = [
    ("codeartifact", "GetAuthorizationToken", {"domain": "my-domain"}),
    ("codeartifact", "GetAuthorizationToken", {"domain": "my-domain", "domainOwner": "123456789012",
                                               "durationSeconds": 900}),
    ("codeartifact", "GetAuthorizationToken", {"domain": "my-domain", "durationSeconds": 0}),
    ("codeartifact", "GetAuthorizationToken", {"domain": "d1", "durationSeconds": 43200}),
    ("codeartifact", "CreateDomain", {"domain": "my-domain"}),
    ("codeartifact", "CreateDomain", {"domain": "my-domain", "tags": [{"key": "k", "value": "v w"},
                                                                      {"key": "team", "value": ""}],
                                      "encryptionKey": "arn:aws:kms:us-east-1:123456789012:key/abc"}),
    ("codeartifact", "DescribeDomain", {"domain": "my-domain", "domainOwner": "123456789012"}),
    ("codeartifact", "ListDomains", {}),
    ("codeartifact", "ListDomains", {"maxResults": 10, "nextToken": "tok+/="}),
    ("codeartifact", "DeleteDomain", {"domain": "my-domain"}),
    ("codeartifact", "PutDomainPermissionsPolicy", {"domain": "my-domain", "domainOwner": "123456789012",
                                                    "policyRevision": "rev1", "policyDocument": POLICY}),
    ("codeartifact", "GetDomainPermissionsPolicy", {"domain": "my-domain"}),
    ("codeartifact", "CreateRepository", {"domain": "my-domain", "repository": "my-repo", "description": "d ü",
                                          "upstreams": [{"repositoryName": "up-repo"}, {"repositoryName": "Up.2"}],
                                          "tags": [{"key": "k", "value": "v"}]}),
    ("codeartifact", "DescribeRepository", {"domain": "my-domain", "repository": "my-repo"}),
    ("codeartifact", "ListRepositoriesInDomain", {"domain": "my-domain", "maxResults": 5,
                                                  "repositoryPrefix": "my", "nextToken": "a+b/c=d~e%f"}),
    ("codeartifact", "ListRepositoriesInDomain", {"domain": "my-domain", "administratorAccount": "123456789012"}),
    ("codeartifact", "DeleteRepository", {"domain": "my-domain", "repository": "my-repo"}),
    ("codeartifact", "GetRepositoryEndpoint", {"domain": "my-domain", "repository": "my-repo", "format": "pypi"}),
    ("codeartifact", "GetRepositoryEndpoint", {"domain": "my-domain", "repository": "my-repo", "format": "npm",
                                               "endpointType": "ipv4", "domainOwner": "123456789012"}),
    ("ecr", "GetAuthorizationToken", {}),
    ("ecr", "GetAuthorizationToken", {"registryIds": ["123456789012", "210987654321"]}),
    ("ecr", "CreateRepository", {"repositoryName": "team/app-1", "registryId": "123456789012",
                                 "tags": [{"Key": "k", "Value": "v"}], "imageTagMutability": "IMMUTABLE",
                                 "imageScanningConfiguration": {"scanOnPush": True},
                                 "encryptionConfiguration": {"encryptionType": "AES256"}}),
    ("ecr", "DescribeRepositories", {}),
    ("ecr", "DescribeRepositories", {"registryId": "123456789012", "repositoryNames": ["a1", "b/c__d"],
                                     "maxResults": 5, "nextToken": "n"}),
    ("ecr", "DeleteRepository", {"repositoryName": "team/app", "force": True}),
    ("ecr", "DescribeRegistry", {}),
    ("ecr-public", "GetAuthorizationToken", {}),
    ("sts", "AssumeRole", {"RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "sess@x.y",
                           "DurationSeconds": 900, "Policy": POLICY, "ExternalId": "ext:1/2",
                           "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
                                          {"arn": "arn:aws:iam::123456789012:policy/p"}],
                           "Tags": [{"Key": "team", "Value": "a b"}, {"Key": "k2", "Value": ""}],
                           "TransitiveTagKeys": ["team"]}),
    ("sts", "AssumeRole", {"RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "s1",
                           "PolicyArns": []}),
    ("sts", "GetSessionToken", {}),
    ("sts", "GetSessionToken", {"DurationSeconds": 129600, "SerialNumber": "arn:aws:iam::1:mfa/u",
                                "TokenCode": "123456"}),
    ("sts", "GetCallerIdentity", {}),
    ("iam", "CreateUser", {"UserName": "alice", "Path": "/eng/", "Tags": [{"Key": "cost center", "Value": "é 1"}]}),
    ("iam", "CreateAccessKey", {}),
    ("iam", "CreateAccessKey", {"UserName": "alice"}),
    ("iam", "UpdateAccessKey", {"UserName": "alice", "AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "Status": "Inactive"}),
    ("iam", "PutUserPolicy", {"UserName": "alice", "PolicyName": "p1", "PolicyDocument": POLICY}),
    ("iam", "CreateRole", {"RoleName": "deployer", "AssumeRolePolicyDocument": TRUST, "MaxSessionDuration": 7200,
                           "Description": "CI role", "Tags": [{"Key": "k", "Value": "v"}]}),
    ("iam", "UpdateAssumeRolePolicy", {"RoleName": "deployer", "PolicyDocument": TRUST}),
    ("iam", "DeleteUser", {"UserName": "alice"}),
    ("iam", "ListAccessKeys", {"UserName": "alice", "MaxItems": 10, "Marker": "m+1"}),
    ("iam", "AttachRolePolicy", {"RoleName": "deployer", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
    ("iam", "CreateLoginProfile", {"UserName": "alice", "Password": "s3cr3t p@ss", "PasswordResetRequired": True}),
]


@pytest.fixture(scope="module")
def models() -> AwsModels:
    return aws_models()


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:18765", "http://127.0.0.1:18765/prefix/"])
@pytest.mark.parametrize(("service", "operation", "params"), ROUND_TRIPS,
                         ids=[f"{s}-{o}-{i}" for i, (s, o, _) in enumerate(ROUND_TRIPS)])
def test_botocore_round_trip(models, service, operation, params, endpoint):
    spec = models[service]
    req = botocore_request(spec, operation, params, endpoint)
    assert parse_request(spec, req) == (operation, params)


# --- requests shaped like paws' and the CLI's (aws-wire Appendix A) ---------------------------------

PAWS_JSON = (("Content-Type", "application/x-amz-json-1.1"),)


@pytest.mark.parametrize(("service", "req", "expected"), [
    ("codeartifact", raw("POST", "/v1/authorization-token", "domain=my-domain&domain-owner=123456789012&duration=900",
                         PAWS_JSON + (("Content-Length", "0"),)),
     ("GetAuthorizationToken", {"domain": "my-domain", "domainOwner": "123456789012", "durationSeconds": 900})),
    ("codeartifact", raw("POST", "/v1/authorization-token", "domain=my-domain&duration=0"),
     ("GetAuthorizationToken", {"domain": "my-domain", "durationSeconds": 0})),
    ("codeartifact", raw("POST", "/prefix/v1/authorization-token", "domain=my-domain"),
     ("GetAuthorizationToken", {"domain": "my-domain"})),
    ("codeartifact", raw("POST", "/v1/domain", "domain=my-domain", PAWS_JSON),
     ("CreateDomain", {"domain": "my-domain"})),
    ("codeartifact", raw("POST", "/v1/domains", "", PAWS_JSON, b'{"maxResults":10}'),
     ("ListDomains", {"maxResults": 10})),
    ("codeartifact", raw("POST", "/v1/domains", "", (), b" {} "), ("ListDomains", {})),
    ("codeartifact", raw("GET", "/v1/domain", "domain=my-domain&domain-owner=123456789012"),
     ("DescribeDomain", {"domain": "my-domain", "domainOwner": "123456789012"})),
    ("codeartifact", raw("GET", "/v1/repository/endpoint", "format=pypi&repository=my-repo&domain=my-domain"),
     ("GetRepositoryEndpoint", {"domain": "my-domain", "repository": "my-repo", "format": "pypi"})),
    ("codeartifact", raw("POST", "/v1/domain/repositories", "domain=my-domain&next-token=a%2Bb%2Fc%3Dd~e"),
     ("ListRepositoriesInDomain", {"domain": "my-domain", "nextToken": "a+b/c=d~e"})),
    ("ecr", raw("POST", "/", "", PAWS_JSON + (("X-Amz-Target", f"{ECR_TARGET}.GetAuthorizationToken"),), b"{}"),
     ("GetAuthorizationToken", {})),
    ("ecr", raw("POST", "/", "", (("x-amz-target", f"{ECR_TARGET}.GetAuthorizationToken"),)),
     ("GetAuthorizationToken", {})),
    ("ecr-public", raw("POST", "/", "", PAWS_JSON + (("X-Amz-Target", "SpencerFrontendService.GetAuthorizationToken"),),
                       b"{}"), ("GetAuthorizationToken", {})),
    ("sts", raw("POST", "/", "", (("Accept", "application/xml"),
                                  ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")),
                b"Action=GetCallerIdentity&Version=2011-06-15"), ("GetCallerIdentity", {})),
    ("sts", raw("GET", "/", "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=900"),
     ("GetSessionToken", {"DurationSeconds": 900})),
    ("iam", raw("POST", "/", "", (), b"Action=CreateUser&Version=2010-05-08&UserName=bob&Tags.member.1.Key=k"
                                     b"&Tags.member.1.Value=v&Tags.member.2.Key=x&Tags.member.2.Value=y"),
     ("CreateUser", {"UserName": "bob", "Tags": [{"Key": "k", "Value": "v"}, {"Key": "x", "Value": "y"}]})),
])
def test_client_shaped_requests(models, service, req, expected):
    assert parse_request(models[service], req) == expected


# --- validation: the AWS wording, the field, the error class ------------------------------------------

def ca_gat(query: str):
    return raw("POST", "/v1/authorization-token", query)


def ecr(op: str, body: dict | bytes):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return raw("POST", "/", "", (("X-Amz-Target", f"{ECR_TARGET}.{op}"),), data)


def form(body: str):
    return raw("POST", "/", "", (("Content-Type", "application/x-www-form-urlencoded"),), body.encode())


def assume(extra: str):
    return form("Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr"
                "&RoleSessionName=s1" + extra)


V = "failed to satisfy constraint: Member must"
VALIDATION = [
    ("codeartifact", ca_gat("domain=My_Domain!!"), "domain",
     f"1 validation error detected: Value 'My_Domain!!' at 'domain' {V} satisfy regular expression pattern: "
     r"[a-z][a-z0-9\-]{0,48}[a-z0-9]"),
    ("codeartifact", ca_gat("domain=my-domain&duration=50000"), "durationSeconds",
     f"1 validation error detected: Value '50000' at 'durationSeconds' {V} have value less than or equal to 43200"),
    ("codeartifact", ca_gat("domain=my-domain&duration=-1"), "durationSeconds",
     f"1 validation error detected: Value '-1' at 'durationSeconds' {V} have value greater than or equal to 0"),
    ("codeartifact", ca_gat("domain=my-domain&domain-owner=12"), "domainOwner",
     f"2 validation errors detected: Value '12' at 'domainOwner' {V} satisfy regular expression pattern: "
     f"[0-9]{{12}}; Value '12' at 'domainOwner' {V} have length greater than or equal to 12"),
    ("codeartifact", ca_gat("domain=my-domain&domain-owner=1234567890123"), "domainOwner",
     f"2 validation errors detected: Value '1234567890123' at 'domainOwner' {V} satisfy regular expression "
     f"pattern: [0-9]{{12}}; Value '1234567890123' at 'domainOwner' {V} have length less than or equal to 12"),
    # botocore sends this token (aws-wire §2.2) but the model's PaginationToken is \S+: AWS rejects it too
    ("codeartifact", raw("POST", "/v1/domain/repositories", "domain=d1&next-token=a%2Bb%2Fc%3Dd%20e~f"), "nextToken",
     rf"Value 'a+b/c=d e~f' at 'nextToken' {V} satisfy regular expression pattern: \S+"),
    ("codeartifact", ca_gat("domain=" + "a" * 51), "domain", f"{V} have length less than or equal to 50"),
    ("codeartifact", raw("GET", "/v1/repository/endpoint", "domain=d1&repository=r1&format=bogus"), "format",
     f"1 validation error detected: Value 'bogus' at 'format' {V} satisfy enum value set: "
     "[npm, pypi, maven, nuget, generic, ruby, swift, cargo]"),
    ("codeartifact", raw("POST", "/v1/repository", "domain=d1&repository=r1", (),
                         json.dumps({"tags": [{"key": "k", "value": "v" * 257}]}).encode()),
     "tags.1.member.value", f"Value '{'v' * 257}' at 'tags.1.member.value' {V} have length less than or equal to 256"),
    ("codeartifact", raw("POST", "/v1/repository", "domain=d1&repository=r1", (), b'{"description": "bell\\u0007"}'),
     "description", f"Value 'bell\x07' at 'description' {V} satisfy regular expression pattern: \\P{{C}}*"),
    ("codeartifact", raw("POST", "/v1/repository", "domain=d1&repository=r1", (),
                         json.dumps({"description": "\U0001F600" * 501}).encode()),
     "description", f"{V} have length less than or equal to 1000"),    # Java counts UTF-16 units
    ("ecr", ecr("GetAuthorizationToken", {"registryIds": ["123456789012"] * 11}), "registryIds",
     f"1 validation error detected: Value '[{', '.join(['123456789012'] * 11)}]' at 'registryIds' {V} "
     "have length less than or equal to 10"),
    ("ecr", ecr("GetAuthorizationToken", {"registryIds": ["abc"]}), "registryIds",
     f"1 validation error detected: Value '[abc]' at 'registryIds' {V} satisfy constraint: "
     "[Member must satisfy regular expression pattern: [0-9]{12}]"),
    ("ecr", ecr("GetAuthorizationToken", {"registryIds": []}), "registryIds",
     f"Value '[]' at 'registryIds' {V} have length greater than or equal to 1"),
    ("ecr", ecr("CreateRepository", {"repositoryName": "Bad_Name"}), "repositoryName",
     f"Value 'Bad_Name' at 'repositoryName' {V} satisfy regular expression pattern: [a-z0-9]+((\\.|_|__|-+)"),
    ("ecr", ecr("CreateRepository", {"repositoryName": "a//b"}), "repositoryName", "regular expression pattern"),
    ("ecr", ecr("CreateRepository", {"repositoryName": "-abc"}), "repositoryName", "regular expression pattern"),
    ("ecr", ecr("CreateRepository", {"repositoryName": "a"}), "repositoryName",
     f"1 validation error detected: Value 'a' at 'repositoryName' {V} have length greater than or equal to 2"),
    ("ecr", ecr("CreateRepository", {"repositoryName": "ok", "imageTagMutability": "SOMETIMES"}),
     "imageTagMutability", "Member must satisfy enum value set: [MUTABLE, IMMUTABLE"),
    ("ecr", ecr("CreateRepository", {"repositoryName": "ok", "encryptionConfiguration": {}}),
     "encryptionConfiguration.encryptionType",
     f"Value null at 'encryptionConfiguration.encryptionType' {V} not be null"),
    ("sts", assume("&DurationSeconds=899"), "durationSeconds",
     f"1 validation error detected: Value '899' at 'durationSeconds' {V} have value greater than or equal to 900"),
    ("sts", form("Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr"
                 "&RoleSessionName=" + "s" * 65), "roleSessionName",
     f"1 validation error detected: Value '{'s' * 65}' at 'roleSessionName' {V} have length less than or equal to 64"),
    ("sts", assume("&TokenCode=abcdef&SerialNumber=arn%3Aaws%3Aiam%3A%3A1%3Amfa%2Fu"), "tokenCode",
     rf"Value 'abcdef' at 'tokenCode' {V} satisfy regular expression pattern: [\d]*"),
    ("sts", assume("&Tags.member.1.Key=k%3Bsemicolon&Tags.member.1.Value=v"), "tags.1.member.key",
     f"at 'tags.1.member.key' {V} satisfy regular expression pattern"),
    ("iam", form("Action=CreateUser&Version=2010-05-08&UserName=bad+name"), "userName",
     rf"1 validation error detected: Value 'bad name' at 'userName' {V} satisfy regular expression pattern: [\w+=,.@-]+"),
    ("iam", form("Action=CreateRole&Version=2010-05-08&RoleName=r&AssumeRolePolicyDocument=%7B%7D"
                 "&MaxSessionDuration=43201"), "maxSessionDuration", f"{V} have value less than or equal to 43200"),
    ("iam", form("Action=CreateUser&Version=2010-05-08&UserName=u&Tags.member.1.Key=k&Tags.member.1.Value=a%00b"),
     "tags.1.member.value", "Value 'a\x00b' at 'tags.1.member.value'"),
    ("iam", form("Action=PutUserPolicy&Version=2010-05-08&UserName=u&PolicyName=p&PolicyDocument=%E2%82%AC"),
     "policyDocument", "satisfy regular expression pattern"),                 # '€' is outside Latin-1
]


@pytest.mark.parametrize(("service", "req", "field", "wording"), VALIDATION,
                         ids=[f"{v[0]}-{v[2]}-{i}" for i, v in enumerate(VALIDATION)])
def test_validation(models, service, req, field, wording):
    with pytest.raises(InvalidInput) as info:
        parse_request(models[service], req)
    err = info.value
    assert (err.field, err.reason) == (field, "FIELD_VALIDATION_FAILED")
    assert wording in err.message
    assert re.match(r"\d+ validation errors? detected: Value ", err.message)
    assert not isinstance(err, UnknownOperation)


def test_a_request_with_a_violation_per_element_gets_a_bounded_message(models):
    """A megabyte of bad tags from any key (parsing comes before authorization) must not be answered
    with tens of megabytes: the first violations are listed, the rest counted, long values cut."""
    with pytest.raises(InvalidInput) as info:
        parse_request(models["ecr"], ecr("CreateRepository", {"repositoryName": "repo", "tags": [{}] * 50_000}))
    message = info.value.message
    assert message.startswith("100000 validation errors detected: Value null at 'tags.1.member.Key'")
    assert message.endswith("; and 99900 more") and len(message) < 20_000
    with pytest.raises(InvalidInput) as info:
        parse_request(models["ecr"], ecr("CreateRepository", {"repositoryName": "r" * 900_000}))
    assert "r" * 1024 + "..." in info.value.message and len(info.value.message) < 2_000


@pytest.mark.parametrize(("service", "req", "field"), [
    ("codeartifact", ca_gat(""), "domain"),
    ("codeartifact", raw("GET", "/v1/repository/endpoint", "domain=d1"), "repository"),
    ("sts", form("Action=AssumeRole&Version=2011-06-15&RoleSessionName=s1"), "roleArn"),
    ("ecr", ecr("CreateRepository", {}), "repositoryName"),
])
def test_missing_required_is_missing_parameter(models, service, req, field):
    with pytest.raises(MissingParameter) as info:
        parse_request(models[service], req)
    assert info.value.field == field
    assert f"Value null at '{field}' failed to satisfy constraint: Member must not be null" in info.value.message


def test_sensitive_values_are_never_echoed(models):
    secret = "x" * 200 + "TOPSECRET"
    req = form(f"Action=CreateLoginProfile&Version=2010-05-08&UserName=u&Password={secret}")
    with pytest.raises(InvalidInput) as info:
        parse_request(models["iam"], req)
    assert "TOPSECRET" not in info.value.message
    assert "Value '***' at 'password'" in info.value.message


def test_unicode_classes_translated(models):
    ok = form("Action=CreateUser&Version=2010-05-08&UserName=u&Tags.member.1.Key=k"
              "&Tags.member.1.Value=h%C3%A9llo+w%C3%B6rld+%E6%95%B0%E5%AD%97")
    assert parse_request(models["iam"], ok)[1]["Tags"][0]["Value"] == "héllo wörld 数字"
    desc = raw("POST", "/v1/repository", "domain=d1&repository=r1", (), json.dumps({"description": "ok ü 😀"}).encode())
    assert parse_request(models["codeartifact"], desc)[1]["description"] == "ok ü 😀"


@pytest.mark.parametrize(("service", "req", "field"), [
    ("codeartifact", ca_gat("domain=d1&duration=abc"), "durationSeconds"),
    ("codeartifact", ca_gat("domain=d1&duration=99999999999999999999"), "durationSeconds"),
    ("codeartifact", raw("POST", "/v1/domains", "", (), b"{not json"), "body"),
    ("codeartifact", raw("POST", "/v1/domains", "", (), b'{"maxResults": "10"}'), "maxResults"),
    ("codeartifact", ca_gat("domain=%FF"), ""),
    ("ecr", ecr("GetAuthorizationToken", {"registryIds": "123456789012"}), "registryIds"),
    ("ecr", ecr("GetAuthorizationToken", b"[]"), "body"),
    ("ecr", ecr("GetAuthorizationToken", b'{"registryIds": [NaN]}'), "body"),
    ("ecr", ecr("CreateRepository", {"repositoryName": "ok", "imageScanningConfiguration": {"scanOnPush": "yes"}}),
     "imageScanningConfiguration.scanOnPush"),
    ("ecr", ecr("DescribeRepositories", b'{"repositoryNames": ["\\ud800"]}'), "repositoryNames.1.member"),
    ("ecr", ecr("DescribeRepositories", b"[" * 5000 + b"]" * 5000), "body"),
    ("sts", assume("&DurationSeconds=15m"), "durationSeconds"),
    ("sts", form("Action=GetCallerIdentity&Version=2011-06-15&x=%C3"), ""),
])
def test_unparseable_values(models, service, req, field):
    with pytest.raises(InvalidInput) as info:
        parse_request(models[service], req)
    assert (info.value.reason, info.value.field) == ("CANNOT_PARSE", field)


@pytest.mark.parametrize(("service", "req"), [
    ("sts", form("Action=GetServiceBearerToken&Version=2011-06-15")),    # a permission, never an endpoint
    ("sts", form("Action=AssumeRole&Version=2010-05-08")),
    ("sts", form("Action=GetCallerIdentity")),
    ("sts", form("Version=2011-06-15")),
    ("iam", form("Action=GetCallerIdentity&Version=2010-05-08")),
    ("ecr", raw("POST", "/", "", (("X-Amz-Target", "SpencerFrontendService.GetAuthorizationToken"),), b"{}")),
    ("ecr", raw("POST", "/", "", (), b"{}")),
    ("ecr-public", raw("POST", "/", "", (("X-Amz-Target", "SpencerFrontendService.Nope"),), b"{}")),
    # the JSON protocols' operations are all POST / (aws-wire.md; the path may carry an endpoint's
    # prefix): another method is none of them
    ("ecr", raw("GET", "/", "", (("X-Amz-Target", f"{ECR_TARGET}.GetAuthorizationToken"),), b"{}")),
    ("ecr", raw("PUT", "/", "", (("X-Amz-Target", f"{ECR_TARGET}.GetAuthorizationToken"),), b"{}")),
    ("ecr-public", raw("DELETE", "/", "", (("X-Amz-Target", "SpencerFrontendService.GetAuthorizationToken"),),
                       b"{}")),
    ("codeartifact", raw("GET", "/v1/nothing", "domain=d")),
    ("codeartifact", raw("PUT", "/v1/authorization-token", "domain=d")),
    ("codeartifact", raw("POST", "/v1/authorization-token/extra", "domain=d")),
])
def test_unknown_operations(models, service, req):
    with pytest.raises(UnknownOperation) as info:
        parse_request(models[service], req)
    assert info.value.reason == "UNKNOWN_OPERATION"


# --- the facade ----------------------------------------------------------------------------------------

def test_service_specs(models):
    meta = {k: (models[k].protocol, models[k].signing_name, models[k].target_prefix, models[k].xmlns)
            for k in models.keys()}
    assert meta == {
        "codeartifact": ("rest-json", "codeartifact", None, None),
        "ecr": ("json", "ecr", ECR_TARGET, None),
        "ecr-public": ("json", "ecr-public", "SpencerFrontendService", None),
        "sts": ("query", "sts", None, "https://sts.amazonaws.com/doc/2011-06-15/"),
        "iam": ("query", "iam", None, "https://iam.amazonaws.com/doc/2010-05-08/"),
    }
    assert models["sts"].operation("AssumeRole").name == "AssumeRole"
    assert models["sts"].operation("GetServiceBearerToken") is None
    assert models["sts"].error_shape("MalformedPolicyDocument").name == "MalformedPolicyDocumentException"


@pytest.mark.parametrize(("method", "path", "operation"), [
    ("POST", "/v1/domain", "CreateDomain"), ("GET", "/v1/domain", "DescribeDomain"),
    ("POST", "/v1/domain/repositories", "ListRepositoriesInDomain"),
    ("GET", "/v1/repository", "DescribeRepository"), ("GET", "/v1/repository/endpoint", "GetRepositoryEndpoint"),
    ("GET", "/a/b/v1/repository/endpoint", "GetRepositoryEndpoint"), ("GET", "/prefix/v1/domain", "DescribeDomain"),
    ("PUT", "/v1/domain/permissions/policy", "PutDomainPermissionsPolicy"),
])
def test_router(models, method, path, operation):
    op, labels = models["codeartifact"].route(method, path, {})
    assert (op.name, labels) == (operation, {})


class _OneModelLoader:
    """A Loader stand-in that serves a synthetic rest-json model (labels and literal query parts)."""

    def load_service_model(self, name, type_name):
        member = {"shape": "S", "location": "uri"}
        return {"version": "2.0", "metadata": {"protocol": "rest-json", "apiVersion": "2020-01-01",
                                               "signingName": "x", "endpointPrefix": "x", "serviceId": "x"},
                "operations": {
                    "GetThing": {"name": "GetThing", "http": {"method": "GET", "requestUri": "/things/{Id}"},
                                 "input": {"shape": "In"}},
                    "GetTags": {"name": "GetTags", "http": {"method": "GET", "requestUri": "/things/{Id}?tagging"},
                                "input": {"shape": "In"}},
                    "GetKey": {"name": "GetKey", "http": {"method": "GET", "requestUri": "/keys/{Key+}"},
                               "input": {"shape": "KeyIn"}}},
                "shapes": {"S": {"type": "string"},
                           "In": {"type": "structure", "members": {"Id": dict(member, locationName="Id")}},
                           "KeyIn": {"type": "structure", "members": {"Key": dict(member, locationName="Key")}}}}


def test_router_templates():
    spec = AwsModels(loader=_OneModelLoader(), services=["codeartifact"])["codeartifact"]
    assert spec.route("GET", "/things/a%20b", {})[0].name == "GetThing"
    assert spec.route("GET", "/things/a%20b", {})[1] == {"Id": "a b"}
    assert spec.route("GET", "/p/things/a", {"tagging": [""]})[0].name == "GetTags"
    assert spec.route("GET", "/keys/a/b%2Fc", {})[1] == {"Key": "a/b/c"}
    assert spec.route("GET", "/things/a/b", {}) is None
    assert parse_request(spec, raw("GET", "/things/x%2Fy"))[1] == {"Id": "x/y"}


def test_patterns_translate_and_stay_linear(models):
    for java, linear in LINEAR_EQUIVALENTS.items():
        slow, fast = re.compile(java), compile_java_pattern(java)
        for n in range(0, 7):
            for chars in itertools.product("a*./-_!", repeat=n):
                s = "".join(chars)
                assert bool(slow.fullmatch(s)) == bool(fast.fullmatch(s)), s
    adversarial = [c * 3000 + "!" for c in ("a", "*", "a.", "a-", "a_", "a/", "a__", "ab/")]
    for pattern in input_patterns(models["ecr"]):
        for s in adversarial:
            models["ecr"].pattern(pattern).fullmatch(s)
    p = compile_java_pattern(r"[^\p{C}\p{IsWhitespace}]+")
    assert p.fullmatch("abc€") and not p.fullmatch("a b") and not p.fullmatch("a\u2028b")


class _LocationsLoader:
    """Synthetic rest-json op using every member location and scalar type the parser converts."""

    def load_service_model(self, name, type_name):
        members = {
            "At": {"shape": "T", "location": "querystring", "locationName": "at"},
            "Flag": {"shape": "B", "location": "querystring", "locationName": "flag"},
            "Ids": {"shape": "L", "location": "querystring", "locationName": "id"},
            "N": {"shape": "I", "location": "header", "locationName": "X-N"},
            "Since": {"shape": "T", "location": "header", "locationName": "X-Since"},
            "When": {"shape": "T"}, "Data": {"shape": "Blob"}, "Ratio": {"shape": "D"}, "Map": {"shape": "M"},
        }
        return {"version": "2.0", "metadata": {"protocol": "rest-json", "apiVersion": "2020-01-01",
                                               "signingName": "x", "endpointPrefix": "x", "serviceId": "x"},
                "operations": {"Put": {"name": "Put", "http": {"method": "POST", "requestUri": "/put"},
                                       "input": {"shape": "In"}}},
                "shapes": {"T": {"type": "timestamp"}, "B": {"type": "boolean"}, "I": {"type": "integer", "max": 5},
                           "S": {"type": "string"}, "L": {"type": "list", "member": {"shape": "S"}},
                           "M": {"type": "map", "key": {"shape": "S"}, "value": {"shape": "S"}},
                           "Blob": {"type": "blob"}, "D": {"type": "double"},
                           "In": {"type": "structure", "members": members}}}


def test_member_locations_and_scalar_types():
    spec = AwsModels(loader=_LocationsLoader(), services=["codeartifact"])["codeartifact"]
    t0 = datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)
    req = raw("POST", "/put", "at=2023-11-14T22%3A13%3A20Z&flag=true&id=a&id=b",
              (("X-N", "3"), ("X-Since", "Tue, 14 Nov 2023 22:13:20 GMT")),
              json.dumps({"When": 1700000000.5, "Data": "aGk=", "Ratio": 2, "Map": {"k": "v"}}).encode())
    assert parse_request(spec, req) == ("Put", {
        "At": t0, "Flag": True, "Ids": ["a", "b"], "N": 3, "Since": t0,
        "When": t0.replace(microsecond=500000), "Data": b"hi", "Ratio": 2.0, "Map": {"k": "v"}})
    with pytest.raises(InvalidInput, match="Value '6' at 'N' failed to satisfy constraint: Member must have "
                                           "value less than or equal to 5"):
        parse_request(spec, raw("POST", "/put", "", (("x-n", "6"),)))
    for bad in ("flag=yes", "at=yesterday", "at=1e400"):
        with pytest.raises(InvalidInput) as info:
            parse_request(spec, raw("POST", "/put", bad))
        assert info.value.reason == "CANNOT_PARSE"


# --- fuzzing: arbitrary input never raises anything but a regauth error ---------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _survives(spec, req):
    try:
        op, params = parse_request(spec, req)
    except RegauthError:
        return
    assert isinstance(op, str) and isinstance(params, dict)


@FUZZ
@given(service=st.sampled_from(["codeartifact", "ecr", "ecr-public", "sts", "iam"]),
       method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "P\x00ST"]),
       path=st.text(max_size=40) | st.sampled_from(["/v1/authorization-token", "/x/v1/domain", "/v1/repository"]),
       query=st.text(max_size=60), body=st.binary(max_size=80),
       target=st.text(max_size=30) | st.sampled_from([f"{ECR_TARGET}.GetAuthorizationToken",
                                                      "SpencerFrontendService.GetAuthorizationToken"]))
def test_fuzz_raw_requests(models, service, method, path, query, body, target):
    _survives(models[service], raw(method, path, query, (("X-Amz-Target", target),), body))


@FUZZ
@given(op=st.sampled_from(["GetAuthorizationToken", "CreateRepository", "DescribeRepositories", "DescribeRegistry"]),
       body=st.dictionaries(st.sampled_from(["registryIds", "repositoryName", "repositoryNames", "maxResults",
                                             "tags", "imageScanningConfiguration", "encryptionConfiguration",
                                             "imageTagMutability", "force", "x"]), json_values, max_size=5))
def test_fuzz_json_members(models, op, body):
    _survives(models["ecr"], ecr(op, json.dumps(body).encode()))


@FUZZ
@given(query=st.lists(st.tuples(st.sampled_from(["domain", "domain-owner", "duration", "repository", "format",
                                                 "max-results", "next-token", "x"]), st.text(max_size=12)),
                      max_size=5),
       route=st.sampled_from([("POST", "/v1/authorization-token"), ("POST", "/v1/domains"),
                              ("POST", "/v1/repository"), ("GET", "/v1/repository/endpoint")]),
       body=json_values)
def test_fuzz_rest_json_members(models, query, route, body):
    from urllib.parse import quote
    qs = "&".join(f"{k}={quote(v)}" for k, v in query)
    _survives(models["codeartifact"], raw(route[0], route[1], qs, (), json.dumps(body).encode()))


@FUZZ
@given(action=st.sampled_from(["AssumeRole", "GetSessionToken", "CreateUser", "CreateRole", "PutUserPolicy"]),
       pairs=st.lists(st.tuples(st.sampled_from(["RoleArn", "RoleSessionName", "DurationSeconds", "Tags",
                                                 "Tags.member.1.Key", "Tags.member.x.Value", "Tags.member.1",
                                                 "PolicyArns.member.2.arn", "UserName", "RoleName",
                                                 "MaxSessionDuration", "PolicyDocument", "Tags.entry.1.key"]),
                                st.text(max_size=12)), max_size=6))
def test_fuzz_query_members(models, action, pairs):
    from urllib.parse import urlencode
    service = "sts" if action in ("AssumeRole", "GetSessionToken") else "iam"
    version = models[service].api_version
    _survives(models[service], form(urlencode([("Action", action), ("Version", version)] + pairs)))
