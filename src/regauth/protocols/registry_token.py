"""`GET /token`: the token realm of a CNCF distribution registry (docker's token authentication).

The registry answers a client without a bearer token with
`WWW-Authenticate: Bearer realm="<regauth>/token",service="<registry host>"`; the client then calls
here with `service`, zero or more `scope` parameters and HTTP Basic credentials (`AWS:<ECR
token>`), and sends the JWT it gets to the registry, which checks it offline. Errors use the
registry's own envelope, `{"errors":[{"code","message"}]}`, which skopeo and docker print:

    the request is malformed                400 UNSUPPORTED
    no, bad, revoked or foreign credentials 401 UNAUTHORIZED (+ WWW-Authenticate: Basic)
    the principal's rate is spent           429 TOOMANYREQUESTS (+ Retry-After; the bucket of its API calls)
    anything else                           500 UNAVAILABLE (logged; nothing else said)

Only GET is served: regauth never hands out a refresh token, so clients never use the OAuth2 POST.
"""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import parse_qsl

from regauth.auth import basic
from regauth.auth.canonical import HttpRequest
from regauth.domain import ids
from regauth.domain.principals import AuditEvent
from regauth.errors import (AuthError, BadToken, InvalidInput, MissingAuthentication, RegauthError, RequestTimedOut,
                            Throttled)
from regauth.faults import log_fault
from regauth.protocols.aws.dispatch import Response
from regauth.services.container import Services
from regauth.services.pending import Pending

log = logging.getLogger("regauth.registry")

PATH = "/token"
MAX_QUERY = 8192
_JSON = ("content-type", "application/json")
_NO_STORE = ("cache-control", "no-store")


class RegistryRealm:
    def __init__(self, services: Services) -> None:
        self._s = services
        if services.metrics is not None:             # what it audits (RegistryAccess's grants included)
            services.metrics.know_actions(["registry:GetToken"])

    def handle(self, req: HttpRequest) -> Response:
        request_id = ids.request_id()
        asked: tuple[str, list[str]] = ("", [])        # the service and scopes asked for, for a refusal's audit
        try:
            self._s.begin_request()
            if req.method not in ("GET", "HEAD"):      # no OAuth2 POST: regauth hands out no refresh tokens
                return self._method_not_allowed(request_id)
            if len(req.query) > MAX_QUERY:
                raise InvalidInput("the query string is too long")
            params = parse_qsl(req.query, keep_blank_values=True)
            services = [v for k, v in params if k == "service"]
            if len(services) > 1:
                raise InvalidInput("one service parameter at most", "service")
            asked = (services[0] if services else "", [v for k, v in params if k == "scope"])
            found = basic.credentials(req.header("authorization"))
            if found is None or found[0] is None:
                raise MissingAuthentication("credentials are required")
            pending = Pending()
            jwt, lifetime, issued = self._s.registry.realm_token(
                found[0], found[1], *asked,
                source_ip=req.source_ip, request_id=request_id, pending=pending,
                secure_transport=req.secure_transport)
        except RegauthError as exc:
            return self._refused(req, exc, request_id, *asked)
        except Exception as exc:  # noqa: BLE001 - the one place a fault becomes a 500
            log_fault(log, exc, "internal error serving registry token request %s", request_id)
            return self.error(RuntimeError(), request_id)
        body = json.dumps({"token": jwt, "access_token": jwt, "expires_in": lifetime,
                           "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(issued))}).encode()
        return Response(200, [_JSON, _NO_STORE, ("x-request-id", request_id)], body, pending,
                        lambda: self.error(RuntimeError(), request_id))

    def _refused(self, req: HttpRequest, exc: RegauthError, request_id: str, service: str,
                 scopes: list[str]) -> Response:
        """The error, audited: under the token's principal and id when it was genuine, with the service
        asked for as `resource` (as a grant has it) and the scopes asked for after the reason."""
        if not isinstance(exc, (AuthError, Throttled)):
            return self.error(exc, request_id)
        if not getattr(exc, "principal_arn", ""):
            flood = self._s.limiter.take_unauthenticated(req.source_ip, self._s.clock.now())
            if flood is not None:          # answered as throttled, and not audited one by one
                return self.error(flood, request_id)
        response = self.error(exc, request_id)
        if not getattr(exc, "audited", True):     # one of a principal's many throttled requests this second
            return response
        reason = getattr(exc, "reason", type(exc).__name__)
        log.info("registry token refused (%s): %s", request_id, reason)
        pending = Pending()
        pending.audited(AuditEvent(at=self._s.clock.now(), request_id=request_id,
                                   principal_arn=getattr(exc, "principal_arn", ""),
                                   action="registry:GetToken", resource=service[:256], outcome="denied",
                                   source_ip=req.source_ip, token_id=getattr(exc, "token_id", ""),
                                   detail=" ".join([reason[:256], *(f"scope={s}" for s in scopes)])[:1024]))
        return Response(response.status, response.headers, response.body, pending)

    def error(self, exc: Exception, request_id: str | None = None) -> Response:
        if isinstance(exc, AuthError):     # a BadToken says "token expired" when it is; nothing else
            status, code = 401, "UNAUTHORIZED"
            message = exc.message if isinstance(exc, BadToken) else "invalid username or password"
        elif isinstance(exc, Throttled):
            status, code, message = 429, "TOOMANYREQUESTS", "too many requests"
        elif isinstance(exc, InvalidInput):
            status, code, message = 400, "UNSUPPORTED", exc.message
        elif isinstance(exc, RequestTimedOut):        # a body that stopped on its way
            status, code, message = 408, "UNKNOWN", "request timeout"
        else:
            status, code, message = 500, "UNAVAILABLE", "internal error"
        headers = [_JSON, ("x-request-id", request_id or ids.request_id())]
        if status == 401:
            headers.append(("www-authenticate", 'Basic realm="regauth"'))
        elif status == 429:
            headers.append(("retry-after", str(getattr(exc, "retry_after", 1))))
        body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
        return Response(status, headers, body)

    def reject(self, req: HttpRequest, exc: RegauthError) -> Response:
        return self.error(exc)

    def _method_not_allowed(self, request_id: str) -> Response:
        body = json.dumps({"errors": [{"code": "UNSUPPORTED", "message": "the token realm answers GET only"}]})
        return Response(405, [_JSON, ("allow", "GET, HEAD"), ("x-request-id", request_id)], body.encode())
