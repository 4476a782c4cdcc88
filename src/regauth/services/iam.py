"""Enough IAM to administer regauth with the real `aws iam`: users, keys, inline policies, roles."""

from __future__ import annotations

from collections.abc import Callable

from regauth.domain import ids
from regauth.domain.policy import size_without_white_space as _size
from regauth.domain.principals import AccessKey, InlinePolicy, Role, User
from regauth.domain.secret import Secret
from regauth.errors import AccessDenied, Conflict, InvalidInput, LimitExceeded, NotFound
from regauth.services import paging, policy_principals
from regauth.services.authz import Authorizer, PolicyCache
from regauth.services.context import Call
from regauth.store.interfaces import Store

MAX_KEYS_PER_USER = 2
# IAM's quotas, in characters without white space: a user's inline policies in all, a role's, and
# a role's trust policy (its default; AWS raises it to 4096 on request)
USER_POLICIES_MAX = 2048
ROLE_POLICIES_MAX = 10240
TRUST_POLICY_MAX = 2048


def _within_total(name: str, document: str, limit: int, owner: str) -> Callable[[list[InlinePolicy]], None]:
    """The store's guard: the inline policies `owner` has now, with `name` put or replaced by `document`,
    within `limit`. It is also called here, with none stored, so that a document over the limit on its own
    is refused before it is parsed."""
    def guard(existing: list[InlinePolicy]) -> None:
        total = _size(document) + sum(_size(p.document) for p in existing if p.name != name)
        if total > limit:
            raise LimitExceeded(f"Maximum policy size of {limit} bytes exceeded for {owner}")
    guard([])
    return guard


def _refuse(unsupported: tuple[str, ...], operation: str) -> None:
    """A permissions boundary or tags are refused, never ignored: a boundary narrows the principal,
    and a tag can be what a Deny's condition looks at; without them it would be wider than asked for."""
    if unsupported:
        raise InvalidInput(f"regauth does not support {', '.join(unsupported)} in {operation}; leave them out.",
                           unsupported[0])


def _keys_within_quota(count: int) -> None:
    if count >= MAX_KEYS_PER_USER:
        raise LimitExceeded(f"Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS_PER_USER}")


def _trust_within_quota(document: str) -> None:
    if _size(document) > TRUST_POLICY_MAX:
        raise LimitExceeded(f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_MAX}")


def _key_order(key: AccessKey) -> str:
    """The store's order of a user's keys (created_at, then id) as one comparable text."""
    return f"{key.created_at:017.6f}/{key.access_key_id}"


def _path(path: str | None) -> str:
    p = path or "/"
    if not (p.startswith("/") and p.endswith("/")):
        raise InvalidInput("The specified value for path is invalid. It must begin and end with / and contain "
                           "only alphanumeric characters and/or / characters.", "Path")
    return p


class IamService:
    def __init__(self, store: Store, authz: Authorizer, policies: PolicyCache) -> None:
        self._store = store
        self._authz = authz
        self._policies = policies

    # --- helpers ------------------------------------------------------------------------------
    def _acct(self, call: Call) -> str:
        return call.caller.account_id

    def _user_arn(self, call: Call, name: str, path: str = "/") -> str:
        return f"arn:aws:iam::{self._acct(call)}:user{path}{name}"

    def _role_arn(self, call: Call, name: str, path: str = "/") -> str:
        return f"arn:aws:iam::{self._acct(call)}:role{path}{name}"

    def _target_user(self, call: Call, name: str | None) -> str:
        """UserName defaults to the caller, as in IAM (for users only)."""
        if name:
            return name
        if call.caller.kind != "user":
            raise InvalidInput("Must specify userName when calling with non-User credentials", "UserName")
        return call.caller.name

    def _user(self, call: Call, name: str, action: str) -> User:
        """The user, once the caller may `iam:<action>` on its ARN (its path included). A missing user
        is named only to a caller who would have been allowed on it: anyone else gets the
        AccessDenied an existing user gives, so user names cannot be probed."""
        user = self._store.get_user(self._acct(call), name)
        self._allow(call, action, user.arn if user is not None else self._user_arn(call, name))
        if user is None:
            raise NotFound("user", name, f"The user with name {name} cannot be found.")
        return user

    def _role(self, call: Call, name: str, action: str) -> Role:
        """The role, once the caller may `iam:<action>` on its ARN; as `_user` for a missing one."""
        role = self._store.get_role(self._acct(call), name)
        self._allow(call, action, role.arn if role is not None else self._role_arn(call, name))
        if role is None:
            raise NotFound("role", name, f"The role with name {name} cannot be found.")
        return role

    def _allow(self, call: Call, action: str, resource: str) -> None:
        if call.caller.kind == "session":      # IAM's rule for GetSessionToken credentials without MFA
            raise AccessDenied(f"User: {call.caller.arn} is not authorized to perform: iam:{action} on resource: "
                               f"{resource} with credentials from GetSessionToken: IAM calls need MFA, which "
                               "regauth does not implement; use long-term keys or an assumed role")
        self._authz.require(call, f"iam:{action}", resource)

    def _unique(self, name: str, taken: list[str], kind: str) -> None:
        """IAM names are unique whatever their case ("Alice" and "alice" are one name): two principals
        differing only in case would make ARN-based policies (case-sensitive) miss one of them."""
        clash = next((t for t in taken if t.lower() == name.lower() and t != name), None)
        if clash is not None:
            raise Conflict(kind, name, f"{kind.capitalize()} with name {clash} already exists "
                                       "(names are not distinguished by case).")

    # --- users --------------------------------------------------------------------------------
    def create_user(self, call: Call, name: str, path: str | None, unsupported: tuple[str, ...] = ()) -> User:
        """`unsupported`: parameters given that regauth does not implement (see `_refuse`)."""
        _refuse(unsupported, "CreateUser")
        p = _path(path)
        arn = self._user_arn(call, name, p)
        self._allow(call, "CreateUser", arn)
        return self._store.create_user(User(account_id=self._acct(call), name=name, user_id=ids.user_id(),
                                            arn=arn, path=p, created_at=call.now),
                                       guard=lambda taken: self._unique(name, taken, "user"))

    def get_user(self, call: Call, name: str | None) -> User:
        return self._user(call, self._target_user(call, name), "GetUser")

    def list_users(self, call: Call, path_prefix: str | None = None, max_items: int | None = None,
                   marker: str | None = None) -> tuple[list[User], str | None]:
        self._allow(call, "ListUsers", f"arn:aws:iam::{self._acct(call)}:user/")
        prefix = path_prefix or "/"
        users = [u for u in self._store.list_users(self._acct(call)) if u.path.startswith(prefix)]
        return paging.page_whole(users, lambda u: u.name, max_items, marker, "ListUsers")

    def delete_user(self, call: Call, name: str) -> None:
        self._user(call, name, "DeleteUser")
        self._store.delete_user(self._acct(call), name)

    # --- access keys --------------------------------------------------------------------------
    def create_access_key(self, call: Call, user_name: str | None) -> tuple[AccessKey, Secret]:
        user = self._user(call, self._target_user(call, user_name), "CreateAccessKey")
        secret = Secret(ids.secret_access_key())
        key = AccessKey(access_key_id=ids.access_key_id(), account_id=user.account_id, user_name=user.name,
                        status="Active", created_at=call.now)
        return self._store.create_access_key(key, secret, guard=_keys_within_quota), secret

    def list_access_keys(self, call: Call, user_name: str | None, max_items: int | None = None,
                         marker: str | None = None) -> tuple[list[AccessKey], str | None]:
        user = self._user(call, self._target_user(call, user_name), "ListAccessKeys")
        return paging.page_whole(self._store.list_access_keys(user.account_id, user.name), _key_order, max_items,
                                 marker, f"ListAccessKeys/{user.name}")

    def update_access_key(self, call: Call, user_name: str | None, key_id: str, status: str) -> None:
        user = self._user(call, self._target_user(call, user_name), "UpdateAccessKey")
        if self._store.update_access_key(user.account_id, user.name, key_id, status) is None:
            raise NotFound("access key", key_id, f"The Access Key with id {key_id} cannot be found.")

    def delete_access_key(self, call: Call, user_name: str | None, key_id: str) -> None:
        user = self._user(call, self._target_user(call, user_name), "DeleteAccessKey")
        if self._store.delete_access_key(user.account_id, user.name, key_id) is None:
            raise NotFound("access key", key_id, f"The Access Key with id {key_id} cannot be found.")

    # --- user policies ------------------------------------------------------------------------
    def put_user_policy(self, call: Call, user_name: str, name: str, document: str) -> None:
        user = self._user(call, user_name, "PutUserPolicy")
        within = _within_total(name, document, USER_POLICIES_MAX, f"user {user.name}")
        self._policies.get(document)  # MalformedPolicy on a bad document
        self._store.put_user_policy(user.account_id, user.name, InlinePolicy(name=name, document=document),
                                    guard=within)

    def get_user_policy(self, call: Call, user_name: str, name: str) -> InlinePolicy:
        user = self._user(call, user_name, "GetUserPolicy")
        policy = self._store.get_user_policy(user.account_id, user.name, name)
        if policy is None:
            raise NotFound("policy", name, f"The user policy with name {name} cannot be found.")
        return policy

    def list_user_policies(self, call: Call, user_name: str, max_items: int | None = None,
                           marker: str | None = None) -> tuple[list[str], str | None]:
        user = self._user(call, user_name, "ListUserPolicies")
        names = [p.name for p in self._store.list_user_policies(user.account_id, user.name)]
        return paging.page_whole(names, str, max_items, marker, f"ListUserPolicies/{user.name}")

    def delete_user_policy(self, call: Call, user_name: str, name: str) -> None:
        user = self._user(call, user_name, "DeleteUserPolicy")
        if self._store.delete_user_policy(user.account_id, user.name, name) is None:
            raise NotFound("policy", name, f"The user policy with name {name} cannot be found.")

    # --- roles --------------------------------------------------------------------------------
    def create_role(self, call: Call, name: str, trust: str, path: str | None, description: str | None,
                    max_session: int | None, unsupported: tuple[str, ...] = ()) -> Role:
        _refuse(unsupported, "CreateRole")
        p = _path(path)
        arn = self._role_arn(call, name, p)
        self._allow(call, "CreateRole", arn)
        _trust_within_quota(trust)
        pins = policy_principals.resolve(self._store, self._policies.get(trust, "trust"))
        seconds = 3600 if max_session is None else max_session
        if not 3600 <= seconds <= 43200:
            raise InvalidInput("MaxSessionDuration must be between 3600 and 43200 seconds", "MaxSessionDuration")
        return self._store.create_role(Role(account_id=self._acct(call), name=name, role_id=ids.role_id(), arn=arn,
                                            path=p, trust_policy=trust, max_session_duration=seconds,
                                            description=description or "", created_at=call.now,
                                            trust_principal_ids=pins),
                                       guard=lambda taken: self._unique(name, taken, "role"))

    def get_role(self, call: Call, name: str) -> Role:
        role = self._role(call, name, "GetRole")
        return role

    def list_roles(self, call: Call, path_prefix: str | None = None, max_items: int | None = None,
                   marker: str | None = None) -> tuple[list[Role], str | None]:
        self._allow(call, "ListRoles", f"arn:aws:iam::{self._acct(call)}:role/")
        prefix = path_prefix or "/"
        roles = [r for r in self._store.list_roles(self._acct(call)) if r.path.startswith(prefix)]
        return paging.page_whole(roles, lambda r: r.name, max_items, marker, "ListRoles")

    def delete_role(self, call: Call, name: str) -> None:
        role = self._role(call, name, "DeleteRole")
        self._store.delete_role(role.account_id, name)

    def update_assume_role_policy(self, call: Call, name: str, trust: str) -> None:
        role = self._role(call, name, "UpdateAssumeRolePolicy")
        _trust_within_quota(trust)
        pins = policy_principals.resolve(self._store, self._policies.get(trust, "trust"))
        self._store.update_role_trust_policy(role.account_id, name, trust, pins)

    def put_role_policy(self, call: Call, role_name: str, name: str, document: str) -> None:
        role = self._role(call, role_name, "PutRolePolicy")
        within = _within_total(name, document, ROLE_POLICIES_MAX, f"role {role.name}")
        self._policies.get(document)
        self._store.put_role_policy(role.account_id, role.name, InlinePolicy(name=name, document=document),
                                    guard=within)

    def get_role_policy(self, call: Call, role_name: str, name: str) -> InlinePolicy:
        role = self._role(call, role_name, "GetRolePolicy")
        policy = self._store.get_role_policy(role.account_id, role.name, name)
        if policy is None:
            raise NotFound("policy", name, f"The role policy with name {name} cannot be found.")
        return policy

    def list_role_policies(self, call: Call, role_name: str, max_items: int | None = None,
                           marker: str | None = None) -> tuple[list[str], str | None]:
        role = self._role(call, role_name, "ListRolePolicies")
        names = [p.name for p in self._store.list_role_policies(role.account_id, role.name)]
        return paging.page_whole(names, str, max_items, marker, f"ListRolePolicies/{role.name}")

    def delete_role_policy(self, call: Call, role_name: str, name: str) -> None:
        role = self._role(call, role_name, "DeleteRolePolicy")
        if self._store.delete_role_policy(role.account_id, role.name, name) is None:
            raise NotFound("policy", name, f"The role policy with name {name} cannot be found.")

