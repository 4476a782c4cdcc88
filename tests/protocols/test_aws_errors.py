"""to_wire + serialize_error: every mapping, read back by botocore's parsers (paws' rules checked too)."""

from __future__ import annotations

import json

import pytest
from botocore.errorfactory import ClientExceptionsFactory
from hypothesis import given, settings
from hypothesis import strategies as st

from regauth import errors as e
from regauth.protocols.aws.errors import INTERNAL_MESSAGE, WireError, to_wire
from regauth.protocols.aws.models import AwsModels
from regauth.protocols.aws.parse import parse_request
from regauth.protocols.aws.serialize import serialize_error

from . import aws_models, botocore_parse, raw

RID = "c6104cbe-af31-11e0-8154-cbc7ccf896c7"
OPS = {"codeartifact": "GetAuthorizationToken", "ecr": "GetAuthorizationToken",
       "ecr-public": "GetAuthorizationToken", "sts": "AssumeRole", "iam": "CreateUser"}
SERVICES = list(OPS)
INVALID = "The security token included in the request is invalid."
EXPIRED = "Signature expired: 20261122T203850Z is now earlier than 20261122T205400Z (20261122T210900Z - 15 min.)"
STS_TEXT = "AWS4-HMAC-SHA256\n20261122T203850Z\n20261122/us-east-1/sts/aws4_request\nabc"


def conflict(kind: str | None = None) -> e.Conflict:
    exc = e.Conflict("repository", "my-repo", "Repository my-repo already exists")
    if kind:
        exc.kind = kind
    return exc


def wire_for(service: str, exc: BaseException) -> tuple[WireError, int, dict, bytes, dict]:
    spec = aws_models()[service]
    wire = to_wire(service, exc)
    status, headers, body = serialize_error(spec, wire, RID)
    parsed = botocore_parse(spec, OPS[service], status, headers, body)
    return wire, status, dict(headers), body, parsed


# (exception, {service: (code, status)}, expected message or None = the exception's own)
C, J, Q = ("codeartifact",), ("ecr", "ecr-public"), ("sts", "iam")


def each(groups: dict[tuple[str, ...], tuple[str, int]]) -> dict[str, tuple[str, int]]:
    return {s: v for services, v in groups.items() for s in services}


TABLE = [
    (e.IncompleteSignature("Authorization header requires 'Credential' parameter."),
     each({C: ("IncompleteSignatureException", 400), J: ("IncompleteSignatureException", 400),
           Q: ("IncompleteSignature", 400)}), None),
    (e.SignatureMismatch("The request signature we calculated does not match", STS_TEXT),
     each({C: ("InvalidSignatureException", 403), J: ("InvalidSignatureException", 400),
           Q: ("SignatureDoesNotMatch", 403)}),
     f"The request signature we calculated does not match\n\nThe String-to-Sign should have been\n'{STS_TEXT}'\n"),
    (e.UnknownAccessKey("AKIAEXAMPLE is not in the store"),
     each({C: ("UnrecognizedClientException", 403), J: ("UnrecognizedClientException", 400),
           Q: ("InvalidClientTokenId", 403)}), INVALID),
    (e.InactiveAccessKey("AKIAEXAMPLE is Inactive"),
     each({C: ("UnrecognizedClientException", 403), J: ("UnrecognizedClientException", 400),
           Q: ("InvalidClientTokenId", 403)}), INVALID),
    (e.RequestExpired(EXPIRED),
     each({C: ("InvalidSignatureException", 403), J: ("InvalidSignatureException", 400),
           Q: ("SignatureDoesNotMatch", 403)}), EXPIRED),
    (e.ExpiredToken("session s-123 expired at ..."),
     each({C: ("ExpiredTokenException", 403), J: ("ExpiredTokenException", 400), Q: ("ExpiredToken", 403)}),
     "The security token included in the request is expired"),
    (e.AccessDenied("User: arn:aws:iam::123456789012:user/a is not authorized to perform: x:Y on resource: *"),
     each({C: ("AccessDeniedException", 403), J: ("AccessDeniedException", 400), Q: ("AccessDenied", 403)}), None),
    (e.NotFound("repository", "nope", "The repository with name 'nope' does not exist in the registry with id "
                                      "'123456789012'"),
     each({C: ("ResourceNotFoundException", 404), J: ("RepositoryNotFoundException", 400),
           ("iam",): ("NoSuchEntity", 404), ("sts",): ("AccessDenied", 403)}), None),
    (conflict(), each({C: ("ConflictException", 409), J: ("RepositoryAlreadyExistsException", 400),
                       ("iam",): ("EntityAlreadyExists", 409), ("sts",): ("ValidationError", 400)}), None),
    (conflict("delete"), each({C: ("ConflictException", 409), J: ("RepositoryNotEmptyException", 400),
                               ("iam",): ("DeleteConflict", 409), ("sts",): ("ValidationError", 400)}), None),
    (e.InvalidInput("1 validation error detected: Value 'x' at 'domain' failed to satisfy constraint: ...", "domain"),
     each({C: ("ValidationException", 400), J: ("InvalidParameterException", 400), Q: ("ValidationError", 400)}),
     None),
    (e.Unparseable("Cannot parse the value at 'registryIds': expected a list", "registryIds"),
     each({C: ("ValidationException", 400), J: ("SerializationException", 400), Q: ("ValidationError", 400)}),
     None),
    (e.MissingParameter("1 validation error detected: Value null at 'domain' ...", "domain"),
     each({C: ("ValidationException", 400), J: ("InvalidParameterException", 400), Q: ("ValidationError", 400)}),
     None),
    (e.MalformedPolicy("Syntax errors in policy."),
     each({C: ("ValidationException", 400), J: ("InvalidParameterException", 400),
           Q: ("MalformedPolicyDocument", 400)}), None),
    (e.UnknownOperation("Could not find operation Nope for version 2011-06-15"),
     each({C: ("UnknownOperationException", 404), J: ("UnknownOperationException", 400),
           Q: ("InvalidAction", 400)}), None),
    (e.Throttled("Rate exceeded", retry_after=7),
     each({C: ("ThrottlingException", 429), J: ("ThrottlingException", 400), Q: ("Throttling", 400)}), None),
    (e.LimitExceeded("Too many repositories"),
     each({C: ("ServiceQuotaExceededException", 402), J: ("LimitExceededException", 400),
           Q: ("LimitExceeded", 409)}), None),
    (e.UnsupportedOperation("GetAuthorizationToken command is only supported in us-east-1."),
     each({C: ("ValidationException", 400), ("ecr",): ("ValidationException", 400),
           ("ecr-public",): ("UnsupportedCommandException", 400), Q: ("InvalidAction", 400)}), None),
    (e.InternalFailure("db at postgres://user:hunter2@db failed"),
     each({C: ("InternalServerException", 500), J: ("ServerException", 500), Q: ("InternalFailure", 500)}),
     INTERNAL_MESSAGE),
    (RuntimeError("secret hunter2 leaked?"),
     each({C: ("InternalServerException", 500), J: ("ServerException", 500), Q: ("InternalFailure", 500)}),
     INTERNAL_MESSAGE),
]
CASES = [(exc, service, *codes[service], message) for exc, codes, message in TABLE for service in SERVICES]


@pytest.mark.parametrize(("exc", "service", "code", "status", "message"), CASES,
                         ids=[f"{type(c[0]).__name__}-{c[1]}" for c in CASES])
def test_mapping_as_botocore_reads_it(exc, service, code, status, message):
    wire, got_status, headers, body, parsed = wire_for(service, exc)
    expected_message = message or exc.message
    if service == "sts" and isinstance(exc, e.NotFound):
        expected_message = "You are not authorized to perform this operation."
    assert (wire.code, wire.status, got_status) == (code, status, status)
    assert parsed["Error"]["Code"] == code
    assert parsed["Error"]["Message"] == expected_message
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == status
    assert parsed["ResponseMetadata"]["RequestId"] == RID == headers["x-amzn-RequestId"]
    assert b"hunter2" not in body
    assert wire.sender_fault == (status < 500)
    if service in ("ecr", "ecr-public"):      # paws: exactly one message key, __type without namespace
        assert json.loads(body) == {"__type": code, "message": expected_message}
        assert headers["Content-Type"] == "application/x-amz-json-1.1"
    elif service == "codeartifact":
        assert headers["x-amzn-ErrorType"] == code and headers["Content-Type"] == "application/json"
        assert json.loads(body)["message"] == expected_message and "Message" not in json.loads(body)
    else:
        assert parsed["Error"]["Type"] == ("Sender" if status < 500 else "Receiver")
        assert headers["Content-Type"] == "text/xml"
        assert body.startswith(f'<ErrorResponse xmlns="{aws_models()[service].xmlns}"><Error><Type>'.encode())


def test_codeartifact_modeled_fields():
    _, _, _, _, parsed = wire_for("codeartifact", e.NotFound("domain", "my-domain", "Domain not found"))
    assert (parsed["resourceId"], parsed["resourceType"]) == ("my-domain", "domain")
    _, _, _, _, parsed = wire_for("codeartifact", conflict())
    assert (parsed["resourceId"], parsed["resourceType"]) == ("my-repo", "repository")
    _, _, _, _, parsed = wire_for("codeartifact", e.InvalidInput("bad", "domain", "CANNOT_PARSE"))
    assert parsed["reason"] == "CANNOT_PARSE"
    _, _, _, _, parsed = wire_for("codeartifact", e.Unparseable("bad", "body"))
    assert parsed["reason"] == "CANNOT_PARSE"
    _, _, _, _, parsed = wire_for("codeartifact", e.UnsupportedOperation("no"))
    assert parsed["reason"] == "OTHER"
    _, _, _, _, parsed = wire_for("codeartifact", e.InvalidInput("bad", "x", "SOMETHING_ELSE"))
    assert parsed["reason"] == "OTHER"


@pytest.mark.parametrize("service", SERVICES)
def test_throttling_retry_after(service):
    wire, _, headers, body, parsed = wire_for(service, e.Throttled(retry_after=7))
    assert headers["Retry-After"] == "7"
    if service == "codeartifact":
        assert parsed["retryAfterSeconds"] == 7 and "retryAfterSeconds" not in json.loads(body)


@pytest.mark.parametrize(("service", "code", "exception_class"), [
    ("codeartifact", "ResourceNotFoundException", "ResourceNotFoundException"),
    ("codeartifact", "ValidationException", "ValidationException"),
    ("ecr", "RepositoryNotFoundException", "RepositoryNotFoundException"),
    ("ecr-public", "UnsupportedCommandException", "UnsupportedCommandException"),
    ("sts", "MalformedPolicyDocument", "MalformedPolicyDocumentException"),
    ("iam", "NoSuchEntity", "NoSuchEntityException"),
    ("iam", "EntityAlreadyExists", "EntityAlreadyExistsException"),
])
def test_codes_map_to_botocore_exception_classes(service, code, exception_class):
    exceptions = ClientExceptionsFactory().create_client_exceptions(aws_models()[service].model)
    assert exceptions.from_code(code).__name__ == exception_class


def test_ecr_public_registry_not_found():
    assert to_wire("ecr-public", e.NotFound("registry", "r")).code == "RegistryNotFoundException"
    assert to_wire("ecr", e.NotFound("image", "sha256:x")).code == "ImageNotFoundException"
    assert to_wire("iam", conflict("concurrent")).code == "ConcurrentModification"


def test_parse_errors_end_to_end():
    models: AwsModels = aws_models()
    with pytest.raises(e.InvalidInput) as info:
        parse_request(models["codeartifact"], raw("POST", "/v1/authorization-token", "domain=My_Domain!!"))
    _, status, _, _, parsed = wire_for("codeartifact", info.value)
    assert (status, parsed["Error"]["Code"], parsed["reason"]) == (400, "ValidationException", "FIELD_VALIDATION_FAILED")
    assert parsed["Error"]["Message"].startswith("1 validation error detected: Value 'My_Domain!!' at 'domain'")
    with pytest.raises(e.UnknownOperation) as info:
        parse_request(models["sts"], raw("POST", "/", "", (), b"Action=GetServiceBearerToken&Version=2011-06-15"))
    _, status, _, _, parsed = wire_for("sts", info.value)
    assert (status, parsed["Error"]["Code"]) == (400, "InvalidAction")


class _Weird(e.NotFound):
    def __init__(self) -> None:
        Exception.__init__(self)
        self.message = 42            # not a string, and resource_id missing entirely


@pytest.mark.parametrize("service", SERVICES)
def test_malformed_domain_errors_still_map(service):
    wire = to_wire(service, _Weird())
    assert isinstance(wire, WireError) and wire.status in (400, 403, 404, 500)
    assert to_wire(service, KeyboardInterrupt()).status == 500


def _xml_clean(text: str) -> str:
    return "".join(c if c in "\t\n\r" or " " <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd" or c >= "\U00010000"
                   else "\ufffd" for c in text)


@settings(max_examples=60, deadline=None)
@given(service=st.sampled_from(SERVICES), message=st.text(min_size=1, max_size=60))
def test_fuzz_messages_survive_every_envelope(service, message):
    _, _, _, _, parsed = wire_for(service, e.AccessDenied(message))
    expected = _xml_clean(message) if service in ("sts", "iam") else message
    assert parsed["Error"]["Message"] == expected
