"""Domain errors. Named by meaning; no HTTP status codes here.

Each dialect maps these to its own wire envelope in exactly one table
(`protocols/aws/errors.py`, `protocols/acr.py`). Messages must never contain a
secret (access-key secret, session token, issued token, signature key).
"""

from __future__ import annotations


class RegauthError(Exception):
    """Base of every error that is meant to reach a client."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


# --- authentication -------------------------------------------------------------------------

class AuthError(RegauthError):
    """The caller could not be authenticated."""


class MissingAuthentication(AuthError):
    """No recognisable signature/credentials at all."""


class IncompleteSignature(AuthError):
    """A signature is present but malformed (bad Authorization header, bad scope, missing date...)."""


class SignatureMismatch(AuthError):
    """The signature does not match. `string_to_sign` is the server's (safe to show: no secret)."""

    def __init__(self, message: str = "", string_to_sign: str = "") -> None:
        super().__init__(message)
        self.string_to_sign = string_to_sign


class UnknownAccessKey(AuthError):
    """The access key id (or session token) is not known."""


class InactiveAccessKey(UnknownAccessKey):
    """The access key exists but is Inactive: answered exactly like an unknown key."""


class RequestExpired(AuthError):
    """The request timestamp is outside the allowed window."""


class ExpiredToken(AuthError):
    """Temporary credentials (a session) have expired."""


class NonceReused(AuthError):
    """An Alibaba SignatureNonce was seen before inside the window."""


class BadToken(AuthError):
    """A registry or package client presented an issued token that is malformed, forged, expired,
    revoked, of the wrong kind or for another registry, or whose principal is gone. `reason` is for
    the server's log only: the client is told no more than that its credentials were refused, or,
    for a genuine token past its expiry, that it expired (so a client knows to get a new one)."""

    def __init__(self, reason: str, principal_arn: str = "", token_id: str = "", *, expired: bool = False) -> None:
        super().__init__("token expired" if expired else "invalid username or password")
        self.reason = reason
        self.principal_arn = principal_arn     # when the token was readable: for the audit trail
        self.token_id = token_id
        self.expired = expired


# --- authorization / input / state ------------------------------------------------------------

class AccessDenied(RegauthError):
    """Authenticated, but policies do not allow the action."""


class NotFound(RegauthError):
    def __init__(self, resource_type: str, resource_id: str, message: str = "") -> None:
        super().__init__(message or f"{resource_type} {resource_id} not found")
        self.resource_type = resource_type
        self.resource_id = resource_id


class Conflict(RegauthError):
    """kind: "exists" (create of an existing name), "delete" (still in use), "concurrent" (stale revision)."""

    def __init__(self, resource_type: str, resource_id: str, message: str = "", kind: str = "exists") -> None:
        super().__init__(message or f"{resource_type} {resource_id} already exists")
        self.resource_type = resource_type
        self.resource_id = resource_id
        self.kind = kind


class InvalidInput(RegauthError):
    """A request parameter is missing or violates a documented bound.

    reason follows CodeArtifact's ValidationExceptionReason vocabulary:
    CANNOT_PARSE, FIELD_VALIDATION_FAILED, UNKNOWN_OPERATION, OTHER.
    """

    def __init__(self, message: str, field: str = "", reason: str = "FIELD_VALIDATION_FAILED") -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason


class Unparseable(InvalidInput):
    """The request could not be read as the operation's input: malformed syntax (a body that is not
    a JSON object, a broken form or query) or a value of the wrong type. The JSON-protocol services
    (ECR, ECR Public) answer it as SerializationException; the others as their validation error."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message, field, "CANNOT_PARSE")


class MissingParameter(InvalidInput):
    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message, field, "FIELD_VALIDATION_FAILED")


class UnknownOperation(InvalidInput):
    def __init__(self, message: str, field: str = "Action") -> None:
        super().__init__(message, field, "UNKNOWN_OPERATION")


class MissingAction(UnknownOperation):
    """A query-protocol request (STS, IAM) without its Action: `MissingAction` on the wire."""


class MalformedPolicy(InvalidInput):
    def __init__(self, message: str) -> None:
        super().__init__(message, "policyDocument", "CANNOT_PARSE")


class LimitExceeded(RegauthError):
    """A documented quota (not a rate) was exceeded."""


class PackedPolicyTooLarge(LimitExceeded):
    """STS: a session policy larger than AssumeRole takes (its own code, 400, in STS)."""


class Throttled(RegauthError):
    def __init__(self, message: str = "Rate exceeded", retry_after: int = 1, audited: bool = True) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        # False: one of many throttled requests of one key within a second, answered but not audited
        # one by one (the first of each second is): a flood must not fill the audit trail
        self.audited = audited


class RequestTimedOut(RegauthError):
    """The request did not arrive whole within REGAUTH_REQUEST_TIMEOUT_SECONDS of its first byte (a
    body that stopped on its way): refused, in its dialect's envelope, and the connection closed."""


class UnsupportedOperation(RegauthError):
    """The operation exists but not here (e.g. ECR Public outside us-east-1)."""


class InternalFailure(RegauthError):
    """Something broke on our side. The message is generic; details go to the log only."""
