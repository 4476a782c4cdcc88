"""The ONE table mapping regauth domain errors to the AWS wire, per service.

`to_wire(service_key, exc)` never raises for a known service key and never leaks the text of an
unexpected exception. Families: codeartifact (rest-json coral), ecr / ecr-public (json 1.1 coral),
sts / iam (query). `serialize.serialize_error` turns the WireError into bytes.

Decisions where real services differ from folklore (sources are public issue threads):
* ECR and ECR Public answer EVERY sender error with HTTP 400, auth errors included:
  UnrecognizedClientException 400 (aws/aws-sdk-php#1114), InvalidSignatureException 400
  "Signature expired: ..." (upmc-enterprises/registry-creds#24, #47), AccessDeniedException 400
  (gruntwork-io/health-checker#11). Clients read the code from `__type`, so only retries care.
* Stale X-Amz-Date: coral services send InvalidSignatureException "Signature expired: ..."
  (ECR: registry-creds#24; rest-json: aws/aws-cli#4600, 403 as in aws/aws-sdk-kotlin#1217);
  STS and IAM send SignatureDoesNotMatch 403 with the same text, NOT RequestExpired
  (aws/aws-cli#6676 GetCallerIdentity, devsecops/bootcamp#101 AssumeRole, aws/chalice#1170 IAM).
* Expired session credentials: STS/IAM send code `ExpiredToken` with 403 (aws/aws-sdk-java-v2#1649,
  cfn-sphere/cfn-sphere#55 raw IAM XML; boto3#1431). The model's `ExpiredTokenException` (400) is
  the AssumeRoleWithSAML/WebIdentity "IdP token expired" error, not this one.
* A body that is not a JSON object, or a value of the wrong type, on ECR / ECR Public (awsJson1_1)
  is `SerializationException` 400, not InvalidParameterException (coral's own deserializer answers
  before the service sees the input; aws-sdk-perl#237, floci-io/floci#1926 and #3509).
* Unknown rest-json route: `UnknownOperationException` 404 (what coral's rest front end answers,
  cf. aws/aws-sdk-go#3689; floci-io/floci#3498). ECR (json) keeps its 400; STS/IAM `InvalidAction`.
* STS AssumeRole on a role that does not exist is `AccessDenied` 403 (faiscadev/fakecloud#1579,
  "matching AWS"); the message is generic so existence is not revealed.
* Conflict is split by `Conflict.kind` (read with getattr, default "exists", so older callers work):
  "exists" -> EntityAlreadyExists / ConflictException / ...AlreadyExists;
  "delete" (still in use / not empty) -> IAM DeleteConflict, ECR RepositoryNotEmptyException;
  "concurrent" (stale revision) -> IAM ConcurrentModification; CodeArtifact is ConflictException for all.
* A request whose body stopped on its way (RequestTimedOut) is `RequestTimeoutException` 408 in every
  family: Glacier's code and status for it, the one botocore's retry data names (`_retry.json`), and a
  code its standard retry mode treats as transient, so the CLI and SDKs send the request again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from regauth import errors as e

INTERNAL_MESSAGE = "We encountered an internal error. Please try again."
_REST, _JSON, _QUERY = "rest", "json", "query"
_FAMILY = {"codeartifact": _REST, "ecr": _JSON, "ecr-public": _JSON, "sts": _QUERY, "iam": _QUERY}
_CA_REASONS = {"CANNOT_PARSE", "ENCRYPTION_KEY_ERROR", "FIELD_VALIDATION_FAILED", "UNKNOWN_OPERATION", "OTHER"}


@dataclass
class WireError:
    code: str
    status: int
    message: str
    fields: dict[str, Any] = field(default_factory=dict)
    sender_fault: bool = True
    headers: list[tuple[str, str]] = field(default_factory=list)


# (rest code, rest status, json code, query code, query status, default message)
_AUTH: list[tuple[type, tuple[str, int, str, str, int, str]]] = [
    (e.MissingAuthentication, ("MissingAuthenticationTokenException", 403, "MissingAuthenticationTokenException",
                               "MissingAuthenticationToken", 403, "")),
    (e.IncompleteSignature, ("IncompleteSignatureException", 400, "IncompleteSignatureException",
                             "IncompleteSignature", 400, "The request signature does not conform to AWS standards.")),
    (e.UnknownAccessKey, ("UnrecognizedClientException", 403, "UnrecognizedClientException",
                          "InvalidClientTokenId", 403, "")),
    (e.RequestExpired, ("InvalidSignatureException", 403, "InvalidSignatureException",
                        "SignatureDoesNotMatch", 403, "Signature expired")),
    (e.ExpiredToken, ("ExpiredTokenException", 403, "ExpiredTokenException", "ExpiredToken", 403, "")),
    (e.AuthError, ("InvalidSignatureException", 403, "InvalidSignatureException", "SignatureDoesNotMatch", 403,
                   "The request signature we calculated does not match the signature you provided. "
                   "Check your AWS Secret Access Key and signing method. Consult the service documentation "
                   "for details.")),
]
# Messages that never take the exception's text (fixed by AWS, and nothing to add).
_FIXED = {
    e.MissingAuthentication: {_REST: "Missing Authentication Token", _JSON: "Missing Authentication Token",
                              _QUERY: "Request is missing Authentication Token"},
    e.UnknownAccessKey: "The security token included in the request is invalid.",
    e.ExpiredToken: "The security token included in the request is expired",
}

_ECR_NOT_FOUND = {"repository": "RepositoryNotFoundException", "image": "ImageNotFoundException",
                  "repository-policy": "RepositoryPolicyNotFoundException",
                  "lifecycle-policy": "LifecyclePolicyNotFoundException",
                  "registry-policy": "RegistryPolicyNotFoundException", "layer": "LayersNotFoundException",
                  "upload": "UploadNotFoundException"}
_ECR_PUBLIC_NOT_FOUND = {"registry": "RegistryNotFoundException",
                         "repository-catalog-data": "RepositoryCatalogDataNotFoundException"}
_ECR_EXISTS = {"repository": "RepositoryAlreadyExistsException", "image": "ImageAlreadyExistsException",
               "image-tag": "ImageTagAlreadyExistsException", "layer": "LayerAlreadyExistsException"}


def to_wire(service_key: str, exc: BaseException) -> WireError:
    family = _FAMILY[service_key]
    try:
        wire = _map(service_key, family, exc)
    except Exception:          # a malformed domain error must still produce a clean 500
        wire = None
    return wire or _internal(family)


def _internal(family: str) -> WireError:
    code = {_REST: "InternalServerException", _JSON: "ServerException", _QUERY: "InternalFailure"}[family]
    return WireError(code, 500, INTERNAL_MESSAGE, sender_fault=False)


def _msg(exc: BaseException, default: str) -> str:
    text = getattr(exc, "message", "")
    return text if isinstance(text, str) and text else default


def _sender(family: str, code: str, status: int, message: str, **fields: Any) -> WireError:
    # ECR / ECR Public: every sender error is 400 (see module docstring).
    return WireError(code, 400 if family == _JSON else status, message, dict(fields))


def _by_family(family: str, rest: tuple[str, int], json_code: str, query: tuple[str, int],
               message: str, **rest_fields: Any) -> WireError:
    if family == _REST:
        return _sender(family, rest[0], rest[1], message, **rest_fields)
    if family == _JSON:
        return _sender(family, json_code, 400, message)
    return _sender(family, query[0], query[1], message)


def _map(service: str, family: str, exc: BaseException) -> WireError | None:
    if isinstance(exc, e.InternalFailure) or not isinstance(exc, e.RegauthError):
        return None
    for cls, (rc, rs, jc, qc, qs, default) in _AUTH:
        if isinstance(exc, cls):
            fixed = next((v for k, v in _FIXED.items() if isinstance(exc, k)), None)
            message = fixed.get(family) if isinstance(fixed, dict) else fixed
            if message is None:
                message = _msg(exc, default)
                sts = getattr(exc, "string_to_sign", "")
                if isinstance(exc, e.SignatureMismatch) and sts and sts not in message:
                    message += f"\n\nThe String-to-Sign should have been\n'{sts}'\n"
            return _by_family(family, (rc, rs), jc, (qc, qs), message)
    if isinstance(exc, e.AccessDenied):
        return _by_family(family, ("AccessDeniedException", 403), "AccessDeniedException", ("AccessDenied", 403),
                          _msg(exc, "User is not authorized to perform this action."))
    if isinstance(exc, e.NotFound):
        return _not_found(service, family, exc)
    if isinstance(exc, e.Conflict):
        return _conflict(service, family, exc)
    if isinstance(exc, e.InvalidInput):
        return _invalid(family, exc)
    if isinstance(exc, e.Throttled):
        return _throttled(family, exc)
    if isinstance(exc, e.RequestTimedOut):
        return WireError("RequestTimeoutException", 408, _msg(exc, "The request did not arrive in time."))
    if isinstance(exc, e.PackedPolicyTooLarge):
        return _sender(family, "PackedPolicyTooLarge", 400, _msg(exc, "Packed size of the session policy exceeds "
                                                                      "the limit"))
    if isinstance(exc, e.LimitExceeded):
        message = _msg(exc, "A service quota was exceeded.")
        fields = {k: v for k, v in (("resourceId", getattr(exc, "resource_id", None)),
                                    ("resourceType", getattr(exc, "resource_type", None))) if v}
        return _by_family(family, ("ServiceQuotaExceededException", 402), "LimitExceededException",
                          ("LimitExceeded", 409), message, **fields)
    if isinstance(exc, e.UnsupportedOperation):
        message = _msg(exc, "The operation is not supported.")
        if service == "ecr-public":
            return _sender(family, "UnsupportedCommandException", 400, message)
        return _by_family(family, ("ValidationException", 400), "ValidationException", ("InvalidAction", 400),
                          message, reason="OTHER")
    return None


def _not_found(service: str, family: str, exc: e.NotFound) -> WireError:
    message = _msg(exc, "The specified resource was not found.")
    rtype = str(getattr(exc, "resource_type", "") or "")
    if family == _REST:
        return _sender(family, "ResourceNotFoundException", 404, message,
                       resourceId=exc.resource_id, resourceType=rtype)
    if family == _JSON:
        table = dict(_ECR_NOT_FOUND, **(_ECR_PUBLIC_NOT_FOUND if service == "ecr-public" else {}))
        return _sender(family, table.get(rtype, "RepositoryNotFoundException"), 400, message)
    if service == "sts":   # AssumeRole on a missing role: AccessDenied, never "not found"
        return _sender(family, "AccessDenied", 403, "You are not authorized to perform this operation.")
    return _sender(family, "NoSuchEntity", 404, message)


def _conflict(service: str, family: str, exc: e.Conflict) -> WireError:
    message = _msg(exc, "The resource already exists.")
    kind = getattr(exc, "kind", "exists") or "exists"
    rtype = str(getattr(exc, "resource_type", "") or "")
    if family == _REST:
        return _sender(family, "ConflictException", 409, message, resourceId=exc.resource_id, resourceType=rtype)
    if family == _JSON:
        if kind == "delete":
            return _sender(family, "RepositoryNotEmptyException", 400, message)
        return _sender(family, _ECR_EXISTS.get(rtype, "RepositoryAlreadyExistsException"), 400, message)
    if service == "sts":   # STS has no conflicts; never expected
        return _sender(family, "ValidationError", 400, message)
    code = {"delete": "DeleteConflict", "concurrent": "ConcurrentModification"}.get(kind, "EntityAlreadyExists")
    return _sender(family, code, 409, message)


def _invalid(family: str, exc: e.InvalidInput) -> WireError:
    message = _msg(exc, "The input fails to satisfy the constraints specified by the service.")
    if isinstance(exc, e.UnknownOperation):
        return _by_family(family, ("UnknownOperationException", 404), "UnknownOperationException",
                          ("MissingAction" if isinstance(exc, e.MissingAction) else "InvalidAction", 400), message)
    if isinstance(exc, e.Unparseable) and family == _JSON:
        return _sender(family, "SerializationException", 400, message)
    if isinstance(exc, e.MalformedPolicy) and family == _QUERY:
        return _sender(family, "MalformedPolicyDocument", 400, message)
    reason = exc.reason if exc.reason in _CA_REASONS else "OTHER"
    return _by_family(family, ("ValidationException", 400), "InvalidParameterException",
                      ("ValidationError", 400), message, reason=reason)


def _throttled(family: str, exc: e.Throttled) -> WireError:
    retry_after = getattr(exc, "retry_after", None)
    wire = _by_family(family, ("ThrottlingException", 429), "ThrottlingException", ("Throttling", 400),
                      _msg(exc, "Rate exceeded"))
    if isinstance(retry_after, int) and not isinstance(retry_after, bool) and retry_after >= 0:
        wire.headers.append(("Retry-After", str(retry_after)))
        if family == _REST:
            wire.fields["retryAfterSeconds"] = retry_after
    return wire
