"""IAM policy documents: parse (validating like IAM does) and evaluate.

evaluate() is IAM's single-set logic over every statement of every policy given: a matching
Deny wins; else a matching Allow allows; else the request is implicitly denied. A statement
matches when its Action/NotAction, Resource/NotResource, Principal/NotPrincipal and every
Condition entry match. Everything is compiled once in parse_policy(); evaluate() does no I/O,
reads no clock (aws:CurrentTime comes in through RequestContext.keys) and never raises on
request values it cannot read.

Policy variables (${aws:username}, ${aws:PrincipalAccount, 'default'}, ${*} ...) are
substituted in Resource/NotResource and String*/Arn* condition values only when the document's
Version is "2012-10-17"; under "2008-10-17" or with no Version they are literal text, as in IAM.
"""

from __future__ import annotations

import enum
import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Final

from regauth.domain.arn import ArnPattern, Glob, InvalidArn, compile_arn_pattern, parse_arn
from regauth.domain.conditions import SYNTAX_ERROR, VENDOR_ERROR, Condition, Template, parse_conditions, parse_template
from regauth.errors import MalformedPolicy

# characters, white space not counted. An identity policy is an inline policy here: IAM bounds a user's
# inline policies to 2048 in all and a role's to 10240 (services/iam.py checks the totals)
MAX_IDENTITY_POLICY_SIZE: Final = 10240
MAX_RESOURCE_POLICY_SIZE: Final = 10240    # resource policies (ECR repository policy size)
MAX_TRUST_POLICY_SIZE: Final = 2048        # IAM role trust policy default quota
SIZE_LIMITS: Final[Mapping[str, int]] = {
    "identity": MAX_IDENTITY_POLICY_SIZE, "resource": MAX_RESOURCE_POLICY_SIZE, "trust": MAX_TRUST_POLICY_SIZE,
}
VERSIONS: Final = ("2012-10-17", "2008-10-17")
_VARIABLES_VERSION: Final = "2012-10-17"
_TOP_KEYS: Final = frozenset({"Version", "Id", "Statement"})
_STATEMENT_KEYS: Final = frozenset({"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource",
                                    "Principal", "NotPrincipal", "Condition"})
_PRINCIPAL_TYPES: Final = frozenset({"AWS", "Service", "Federated", "CanonicalUser"})
_SID_RE: Final = re.compile(r"[0-9A-Za-z]*")
_VENDOR_RE: Final = re.compile(r"[A-Za-z0-9-]+")
_ACCOUNT_RE: Final = re.compile(r"[0-9]{12}")
_NO_PINS: Final[Mapping[str, str]] = MappingProxyType({})


class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"                     # explicit deny
    IMPLICIT_DENY = "implicit-deny"


@dataclass(frozen=True)
class RequestContext:
    action: str                                  # "service:Action", matched case-insensitively
    resource: str                                # an ARN, or "*" for actions without a resource
    principal_arns: tuple[str, ...] = ()         # every ARN the caller is known by
    principal_account: str = ""
    keys: Mapping[str, object] = field(default_factory=dict, hash=False)   # condition keys (any case)
    # False: a policy's account principals (`123456789012`, `…:root`) do not match, only the caller's
    # own ARNs and "*": whether a resource policy grants to this principal itself, not to its account
    account_principals: bool = True
    # the unique id (AIDA…, AROA…) of the user or role the caller is: a policy naming an ARN that
    # was pinned to another id (a deleted namesake's) does not match it
    principal_id: str = ""
    _action: str = field(init=False, repr=False, compare=False)
    _keys: Mapping[str, object] = field(init=False, repr=False, compare=False)
    _arns: frozenset[str] = field(init=False, repr=False, compare=False)
    _accounts: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        arns = tuple(self.principal_arns)
        keys = context_keys(self.keys, self.principal_account)
        accounts = {self.principal_account, *map(_account_of, arns)} - {""} if self.account_principals else set()
        for name, value in (("principal_arns", arns), ("_action", self.action.lower()), ("_keys", keys),
                            ("_arns", frozenset(arns)), ("_accounts", frozenset(accounts))):
            object.__setattr__(self, name, value)


def context_keys(keys: Mapping[str, object], principal_account: str = "") -> dict[str, object]:
    """Condition keys as evaluation reads them (`RequestContext._keys`): names lower-cased (of names
    differing only in case the last wins; non-string names are dropped), aws:PrincipalAccount
    defaulting to the principal's account."""
    out = {k.lower(): v for k, v in keys.items() if isinstance(k, str)}
    if principal_account:
        out.setdefault("aws:principalaccount", principal_account)
    return out


@functools.lru_cache(maxsize=4096)
def _account_of(arn: str) -> str:
    try:
        return parse_arn(arn).account
    except InvalidArn:
        return ""


# --- the compiled model -------------------------------------------------------------------------

@dataclass(frozen=True)
class ActionMatcher:
    globs: tuple[Glob, ...]           # lower-case patterns
    negate: bool                      # NotAction

    def matches(self, action: str) -> bool:
        return any(g.matches(action) for g in self.globs) != self.negate


@dataclass(frozen=True)
class ResourceMatcher:
    static: tuple[ArnPattern, ...]
    dynamic: tuple[Template, ...]     # patterns with policy variables
    negate: bool                      # NotResource

    def matches(self, resource: str, keys: Mapping[str, object]) -> bool:
        hit = any(p.matches(resource) for p in self.static) or any(
            _dynamic_match(t, resource, keys) for t in self.dynamic)
        return hit != self.negate


def _dynamic_match(template: Template, resource: str, keys: Mapping[str, object]) -> bool:
    segments = template.resolve(keys)
    return segments is not None and compile_arn_pattern(segments).matches(resource)


@dataclass(frozen=True)
class PrincipalMatcher:
    anyone: bool
    accounts: frozenset[str]
    arns: frozenset[str]
    negate: bool                      # NotPrincipal

    def matches(self, ctx: RequestContext, pins: Mapping[str, str]) -> bool:
        hit = self.anyone or not self.accounts.isdisjoint(ctx._accounts) or (
            not self.arns.isdisjoint(ctx._arns) and self._named(ctx, pins))
        return hit != self.negate

    def _named(self, ctx: RequestContext, pins: Mapping[str, str]) -> bool:
        """One of the caller's ARNs is named, and stands for the caller itself: an ARN pinned when
        the policy was stored (`Policy.principal_ids`) names the principal that had it then, not a
        later one created under the same name (IAM keeps unique ids in such policies)."""
        if not pins:
            return True
        uid = ctx.principal_id
        return any(pins.get(arn, uid) == uid for arn in self.arns & ctx._arns)


@dataclass(frozen=True)
class Statement:
    sid: str | None
    effect: str                       # "Allow" | "Deny"
    actions: ActionMatcher
    resources: ResourceMatcher | None     # None: no Resource element (trust; resource policy without one)
    principals: PrincipalMatcher | None   # None: identity policy
    conditions: tuple[Condition, ...]

    @property
    def allows(self) -> bool:
        return self.effect == "Allow"

    @property
    def reads(self) -> frozenset[str]:
        """Every (lower-case) context key `applies` can read: condition keys and policy variables
        (it reads none when the action does not match: that is checked first). With none, whether
        the statement applies depends only on the action, the resource and the principal."""
        dynamic = self.resources.dynamic if self.resources is not None else ()
        return frozenset().union(*(t.keys for t in dynamic), *(c.reads for c in self.conditions))

    def applies(self, ctx: RequestContext, pins: Mapping[str, str] = _NO_PINS) -> bool:
        return (self.actions.matches(ctx._action)
                and (self.resources is None or self.resources.matches(ctx.resource, ctx._keys))
                and (self.principals is None or self.principals.matches(ctx, pins))
                and all(c.holds(ctx._keys) for c in self.conditions))


@dataclass(frozen=True)
class Policy:
    """A parsed policy. Equality and hash are those of (document, kind, principal_ids)."""

    document: str
    kind: str = "identity"
    version: str | None = field(default=None, compare=False)
    statements: tuple[Statement, ...] = field(default=(), compare=False, repr=False)
    # (principal ARN, unique id) for the users and roles its Principal elements named when it was
    # stored; empty for identity policies and for documents stored before ids were pinned
    principal_ids: tuple[tuple[str, str], ...] = ()
    _pins: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pins", dict(self.principal_ids))

    @property
    def principal_arns(self) -> frozenset[str]:
        """The ARNs its Principal and NotPrincipal elements name (not accounts, not "*")."""
        return frozenset().union(*(s.principals.arns for s in self.statements if s.principals is not None))

    def pinned(self, principal_ids: Iterable[tuple[str, str]]) -> Policy:
        return replace(self, principal_ids=tuple(sorted(principal_ids)))


def evaluate(policies: Iterable[Policy], ctx: RequestContext) -> Decision:
    allowed = False
    for policy in policies:
        pins = policy._pins
        for statement in policy.statements:
            if allowed and statement.allows:
                continue              # already allowed: only a Deny can change the answer
            if statement.applies(ctx, pins):
                if not statement.allows:
                    return Decision.DENY
                allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


# --- parsing ------------------------------------------------------------------------------------

def parse_policy(document: str, *, kind: str = "identity") -> Policy:
    """Parse and validate. Raises MalformedPolicy for any bad document (ValueError for a bad kind).

    Results are memoised by (document, kind): a Policy is immutable, so re-parsing the same stored
    text on every request costs a dictionary lookup."""
    if kind not in SIZE_LIMITS:
        raise ValueError(f"unknown policy kind {kind!r}")
    if not isinstance(document, str):
        raise MalformedPolicy(SYNTAX_ERROR)
    return _parse(document, kind)


_JSON_WHITE_SPACE = str.maketrans("", "", " \t\n\r")


def size_without_white_space(document: str) -> int:
    """A policy's size as IAM counts it against its quotas: without JSON's white space (space, tab,
    line feed, carriage return). Other spaces (U+00A0, U+0085: str.split() would drop them) are
    content, inside a string, and count."""
    return len(document.translate(_JSON_WHITE_SPACE))


@functools.lru_cache(maxsize=1024)
def _parse(document: str, kind: str) -> Policy:
    limit = SIZE_LIMITS[kind]
    if size_without_white_space(document) > limit:
        raise MalformedPolicy(f"Cannot exceed quota for PolicySize: {limit}")
    data = _load_json(document)
    if not isinstance(data, dict) or not data.keys() <= _TOP_KEYS or not isinstance(data.get("Id", ""), str):
        raise MalformedPolicy(SYNTAX_ERROR)
    version = _version(data)
    raw = data.get("Statement")
    items = [raw] if isinstance(raw, dict) else raw
    if not isinstance(items, list) or not items or not all(isinstance(s, dict) for s in items):
        raise MalformedPolicy(SYNTAX_ERROR)
    statements = tuple(_statement(s, kind, variables=version == _VARIABLES_VERSION) for s in items)
    sids = [s.sid for s in statements if s.sid]
    if len(set(sids)) != len(sids):
        raise MalformedPolicy("Statement IDs (SID) in a single policy must be unique.")
    return Policy(document, kind, version, statements)


def _load_json(text: str) -> object:
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise MalformedPolicy(SYNTAX_ERROR) from None


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _version(data: dict[str, object]) -> str | None:
    version = data.get("Version")
    if version is None and "Version" not in data:
        return None
    if not isinstance(version, str):
        raise MalformedPolicy(SYNTAX_ERROR)
    if version not in VERSIONS:
        raise MalformedPolicy("The policy failed legacy parsing")
    return version


def _statement(raw: dict[str, object], kind: str, *, variables: bool) -> Statement:
    if not raw.keys() <= _STATEMENT_KEYS:
        raise MalformedPolicy(SYNTAX_ERROR)
    sid, effect = raw.get("Sid"), raw.get("Effect")
    if ("Sid" in raw and not isinstance(sid, str)) or effect not in ("Allow", "Deny"):
        raise MalformedPolicy(SYNTAX_ERROR)
    if sid and kind != "resource" and not _SID_RE.fullmatch(sid):
        raise MalformedPolicy("Statement IDs (SID) must be alpha-numeric. "
                              "Check that your input satisfies the regular expression [0-9A-Za-z]*")
    conditions = parse_conditions(raw["Condition"], variables=variables) if "Condition" in raw else ()
    return Statement(sid if isinstance(sid, str) else None, str(effect), _actions(raw),
                     _resources(raw, kind, variables), _principals(raw, kind, str(effect)), conditions)


def _element(raw: dict[str, object], name: str, negated: str, missing: str) -> tuple[list[str], bool]:
    """The values of Action/NotAction-style pairs: exactly one present, a string or non-empty list."""
    if name in raw and negated in raw:
        raise MalformedPolicy(SYNTAX_ERROR)
    if name not in raw and negated not in raw:
        raise MalformedPolicy(missing)
    value = raw[name] if name in raw else raw[negated]
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise MalformedPolicy(SYNTAX_ERROR)
    if not values:
        raise MalformedPolicy(missing)
    return values, negated in raw


def _actions(raw: dict[str, object]) -> ActionMatcher:
    values, negate = _element(raw, "Action", "NotAction", "Policy statement must contain actions.")
    for action in values:
        _check_action(action)
    return ActionMatcher(tuple(Glob.compile(a.lower()) for a in values), negate)


def _check_action(action: str) -> None:
    if action == "*":
        return
    vendor, colon, name = action.partition(":")
    if not colon:
        raise MalformedPolicy(VENDOR_ERROR)
    if ":" in name:
        raise MalformedPolicy("Actions/Condition can contain only one colon.")
    if not _VENDOR_RE.fullmatch(vendor):
        raise MalformedPolicy(f"Vendor {vendor} is not valid")
    if not name:
        raise MalformedPolicy(SYNTAX_ERROR)


def _resources(raw: dict[str, object], kind: str, variables: bool) -> ResourceMatcher | None:
    if kind == "trust":
        for name in ("Resource", "NotResource"):
            if name in raw:
                raise MalformedPolicy(f"Has prohibited field {name}")
        return None
    if kind == "resource" and "Resource" not in raw and "NotResource" not in raw:
        return None
    values, negate = _element(raw, "Resource", "NotResource", "Policy statement must contain resources.")
    static: list[ArnPattern] = []
    dynamic: list[Template] = []
    for value in values:
        template = parse_template(value, variables=variables)
        try:
            if template.is_static:
                static.append(compile_arn_pattern(template.segments()))
                continue
            compile_arn_pattern(template.placeholder())     # the shape does not depend on the values
            dynamic.append(template)
        except InvalidArn:
            raise MalformedPolicy(f'Resource {value} must be in ARN format or "*".') from None
    return ResourceMatcher(tuple(static), tuple(dynamic), negate)


def _principals(raw: dict[str, object], kind: str, effect: str) -> PrincipalMatcher | None:
    has, has_not = "Principal" in raw, "NotPrincipal" in raw
    if kind == "identity":
        if has or has_not:
            raise MalformedPolicy("Policy document should not specify a principal.")
        return None
    if has and has_not:
        raise MalformedPolicy(SYNTAX_ERROR)
    if not (has or has_not):
        raise MalformedPolicy("Missing required field Principal")
    if has_not and kind == "trust":
        raise MalformedPolicy("Has prohibited field NotPrincipal")
    if has_not and effect != "Deny":
        raise MalformedPolicy('NotPrincipal is supported only with "Effect": "Deny"')
    return _principal_matcher(raw["Principal" if has else "NotPrincipal"], negate=has_not)


def _principal_matcher(value: object, *, negate: bool) -> PrincipalMatcher:
    if value == "*":
        return PrincipalMatcher(True, frozenset(), frozenset(), negate)
    if not isinstance(value, dict) or not value:
        raise MalformedPolicy(f"Invalid principal in policy: {json.dumps(value)}")
    anyone, accounts, arns = False, set(), set()
    for ptype, ids in value.items():
        items = [ids] if isinstance(ids, str) else ids
        if ptype not in _PRINCIPAL_TYPES or not isinstance(items, list) or not items \
                or not all(isinstance(i, str) and i for i in items):
            raise MalformedPolicy(f"Invalid principal in policy: {json.dumps({ptype: ids})}")
        if ptype != "AWS":
            continue                  # Service / Federated / CanonicalUser never match an IAM caller
        for ident in items:
            what, text = _aws_principal(ident)
            anyone = anyone or what == "any"
            if what != "any":
                (accounts if what == "account" else arns).add(text)
    return PrincipalMatcher(anyone, frozenset(accounts), frozenset(arns), negate)


def _aws_principal(ident: str) -> tuple[str, str]:
    """'*' -> any; 12-digit id or ...:root -> account; else an exact principal ARN."""
    if ident == "*":
        return "any", ident
    if _ACCOUNT_RE.fullmatch(ident):
        return "account", ident
    try:
        if "*" in ident or "?" in ident:
            raise InvalidArn(ident)
        arn = parse_arn(ident)
    except InvalidArn:
        raise MalformedPolicy(f'Invalid principal in policy: "AWS":"{ident}"') from None
    if arn.resource == "root" and arn.service in ("iam", "ram"):
        return "account", arn.account
    return "arn", ident
