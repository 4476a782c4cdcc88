"""ECR and ECR Public: registry tokens (base64 "AWS:<password>") and the repositories the gate authorizes."""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import field

from regauth.domain.arn import REGION_NAME
from regauth.domain.endpoints import registry_host, registry_url_problem, template_account
from regauth.domain.principals import EcrRepository
from regauth.errors import Conflict, InvalidInput, NotFound, UnsupportedOperation
from regauth.notices import Notices
from regauth.records import record
from regauth.services import paging
from regauth.services.authz import Authorizer
from regauth.services.stored_values import CheckedOnce
from regauth.services.context import Call
from regauth.services.tokens import TokenIssuer
from regauth.store.interfaces import Store

TOKEN_LIFETIME = 43200
PUBLIC_REGION = "us-east-1"
PUBLIC_SERVICE_NAME = "ecr-public.amazonaws.com"
DEFAULT_REGISTRY = "https://{account}.dkr.ecr.{region}.amazonaws.com"
MAX_REGISTRY_IDS = 10
NOTICE_SECONDS = 60.0            # an ERROR line per refused stored endpoint at most this often

log = logging.getLogger("regauth.ecr")


@record
class AuthorizationData:
    authorization_token: str = field(repr=False)      # base64("AWS:" + password)
    expires_at: float
    proxy_endpoint: str | None


def docker_credential(password: str) -> str:
    if ":" in password:  # the CLI splits on ':' and expects exactly two parts
        raise ValueError("registry passwords must not contain ':'")
    return base64.b64encode(f"AWS:{password}".encode()).decode()


def host_owners(hosts: list[tuple[str, str]], template: str, host: str) -> set[str]:
    """The accounts whose registry `host` is (host[:port], any case): those the operator set a registry
    endpoint or ACR login server on it for (`hosts`: the store's `list_registry_hosts()`), and the one
    whose host it is under the registry URL template (whether or not that account exists yet). Today's
    writes keep this to one account; a store written by an older regauth may hold more."""
    host = host.lower()
    owners = {a for a, h in hosts if h.lower() == host}
    by_template = template_account(template, host)
    if by_template is not None:
        owners.add(by_template)
    return owners


def foreign_host_owner(hosts: list[tuple[str, str]], template: str, account_id: str, host: str) -> str | None:
    """Another account whose registry `host` is (`host_owners`); None when the host is free for
    `account_id`."""
    owners = host_owners(hosts, template, host) - {account_id}
    return min(owners) if owners else None


def redacted(url: str) -> str:
    """`url` as `scheme://[***@]host[/***]`: stored URLs are named in the log, whatever they may hold
    beyond the host never (a user and password, even one holding '/' or '@'; a token in the path,
    query or fragment). The host is the part after the last '@' before any '?' or '#'; when an '@'
    also comes after one of those, which part is the host cannot be told, and it is hidden too."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    before, after = rest[:cut], rest[cut:]
    at = before.rfind("@")
    host_and_path = before[at + 1:]
    slash = host_and_path.find("/")
    host = host_and_path if slash < 0 else host_and_path[:slash]
    if "@" in after:
        host = "***"
    more = "/***" if (slash >= 0 and host_and_path[slash:] != "/") or after else ""
    return f"{scheme}{sep}{'***@' if at >= 0 else ''}{host}{more}"


def legacy_endpoint_line(account_id: str, region: str, url: str, problem: str) -> str:
    """The ERROR line for a stored registry endpoint today's checks refuse (its credentials redacted)."""
    return (f"the registry endpoint stored for account {account_id} in {region} ({redacted(url)}) {problem}: an "
            f"older regauth accepted it; it is not handed out (ECR gives the registry URL template's instead). "
            f"Set one with `regauth admin set-registry-endpoint --account-id {account_id} --region {region} "
            f"--url https://HOST[:PORT]`")


class EcrService:
    def __init__(self, store: Store, authz: Authorizer, issuer: TokenIssuer,
                 registry_template: str = DEFAULT_REGISTRY) -> None:
        self._store = store
        self._authz = authz
        self._issuer = issuer
        self._template = registry_template
        self._checked = CheckedOnce(registry_url_problem)     # stored endpoints, against today's checks
        self._notices = Notices(log, NOTICE_SECONDS, time.monotonic)

    def host_owners(self, hosts: list[tuple[str, str]], host: str) -> set[str]:
        """`host_owners` under this server's registry URL template."""
        return host_owners(hosts, self._template, host)

    def registry_url(self, account_id: str, region: str) -> str:
        """The registry URL of an account in a region: the endpoint the operator set, or the template's.

        An endpoint an older regauth stored that today's `set_registry_endpoint` refuses (a user and
        password, a path: every caller was handed them) is never handed out: the account gets the
        template's URL, as if none were set, and the log an ERROR naming the fix (the server's start
        lists them too, `services.legacy_data`). So GetAuthorizationToken keeps working, and the realm
        and the repository URIs follow the same URL. Each stored value is checked once per process (the
        hot path pays a set lookup), not per request."""
        configured = self._store.get_registry_endpoint(account_id, region)
        if configured and (configured in self._checked.fit or self._fits(account_id, region, configured)):
            return configured
        return self._template.format(account=account_id, region=region)

    def _fits(self, account_id: str, region: str, url: str) -> bool:
        """Does a stored endpoint pass today's checks? Remembered either way; a refusal is logged
        (at most once a minute per value and account: regauth.notices)."""
        problem = self._checked.problem(url)
        if problem is None:
            return True
        self._notices.error(legacy_endpoint_line(account_id, region, url, problem))
        return False

    def set_registry_endpoint(self, account_id: str, region: str, url: str) -> str:
        """Operator setting: the registry URL returned as proxyEndpoint (no trailing slash)."""
        if not REGION_NAME.fullmatch(region):
            raise InvalidInput("the region must look like us-east-1 (lower-case letters, digits, hyphens)", "region")
        clean = url.strip().rstrip("/")
        problem = registry_url_problem(clean)
        if problem is not None:
            raise InvalidInput(f"the registry endpoint {problem}", "url")
        if not self._store.account_exists(account_id):
            raise NotFound("account", account_id, f"Account {account_id} does not exist")
        host = registry_host(clean).lower()

        def host_free(hosts: list[tuple[str, str]]) -> None:       # checked in the write, hosts locked
            owner = foreign_host_owner(hosts, self._template, account_id, host)
            if owner is not None:
                raise Conflict("registry endpoint", host, f"the host {host} is already a registry of account "
                               f"{owner}: each account needs a registry host of its own (its tokens would "
                               "open the other's repositories)")
        self._store.set_registry_endpoint(account_id, region, clean, guard=host_free)
        return clean

    # --- tokens -------------------------------------------------------------------------------
    def get_authorization_token(self, call: Call, registry_ids: list[str] | None) -> list[AuthorizationData]:
        if registry_ids is not None and not 1 <= len(registry_ids) <= MAX_REGISTRY_IDS:
            raise InvalidInput("registryIds must hold 1 to 10 registry ids", "registryIds")
        self._authz.require(call, "ecr:GetAuthorizationToken", "*")
        out = []
        for registry in registry_ids or [call.caller.account_id]:
            issued = self._issuer.issue(call, kind="ecr", action="ecr:GetAuthorizationToken",
                                        scope=f"arn:aws:ecr:{call.region}:{registry}:registry",
                                        expires_at=call.now + TOKEN_LIFETIME)
            out.append(AuthorizationData(docker_credential(issued.token), issued.expires_at,
                                         self.registry_url(registry, call.region)))
        return out

    def get_public_authorization_token(self, call: Call) -> AuthorizationData:
        if call.region != PUBLIC_REGION:
            raise UnsupportedOperation("GetAuthorizationToken command is only supported in us-east-1.")
        self._authz.require(call, "ecr-public:GetAuthorizationToken", "*")
        self._authz.require(call, "sts:GetServiceBearerToken", "*",
                            keys={"sts:AWSServiceName": PUBLIC_SERVICE_NAME, "sts:DurationSeconds": TOKEN_LIFETIME})
        issued = self._issuer.issue(call, kind="ecr-public", action="ecr-public:GetAuthorizationToken",
                                    scope=f"arn:aws:ecr-public::{call.caller.account_id}:registry",
                                    expires_at=call.now + TOKEN_LIFETIME)
        return AuthorizationData(docker_credential(issued.token), issued.expires_at, None)

    # --- repositories -------------------------------------------------------------------------
    def _registry(self, call: Call, registry_id: str | None) -> str:
        return registry_id or call.caller.account_id

    def repository_arn(self, account: str, region: str, name: str) -> str:
        return f"arn:aws:ecr:{region}:{account}:repository/{name}"

    def create_repository(self, call: Call, registry_id: str | None, name: str, mutability: str | None,
                          scan_on_push: bool | None, encryption_type: str | None) -> EcrRepository:
        account = self._registry(call, registry_id)
        arn = self.repository_arn(account, call.region, name)
        self._authz.require(call, "ecr:CreateRepository", arn, resource_account=account)
        host = registry_host(self.registry_url(account, call.region))
        try:
            return self._store.create_ecr_repository(EcrRepository(
                account_id=account, region=call.region, name=name, arn=arn, uri=f"{host}/{name}",
                image_tag_mutability=mutability or "MUTABLE", scan_on_push=bool(scan_on_push),
                encryption_type=encryption_type or "AES256", created_at=call.now))
        except Conflict:
            raise Conflict("repository", name, f"The repository with name '{name}' already exists in the "
                                               f"registry with id '{account}'") from None

    def describe_repositories(self, call: Call, registry_id: str | None, names: list[str] | None,
                              limit: int | None, next_token: str | None) -> tuple[list[EcrRepository], str | None]:
        account = self._registry(call, registry_id)
        if names:
            if next_token is not None or limit is not None:
                raise InvalidInput("maxResults and nextToken cannot be used with repositoryNames", "repositoryNames")
            repos = []
            for name in names:
                arn = self.repository_arn(account, call.region, name)
                self._authz.require(call, "ecr:DescribeRepositories", arn, resource_account=account)
                repo = self._store.get_ecr_repository(account, call.region, name)
                if repo is None:
                    raise NotFound("repository", name, f"The repository with name '{name}' does not exist in the "
                                                       f"registry with id '{account}'")
                repos.append(repo)
            return repos, None
        self._authz.require(call, "ecr:DescribeRepositories", self.repository_arn(account, call.region, "*"),
                            resource_account=account)
        return paging.page(lambda n, after: self._store.list_ecr_repositories(account, call.region, n, after),
                           lambda r: r.name, limit, next_token)

    def delete_repository(self, call: Call, registry_id: str | None, name: str) -> EcrRepository:
        account = self._registry(call, registry_id)
        arn = self.repository_arn(account, call.region, name)
        self._authz.require(call, "ecr:DeleteRepository", arn, resource_account=account)
        repo = self._store.delete_ecr_repository(account, call.region, name)
        if repo is None:
            raise NotFound("repository", name, f"The repository with name '{name}' does not exist in the registry "
                                               f"with id '{account}'")
        return repo

    def describe_registry(self, call: Call) -> str:
        self._authz.require(call, "ecr:DescribeRegistry", "*")
        return call.caller.account_id

