"""Operation tables: AWS operation -> service call -> output dict in the model's member names.

Adapters only: no durations, permissions or token contents here (those live in services/).
"""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import quote

from regauth.domain.principals import AccessKey, Domain, EcrRepository, Repository, Role, User
from regauth.services.container import Services
from regauth.services.context import Call

Handler = Callable[[Services, Call, dict[str, Any]], dict[str, Any]]


# --- shapes -------------------------------------------------------------------------------------

def _domain(d: Domain) -> dict[str, Any]:
    return {"name": d.name, "owner": d.account_id, "arn": d.arn, "status": "Active", "createdTime": d.created_at,
            "encryptionKey": d.encryption_key, "repositoryCount": d.repository_count, "assetSizeBytes": 0}


def _domain_summary(d: Domain) -> dict[str, Any]:
    return {"name": d.name, "owner": d.account_id, "arn": d.arn, "status": "Active", "createdTime": d.created_at,
            "encryptionKey": d.encryption_key}


def _repository(r: Repository) -> dict[str, Any]:
    return {"name": r.name, "administratorAccount": r.account_id, "domainName": r.domain_name,
            "domainOwner": r.account_id, "arn": r.arn, "description": r.description,
            "upstreams": [{"repositoryName": u} for u in r.upstreams], "externalConnections": [],
            "createdTime": r.created_at}


def _repository_summary(r: Repository) -> dict[str, Any]:
    return {"name": r.name, "administratorAccount": r.account_id, "domainName": r.domain_name,
            "domainOwner": r.account_id, "arn": r.arn, "description": r.description, "createdTime": r.created_at}


def _user(u: User) -> dict[str, Any]:
    return {"Path": u.path, "UserName": u.name, "UserId": u.user_id, "Arn": u.arn, "CreateDate": u.created_at}


def _key(k: AccessKey) -> dict[str, Any]:
    return {"UserName": k.user_name, "AccessKeyId": k.access_key_id, "Status": k.status, "CreateDate": k.created_at}


def _role(r: Role) -> dict[str, Any]:
    out = {"Path": r.path, "RoleName": r.name, "RoleId": r.role_id, "Arn": r.arn, "CreateDate": r.created_at,
           "AssumeRolePolicyDocument": quote(r.trust_policy, safe=""), "MaxSessionDuration": r.max_session_duration}
    if r.description:
        out["Description"] = r.description
    return out


def _credentials(c: Any) -> dict[str, Any]:
    return {"AccessKeyId": c.access_key_id, "SecretAccessKey": c.secret_access_key.reveal(),
            "SessionToken": c.session_token.reveal(), "Expiration": c.expires_at}


# --- CodeArtifact -------------------------------------------------------------------------------

def _ca_token(s: Services, c: Call, p: dict[str, Any]) -> dict[str, Any]:
    issued = s.codeartifact.get_authorization_token(c, p["domain"], p.get("domainOwner"), p.get("durationSeconds"))
    return {"authorizationToken": issued.token, "expiration": issued.expires_at}


def _ca_list_domains(s: Services, c: Call, p: dict[str, Any]) -> dict[str, Any]:
    rows, token = s.codeartifact.list_domains(c, p.get("maxResults"), p.get("nextToken"))
    return {"domains": [_domain_summary(d) for d in rows], "nextToken": token}


def _ca_list_repos(s: Services, c: Call, p: dict[str, Any]) -> dict[str, Any]:
    rows, token = s.codeartifact.list_repositories(c, p["domain"], p.get("domainOwner"), p.get("repositoryPrefix"),
                                                   p.get("maxResults"), p.get("nextToken"))
    return {"repositories": [_repository_summary(r) for r in rows], "nextToken": token}


def _ca_put_policy(s: Services, c: Call, p: dict[str, Any]) -> dict[str, Any]:
    pol = s.codeartifact.put_domain_policy(c, p["domain"], p.get("domainOwner"), p.get("policyRevision"),
                                           p["policyDocument"])
    return {"policy": {"resourceArn": s.codeartifact.domain_arn(c, pol.account_id, pol.domain_name),
                       "revision": pol.revision, "document": pol.document}}


def _ca_get_policy(s: Services, c: Call, p: dict[str, Any]) -> dict[str, Any]:
    d, pol = s.codeartifact.get_domain_policy(c, p["domain"], p.get("domainOwner"))
    return {"policy": {"resourceArn": d.arn, "revision": pol.revision, "document": pol.document}}


CODEARTIFACT: dict[str, Handler] = {
    "GetAuthorizationToken": _ca_token,
    "CreateDomain": lambda s, c, p: {"domain": _domain(s.codeartifact.create_domain(c, p["domain"],
                                                                                    p.get("encryptionKey")))},
    "DescribeDomain": lambda s, c, p: {"domain": _domain(s.codeartifact.describe_domain(c, p["domain"],
                                                                                        p.get("domainOwner")))},
    "ListDomains": _ca_list_domains,
    "DeleteDomain": lambda s, c, p: {"domain": _domain(s.codeartifact.delete_domain(c, p["domain"],
                                                                                    p.get("domainOwner")))},
    "PutDomainPermissionsPolicy": _ca_put_policy,
    "GetDomainPermissionsPolicy": _ca_get_policy,
    "CreateRepository": lambda s, c, p: {"repository": _repository(s.codeartifact.create_repository(
        c, p["domain"], p.get("domainOwner"), p["repository"], p.get("description"),
        [u["repositoryName"] for u in p.get("upstreams") or []]))},
    "DescribeRepository": lambda s, c, p: {"repository": _repository(s.codeartifact.describe_repository(
        c, p["domain"], p.get("domainOwner"), p["repository"]))},
    "ListRepositoriesInDomain": _ca_list_repos,
    "DeleteRepository": lambda s, c, p: {"repository": _repository(s.codeartifact.delete_repository(
        c, p["domain"], p.get("domainOwner"), p["repository"]))},
    "GetRepositoryEndpoint": lambda s, c, p: {"repositoryEndpoint": s.codeartifact.get_repository_endpoint(
        c, p["domain"], p.get("domainOwner"), p["repository"], p["format"])},
}


# --- STS ----------------------------------------------------------------------------------------

_ASSUME_ROLE_UNSUPPORTED = ("PolicyArns", "Tags", "TransitiveTagKeys", "SourceIdentity", "SerialNumber", "TokenCode",
                            "ProvidedContexts")


# CreateUser and CreateRole parameters regauth does not implement: refused, never ignored (a boundary
# narrows the principal; a tag can be what a Deny's condition looks at)
_CREATE_UNSUPPORTED = ("PermissionsBoundary", "Tags")


def _given(p: dict[str, Any], names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for name in names if p.get(name) not in (None, [], ""))


def _mfa_given(p: dict[str, Any]) -> tuple[str, ...]:
    return tuple(name for name in ("SerialNumber", "TokenCode") if p.get(name) not in (None, ""))


def _assume_role(s: Services, c: Call, p: dict[str, Any]) -> dict[str, Any]:
    unsupported = _given(p, _ASSUME_ROLE_UNSUPPORTED)
    r = s.sts.assume_role(c, p["RoleArn"], p["RoleSessionName"], p.get("DurationSeconds"), p.get("Policy"),
                          p.get("ExternalId"), unsupported)
    out: dict[str, Any] = {"Credentials": _credentials(r.credentials),
                           "AssumedRoleUser": {"AssumedRoleId": r.assumed_role_id, "Arn": r.arn}}
    if r.packed_policy_size is not None:
        out["PackedPolicySize"] = r.packed_policy_size
    return out


STS: dict[str, Handler] = {
    "GetCallerIdentity": lambda s, c, p: s.sts.get_caller_identity(c),
    "GetSessionToken": lambda s, c, p: {"Credentials": _credentials(
        s.sts.get_session_token(c, p.get("DurationSeconds"), _mfa_given(p)))},
    "AssumeRole": _assume_role,
}


# --- IAM ----------------------------------------------------------------------------------------

def _create_key(s: Services, c: Call, p: dict[str, Any]) -> dict[str, Any]:
    key, secret = s.iam.create_access_key(c, p.get("UserName"))
    return {"AccessKey": {**_key(key), "SecretAccessKey": secret.reveal()}}


def _get_user_policy(s: Services, c: Call, p: dict[str, Any]) -> dict[str, Any]:
    pol = s.iam.get_user_policy(c, p["UserName"], p["PolicyName"])
    return {"UserName": p["UserName"], "PolicyName": pol.name, "PolicyDocument": quote(pol.document, safe="")}


def _get_role_policy(s: Services, c: Call, p: dict[str, Any]) -> dict[str, Any]:
    pol = s.iam.get_role_policy(c, p["RoleName"], p["PolicyName"])
    return {"RoleName": p["RoleName"], "PolicyName": pol.name, "PolicyDocument": quote(pol.document, safe="")}


def _done(_: object) -> dict[str, Any]:
    return {}


def _listed(member: str, page: tuple[list[Any], str | None],
            shape: Callable[[Any], Any] = lambda x: x) -> dict[str, Any]:
    """An IAM List* answer: IsTruncated, and Marker only when more remain (as IAM sends it)."""
    rows, marker = page
    out: dict[str, Any] = {member: [shape(r) for r in rows], "IsTruncated": marker is not None}
    if marker is not None:
        out["Marker"] = marker
    return out


def _list_users(s: Services, c: Call, p: dict[str, Any]) -> dict[str, Any]:
    return _listed("Users", s.iam.list_users(c, p.get("PathPrefix"), p.get("MaxItems"), p.get("Marker")), _user)


def _list_keys(s: Services, c: Call, p: dict[str, Any]) -> dict[str, Any]:
    return _listed("AccessKeyMetadata", s.iam.list_access_keys(c, p.get("UserName"), p.get("MaxItems"),
                                                               p.get("Marker")), _key)


def _list_user_policies(s: Services, c: Call, p: dict[str, Any]) -> dict[str, Any]:
    return _listed("PolicyNames", s.iam.list_user_policies(c, p["UserName"], p.get("MaxItems"), p.get("Marker")))


def _list_roles(s: Services, c: Call, p: dict[str, Any]) -> dict[str, Any]:
    return _listed("Roles", s.iam.list_roles(c, p.get("PathPrefix"), p.get("MaxItems"), p.get("Marker")), _role)


def _list_role_policies(s: Services, c: Call, p: dict[str, Any]) -> dict[str, Any]:
    return _listed("PolicyNames", s.iam.list_role_policies(c, p["RoleName"], p.get("MaxItems"), p.get("Marker")))


IAM: dict[str, Handler] = {
    "CreateUser": lambda s, c, p: {"User": _user(s.iam.create_user(c, p["UserName"], p.get("Path"),
                                                                   _given(p, _CREATE_UNSUPPORTED)))},
    "GetUser": lambda s, c, p: {"User": _user(s.iam.get_user(c, p.get("UserName")))},
    "ListUsers": _list_users,
    "DeleteUser": lambda s, c, p: _done(s.iam.delete_user(c, p["UserName"])),
    "CreateAccessKey": _create_key,
    "ListAccessKeys": _list_keys,
    "UpdateAccessKey": lambda s, c, p: _done(s.iam.update_access_key(c, p.get("UserName"), p["AccessKeyId"],
                                                                     p["Status"])),
    "DeleteAccessKey": lambda s, c, p: _done(s.iam.delete_access_key(c, p.get("UserName"), p["AccessKeyId"])),
    "PutUserPolicy": lambda s, c, p: _done(s.iam.put_user_policy(c, p["UserName"], p["PolicyName"],
                                                                 p["PolicyDocument"])),
    "GetUserPolicy": _get_user_policy,
    "ListUserPolicies": _list_user_policies,
    "DeleteUserPolicy": lambda s, c, p: _done(s.iam.delete_user_policy(c, p["UserName"], p["PolicyName"])),
    "CreateRole": lambda s, c, p: {"Role": _role(s.iam.create_role(
        c, p["RoleName"], p["AssumeRolePolicyDocument"], p.get("Path"), p.get("Description"),
        p.get("MaxSessionDuration"), _given(p, _CREATE_UNSUPPORTED)))},
    "GetRole": lambda s, c, p: {"Role": _role(s.iam.get_role(c, p["RoleName"]))},
    "ListRoles": _list_roles,
    "DeleteRole": lambda s, c, p: _done(s.iam.delete_role(c, p["RoleName"])),
    "UpdateAssumeRolePolicy": lambda s, c, p: _done(s.iam.update_assume_role_policy(c, p["RoleName"],
                                                                                   p["PolicyDocument"])),
    "PutRolePolicy": lambda s, c, p: _done(s.iam.put_role_policy(c, p["RoleName"], p["PolicyName"],
                                                                 p["PolicyDocument"])),
    "GetRolePolicy": _get_role_policy,
    "ListRolePolicies": _list_role_policies,
    "DeleteRolePolicy": lambda s, c, p: _done(s.iam.delete_role_policy(c, p["RoleName"], p["PolicyName"])),
}

# --- ECR and ECR Public -------------------------------------------------------------------------

def _ecr_repository(r: EcrRepository) -> dict[str, Any]:
    return {"repositoryArn": r.arn, "registryId": r.account_id, "repositoryName": r.name, "repositoryUri": r.uri,
            "createdAt": r.created_at, "imageTagMutability": r.image_tag_mutability,
            "imageScanningConfiguration": {"scanOnPush": r.scan_on_push},
            "encryptionConfiguration": {"encryptionType": r.encryption_type}}


def _ecr_token(s: Services, c: Call, p: dict[str, Any]) -> dict[str, Any]:
    data = s.ecr.get_authorization_token(c, p.get("registryIds"))
    return {"authorizationData": [{"authorizationToken": d.authorization_token, "expiresAt": d.expires_at,
                                   "proxyEndpoint": d.proxy_endpoint} for d in data]}


def _ecr_create(s: Services, c: Call, p: dict[str, Any]) -> dict[str, Any]:
    repo = s.ecr.create_repository(c, p.get("registryId"), p["repositoryName"], p.get("imageTagMutability"),
                                   (p.get("imageScanningConfiguration") or {}).get("scanOnPush"),
                                   (p.get("encryptionConfiguration") or {}).get("encryptionType"))
    return {"repository": _ecr_repository(repo)}


def _ecr_describe(s: Services, c: Call, p: dict[str, Any]) -> dict[str, Any]:
    repos, token = s.ecr.describe_repositories(c, p.get("registryId"), p.get("repositoryNames"),
                                               p.get("maxResults"), p.get("nextToken"))
    return {"repositories": [_ecr_repository(r) for r in repos], "nextToken": token}


def _ecr_public_token(s: Services, c: Call, p: dict[str, Any]) -> dict[str, Any]:
    d = s.ecr.get_public_authorization_token(c)
    return {"authorizationData": {"authorizationToken": d.authorization_token, "expiresAt": d.expires_at}}


ECR: dict[str, Handler] = {
    "GetAuthorizationToken": _ecr_token,
    "CreateRepository": _ecr_create,
    "DescribeRepositories": _ecr_describe,
    "DeleteRepository": lambda s, c, p: {"repository": _ecr_repository(
        s.ecr.delete_repository(c, p.get("registryId"), p["repositoryName"]))},
    "DescribeRegistry": lambda s, c, p: {"registryId": s.ecr.describe_registry(c),
                                         "replicationConfiguration": {"rules": []}},
}

ECR_PUBLIC: dict[str, Handler] = {"GetAuthorizationToken": _ecr_public_token}

TABLES: dict[str, dict[str, Handler]] = {"codeartifact": CODEARTIFACT, "sts": STS, "iam": IAM, "ecr": ECR,
                                         "ecr-public": ECR_PUBLIC}
