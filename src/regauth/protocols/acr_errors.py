"""The Alibaba dialect's one error table: domain error -> (HTTP status, Code, Message).

Codes, statuses and messages follow what Alibaba's gateway returns (spec §1.8, alibaba-acr-and-paws.md);
see the sources next to each row. Rows are tried in order, so subclasses come before their bases.
A row's message None means "the error's own message" (written for the client, never a secret).
"""

from __future__ import annotations

from dataclasses import dataclass

from regauth.auth.acs import EXPIRED_MESSAGE, NONCE_MESSAGE
from regauth.errors import (AccessDenied, ExpiredToken, IncompleteSignature, InvalidInput, MissingAuthentication,
                            MissingParameter, NonceReused, NotFound, RequestExpired, RequestTimedOut, SignatureMismatch,
                            Throttled, UnknownAccessKey, UnknownOperation, UnsupportedOperation)


class MissingSecurityToken(UnknownAccessKey):
    """Temporary credentials (an ASIA... key) used without their session token."""


class SecurityTokenMismatch(UnknownAccessKey):
    """A session token that does not belong to the access key (or one sent with a long-term key)."""


@dataclass(frozen=True)
class WireError:
    status: int
    code: str
    message: str
    retry_after_ms: int | None = None       # -> x-acs-retry-after (milliseconds, as the SDKs read it)


THROTTLED = "Request was denied due to user flow control."
INTERNAL = "The request processing has failed due to some unknown error."
NOT_FOUND_KEY = "Specified access key is not found."

_TABLE: tuple[tuple[type[Exception], int, str, str | None], ...] = (
    # signature and replay (seen in real bodies: NewFuture/DDNS#57, fog/fog-aliyun#32, ddns-go#1291, sdk-go#39)
    (SignatureMismatch, 400, "SignatureDoesNotMatch", None),          # message keeps "...is:<StringToSign>"
    (IncompleteSignature, 400, "IncompleteSignature", None),
    (MissingAuthentication, 400, "IncompleteSignature", None),
    (RequestExpired, 400, "InvalidTimeStamp.Expired", EXPIRED_MESSAGE),
    (NonceReused, 400, "SignatureNonceUsed", NONCE_MESSAGE),
    # credentials (Alibaba public error codes; statuses/messages: faascmd error table, denverdino/aliyungo#204)
    (MissingSecurityToken, 400, "MissingSecurityToken", "SecurityToken is mandatory for this action."),
    (SecurityTokenMismatch, 400, "InvalidSecurityToken.MismatchWithAccessKey",
     "Specified SecurityToken mismatch with the AccessKey."),
    (ExpiredToken, 400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired."),
    (UnknownAccessKey, 404, "InvalidAccessKeyId.NotFound", NOT_FOUND_KEY),   # inactive keys look the same
    # input
    (MissingParameter, 400, "MissingParameter", None),
    (UnsupportedOperation, 400, "UnsupportedHTTPMethod", None),
    # permissions, state, rate
    (AccessDenied, 403, "Forbidden.RAM", None),
    (Throttled, 400, "Throttling.User", THROTTLED),
    # a body that stopped on its way (no Alibaba code is documented for it: judgement, HTTP's own status)
    (RequestTimedOut, 408, "RequestTimeout", None),
)


def to_wire(exc: Exception) -> WireError:
    """The wire form of any exception; unknown ones become a generic 500 (the caller logs them)."""
    if isinstance(exc, UnknownOperation):
        if exc.field == "Version":
            return WireError(400, "InvalidVersion", "Specified parameter Version is not valid.")
        return WireError(404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
    if isinstance(exc, NotFound):
        code = "INSTANCE_NOT_EXIST" if exc.resource_type == "instance" else f"{exc.resource_type.upper()}_NOT_EXIST"
        return WireError(404, code, exc.message)
    if isinstance(exc, RequestExpired) and exc.message.startswith(EXPIRED_MESSAGE):
        return WireError(400, "InvalidTimeStamp.Expired", exc.message)     # and why, when acs says more
    for kind, status, code, message in _TABLE:
        if isinstance(exc, kind):
            retry = exc.retry_after * 1000 if isinstance(exc, Throttled) else None
            return WireError(status, code, message if message is not None else str(getattr(exc, "message", "")),
                             retry)
    if isinstance(exc, InvalidInput):     # after MissingParameter / UnknownOperation, its subclasses
        return WireError(400, "InvalidParameter", exc.message)
    return WireError(500, "InternalError", INTERNAL)
