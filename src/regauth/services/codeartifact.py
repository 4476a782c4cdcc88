"""CodeArtifact: domains, repositories, domain policies, endpoints and GetAuthorizationToken."""

from __future__ import annotations

import logging
import math
import secrets
import time

from regauth.domain.endpoints import repository_template_problem
from regauth.domain.policy import Decision, Policy
from regauth.domain.principals import Domain, DomainPolicy, Repository
from regauth.errors import Conflict, InvalidInput, NotFound
from regauth.notices import Notices
from regauth.services import paging, policy_principals
from regauth.services.authz import Authorizer, PolicyCache, denied
from regauth.services.context import Call
from regauth.services.ecr import NOTICE_SECONDS, redacted
from regauth.services.stored_values import CheckedOnce
from regauth.services.tokens import Issued, TokenIssuer
from regauth.store.interfaces import Store

DEFAULT_DURATION = 43200
MIN_DURATION, MAX_DURATION = 900, 43200
SERVICE_NAME = "codeartifact.amazonaws.com"
REPOSITORY_FORMATS = frozenset({"npm", "pypi", "maven", "nuget", "generic", "ruby", "swift", "cargo"})

log = logging.getLogger("regauth.codeartifact")


def token_lifetime(call: Call, duration: int | None) -> tuple[int, float]:
    """(seconds the token lives, as policies see `sts:DurationSeconds`; when it expires).

    absent -> 12 h; 0 -> when the caller's temporary credentials expire ("the same expiration"), but
    never more than the 12 h maximum (GetSessionToken credentials live up to 36 h); for long-term keys,
    which never expire, 0 means the 12 h default; 900..43200 as asked; anything else is refused.
    """
    if duration is None:
        return DEFAULT_DURATION, call.now + DEFAULT_DURATION
    if duration == 0:
        expires = call.caller.session_expires_at
        if expires is None:
            return DEFAULT_DURATION, call.now + DEFAULT_DURATION
        if expires - call.now >= MAX_DURATION:
            return MAX_DURATION, call.now + MAX_DURATION
        return max(1, math.ceil(expires - call.now)), expires
    if not MIN_DURATION <= duration <= MAX_DURATION:
        raise InvalidInput(f"1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy "
                           "constraint: Member must be 0 or between 900 and 43200", "durationSeconds")
    return duration, call.now + duration


def legacy_template_line(account_id: str, region: str, domain: str, fmt: str, template: str, problem: str) -> str:
    """The ERROR line for a stored endpoint template today's checks refuse (its credentials redacted)."""
    return (f"the endpoint template stored for domain {domain} of account {account_id} in {region}, format {fmt} "
            f"({redacted(template)}), {problem}: an older regauth accepted it; it is not handed out "
            f"(GetRepositoryEndpoint gives REGAUTH_REPOSITORY_ENDPOINT's instead). Set one with `regauth admin "
            f"set-repository-endpoint --account-id {account_id} --region {region} --domain {domain} --format {fmt} "
            f"--template URL`")


class CodeArtifactService:
    def __init__(self, store: Store, authz: Authorizer, policies: PolicyCache, issuer: TokenIssuer,
                 endpoint_template: str) -> None:
        self._store = store
        self._authz = authz
        self._policies = policies
        self._issuer = issuer
        self._endpoint_template = endpoint_template
        self._checked = CheckedOnce(repository_template_problem)    # stored templates, against today's checks
        self._notices = Notices(log, NOTICE_SECONDS, time.monotonic)

    # --- lookups and checks -------------------------------------------------------------------
    def domain_arn(self, call: Call, owner: str, name: str) -> str:
        return f"arn:aws:codeartifact:{call.region}:{owner}:domain/{name}"

    def _domain(self, call: Call, name: str, owner: str | None, action: str, repository: str | None = None) -> Domain:
        """The domain named, or why not. A caller learns that a domain does not exist only when it
        would have been allowed `codeartifact:<action>` there (on the domain, or on `repository` in
        it): another account's domain could only be opened by its resource policy, which a missing
        domain does not have, and a same-account caller's own policies decide as for a domain that
        exists. Otherwise the answer is the AccessDenied (audited) a real domain would have given."""
        owner = owner or call.caller.account_id
        domain = self._store.get_domain(owner, call.region, name)
        if domain is None:
            arn = (self.domain_arn(call, owner, name) if repository is None
                   else f"arn:aws:codeartifact:{call.region}:{owner}:repository/{name}/{repository}")
            if owner != call.caller.account_id:
                raise denied(call.caller, f"codeartifact:{action}", arn, Decision.IMPLICIT_DENY)
            self._authz.require(call, f"codeartifact:{action}", arn)
            raise NotFound("domain", name, f"Domain {name} owned by {owner} does not exist")
        return domain

    def _resource_policy(self, domain: Domain) -> Policy | None:
        doc = self._store.get_domain_policy(domain.account_id, domain.region, domain.name)
        return None if doc is None else self._policies.get(doc.document, "resource", doc.principal_ids)

    def _allow(self, call: Call, action: str, resource: str, domain: Domain, **keys: object) -> None:
        self._authz.require(call, f"codeartifact:{action}", resource, resource_policy=self._resource_policy(domain),
                            resource_account=domain.account_id, keys=keys or None)

    def _repository(self, call: Call, domain: Domain, name: str) -> Repository:
        repo = self._store.get_repository(domain.account_id, domain.region, domain.name, name)
        if repo is None:
            raise NotFound("repository", name, f"Repository {name} does not exist in domain {domain.name}")
        return repo

    def authorize_repository_use(self, call: Call, owner: str, domain_name: str, repository: str,
                                 action: str) -> Repository:
        """May the caller `action` (ReadFromRepository, PublishPackageVersion) on a repository, as
        a package client holding its token? Evaluated like the API (domain policy included)."""
        d = self._domain(call, domain_name, owner, action, repository)
        self._allow(call, action, self.repository_arn(d, repository), d)
        return self._repository(call, d, repository)

    # --- GetAuthorizationToken ----------------------------------------------------------------
    def get_authorization_token(self, call: Call, domain: str, owner: str | None, duration: int | None) -> Issued:
        seconds, expires_at = token_lifetime(call, duration)
        d = self._domain(call, domain, owner, "GetAuthorizationToken")
        self._allow(call, "GetAuthorizationToken", d.arn, d)
        self._authz.require(call, "sts:GetServiceBearerToken", "*",
                            keys={"sts:AWSServiceName": SERVICE_NAME, "sts:DurationSeconds": seconds})
        return self._issuer.issue(call, kind="codeartifact", action="codeartifact:GetAuthorizationToken",
                                  scope=d.arn, expires_at=expires_at)

    # --- domains ------------------------------------------------------------------------------
    def create_domain(self, call: Call, name: str, encryption_key: str | None) -> Domain:
        acct = call.caller.account_id
        arn = self.domain_arn(call, acct, name)
        self._authz.require(call, "codeartifact:CreateDomain", arn)
        key = encryption_key or f"arn:aws:kms:{call.region}:{acct}:alias/aws/codeartifact"
        return self._store.create_domain(Domain(account_id=acct, region=call.region, name=name, arn=arn,
                                                encryption_key=key, created_at=call.now))

    def describe_domain(self, call: Call, name: str, owner: str | None) -> Domain:
        d = self._domain(call, name, owner, "DescribeDomain")
        self._allow(call, "DescribeDomain", d.arn, d)
        return d

    def list_domains(self, call: Call, limit: int | None, next_token: str | None) -> tuple[list[Domain], str | None]:
        self._authz.require(call, "codeartifact:ListDomains", "*")
        return paging.page(lambda n, after: self._store.list_domains(call.caller.account_id, call.region, n, after),
                           lambda d: d.name, limit, next_token)

    def delete_domain(self, call: Call, name: str, owner: str | None) -> Domain:
        d = self._domain(call, name, owner, "DeleteDomain")
        self._allow(call, "DeleteDomain", d.arn, d)
        self._store.delete_domain(d.account_id, d.region, d.name)
        return d

    def put_domain_policy(self, call: Call, name: str, owner: str | None, revision: str | None,
                          document: str) -> DomainPolicy:
        d = self._domain(call, name, owner, "PutDomainPermissionsPolicy")
        self._allow(call, "PutDomainPermissionsPolicy", d.arn, d)
        pins = policy_principals.resolve(self._store, self._policies.get(document, "resource"))

        def at_revision(current: DomainPolicy | None) -> None:     # optimistic locking, checked in the write
            if revision is not None and (current is None or current.revision != revision):
                raise Conflict("domain", d.name, "The policy revision does not match the current revision",
                               kind="concurrent")
        return self._store.put_domain_policy(DomainPolicy(account_id=d.account_id, region=d.region,
                                                          domain_name=d.name, document=document,
                                                          revision=secrets.token_urlsafe(16), principal_ids=pins),
                                             guard=at_revision)

    def get_domain_policy(self, call: Call, name: str, owner: str | None) -> tuple[Domain, DomainPolicy]:
        d = self._domain(call, name, owner, "GetDomainPermissionsPolicy")
        self._allow(call, "GetDomainPermissionsPolicy", d.arn, d)
        policy = self._store.get_domain_policy(d.account_id, d.region, d.name)
        if policy is None:
            raise NotFound("domain", d.name, f"Domain {d.name} has no resource policy")
        return d, policy

    # --- repositories -------------------------------------------------------------------------
    def repository_arn(self, domain: Domain, name: str) -> str:
        return f"arn:aws:codeartifact:{domain.region}:{domain.account_id}:repository/{domain.name}/{name}"

    def create_repository(self, call: Call, domain: str, owner: str | None, name: str, description: str | None,
                          upstreams: list[str]) -> Repository:
        d = self._domain(call, domain, owner, "CreateRepository", name)
        arn = self.repository_arn(d, name)
        self._allow(call, "CreateRepository", arn, d)
        for up in upstreams:
            self._repository(call, d, up)
        return self._store.create_repository(Repository(account_id=d.account_id, region=d.region, domain_name=d.name,
                                                        name=name, arn=arn, description=description or "",
                                                        upstreams=tuple(upstreams), created_at=call.now))

    def describe_repository(self, call: Call, domain: str, owner: str | None, name: str) -> Repository:
        d = self._domain(call, domain, owner, "DescribeRepository", name)
        self._allow(call, "DescribeRepository", self.repository_arn(d, name), d)
        return self._repository(call, d, name)

    def list_repositories(self, call: Call, domain: str, owner: str | None, prefix: str | None, limit: int | None,
                          next_token: str | None) -> tuple[list[Repository], str | None]:
        d = self._domain(call, domain, owner, "ListRepositoriesInDomain")
        self._allow(call, "ListRepositoriesInDomain", d.arn, d)
        return paging.page(
            lambda n, after: self._store.list_repositories(d.account_id, d.region, d.name, prefix, n, after),
            lambda r: r.name, limit, next_token)

    def delete_repository(self, call: Call, domain: str, owner: str | None, name: str) -> Repository:
        d = self._domain(call, domain, owner, "DeleteRepository", name)
        self._allow(call, "DeleteRepository", self.repository_arn(d, name), d)
        repo = self._repository(call, d, name)
        self._store.delete_repository(d.account_id, d.region, d.name, name)
        return repo

    def get_repository_endpoint(self, call: Call, domain: str, owner: str | None, name: str, fmt: str) -> str:
        d = self._domain(call, domain, owner, "GetRepositoryEndpoint", name)
        self._allow(call, "GetRepositoryEndpoint", self.repository_arn(d, name), d)
        repo = self._repository(call, d, name)
        template = self._store.get_repository_endpoint(d.account_id, d.region, d.name, fmt)
        if not template or not (template in self._checked.fit or self._fits(d, fmt, template)):
            template = self._endpoint_template
        return render_endpoint(template, domain=d, repository=repo.name, fmt=fmt)

    def _fits(self, domain: Domain, fmt: str, template: str) -> bool:
        """Does a stored endpoint template pass today's checks? One an older regauth stored with a user
        and password (handed to every caller, and written out by `codeartifact login`) or a query is
        never handed out: the repository gets the default template's endpoint, as if none were set,
        and the log an ERROR naming the fix (at most once a minute per value: regauth.notices). Each
        stored value is checked once per process, not per request."""
        problem = self._checked.problem(template)
        if problem is None:
            return True
        self._notices.error(legacy_template_line(domain.account_id, domain.region, domain.name, fmt, template,
                                                 problem))
        return False

    def set_endpoint(self, account_id: str, region: str, domain: str, fmt: str, template: str) -> str:
        """Operator setting: where repositories of one domain and format are served. Returns an example."""
        d = self._store.get_domain(account_id, region, domain)
        if d is None:
            raise NotFound("domain", domain, f"Domain {domain} owned by {account_id} does not exist in {region}")
        if fmt not in REPOSITORY_FORMATS:
            raise InvalidInput(f"format must be one of {', '.join(sorted(REPOSITORY_FORMATS))}", "format")
        problem = repository_template_problem(template)
        if problem is not None:
            raise InvalidInput(f"the endpoint template {problem}", "template")
        example = render_endpoint(template, domain=d, repository="my-repo", fmt=fmt)
        self._store.set_repository_endpoint(d.account_id, d.region, d.name, fmt, template)
        return example

def render_endpoint(template: str, *, domain: Domain, repository: str, fmt: str) -> str:
    """Fill {domain} {owner} {region} {format} {repository}; the result always ends with '/'."""
    try:
        url = template.format(domain=domain.name, owner=domain.account_id, region=domain.region, format=fmt,
                              repository=repository)
    except (KeyError, IndexError, ValueError):
        raise InvalidInput("The endpoint template may only use {domain} {owner} {region} {format} {repository}",
                           "endpoint") from None
    return url if url.endswith("/") else url + "/"
