"""The AWS dialect: pick the service, authenticate, parse, call, serialize. Errors go through one table."""

from __future__ import annotations

import logging
import re
from dataclasses import field
from typing import Callable
from urllib.parse import parse_qsl, unquote

from regauth.auth import sigv4
from regauth.auth.canonical import HttpRequest
from regauth.domain import ids
from regauth.domain.principals import AuditEvent
from regauth.errors import (
    AccessDenied, AuthError, IncompleteSignature, InternalFailure, MissingAuthentication, RegauthError, Throttled,
    UnknownOperation,
)
from regauth.faults import log_fault
from regauth.protocols.aws.changes import CREDENTIALS, change_event, is_change
from regauth.protocols.aws.errors import to_wire
from regauth.protocols.aws.handlers import TABLES
from regauth.protocols.aws.models import AwsModels
from regauth.protocols.aws.parse import parse_request
from regauth.protocols.aws.serialize import serialize_error, serialize_result
from regauth.records import record
from regauth.services.container import Services
from regauth.services.context import Call
from regauth.services.pending import Pending

log = logging.getLogger("regauth.aws")

SERVICES_BY_SIGNING_NAME = {"codeartifact": "codeartifact", "ecr": "ecr", "ecr-public": "ecr-public",
                            "sts": "sts", "iam": "iam"}
_SCOPE_END = re.compile(r"[,&\s]")


def _scope_service(text: str, key: str) -> str | None:
    """The service of the first `key` credential scope in `text` (an Authorization header, or a raw
    query: percent-decoded here), found in linear time: this runs before any check of the sender."""
    start = text.find(key)
    if start < 0:
        return None
    value = _SCOPE_END.split(text[start + len(key):start + len(key) + 512], 1)[0]
    parts = unquote(value).split("/")
    return parts[3] if len(parts) == 5 and parts[4] == "aws4_request" else None
_TARGET_PREFIXES = {"AmazonEC2ContainerRegistry_V20150921": "ecr", "SpencerFrontendService": "ecr-public"}


@record
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = field(repr=False)          # it may carry a token or a secret
    # Records to store before this answer may leave (see regauth.group_commit), and the answer to
    # send instead when they cannot be stored and the answer carries a token (`pending.required`).
    pending: Pending | None = None
    failed: Callable[[], "Response"] | None = None


def guess_service(req: HttpRequest) -> str:
    """For errors before a credential scope is known: which envelope will the client understand?"""
    target = req.header("x-amz-target")
    if target:
        return _TARGET_PREFIXES.get(target.split(".", 1)[0], "ecr")
    if "/v1/" in req.path:
        return "codeartifact"
    # a signed request names its service in the credential scope (the body that would say it may
    # be the one refused: over the size limit, it was never read)
    scoped = _scope_service(req.header("authorization") or "", "Credential=") or _scope_service(
        req.query, "X-Amz-Credential=")
    if scoped in TABLES:
        return scoped
    form = req.query
    if req.body and "x-www-form-urlencoded" in (req.header("content-type") or ""):
        form = form + "&" + req.body[:4096].decode("latin-1")
    return "iam" if ("Version", "2010-05-08") in parse_qsl(form) else "sts"


def _named_operation(service: str, req: HttpRequest) -> str:
    """The operation a request names (its X-Amz-Target or Action parameter), read without parsing it,
    for the audit of a request throttled before it was parsed; '' unless `service` implements it (the
    metrics' actions stay a fixed set)."""
    target = req.header("x-amz-target")
    if target:
        name = target.rpartition(".")[2]
    else:
        form = req.query
        if req.body and "x-www-form-urlencoded" in (req.header("content-type") or ""):
            form = form + "&" + req.body[:4096].decode("latin-1")
        name = next((v for k, v in parse_qsl(form) if k == "Action"), "")
    return name if name in TABLES.get(service, {}) else ""


# the operations whose success is audited as a change (one set lookup on every request)
_CHANGES = frozenset(op for ops in TABLES.values() for op in ops if is_change(op))


def _denial(exc: Exception) -> bool:
    return isinstance(exc, (AuthError, AccessDenied, Throttled))


def audited_actions() -> list[str]:
    """Every action this dialect may audit: an operation it implements, or `<service>:?` (a denial
    before the operation is known)."""
    return [f"{service}:{op}" for service, ops in TABLES.items() for op in [*ops, "?"]]


class AwsDialect:
    def __init__(self, services: Services, models: AwsModels | None = None) -> None:
        self._s = services
        self._models = models or AwsModels()
        if services.metrics is not None:
            services.metrics.know_actions(audited_actions())

    def handle(self, req: HttpRequest) -> Response:
        request_id = ids.request_id()
        service = ""                      # known from the credential scope; guessed only for errors
        caller_arn, operation, key_id = "", "", ""
        pending = Pending()
        try:
            self._s.begin_request()
            claim = sigv4.parse(req)
            if claim is None:
                raise MissingAuthentication("Missing Authentication Token")
            key_id = claim.access_key_id
            service = SERVICES_BY_SIGNING_NAME.get(claim.service, "")
            if not service:
                raise IncompleteSignature(f"Credential should be scoped to a valid service: '{claim.service}'")
            caller = self._s.authn.sigv4(req, claim)
            caller_arn = caller.arn
            now = self._s.clock.now()
            call = Call(caller=caller, region=claim.region, now=now, source_ip=req.source_ip, request_id=request_id,
                        secure_transport=req.secure_transport, pending=pending)
            self._s.limiter.take(caller.arn, now)
            spec = self._models.spec(service)
            operation, params = parse_request(spec, req)
            handler = TABLES.get(service, {}).get(operation)
            if handler is None:
                raise UnknownOperation(f"Operation {operation} is not supported by regauth")
            result = handler(self._s, call, params)
            if operation in _CHANGES:           # credentials issued, a user, key, policy... written
                pending.audited(change_event(call, f"{service}:{operation}", params, result))
                if operation in CREDENTIALS:     # bearer credentials, as a token: not sent unless audited
                    pending.require()
            status, headers, body = serialize_result(spec, operation, result, request_id)
            if not pending:
                return Response(status, headers, body)
            return Response(status, headers, body, pending,
                            lambda: self.error(service, InternalFailure("internal error"), request_id))
        except RegauthError as exc:
            service = service or guess_service(req)
            pending = Pending()         # nothing a failed call recorded is kept, only its denial
            flood = None if caller_arn or not _denial(exc) else self._s.limiter.take_unauthenticated(
                req.source_ip, self._s.clock.now())
            if flood is not None:
                exc = flood               # answered as throttled, and not audited one by one
            elif _denial(exc) and getattr(exc, "audited", True):
                if not operation and isinstance(exc, Throttled):    # refused before the request was parsed
                    operation = _named_operation(service, req)
                pending.audited(self._denial_event(req, request_id, caller_arn, f"{service}:{operation or '?'}",
                                                   exc, key_id))
            response = self.error(service, exc, request_id)
            return Response(response.status, response.headers, response.body, pending or None)
        except Exception as exc:  # noqa: BLE001 - the one place a fault becomes a generic 500
            service = service or guess_service(req)
            log_fault(log, exc, "internal error serving %s request %s", service, request_id)
            return self.error(service, InternalFailure("internal error"), request_id)

    def error(self, service: str, exc: Exception, request_id: str | None = None) -> Response:
        request_id = request_id or ids.request_id()
        status, headers, body = serialize_error(self._models.spec(service), to_wire(service, exc), request_id)
        return Response(status, headers, body)

    def reject(self, req: HttpRequest, exc: RegauthError) -> Response:
        """An error found before dispatch (e.g. an oversized body), in the envelope the client expects."""
        return self.error(guess_service(req), exc)

    def _denial_event(self, req: HttpRequest, request_id: str, principal: str, action: str, exc: Exception,
                      key_id: str) -> AuditEvent:
        failed = getattr(exc, "action", "")        # the permission refused, when it is not the operation's own
        why = f"{type(exc).__name__} {failed}" if failed and failed != action else type(exc).__name__
        detail = f"key={ids.key_id_for_log(key_id)}" if key_id else ""     # only on a denial: it costs a match
        return AuditEvent(at=self._s.clock.now(), request_id=request_id, principal_arn=principal, action=action,
                          resource=getattr(exc, "resource", ""), outcome="denied", source_ip=req.source_ip,
                          detail=f"{why} {detail}".strip())
