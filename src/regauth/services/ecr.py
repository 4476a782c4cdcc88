"""ECR and ECR Public: registry tokens (base64 "AWS:<password>") and the repositories the gate authorizes."""

from __future__ import annotations

import base64
from dataclasses import field

from regauth.domain.arn import REGION_NAME
from regauth.domain.endpoints import registry_host, registry_url_problem, template_account
from regauth.domain.principals import EcrRepository
from regauth.errors import Conflict, InvalidInput, NotFound, UnsupportedOperation
from regauth.records import record
from regauth.services import paging
from regauth.services.authz import Authorizer
from regauth.services.context import Call
from regauth.services.tokens import TokenIssuer
from regauth.store.interfaces import Store

TOKEN_LIFETIME = 43200
PUBLIC_REGION = "us-east-1"
PUBLIC_SERVICE_NAME = "ecr-public.amazonaws.com"
DEFAULT_REGISTRY = "https://{account}.dkr.ecr.{region}.amazonaws.com"
MAX_REGISTRY_IDS = 10


@record
class AuthorizationData:
    authorization_token: str = field(repr=False)      # base64("AWS:" + password)
    expires_at: float
    proxy_endpoint: str | None


def docker_credential(password: str) -> str:
    if ":" in password:  # the CLI splits on ':' and expects exactly two parts
        raise ValueError("registry passwords must not contain ':'")
    return base64.b64encode(f"AWS:{password}".encode()).decode()


def foreign_host_owner(hosts: list[tuple[str, str]], template: str, account_id: str, host: str) -> str | None:
    """Another account whose registry `host` is (host[:port], any case): a registry endpoint or ACR
    login server the operator set for it (`hosts`: the store's `list_registry_hosts()`), or its host
    under the registry URL template (whether or not that account exists yet). None when the host is
    free for `account_id`."""
    host = host.lower()
    owners = {a for a, h in hosts if h.lower() == host and a != account_id}
    by_template = template_account(template, host)
    if by_template is not None and by_template != account_id:
        owners.add(by_template)
    return min(owners) if owners else None


class EcrService:
    def __init__(self, store: Store, authz: Authorizer, issuer: TokenIssuer,
                 registry_template: str = DEFAULT_REGISTRY) -> None:
        self._store = store
        self._authz = authz
        self._issuer = issuer
        self._template = registry_template

    def registry_url(self, account_id: str, region: str) -> str:
        configured = self._store.get_registry_endpoint(account_id, region)
        return configured or self._template.format(account=account_id, region=region)

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

