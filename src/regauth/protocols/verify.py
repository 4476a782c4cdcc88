"""`/auth/verify`: nginx `auth_request` in front of a package index (pypiserver, devpi, a static
directory...): may this CodeArtifact token do this request on this repository?

nginx sends each client request's Authorization header here, with the original method in
`X-Original-Method` (Traefik's and Caddy's forward auth: `X-Forwarded-Method`), and names the index
in the verifier's URL. nginx's `auth_request` subrequest is always a GET: without that header an
upload would look like a read, so a GET or HEAD without it is refused as a misconfiguration (400);
a proxy that sends the original method as the subrequest's own (POST...) is taken at its word.
`proxy_pass http://regauth/auth/verify?domain=D&domain-owner=ACCOUNT&region=REGION&repository=R`.
The token must be for that domain (its scope). Answers, which nginx turns into the client's answer:

    allowed                                         200
    no, bad, expired, revoked or foreign token,
    or a token of another domain                    401 + WWW-Authenticate: Basic realm="regauth"
    a good token without the permission, or no
    such repository in the token's domain           403
    a verifier URL without its domain, owner,
    region and repository (once each), or a GET
    without X-Original-Method                       400 (nginx answers the client 500: fails closed)
    anything else                                   500 (likewise)

Every refusal is in the audit trail; an allowed request is not (an index answers many per install).
A flood of refusals is not, one by one: those of no principal (no, bad or unknown credentials) spend
their source address's bucket, those of a genuine token its principal's bucket of refusals
(`RegistryAccess.check_package_access`); past it they are answered alike, 401 or 403 (not 429: nginx
would make it a 500), audited once a second, and counted in an ERROR line at most once a minute a
principal (`REFUSALS_LINE`).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl

from regauth.auth import basic
from regauth.auth.canonical import HttpRequest
from regauth.domain import ids
from regauth.domain.arn import REGION_NAME
from regauth.domain.principals import AuditEvent
from regauth.errors import (AccessDenied, AuthError, BadToken, InvalidInput, MissingAuthentication, NotFound,
                            RegauthError, RequestTimedOut)
from regauth.faults import log_fault
from regauth.notices import Notices
from regauth.protocols.aws.dispatch import Response
from regauth.services.container import Services
from regauth.services.pending import Pending
from regauth.services.registry_access import READ_METHODS

log = logging.getLogger("regauth.registry")

PATH = "/auth/verify"
MAX_QUERY = 4096
_TEXT = ("content-type", "text/plain; charset=utf-8")


NOTICE_SECONDS = 60.0       # a misconfiguration message is logged at most once per this long (regauth.notices)
REFUSALS_LINE = ("refusals of {principal} at the package verifier past its rate limit: answered alike, "
                 "audited once a second")


_INDEX_PARAMS = {   # the verifier URL's parameters: (required, pattern)
    "domain": (True, re.compile(r"[a-z][a-z0-9\-]{0,48}[a-z0-9]")),
    "domain-owner": (True, re.compile(r"[0-9]{12}")),
    "repository": (True, re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{1,99}")),
    "region": (True, REGION_NAME),
}
_INDEX_USAGE = ("the verifier's URL must name the index's domain, the domain's owner and region, and the repository, "
                "once each: /auth/verify?domain=D&domain-owner=ACCOUNT&region=REGION&repository=R")


def _index_of(query: str) -> dict[str, str]:
    """The index nginx fronts, as its verifier URL names it. All four are required: a token opens its
    own domain's repositories only (a domain is an owner's, in a region), and a repository name
    alone would let a token of any domain with a repository of that name (another account's, or
    the same owner's same-named domain in another region) through."""
    pairs = parse_qsl(query, keep_blank_values=True)
    out: dict[str, str] = {}
    for key, value in pairs:
        if key in _INDEX_PARAMS:
            if key in out or not _INDEX_PARAMS[key][1].fullmatch(value):
                raise InvalidInput(_INDEX_USAGE)
            out[key] = value
    if any(required and key not in out for key, (required, _) in _INDEX_PARAMS.items()):
        raise InvalidInput(_INDEX_USAGE)
    return out


def _original_method(req: HttpRequest) -> str:
    """The method the client used, upper-case; "" when nothing says (a GET or HEAD without the headers).

    Proxies name it in a header of their own but pass the client's other headers through (Caddy and
    Traefik set X-Forwarded-Method and forward a client's X-Original-Method as it came; nginx the
    reverse): any header could be the client's. So a write named anywhere is a write: a client can
    only ask for more permission this way, never for less."""
    named = [*req.header_values("x-original-method"), *req.header_values("x-forwarded-method")]
    if req.method not in READ_METHODS:
        named.append(req.method)
    methods = [m.strip().upper() for m in named]
    return next((m for m in methods if m not in READ_METHODS), methods[0] if methods else "")


class PackageVerifier:
    def __init__(self, services: Services) -> None:
        self._s = services
        self._notices = Notices(log, NOTICE_SECONDS, lambda: self._s.clock.now())
        # its own: principals' lines must not crowd the misconfiguration messages out of their kinds
        self._flood_notices = Notices(log, NOTICE_SECONDS, lambda: self._s.clock.now())
        if services.metrics is not None:   # the method comes from a header: others count as `other`
            services.metrics.know_actions(f"package:{m}" for m in ("GET", "HEAD", "OPTIONS", "POST", "PUT",
                                                                   "PATCH", "DELETE"))

    def handle(self, req: HttpRequest) -> Response:
        request_id = ids.request_id()
        method = _original_method(req)
        repository = ""
        try:
            self._s.begin_request()
            if not method:
                raise InvalidInput("the verifier needs the original request's method: with nginx, "
                                   "proxy_set_header X-Original-Method $request_method")
            if len(req.query) > MAX_QUERY:      # refused, not cut: a cut could leave another repository's name
                raise InvalidInput("the verifier's URL is too long")
            index = _index_of(req.query)
            repository = index["repository"]
            found = basic.credentials(req.header("authorization"))
            if found is None:
                raise MissingAuthentication("credentials are required")
            self._s.registry.check_package_access(found[0], found[1], method, repository,
                                                  domain=index["domain"], owner=index["domain-owner"],
                                                  region=index["region"],
                                                  source_ip=req.source_ip, request_id=request_id,
                                                  secure_transport=req.secure_transport)
            return Response(200, [_TEXT], b"")
        except RegauthError as exc:
            response = self.error(exc, request_id)
            if (response.status == 401 and not getattr(exc, "principal_arn", "")
                    and self._s.limiter.take_unauthenticated(req.source_ip, self._s.clock.now()) is not None):
                return response    # a flood without credentials: still 401 (nginx makes a 429 a 500), unaudited
            if not getattr(exc, "audited", True):   # past its principal's bucket of refusals, this second
                self._flood_notices.error(REFUSALS_LINE.format(principal=getattr(exc, "principal_arn", "")[:256]))
                return response
            if response.status in (401, 403):
                reason = getattr(exc, "reason", "") or type(exc).__name__
                if getattr(exc, "throttled", False):
                    reason = f"{reason[:200]} (throttled: refusals audited once a second)"
                log.info("package request refused (%s): %s %s", request_id, response.status, reason)
                pending = Pending()
                pending.audited(AuditEvent(
                    at=self._s.clock.now(), request_id=request_id, principal_arn=getattr(exc, "principal_arn", ""),
                    action=f"package:{method[:16]}", resource=getattr(exc, "resource", "") or repository,
                    outcome="denied", source_ip=req.source_ip, token_id=getattr(exc, "token_id", ""),
                    detail=reason[:256]))
                return Response(response.status, response.headers, response.body, pending)
            return response
        except Exception as exc:  # noqa: BLE001 - the one place a fault becomes a 500
            log_fault(log, exc, "internal error serving verify request %s", request_id)
            return self.error(RuntimeError(), request_id)

    def error(self, exc: Exception, request_id: str | None = None) -> Response:
        request_id = request_id or ids.request_id()
        headers = [_TEXT, ("x-request-id", request_id)]
        if isinstance(exc, AuthError):
            headers.append(("www-authenticate", 'Basic realm="regauth"'))
            message = exc.message if isinstance(exc, BadToken) else "invalid username or password"
            return Response(401, headers, message.encode() + b"\n")
        if isinstance(exc, (AccessDenied, NotFound)):
            return Response(403, headers, b"forbidden\n")
        if isinstance(exc, InvalidInput):
            self._notices.error(exc.message, f"verify request {request_id}: ")
            return Response(400, headers, exc.message.encode() + b"\n")
        if isinstance(exc, RequestTimedOut):            # a body that stopped on its way
            return Response(408, headers, b"request timeout\n")
        return Response(500, headers, b"internal error\n")

    def reject(self, req: HttpRequest, exc: RegauthError) -> Response:
        return self.error(exc)

