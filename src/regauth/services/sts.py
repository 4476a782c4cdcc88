"""STS: who am I, session tokens, and assuming roles (trust policy, duration bounds, session policy)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from regauth.domain import ids
from regauth.domain.policy import Decision, evaluate, size_without_white_space
from regauth.domain.principals import Role, Session
from regauth.domain.secret import Secret
from regauth.errors import AccessDenied, InvalidInput, PackedPolicyTooLarge
from regauth.services.authn import token_hash
from regauth.services.authz import Authorizer, PolicyCache, denied
from regauth.services.context import Call
from regauth.store.interfaces import Store

_ROLE_ARN = re.compile(r"arn:aws:iam::([0-9]{12}):role/(?:[\x21-\x7e]*/)?([\w+=,.@-]{1,64})")  # fullmatch: not `$`
SESSION_POLICY_MAX = 2048
ROLE_CHAINING_MAX = 3600


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: Secret
    session_token: Secret
    expires_at: float


@dataclass(frozen=True)
class AssumedRole:
    credentials: Credentials
    assumed_role_id: str
    arn: str
    packed_policy_size: int | None


class StsService:
    def __init__(self, store: Store, authz: Authorizer, policies: PolicyCache) -> None:
        self._store = store
        self._authz = authz
        self._policies = policies

    def get_caller_identity(self, call: Call) -> dict[str, str]:
        c = call.caller
        return {"Arn": c.arn, "UserId": c.user_id, "Account": c.account_id}

    def get_session_token(self, call: Call, duration: int | None, unsupported: tuple[str, ...] = ()) -> Credentials:
        if unsupported:        # MFA: refused, never ignored (a code nobody checked would look checked)
            raise InvalidInput(f"regauth does not support {', '.join(unsupported)} (MFA) in GetSessionToken; "
                               "leave them out.", unsupported[0])
        c = call.caller
        if c.kind != "user":
            raise AccessDenied("Cannot call GetSessionToken with session credentials")
        seconds = 43200 if duration is None else duration
        if not 900 <= seconds <= 129600:
            raise InvalidInput("DurationSeconds must be between 900 and 129600", "DurationSeconds")
        user = self._store.get_user(c.account_id, c.name)
        if user is None:
            raise AccessDenied("The user no longer exists")
        session = Session(access_key_id=ids.session_access_key_id(), account_id=c.account_id, kind="session",
                          source_name=c.name, session_name="", arn=user.arn, user_id=user.user_id,
                          session_policy=None, expires_at=call.now + seconds, created_at=call.now)
        return self._store_session(session)

    def assume_role(self, call: Call, role_arn: str, session_name: str, duration: int | None,
                    policy: str | None, external_id: str | None = None,
                    unsupported: tuple[str, ...] = ()) -> AssumedRole:
        """`unsupported`: the names of AssumeRole parameters given that regauth does not implement
        (managed session policies, session tags, source identity, MFA). They are refused, never
        ignored: each narrows or conditions the session, and a session without it would be wider
        than asked for, or let through a trust condition the caller did not meet."""
        if unsupported:
            raise InvalidInput(f"regauth does not support {', '.join(unsupported)} in AssumeRole; pass an inline "
                               "session Policy instead of PolicyArns, and leave the others out.", unsupported[0])
        role = self._role(role_arn)
        if role is None:
            raise denied(call.caller, "sts:AssumeRole", role_arn, Decision.IMPLICIT_DENY)
        keys: dict[str, object] = {"sts:RoleSessionName": session_name}
        if external_id is not None:
            keys["sts:ExternalId"] = external_id
        self._check_trust(call, role, keys)
        seconds = 3600 if duration is None else duration
        if not 900 <= seconds <= 43200:
            raise InvalidInput("DurationSeconds must be between 900 and 43200", "DurationSeconds")
        if seconds > role.max_session_duration:
            raise InvalidInput("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
                               "DurationSeconds")
        if call.caller.kind == "assumed-role" and seconds > ROLE_CHAINING_MAX:
            raise InvalidInput("The requested DurationSeconds exceeds the 1 hour session limit for roles "
                               "assumed by role chaining.", "DurationSeconds")
        packed = None
        if policy is not None:
            size = size_without_white_space(policy)
            if size > SESSION_POLICY_MAX:       # before parsing: a long one is too large, not malformed
                raise PackedPolicyTooLarge("Packed size of the session policy exceeds the limit")
            self._policies.get(policy)  # MalformedPolicy on a bad document
            packed = max(1, size * 100 // SESSION_POLICY_MAX)
        arn = f"arn:aws:sts::{role.account_id}:assumed-role/{role.name}/{session_name}"
        session = Session(access_key_id=ids.session_access_key_id(), account_id=role.account_id,
                          kind="assumed-role", source_name=role.name, session_name=session_name, arn=arn,
                          user_id=f"{role.role_id}:{session_name}", session_policy=policy,
                          expires_at=call.now + seconds, created_at=call.now)
        creds = self._store_session(session)
        return AssumedRole(credentials=creds, assumed_role_id=session.user_id, arn=arn, packed_policy_size=packed)

    def _role(self, role_arn: str) -> Role | None:
        m = _ROLE_ARN.fullmatch(role_arn)
        if m is None:
            raise InvalidInput(f"{role_arn} is invalid", "RoleArn")
        role = self._store.get_role(m.group(1), m.group(2))
        # the ARN as given, path included: a role found by its name under another path would tell any
        # caller that the role exists, and where
        return role if role is not None and role.arn == role_arn else None

    def _check_trust(self, call: Call, role: Role, keys: dict[str, object]) -> None:
        """The trust policy must allow the caller (by its ARN, its account or "*"). Then the trust
        policy is the role's resource policy in the usual evaluation (`Authorizer.decide`): an
        explicit Deny anywhere refuses, a session policy must allow, and the caller's own policies
        must allow too unless the trust policy names this very principal (or "*") in the same account;
        naming the account (`…:root`, the id) delegates to its identity policies (IAM's rule)."""
        action = "sts:AssumeRole"
        trust = self._policies.get(role.trust_policy, "trust", role.trust_principal_ids)
        trust_decision = evaluate([trust], self._authz.context(call, action, role.arn, keys))
        if trust_decision != Decision.ALLOW:
            raise denied(call.caller, action, role.arn, trust_decision)
        self._authz.require(call, action, role.arn, keys=keys, resource_policy=trust,
                            resource_account=role.account_id)

    def _store_session(self, session: Session) -> Credentials:
        secret = Secret(ids.secret_access_key())
        token = Secret(ids.session_token())
        self._store.create_session(session, secret, token_hash(token.reveal()))
        return Credentials(access_key_id=session.access_key_id, secret_access_key=secret, session_token=token,
                           expires_at=session.expires_at)
