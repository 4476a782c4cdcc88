"""Where issued tokens are used: a container registry's token realm, a package index's verifier.

A token stands for its principal, so every use is decided by that principal's policies as they are
now (DESIGN.md): a permission removed, a user deleted or a token revoked takes effect at the next
use, not at the token's expiry.

Realm (CNCF distribution, `GET /token`): the client logs in with `AWS:<ECR token>` (or the ACR
temporary user and token). The realm's `service` must be a registry the token may open, by its
host as regauth hands it out: an ECR `proxyEndpoint` in the token's region (the principal's account
or the one the token was requested for), or the login server of an ACR instance of the principal's
account ("any registry your principal has access to", as the token APIs say; see `_registries_of`).
A host that is the registry of more than one account (which today's admin commands refuse, and an
older regauth let through) opens nothing, for any of them: each account's tokens would open the
others' repositories. The realm answers as for a host it does not know and logs an ERROR naming the
accounts and the fix.
Each requested scope is answered with the actions the
principal may take now (a granted subset, possibly empty), in an ES256 JWT the registry checks
offline.

    pull    ecr:BatchGetImage       cr:PullRepository
    push    ecr:PutImage            cr:PushRepository
    delete  ecr:BatchDeleteImage    cr:DeleteRepositoryTag  (the RAM action of ACR's DeleteRepoTag)
    registry:catalog:*   ecr:DescribeRepositories on repository/*

ECR Public tokens are refused at the realm: that registry's pulls are anonymous in AWS and a
self-hosted registry behind this realm is private.

Verifier (`GET /auth/verify`, nginx `auth_request` in front of a package index): the client sends
`aws:<CodeArtifact token>` (Basic) or the token as a Bearer. Reads need
`codeartifact:ReadFromRepository` on the repository, writes (POST, PUT, PATCH, DELETE)
`codeartifact:PublishPackageVersion`, evaluated like the API calls (domain policy included).

Refusals of a genuine token (one that names its principal) are audited under that principal, so
the bucket of their source address does not hold them. Those of a token that cannot be used (revoked,
expired, of another kind or user name; at the verifier every refusal, a missing permission included)
spend a bucket of their own, one per principal (`REFUSALS`), not the one its accepted requests spend:
anyone holding a revoked or expired token (an old `~/.docker/config.json`, a CI log) could otherwise
keep its principal throttled for good. (The realm's later refusals, a principal gone or a registry the
token does not open, spend the principal's own bucket, as the grant they could have been would.) Past
the bucket the realm answers 429, and the verifier, which must answer 401 or 403 (nginx turns anything
else into a 500), answers alike; either way such refusals are audited once a second, not one by one.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from regauth.domain import tokens
from regauth.domain.arn import InvalidArn, parse_arn
from regauth.domain.endpoints import registry_host
from regauth.domain.keyring import Keyring
from regauth.domain.policy import Decision
from regauth.domain.principals import AuditEvent, Caller, RegistryCa
from regauth.domain.registry_scope import Scope, parse_scopes
from regauth.errors import (AccessDenied, BadToken, InvalidInput, NotFound, RegauthError, Throttled,
                            UnknownAccessKey)
from regauth.notices import Notices
from regauth.services.acr import TEMP_USERNAME, instance_arn
from regauth.services.authn import Authenticator
from regauth.services.authz import Authorizer, role_arn_of
from regauth.services.codeartifact import CodeArtifactService
from regauth.services.context import Call
from regauth.services.ecr import EcrService
from regauth.services.pending import Pending
from regauth.services.ratelimit import RateLimiter
from regauth.store.interfaces import Store

if TYPE_CHECKING:
    from regauth.domain.registry_jwt import RegistrySigner
    from regauth.services.revocations import Revocations

log = logging.getLogger("regauth.registry")

REALM_KINDS = ("ecr", "acr")
REALM_USERS = {"ecr": "AWS", "acr": TEMP_USERNAME}
ECR_ACTIONS = {"pull": "ecr:BatchGetImage", "push": "ecr:PutImage", "delete": "ecr:BatchDeleteImage"}
ACR_ACTIONS = {"pull": "cr:PullRepository", "push": "cr:PushRepository", "delete": "cr:DeleteRepositoryTag"}
# Package index methods that only read; any other (POST, PUT, PATCH, DELETE, and WebDAV's MOVE,
# COPY, MKCOL... on a file-serving index) needs PublishPackageVersion: unknown means write
READ_METHODS = frozenset({"GET", "HEAD"})
PACKAGE_USER = "aws"
NOTICE_SECONDS = 60.0       # the ERROR line about a host shared by accounts, at most once a minute per host
# the rate limiter's key of a principal's bucket of refused requests (principals' own keys are ARNs: no clash)
REFUSALS = "refused "
OLD_SESSION_TOKEN = ("a token an older regauth version issued to temporary credentials, without the claims "
                     "needed to find its session: the client must ask for a new token")


class _HostOwners:
    """Which accounts each registry host belongs to (`ecr.host_owners`: the rule the admin commands
    keep when they write), for the realm. The store's hosts (`list_registry_hosts`: every endpoint and
    login server of every account, a short table) are read once, on first use, and each host's answer
    is kept: the realm pays a dict lookup. One is made per generation (`RegistryAccess`); one a thread
    fills after the generation moved is no longer the one in use, so what it read cannot outlive a write."""

    def __init__(self, read: Callable[[], list[tuple[str, str]]],
                 rule: Callable[[list[tuple[str, str]], str], set[str]]) -> None:
        self._read = read
        self._rule = rule
        self._hosts: list[tuple[str, str]] | None = None
        self._owners: dict[str, tuple[str, ...]] = {}     # only hosts a token's registry URL matched

    def of(self, host: str) -> tuple[str, ...]:
        owners = self._owners.get(host)
        if owners is None:
            if self._hosts is None:
                self._hosts = self._read()
            owners = self._owners[host] = tuple(sorted(self._rule(self._hosts, host)))
        return owners


class RegistryAccess:
    def __init__(self, store: Store, authn: Authenticator, authz: Authorizer, keyring: Keyring,
                 revocations: "Revocations", codeartifact: CodeArtifactService, ecr: EcrService,
                 now: Callable[[], float], *, issuer: str, token_seconds: int,
                 limiter: RateLimiter | None = None) -> None:
        self._store = store
        self._authn = authn
        self._authz = authz
        self._keyring = keyring
        self._revocations = revocations
        self._codeartifact = codeartifact
        self._ecr = ecr
        self._now = now
        self.issuer = issuer
        self.token_seconds = token_seconds
        self._limiter = limiter
        self._signer: RegistrySigner | None = None
        self._signer_ca: RegistryCa | None = None      # the store's CA object the signer was last checked with
        self._signer_lock = threading.Lock()
        self._host_owners = self._new_host_owners()
        # kept until the generation moves when the store says so (the request-path cache), else read per use
        on_change = getattr(store, "on_change", None)
        self._keep_host_owners = on_change is not None
        if on_change is not None:
            on_change(self._forget_host_owners)
        self._notices = Notices(log, NOTICE_SECONDS, time.monotonic)

    def _new_host_owners(self) -> _HostOwners:
        return _HostOwners(self._store.list_registry_hosts, self._ecr.host_owners)

    def _forget_host_owners(self) -> None:
        self._host_owners = self._new_host_owners()

    # --- the CA ---------------------------------------------------------------------------------
    def signer(self) -> "RegistrySigner":
        """The process's signer over the store's active CA (made on first use, first writer wins).
        A rotation (`services.registry_ca`) is seen at the next request: the CA is read from the
        request-path cache (a dict lookup until the generation moves) and a new signer, with a new
        leaf, is made when its certificate differs."""
        ca: RegistryCa | None = self._store.get_registry_ca()
        signer = self._signer
        if signer is not None and ca is not None and ca is self._signer_ca:
            return signer                            # the same generation's CA: checked already
        from regauth.domain import registry_jwt   # cryptography's x509 is loaded when first needed
        with self._signer_lock:
            signer = self._signer
            if signer is None or ca is None or ca.cert_pem != signer.ca_cert_pem:
                if ca is None:
                    ca = self._store.set_registry_ca_once(registry_jwt.new_ca(self._now()))
                signer = self._signer = registry_jwt.RegistrySigner(ca)
            self._signer_ca = ca
        return signer

    def ca_certificate(self) -> str:
        """The PEM a registry's `auth.token.rootcertbundle` holds: the active CA (made if none is)."""
        return self.signer().ca_cert_pem

    # --- a token and its principal ----------------------------------------------------------------
    def _claims(self, token: str, kinds: tuple[str, ...], now: float) -> tokens.TokenClaims:
        try:
            claims = tokens.verify(self._keyring, token, now=now)
        except tokens.TokenExpired as exc:   # genuine but past its time: the client is told so, and who it was
            raise BadToken("expired", exc.claims.principal_arn, exc.claims.token_id, expired=True) from None
        except tokens.TokenNotYetValid as exc:    # genuine, issued "later" than now: audited as whose it was
            raise BadToken(exc.reason, exc.claims.principal_arn, exc.claims.token_id) from None
        except tokens.InvalidToken as exc:
            raise BadToken(exc.reason) from None
        if claims.kind not in kinds:
            raise BadToken(f"a {claims.kind} token is not accepted here", claims.principal_arn, claims.token_id)
        if self._revocations.revoked(claims.token_id, claims.principal_arn, claims.issued_at):
            raise BadToken(f"token {claims.token_id} is revoked", claims.principal_arn, claims.token_id)
        return claims

    def _spend_refusal(self, exc: RegauthError, now: float) -> Throttled | None:
        """Charge a refusal of a genuine token to its principal's bucket of refusals (`REFUSALS`); past
        it, the Throttled that says so (`audited`: the first of its second). None for a token that
        names no principal: the protocol charges those to their source address."""
        principal = getattr(exc, "principal_arn", "")
        if self._limiter is None or not principal:
            return None
        try:
            self._limiter.take(REFUSALS + principal, now)
        except Throttled as throttled:
            return throttled
        return None

    def _principal(self, claims: tokens.TokenClaims) -> Caller:
        """`caller_of`, refused when the principal's role was revoked (a session's tokens go with it)."""
        caller = self.caller_of(claims)
        role = role_arn_of(caller)
        if role is not None and self._revocations.revoked("", role, claims.issued_at):
            raise BadToken(f"token {claims.token_id} is revoked (its role)", claims.principal_arn, claims.token_id)
        return caller

    def caller_of(self, claims: tokens.TokenClaims) -> Caller:
        """The token's principal as it is now. Temporary credentials are found by their access key
        id (their session policy still applies); a user by name, and only if it is the same user."""
        if claims.access_key_id:
            cred = self._store.get_credential(claims.access_key_id)
            if cred is None or cred.session is None or cred.session.arn != claims.principal_arn:
                raise BadToken("the token's credentials are gone", claims.principal_arn, claims.token_id)
            try:
                return self._authn.caller_of(cred)
            except UnknownAccessKey:     # the session's user or role is gone, or a namesake replaced it
                raise BadToken("the token's session lost its user or role", claims.principal_arn,
                               claims.token_id) from None
        try:
            arn = parse_arn(claims.principal_arn)
        except InvalidArn:
            raise BadToken("the token's principal is not an ARN", claims.principal_arn, claims.token_id) from None
        if arn.service == "sts":     # a session's token minted before tokens carried "akid": which one is unknown
            raise BadToken(OLD_SESSION_TOKEN, claims.principal_arn, claims.token_id)
        if arn.service != "iam" or not arn.resource.startswith("user/") or arn.account != claims.account_id:
            raise BadToken("the token's principal is not a user", claims.principal_arn, claims.token_id)
        user = self._store.get_user(arn.account, arn.resource.rsplit("/", 1)[-1])
        if user is None or user.arn != claims.principal_arn:
            raise BadToken("the token's user is gone", claims.principal_arn, claims.token_id)
        # A user made later under the same name has the same ARN: the token names its user by unique
        # id; one minted before tokens carried it must be older than the user.
        if (user.user_id != claims.principal_id if claims.principal_id
                else int(user.created_at) > claims.issued_at):
            raise BadToken("the token's user is gone (a later user has its name)", claims.principal_arn,
                           claims.token_id)
        return Caller(account_id=user.account_id, arn=user.arn, user_id=user.user_id, kind="user", name=user.name,
                      access_key_id="")

    # --- the registry realm ------------------------------------------------------------------------
    def realm_token(self, username: str, password: str, service: str, scope_values: list[str], *,
                    source_ip: str, request_id: str, pending: Pending | None,
                    secure_transport: bool = False) -> tuple[str, int, int]:
        """(JWT, lifetime in seconds, issued-at) for a realm request. Scopes the principal may not
        use are answered with fewer actions, not refused."""
        if not service:
            raise InvalidInput("the service parameter is required", "service")
        scopes = parse_scopes(scope_values)
        now = self._now()
        try:
            claims = self._claims(password, REALM_KINDS, now)
            if username != REALM_USERS[claims.kind]:
                raise BadToken(f"the user name does not go with a {claims.kind} token", claims.principal_arn,
                               claims.token_id)
        except BadToken as exc:
            throttled = self._spend_refusal(exc, now)
            if throttled is None:
                raise
            # 429 TOOMANYREQUESTS, audited (once a second) under the token's principal, saying what it was
            throttled.principal_arn, throttled.token_id = exc.principal_arn, exc.token_id  # type: ignore[attr-defined]
            throttled.reason = f"Throttled ({exc.reason[:200]})"                           # type: ignore[attr-defined]
            raise throttled from None
        if self._limiter is not None:          # the principal's own bucket, shared with its API calls
            try:
                self._limiter.take(claims.principal_arn, now)
            except Throttled as exc:           # refused and audited under the genuine token's principal
                exc.principal_arn, exc.token_id = claims.principal_arn, claims.token_id  # type: ignore[attr-defined]
                raise
        caller = self._principal(claims)
        for region, registry, repository_arn, actions, instance in self._registries_of(claims, service):
            call = Call(caller=caller, region=region, now=now, source_ip=source_ip,
                        request_id=request_id, secure_transport=secure_transport)
            # an ACR token opens the instances its principal may get a token for, as it is now
            if instance is None or self._allowed(call, "cr:GetAuthorizationToken", instance, registry):
                break
        else:
            raise BadToken(f"the token does not open {service[:128]}", claims.principal_arn, claims.token_id)
        access = []
        for scope in scopes:
            granted = self._granted(call, scope, registry, repository_arn, actions)
            if granted is not None:
                access.append({"type": scope.type, "name": scope.name, "actions": granted})
        signer = self.signer()
        token_id = tokens.new_token_id()
        # the JWT stands for the token it came from: it does not outlive it (at least a second, for a
        # token taken within the expiry leeway)
        lifetime = max(1, min(self.token_seconds, int(claims.expires_at - now)))
        jwt = signer.token(issuer=self.issuer, audience=service, subject=claims.principal_arn, access=access,
                           now=now, lifetime=lifetime, token_id=token_id)
        event = AuditEvent(at=now, request_id=request_id, principal_arn=claims.principal_arn,
                           action="registry:GetToken", resource=service[:256], outcome="allowed",
                           source_ip=source_ip, token_id=claims.token_id,
                           detail=" ".join(_granted_text(a) for a in access)[:1024] or "login")
        if pending is not None:
            pending.audited(event)
            pending.require()
        else:
            self._store.record_audit(event)
        return jwt, lifetime, int(now)

    def _registries_of(self, claims: tokens.TokenClaims, service: str
                       ) -> Iterator[tuple[str, str, Callable[[str], str], dict[str, str], str | None]]:
        """(region, registry owner, repository ARN of a name, action map, ACR instance ARN or None) of
        each registry `service` names among those the token may open (none: it opens nothing there).

        As the token APIs promise, a token opens every registry its principal may use, not only the
        one it was asked for: an ECR token any account's registry in the token's region (the
        principal's own, or the account it was requested for; another account's repositories grant
        nothing, as ECR has no repository policies here), an ACR token any instance of the principal's
        account, in any region, that its principal may get a token for (`cr:GetAuthorizationToken`
        on the instance: "only instances to which the STS token is scoped", seed 004; checked by the
        caller). What each scope gets is then the principal's policies' answer.

        A host that is also another account's registry (`_shared`) opens nothing."""
        host = service.lower()                               # host names: case does not matter
        if claims.kind == "ecr":
            region = parse_arn(claims.scope).region
            for account in dict.fromkeys((claims.account_id, parse_arn(claims.scope).account)):
                if registry_host(self._ecr.registry_url(account, region)).lower() == host:
                    if self._shared(host, account):
                        return
                    yield (region, account, lambda name, account=account:
                           f"arn:aws:ecr:{region}:{account}:repository/{name}", ECR_ACTIONS, None)
                    return
        else:
            for instance in self._store.list_acr_instances(claims.account_id):
                if instance.login_server.lower() == host:
                    if self._shared(host, instance.account_id):
                        return
                    iid, region, account = instance.instance_id, instance.region, instance.account_id
                    yield (region, account, lambda name, iid=iid, region=region, account=account:
                           f"acs:cr:{region}:{account}:repository/{iid}/{name}", ACR_ACTIONS, instance_arn(instance))

    def _shared(self, host: str, account: str) -> bool:
        """Is `host`, a registry of `account`, another account's registry too? Only a store an older
        regauth wrote holds such a host (`set-registry-endpoint` and `create-acr-instance` refuse one
        now): it fails closed, for every account, until the operator gives each a host of its own."""
        owners = (self._host_owners if self._keep_host_owners else self._new_host_owners()).of(host)
        if owners == (account,) or not owners:         # its own (or no one's: an id the template cannot hold)
            return False
        self._notices.error(shared_host_line(host, owners))
        return True

    def _granted(self, call: Call, scope: Scope, registry: str, repository_arn: Callable[[str], str],
                 actions: dict[str, str]) -> list[str] | None:
        if scope.type == "registry":
            if scope.name != "catalog" or "*" not in scope.actions or actions is not ECR_ACTIONS:
                return None
            allowed = self._allowed(call, "ecr:DescribeRepositories", repository_arn("*"), registry)
            return ["*"] if allowed else []
        if scope.type != "repository":
            return None
        wanted = set(actions) if "*" in scope.actions else set(scope.actions) & set(actions)
        arn = repository_arn(scope.name)
        return [a for a in ("pull", "push", "delete") if a in wanted and self._allowed(call, actions[a], arn, registry)]

    def _allowed(self, call: Call, action: str, resource: str, owner: str) -> bool:
        return self._authz.decide(call, action, resource, resource_account=owner) == Decision.ALLOW

    # --- the package index verifier ------------------------------------------------------------------
    def check_package_access(self, username: str | None, token: str, method: str, repository: str, *,
                             domain: str, owner: str, region: str, source_ip: str, request_id: str,
                             secure_transport: bool = False) -> str:
        """The token's principal ARN when the token may do `method` on `repository` of the index's
        domain (`owner`'s `domain` in `region`), which must be the token's own domain;
        BadToken (401), or AccessDenied or NotFound (403 both, carrying `principal_arn` and
        `token_id`), otherwise. A refusal past the principal's bucket of refusals (`_spend_refusal`) is
        raised alike, marked `throttled`, and `audited` False but for the first of its second."""
        now = self._now()
        try:
            claims = self._claims(token, ("codeartifact",), now)
            if username is not None and username != PACKAGE_USER:
                raise BadToken(f"the user name is not {PACKAGE_USER!r}", claims.principal_arn, claims.token_id)
            scope = parse_arn(claims.scope)
            if (scope.account, scope.region, scope.resource) != (owner, region, f"domain/{domain}"):
                raise BadToken(f"the token is for {claims.scope[:160]}, not domain {domain} of {owner} in {region}",
                               claims.principal_arn, claims.token_id)
            call = Call(caller=self._principal(claims), region=scope.region, now=now, source_ip=source_ip,
                        request_id=request_id, secure_transport=secure_transport)
            action = "ReadFromRepository" if method.upper() in READ_METHODS else "PublishPackageVersion"
            try:
                self._codeartifact.authorize_repository_use(call, owner, domain, repository, action)
            except (AccessDenied, NotFound) as exc:
                exc.principal_arn = claims.principal_arn  # type: ignore[attr-defined]  # for the audit trail
                exc.token_id = claims.token_id            # type: ignore[attr-defined]
                raise
        except (BadToken, AccessDenied, NotFound) as exc:
            throttled = self._spend_refusal(exc, now)
            if throttled is not None:      # answered alike: the verifier's answers are 401 and 403 only
                exc.throttled, exc.audited = True, throttled.audited    # type: ignore[attr-defined]
            raise
        return claims.principal_arn


def _granted_text(access: dict[str, Any]) -> str:
    return f"{access['type']}:{access['name']}:{','.join(access['actions']) or '-'}"


def shared_host_line(host: str, accounts: Sequence[str]) -> str:
    """The ERROR line for a registry host more than one account claims (`accounts`: each, described)."""
    return (f"the registry host {host} is claimed by more than one account, which an older regauth allowed: "
            f"{', '.join(accounts)}. The token realm opens nothing there for any of them (each one's tokens would "
            f"open the others' repositories). Give each but one a host of its own: `regauth admin "
            f"set-registry-endpoint --account-id ID --region REGION --url https://HOST[:PORT]` for a registry "
            f"endpoint; for an ACR instance, `regauth admin delete-acr-instance --instance-id ID`, then "
            f"`create-acr-instance` with a --login-server of its own")
