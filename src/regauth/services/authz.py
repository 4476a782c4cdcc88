"""May the caller do this? Identity policies, session policy and resource policy, IAM-style."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timezone
from threading import Lock
from typing import Mapping

from regauth.domain.policy import Decision, Policy, RequestContext, evaluate, parse_policy
from regauth.domain.principals import Caller
from regauth.errors import AccessDenied
from regauth.services.context import Call
from regauth.store.interfaces import Store

_CACHE_SIZE = 4096


class PolicyCache:
    """Parsed policies by (kind, text): parsing is the expensive part of evaluation."""

    def __init__(self) -> None:
        self._items: OrderedDict[tuple[str, str], Policy] = OrderedDict()
        self._lock = Lock()

    def get(self, document: str, kind: str = "identity") -> Policy:
        key = (kind, document)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        policy = parse_policy(document, kind=kind)
        with self._lock:
            self._items[key] = policy
            if len(self._items) > _CACHE_SIZE:
                self._items.popitem(last=False)
        return policy


def role_arn_of(caller: Caller) -> str | None:
    if caller.kind != "assumed-role":
        return None
    return f"arn:aws:iam::{caller.account_id}:role/{caller.name}"


class Authorizer:
    def __init__(self, store: Store, policies: PolicyCache) -> None:
        self._store = store
        self._policies = policies

    def identity_policies(self, caller: Caller) -> list[Policy]:
        if caller.kind == "assumed-role":
            docs = self._store.list_role_policies(caller.account_id, caller.name)
        else:
            docs = self._store.list_user_policies(caller.account_id, caller.name)
        return [self._policies.get(p.document) for p in docs]

    def context(self, call: Call, action: str, resource: str, keys: Mapping[str, object] | None = None,
                *, with_account: bool = True) -> RequestContext:
        c = call.caller
        arns = (c.arn,) + ((role_arn_of(c),) if role_arn_of(c) else ())
        base: dict[str, object] = {
            "aws:CurrentTime": datetime.fromtimestamp(call.now, timezone.utc),
            "aws:EpochTime": int(call.now),
            "aws:SecureTransport": call.secure_transport,
            "aws:PrincipalArn": role_arn_of(c) or c.arn,
            "aws:PrincipalAccount": c.account_id,
            "aws:PrincipalType": {"user": "User", "assumed-role": "AssumedRole", "session": "User"}[c.kind],
            "aws:userid": c.user_id,
            "aws:RequestedRegion": call.region,
        }
        if c.kind in ("user", "session"):
            base["aws:username"] = c.name
        if call.source_ip:
            base["aws:SourceIp"] = call.source_ip
        if c.session_expires_at is not None:
            base["aws:TokenIssueTime"] = datetime.fromtimestamp(call.now, timezone.utc)
        base.update(keys or {})
        return RequestContext(action=action, resource=resource, principal_arns=arns,
                              principal_account=c.account_id if with_account else "", keys=base)

    def decide(self, call: Call, action: str, resource: str, *, keys: Mapping[str, object] | None = None,
               resource_policy: Policy | None = None, resource_account: str | None = None) -> Decision:
        """IAM evaluation for one action. Cross-account access needs both sides to allow."""
        ctx = self.context(call, action, resource, keys)
        identity = evaluate(self.identity_policies(call.caller), ctx)
        decisions = [identity]
        resource_decision = Decision.IMPLICIT_DENY
        if resource_policy is not None:
            resource_decision = evaluate([resource_policy], ctx)
            decisions.append(resource_decision)
        if call.caller.session_policy:
            decisions.append(evaluate([self._policies.get(call.caller.session_policy)], ctx))
        if Decision.DENY in decisions:
            return Decision.DENY
        session_ok = not call.caller.session_policy or decisions[-1] == Decision.ALLOW
        same_account = resource_account is None or resource_account == call.caller.account_id
        if same_account:
            allowed = identity == Decision.ALLOW or resource_decision == Decision.ALLOW
        else:
            allowed = identity == Decision.ALLOW and resource_decision == Decision.ALLOW
        return Decision.ALLOW if allowed and session_ok else Decision.IMPLICIT_DENY

    def require(self, call: Call, action: str, resource: str, **kwargs: object) -> None:
        decision = self.decide(call, action, resource, **kwargs)  # type: ignore[arg-type]
        if decision != Decision.ALLOW:
            raise denied(call.caller, action, resource, decision)


def denied(caller: Caller, action: str, resource: str, decision: Decision) -> AccessDenied:
    why = "with an explicit deny" if decision == Decision.DENY else "because no policy allows the action"
    err = AccessDenied(f"User: {caller.arn} is not authorized to perform: {action} on resource: {resource} {why}")
    err.action, err.resource = action, resource  # type: ignore[attr-defined]
    return err
