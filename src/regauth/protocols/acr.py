"""The Alibaba ACR dialect (`cr` 2018-12-01, RPC style): GetAuthorizationToken.

Thin adapter: recognise -> authenticate -> parse -> AcrService -> serialize (spec §1,
shared/spec/alibaba-acr-and-paws.md). Order of the checks:

    acs.parse(req)                        IncompleteSignature (also: too many parameters, before decoding)
                                          / MissingParameter (nothing consumed)
    store credential by AccessKeyId       unknown or inactive -> InvalidAccessKeyId.NotFound (nonce not consumed)
    acs.verify_unrecorded                 InvalidTimeStamp.Expired, SignatureDoesNotMatch, then SignatureNonceUsed
    session token (Authenticator)         MissingSecurityToken / InvalidSecurityToken.MismatchWithAccessKey
    session expiry                        InvalidSecurityToken.Expired
    rate limit (per principal)            Throttling.User + x-acs-retry-after (ms)
    acs.record_nonce                      the nonce consumed; SignatureNonceUsed (a twin got here first), or
                                          Throttling.User when the nonce cache (or the key's share) is full
    Version, Action                       InvalidVersion / InvalidAction.NotFound
    AcrService.get_authorization_token    business rules, minting, issuance audit

Formats: success in claim.format (Format parameter; RPC v1 defaults to XML, ACS3 to JSON);
errors per acs.error_format(req) (the format a success would have: Format, else XML for RPC, JSON for ACS3). One error
table (`acr_errors.py`). Denials (authentication, permission, throttling, an instance the caller cannot
see: INSTANCE_NOT_EXIST) are audited here.
"""

from __future__ import annotations

import logging
import math
import re
from urllib.parse import parse_qsl

from regauth.auth import acs
from regauth.auth.acs import AcsClaim
from regauth.auth.canonical import HttpRequest
from regauth.auth.nonces import NonceCache
from regauth.domain import ids
from regauth.domain.principals import AuditEvent, Credential
from regauth.errors import (AccessDenied, AuthError, InvalidInput, MissingAuthentication, NotFound, RegauthError,
                            SignatureMismatch, Throttled, UnknownAccessKey, UnknownOperation, UnsupportedOperation)
from regauth.faults import log_fault
from regauth.protocols.acr_errors import (NOT_FOUND_KEY, MissingSecurityToken, SecurityTokenMismatch, WireError,
                                          to_wire)
from regauth.protocols.aws.dispatch import Response
from regauth.protocols.json_body import dumps
from regauth.services.container import Services
from regauth.services.context import Call
from regauth.services.pending import Pending

log = logging.getLogger("regauth.acr")

ACTION = "GetAuthorizationToken"
VERSION = "2018-12-01"
JSON_TYPE = "application/json;charset=utf-8"
XML_TYPE = "text/xml;charset=utf-8"
XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
RECOMMEND = "https://api.aliyun.com/troubleshoot?q={code}&product=cr&requestId={request_id}"
_FORM = "application/x-www-form-urlencoded"
_XML_INVALID = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SNIFF_LIMIT = 8192
# Live nonces one access key may hold, of the cache's 1,000,000: a key within the default rate limit
# (100 a second, 200 at once) holds at most 200 + 100 x 1,801 s (a request stamped up to the 900 s
# window ahead keeps its nonce that long). With the limit raised past ~138 a second, switched off, or
# a longer window, the limit no longer keeps one key from filling the cache alone: this does.
NONCE_KEY_SHARE = 250_000
REDACTED = "%2528redacted%2529"        # "(redacted)", percent-encoded twice like the value it replaces


def new_request_id() -> str:
    return ids.request_id().upper()          # Alibaba RequestIds are upper-case UUIDs


def _xml_text(value: object) -> str:
    """As xml.sax.saxutils.escape (not imported: it loads urllib.request and http.client, 6 ms at start)."""
    text = _XML_INVALID.sub("\ufffd", str(value))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml(root: str, fields: dict[str, object]) -> bytes:
    inner = "".join(f"<{k}>{_xml_text(v)}</{k}>" for k, v in fields.items())
    return f"{XML_HEAD}<{root}>{inner}</{root}>".encode("utf-8")


def render(fmt: str, root: str, fields: dict[str, object], status: int, request_id: str,
           extra: list[tuple[str, str]] | None = None) -> Response:
    if fmt == "XML":
        body, ctype = _xml(root, {k: ("true" if v is True else v) for k, v in fields.items()}), XML_TYPE
    else:
        body, ctype = dumps(fields), JSON_TYPE
    return Response(status, [("Content-Type", ctype), ("x-acs-request-id", request_id), *(extra or [])], body)


def _params(req: HttpRequest) -> list[tuple[str, str]]:
    """The first parameters (acs.MAX_PARAMS) of the query and the form body's first _SNIFF_LIMIT
    bytes, decoded: for routing. An Alibaba request with more is refused anyway (`acs.too_much`),
    and decoding costs per parameter."""
    raw = req.query
    if req.body and (req.header("Content-Type") or "").split(";", 1)[0].strip().lower() == _FORM:
        raw += "&" + req.body[:_SNIFF_LIMIT].decode("latin-1")
    return parse_qsl("&".join(raw.split("&", acs.MAX_PARAMS)[:acs.MAX_PARAMS]), keep_blank_values=True)


def _aws_marked(req: HttpRequest) -> bool:
    """SigV4 (header or presigned) or AWS JSON targeting: never ours, whatever its parameters say
    (IAM's UpdateAccessKey carries an AccessKeyId parameter, for one)."""
    auth = req.header("Authorization") or ""
    return (auth.startswith("AWS4-") or bool(req.header_values("x-amz-target"))
            or bool(req.header_values("x-amz-date")) or "X-Amz-Algorithm=" in req.query)


def _alibaba_marked(req: HttpRequest) -> bool:
    """ACS3 headers, the Alibaba SDKs' `x-sdk-client` (aliyun-python-sdk-core, pop-core: it marks a
    form POST whose body, over the size limit, was never read), or RPC parameters only Alibaba uses:
    Version 2018-12-01 or SignatureNonce."""
    if (req.header_values("x-acs-action") or req.header_values("x-sdk-client")
            or (req.header("Authorization") or "").startswith("ACS3-")):
        return True
    if acs.has_raw_key(req.query, "SignatureNonce"):   # a name as sent is that name decoded: no need to decode
        return True
    names = dict(_params(req))
    return names.get("Version") == VERSION or "SignatureNonce" in names


class AcrDialect:
    def __init__(self, services: Services) -> None:
        self._s = services
        self._skew = float(services.settings.signature_window)
        # requests stamped before the second this process started in: see `auth.nonces` (timestamps are
        # whole seconds; a request signed earlier in that second is the one it cannot refuse)
        self._nonces = NonceCache(window=self._skew, since=float(math.floor(services.clock.now())),
                                  max_per_key=NONCE_KEY_SHARE)
        if services.metrics is not None:   # a denial audits `cr:<the Action sent>`: others count as `other`
            services.metrics.know_actions([f"cr:{ACTION}"])

    # --- routing ------------------------------------------------------------------------------
    def claims(self, req: HttpRequest) -> bool:
        """Is this an Alibaba RPC request? Never raises."""
        try:
            return not _aws_marked(req) and _alibaba_marked(req)
        except Exception:  # noqa: BLE001 - routing must never fail; let another dialect answer
            log.exception("could not classify a request")
            return False

    # --- one request --------------------------------------------------------------------------
    def handle(self, req: HttpRequest) -> Response:
        request_id = new_request_id()
        principal, action, key_id = "", f"cr:{ACTION}", ""
        claim: AcsClaim | None = None
        pending = Pending()
        try:
            self._s.begin_request()
            if req.method not in ("GET", "POST"):
                raise UnsupportedOperation("Specified http method is not supported.")
            claim = acs.parse(req)
            if claim is None:
                raise MissingAuthentication("The request is not signed: AccessKeyId and Signature (RPC) or an "
                                            "ACS3-HMAC-SHA256 Authorization header are required.")
            action, key_id = f"cr:{claim.action[:64]}", claim.access_key_id
            call, nonce = self._authenticate(req, claim, request_id, pending)
            principal = call.caller.arn
            self._s.limiter.take(principal, call.now)
            # Only an admitted request's nonce is kept. A refused one (throttled, or a bad session
            # token) was never served, so it may come again and be served then: once, as its nonce is
            # kept then. Kept first, a zero-permission key's throttled flood filled the cache every
            # key's requests need (3,300 a second, nearly all throttled, refused everyone's).
            acs.record_nonce(claim, nonce, now=call.now, skew=self._skew, nonces=self._nonces)
            if claim.version != VERSION:
                raise UnknownOperation("Specified parameter Version is not valid.", "Version")
            if claim.action != ACTION:
                raise UnknownOperation("Specified api is not found, please check your url and method.")
            user, issued = self._s.acr.get_authorization_token(
                call, claim.params.get("InstanceId") or "", claim.params.get("RegionId") or None,
                _hours(claim.params.get("ExpiresInHours")))
            response = render(claim.format, f"{ACTION}Response", {
                "TempUsername": user, "RequestId": request_id, "AuthorizationToken": issued.token,
                "ExpireTime": int(issued.expires_at) * 1000, "Code": "success", "IsSuccess": True,
            }, 200, request_id)
            return Response(response.status, response.headers, response.body, pending,
                            lambda: self.error(req, RuntimeError(), request_id))
        except RegauthError as exc:
            if isinstance(exc, SignatureMismatch) and claim is not None and claim.security_token:
                exc = _without_token(exc, claim.security_token)
            pending = Pending()         # nothing a failed call recorded is kept, only its denial
            # an instance the caller cannot see (unknown, or another account's: answered alike) is
            # audited as a denial too, as CodeArtifact's AccessDenied for another account's domain is
            denial = isinstance(exc, (AuthError, AccessDenied, Throttled)) or _no_such_instance(exc)
            flood = None if principal or not denial else self._s.limiter.take_unauthenticated(
                req.source_ip, self._s.clock.now())
            if flood is not None:
                exc = flood               # answered as throttled, and not audited one by one
            elif denial and getattr(exc, "audited", True):
                pending.audited(self._denial_event(req, request_id, principal, action, exc, key_id))
            elif to_wire(exc).status >= 500:
                log.error("internal error serving ACR request %s", request_id, exc_info=exc)
            response = self.error(req, exc, request_id)
            return Response(response.status, response.headers, response.body, pending or None)
        except Exception as exc:  # noqa: BLE001 - the one place a fault becomes a generic 500
            log_fault(log, exc, "internal error serving ACR request %s", request_id)
            return self.error(req, RuntimeError(), request_id)

    def reject(self, req: HttpRequest, exc: RegauthError) -> Response:
        """An error found before dispatch (e.g. an oversized body), in the envelope the client expects."""
        return self.error(req, exc)

    def error(self, req: HttpRequest, exc: Exception, request_id: str | None = None) -> Response:
        request_id = request_id or new_request_id()
        wire: WireError = to_wire(exc)
        fields: dict[str, object] = {"RequestId": request_id, "HostId": req.header("Host") or "", "Code": wire.code,
                  "Message": wire.message, "Recommend": RECOMMEND.format(code=wire.code, request_id=request_id)}
        extra = [("x-acs-retry-after", str(wire.retry_after_ms))] if wire.retry_after_ms else None
        return render(acs.error_format(req), "Error", fields, wire.status, request_id, extra)

    # --- helpers ------------------------------------------------------------------------------
    def _authenticate(self, req: HttpRequest, claim: AcsClaim, request_id: str,
                      pending: Pending) -> tuple[Call, bytes]:
        """The call, and the digest of its nonce (checked unused, not yet recorded)."""
        stored = self._s.store.get_credential(claim.access_key_id)
        if stored is None or stored.status != "Active":
            raise UnknownAccessKey(NOT_FOUND_KEY)            # before the nonce is remembered
        now = self._s.clock.now()
        nonce = acs.verify_unrecorded(req, claim, stored.secret, now=now, skew=self._skew, nonces=self._nonces)
        cred = self._session_checked(stored, claim.security_token)
        self._s.authn.check_not_expired(cred, now)
        caller = self._s.authn.caller_of(cred)
        return Call(caller=caller, region=claim.params.get("RegionId") or "", now=now, source_ip=req.source_ip,
                    request_id=request_id, secure_transport=req.secure_transport, pending=pending), nonce

    def _session_checked(self, stored: Credential, token: str | None) -> Credential:
        try:
            return self._s.authn.credential(stored.access_key_id, token)
        except UnknownAccessKey:
            if stored.session is not None and not token:
                raise MissingSecurityToken("SecurityToken is mandatory for this action.") from None
            if token:
                raise SecurityTokenMismatch("Specified SecurityToken mismatch with the AccessKey.") from None
            raise

    def _denial_event(self, req: HttpRequest, request_id: str, principal: str, action: str, exc: Exception,
                      key_id: str) -> AuditEvent:
        detail = f"key={ids.key_id_for_log(key_id)}" if key_id else ""     # only on a denial: it costs a match
        return AuditEvent(at=self._s.clock.now(), request_id=request_id, principal_arn=principal, action=action,
                          resource=getattr(exc, "resource", ""), outcome="denied", source_ip=req.source_ip,
                          detail=f"{type(exc).__name__} {detail}".strip())


def _no_such_instance(exc: Exception) -> bool:
    return isinstance(exc, NotFound) and exc.resource_type == "instance"


def _without_token(exc: SignatureMismatch, token: str) -> SignatureMismatch:
    """The RPC string to sign holds SecurityToken=<token> (percent-encoded twice): never echo it."""
    field = "SecurityToken%3D" + acs.percent_encode(acs.percent_encode(token))
    sts = exc.string_to_sign.replace(field, "SecurityToken%3D" + REDACTED)
    return SignatureMismatch(exc.message.replace(acs.echoed(exc.string_to_sign), acs.echoed(sts)), sts)


def _hours(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 4:
        raise InvalidInput("ExpiresInHours must be a whole number of hours between 1 and 24.", "ExpiresInHours")
    return int(raw)
