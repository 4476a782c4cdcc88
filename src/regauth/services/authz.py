"""May the caller do this? Identity policies, session policy and resource policy, IAM-style.

Decisions are memoised. A decision is a pure function of the policy documents in play, the action,
the resource, the principal and the values of the context keys those policies read; all of these
make up the memo key. The documents themselves are read through the store on every call (the
CachingStore drops them whenever the store generation moves), so a changed or revoked policy
changes the key and is evaluated afresh on the very next request. Policies that read a clock key
are evaluated every time (their decision may change without any write).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from datetime import datetime, timezone
from threading import Lock
from typing import Any, Mapping, Sequence

from regauth.domain.policy import Decision, Policy, RequestContext, context_keys, evaluate, parse_policy
from regauth.domain.principals import Caller, InlinePolicy
from regauth.errors import AccessDenied
from regauth.services.context import Call
from regauth.store.interfaces import Store

_CACHE_SIZE = 4096
_SETS_SIZE = 4096
_DECISIONS_SIZE = 16384
_ACTIONS_PER_SET = 256
_CLOCK_KEYS = frozenset({"aws:currenttime", "aws:epochtime", "aws:tokenissuetime"})
# request values whose equality implies an identical evaluation (not float: 0.0 == -0.0 reads as
# different text; not Decimal: 1.0 == 1; the type is part of the key since True == 1)
_MEMO_TYPES = frozenset({str, int, bool, type(None)})
_UNKNOWN: Any = object()


class PolicySet:
    """The parsed policies one decision evaluates. Compared by identity (it is a memo key)."""

    __slots__ = ("identity", "resource", "session", "_reads")

    def __init__(self, identity: tuple[Policy, ...], resource: Policy | None, session: Policy | None) -> None:
        self.identity, self.resource, self.session = identity, resource, session
        self._reads: dict[str, tuple[str, ...] | None] = {}

    def reads(self, action: str) -> tuple[str, ...] | None:
        """The context keys (sorted) evaluating `action` can read; None when one is a clock key.
        Only statements whose Action matches read any: the action is matched first."""
        found = self._reads.get(action, _UNKNOWN)
        if found is _UNKNOWN:
            lowered = action.lower()
            keys = frozenset().union(*(s.reads for p in (*self.identity, self.resource, self.session)
                                       if p is not None for s in p.statements if s.actions.matches(lowered)))
            found = None if keys & _CLOCK_KEYS else tuple(sorted(keys))
            if len(self._reads) < _ACTIONS_PER_SET:
                self._reads[action] = found
        return found


class PolicyCache:
    """Parsed policies by (kind, text): parsing is the expensive part of evaluation. Also holds
    the policy sets and the decisions `Authorizer` memoises; `clear()` drops all three."""

    def __init__(self) -> None:
        self._items: OrderedDict[tuple[object, ...], Policy] = OrderedDict()
        self._lock = Lock()
        self._sets: dict[tuple[Any, ...], PolicySet] = {}
        self.decisions: dict[tuple[Any, ...], Decision] = {}

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._sets = {}
            self.decisions = {}

    def get(self, document: str, kind: str = "identity",
            principal_ids: tuple[tuple[str, str], ...] = ()) -> Policy:
        """The parsed policy; with `principal_ids`, pinned to them (`Policy.pinned`)."""
        key = (kind, document, principal_ids) if principal_ids else (kind, document)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        policy = parse_policy(document, kind=kind)
        if principal_ids:
            policy = policy.pinned(principal_ids)
        with self._lock:
            self._items[key] = policy
            if len(self._items) > _CACHE_SIZE:
                self._items.popitem(last=False)
        return policy

    def policy_set(self, key: tuple[tuple[str, ...], Policy | None, str | None]) -> PolicySet:
        """The set for (identity documents, resource policy, session policy text)."""
        found = self._sets.get(key)
        if found is None:
            docs, resource, session = key
            found = PolicySet(tuple(self.get(d) for d in docs), resource, self.get(session) if session else None)
            if len(self._sets) >= _SETS_SIZE:
                self._sets, self.decisions = {}, {}
            self._sets[key] = found
        return found

    def remember(self, key: tuple[Any, ...], decision: Decision) -> None:
        decisions = self.decisions
        if len(decisions) >= _DECISIONS_SIZE:
            decisions = self.decisions = {}
        decisions[key] = decision


def role_arn_of(caller: Caller) -> str | None:
    if caller.kind != "assumed-role":
        return None
    return f"arn:aws:iam::{caller.account_id}:role/{caller.name}"


class Authorizer:
    def __init__(self, store: Store, policies: PolicyCache) -> None:
        self._store = store
        self._policies = policies

    def _policy_records(self, caller: Caller) -> Sequence[InlinePolicy]:
        if caller.kind == "assumed-role":
            return self._store.list_role_policies(caller.account_id, caller.name)
        return self._store.list_user_policies(caller.account_id, caller.name)

    def identity_policies(self, caller: Caller) -> list[Policy]:
        return [self._policies.get(p.document) for p in self._policy_records(caller)]

    def role_arn(self, caller: Caller) -> str | None:
        """A role session's role ARN, its path included (`role_arn_of` leaves the path out): what
        aws:PrincipalArn is and what a policy naming the role matches."""
        if caller.kind != "assumed-role":
            return None
        role = self._store.get_role(caller.account_id, caller.name)
        return role.arn if role is not None else role_arn_of(caller)

    def context(self, call: Call, action: str, resource: str,
                keys: Mapping[str, object] | None = None) -> RequestContext:
        c = call.caller
        role = self.role_arn(c)
        return RequestContext(action=action, resource=resource, principal_arns=(c.arn, role) if role else (c.arn,),
                              principal_account=c.account_id, principal_id=c.user_id.partition(":")[0],
                              keys=self._keys(call, keys))

    def _keys(self, call: Call, keys: Mapping[str, object] | None) -> dict[str, object]:
        """The request's condition keys: the global ones IAM sets, then the caller's `keys`."""
        c = call.caller
        role = self.role_arn(c)
        now = datetime.fromtimestamp(call.now, timezone.utc)
        base: dict[str, object] = {
            "aws:CurrentTime": now,
            "aws:EpochTime": int(call.now),
            "aws:SecureTransport": call.secure_transport,
            "aws:PrincipalArn": role or c.arn,
            "aws:PrincipalAccount": c.account_id,
            "aws:PrincipalType": {"user": "User", "assumed-role": "AssumedRole", "session": "User"}[c.kind],
            "aws:userid": c.user_id,
            "aws:RequestedRegion": call.region,
        }
        if c.kind in ("user", "session"):
            base["aws:username"] = c.name
        if call.source_ip:
            base["aws:SourceIp"] = call.source_ip
        if c.session_issued_at is not None:      # temporary credentials only, as in IAM
            base["aws:TokenIssueTime"] = datetime.fromtimestamp(c.session_issued_at, timezone.utc)
        base.update(keys or {})
        return base

    def decide(self, call: Call, action: str, resource: str, *, keys: Mapping[str, object] | None = None,
               resource_policy: Policy | None = None, resource_account: str | None = None) -> Decision:
        """IAM evaluation for one action. Cross-account access needs both sides to allow.

        Memoised (see the module docstring): the key holds everything the evaluation reads."""
        c = call.caller
        docs = tuple([p.document for p in self._policy_records(c)])
        policies = self._policies.policy_set((docs, resource_policy, c.session_policy))
        reads = policies.reads(action)
        if reads is None:
            return self._evaluate(policies, self.context(call, action, resource, keys), call, resource_account)
        values: tuple[tuple[type, object], ...] = ()
        if reads:       # the values the context will hold for them (no need to build it on a hit)
            found = context_keys(self._keys(call, keys), c.account_id)
            values = tuple((type(v), v) for v in map(found.get, reads))
            if any(t not in _MEMO_TYPES for t, _ in values):
                return self._evaluate(policies, self.context(call, action, resource, keys), call, resource_account)
        key = (policies, action, resource, c.arn, c.user_id, c.kind, c.name, c.account_id, resource_account, values)
        decision = self._policies.decisions.get(key)
        if decision is None:
            decision = self._evaluate(policies, self.context(call, action, resource, keys), call, resource_account)
            self._policies.remember(key, decision)
        return decision

    def _evaluate(self, policies: PolicySet, ctx: RequestContext, call: Call,
                  resource_account: str | None) -> Decision:
        identity = evaluate(policies.identity, ctx)
        decisions = [identity]
        resource_decision = Decision.IMPLICIT_DENY
        if policies.resource is not None:
            resource_decision = evaluate([policies.resource], ctx)
            decisions.append(resource_decision)
        if policies.session is not None:
            decisions.append(evaluate([policies.session], ctx))
        if Decision.DENY in decisions:
            return Decision.DENY
        session_ok = not call.caller.session_policy or decisions[-1] == Decision.ALLOW
        same_account = resource_account is None or resource_account == call.caller.account_id
        if same_account:
            # A resource policy grants on its own only to a principal it names itself (its ARN, or "*");
            # naming the account (`…:root`, the id) delegates to the account's identity policies, as in IAM
            allowed = identity == Decision.ALLOW or (
                resource_decision == Decision.ALLOW and policies.resource is not None
                and evaluate([policies.resource], replace(ctx, account_principals=False)) == Decision.ALLOW)
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
