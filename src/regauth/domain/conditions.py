"""Condition operators (the table), policy variables, and how one Condition entry is decided.

Semantics, each as IAM documents or as observed against IAM:

* Multiple values for one key are OR'ed; for a negated operator (StringNotEquals, NotIpAddress,
  ArnNotLike, ...) they are NOR'ed: the request value must match none of them.
  [IAM UG "Conditions with multiple context keys or values" - reference_policies_multi-value-conditions]
* Key absent from the request: a positive operator is false, a negated operator is true.
  [IAM UG "Condition operators", the "Important" note - reference_policies_elements_condition_operators]
* ...IfExists: an absent key makes the entry true; a present key is tested normally. [same page]
* Null: "true" holds when the key is absent, "false" when present; values OR'ed. [same page]
* ForAllValues: true when the key is absent or empty, else every request value must satisfy the
  operator. ForAnyValue: false when the key is absent or empty (with or without IfExists), else at
  least one request value must. A single request value counts as a set of one.
  [IAM UG "Multivalued context key examples" (ForAllValues:StringNotLike with no aws:TagKeys =
  match); cloud-copilot/iam-simulate src/condition/condition.ts; re:Post "ForAnyValue:
  StringEqualsIfExists behaving unexpectedly"]
* An operator without a set qualifier on a multivalued (list) request value is false.
  [cloud-copilot/iam-simulate condition.ts: "Set operator is required for a multi-value key.
  Confirmed this at re:Inforce 2025 IAM431."]
* A request value that cannot be read as the operator's type (e.g. "abc" for Numeric*) makes
  that value's test false - also for negated operators - and never raises.
* Operator names are case-sensitive ("Invalid Condition type : stringEquals"); key names are not.
* Policy variables ${key}, ${key, 'default'}, ${*} ${?} ${$} are honoured in String* and Arn*
  values when the policy Version is 2012-10-17. A variable whose key is absent or multivalued
  (and has no default) makes that one value match nothing. [IAM UG "Variables and tags"]
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Final

from regauth.domain.arn import Glob, Segment, compile_arn_pattern, is_arn
from regauth.errors import MalformedPolicy

SYNTAX_ERROR: Final = "Syntax errors in policy."
VENDOR_ERROR: Final = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
FOR_ALL: Final = "ForAllValues"
FOR_ANY: Final = "ForAnyValue"
NULL: Final = "Null"
_MULTI = (list, tuple, set, frozenset)


class _Bad:
    """A request value that cannot be read as the operator's type."""

    def __repr__(self) -> str:
        return "BAD"


BAD: Final = _Bad()


# --- request-side readers -----------------------------------------------------------------------

def as_text(value: object) -> str | _Bad:
    """A scalar as IAM would show it in a string context."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        try:
            return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")
        except (OverflowError, ValueError):
            return BAD
    return BAD


def _as_lower_text(value: object) -> str | _Bad:
    text = as_text(value)
    return text if isinstance(text, _Bad) else text.lower()


_NUMBER_RE = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def _as_number(value: object) -> Decimal | _Bad:
    if isinstance(value, bool):
        return BAD
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else BAD
    if isinstance(value, Decimal):
        return value if value.is_finite() else BAD
    if isinstance(value, str) and _NUMBER_RE.fullmatch(value):
        return Decimal(value)
    return BAD


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _as_date(value: object) -> float | _Bad:
    """Seconds since the epoch from a datetime, an epoch number, or ISO 8601 / epoch text."""
    if isinstance(value, str):
        if _NUMBER_RE.fullmatch(value):
            value = Decimal(value)
        else:
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                return BAD
    try:
        if isinstance(value, datetime):
            return _utc(value).timestamp()
        if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            seconds = float(value)
            return seconds if math.isfinite(seconds) else BAD
    except (OverflowError, ValueError):
        pass
    return BAD


def _as_bool(value: object) -> bool | _Bad:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return BAD


def _as_bytes(value: object) -> bytes | _Bad:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return BAD
    return BAD


IpAddr = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNet = ipaddress.IPv4Network | ipaddress.IPv6Network


def _as_ip(value: object) -> IpAddr | _Bad:
    if isinstance(value, str):
        try:
            value = ipaddress.ip_address(value)
        except ValueError:
            return BAD
    if isinstance(value, ipaddress.IPv6Address) and value.ipv4_mapped is not None:
        return value.ipv4_mapped
    return value if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)) else BAD


def _as_arn(value: object) -> str | _Bad:
    return value if isinstance(value, str) and is_arn(value) else BAD


# --- policy-side compilers (raise ValueError on a bad policy value) ------------------------------

def _text(segments: Sequence[Segment]) -> str:
    return "".join(text for text, _ in segments)


def _strict(reader: Callable[[object], Any]) -> Callable[[Sequence[Segment]], Any]:
    def compile_(segments: Sequence[Segment]) -> Any:
        value = reader(_text(segments))
        if isinstance(value, _Bad):
            raise ValueError(_text(segments))
        return value
    return compile_


def _compile_network(segments: Sequence[Segment]) -> IpNet:
    return ipaddress.ip_network(_text(segments), strict=False)


def _in_network(address: IpAddr, network: IpNet) -> bool:
    return address in network         # False across IPv4/IPv6, never raises


# --- the table --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Operator:
    name: str
    compile: Callable[[Sequence[Segment]], Any]      # policy value -> comparable (ValueError if bad)
    coerce: Callable[[object], Any]                  # request value -> comparable, or BAD
    test: Callable[[Any, Any], bool]                 # positive relation (request, policy)
    negated: bool = False
    variables: bool = False                          # policy variables allowed in values


def _build_table() -> dict[str, Operator]:
    ops: list[Operator] = []
    strings = (("StringEquals", _text, as_text, operator.eq),
               ("StringEqualsIgnoreCase", lambda s: _text(s).lower(), _as_lower_text, operator.eq),
               ("StringLike", Glob.from_segments, as_text, lambda v, g: g.matches(v)))
    for name, compile_, coerce, test in strings:
        ops.append(Operator(name, compile_, coerce, test, variables=True))
        ops.append(Operator(name.replace("String", "StringNot", 1), compile_, coerce, test,
                            negated=True, variables=True))
    relations = {"Equals": operator.eq, "LessThan": operator.lt, "LessThanEquals": operator.le,
                 "GreaterThan": operator.gt, "GreaterThanEquals": operator.ge}
    for family, reader in (("Numeric", _as_number), ("Date", _as_date)):
        ops.extend(Operator(family + rel, _strict(reader), reader, test) for rel, test in relations.items())
        ops.append(Operator(family + "NotEquals", _strict(reader), reader, operator.eq, negated=True))
    ops.append(Operator("Bool", _strict(_as_bool), _as_bool, operator.eq))
    ops.append(Operator("BinaryEquals", _strict(_as_bytes), _as_bytes, operator.eq))
    ops.append(Operator("IpAddress", _compile_network, _as_ip, _in_network))
    ops.append(Operator("NotIpAddress", _compile_network, _as_ip, _in_network, negated=True))
    for name in ("ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"):   # Equals == Like in IAM
        ops.append(Operator(name, lambda s: compile_arn_pattern(tuple(s)), _as_arn,
                            lambda v, p: p.matches(v), negated="Not" in name, variables=True))
    return {op.name: op for op in ops}


OPERATORS: Final[Mapping[str, Operator]] = _build_table()


# --- policy variables -------------------------------------------------------------------------

@dataclass(frozen=True)
class Variable:
    key: str | None          # lower-case context key; None when the ${...} body is malformed
    default: str | None


Part = Segment | Variable
_VAR_RE = re.compile(r"\$\{([^}]*)\}")
_BODY_RE = re.compile(r"\s*([^,'\s](?:[^,']*[^,'\s])?)\s*(?:,\s*'((?:[^']|'')*)'\s*)?")


@dataclass(frozen=True)
class Template:
    """A policy string cut into wild text, literal text and variables."""

    parts: tuple[Part, ...]

    @property
    def is_static(self) -> bool:
        return not any(isinstance(p, Variable) for p in self.parts)

    def segments(self) -> tuple[Segment, ...]:
        return tuple(p for p in self.parts if not isinstance(p, Variable))

    @property
    def keys(self) -> frozenset[str]:
        """The (lower-case) context keys the variables read."""
        return frozenset(p.key for p in self.parts if isinstance(p, Variable) and p.key is not None)

    def placeholder(self) -> tuple[Segment, ...]:
        """Every variable replaced by "x": enough to check a pattern's shape at parse time."""
        return tuple(("x", False) if isinstance(p, Variable) else p for p in self.parts)

    def resolve(self, keys: Mapping[str, object]) -> tuple[Segment, ...] | None:
        """Substitute from lower-cased context keys; None when a variable cannot be resolved."""
        out: list[Segment] = []
        for part in self.parts:
            if isinstance(part, Variable):
                text = _variable_text(part, keys)
                if text is None:
                    return None
                out.append((text, False))
            else:
                out.append(part)
        return tuple(out)


def _variable_text(var: Variable, keys: Mapping[str, object]) -> str | None:
    raw = None if var.key is None else keys.get(var.key)
    text = BAD if raw is None or isinstance(raw, _MULTI) else as_text(raw)
    return var.default if isinstance(text, _Bad) else text


def parse_template(text: str, *, variables: bool) -> Template:
    if not variables or "${" not in text:
        return Template(((text, True),))
    parts: list[Part] = []
    pos = 0
    for m in _VAR_RE.finditer(text):
        if m.start() > pos:
            parts.append((text[pos:m.start()], True))
        body = m.group(1)
        if body in ("*", "?", "$"):
            parts.append((body, False))
        else:
            b = _BODY_RE.fullmatch(body)
            default = None if b is None or b.group(2) is None else b.group(2).replace("''", "'")
            parts.append(Variable(b.group(1).lower() if b else None, default))
        pos = m.end()
    if pos < len(text):
        parts.append((text[pos:], True))
    return Template(tuple(parts))


@functools.lru_cache(maxsize=4096)
def _compile_resolved(op_name: str, segments: tuple[Segment, ...]) -> Any:
    try:
        return OPERATORS[op_name].compile(segments)
    except (ValueError, ArithmeticError):
        return BAD


# --- one Condition entry: operator + key + values -----------------------------------------------

@dataclass(frozen=True)
class Condition:
    operator: str                    # as written, e.g. "ForAnyValue:StringLikeIfExists"
    key: str                         # lower-case
    op: Operator | None              # None for Null
    qualifier: str | None = None     # FOR_ALL | FOR_ANY | None
    if_exists: bool = False
    static: tuple[Any, ...] = ()     # compiled policy values
    dynamic: tuple[Template, ...] = ()
    null_expect: frozenset[bool] = frozenset()   # Null only: True means "expects the key absent"

    @property
    def reads(self) -> frozenset[str]:
        """Every (lower-case) context key deciding this entry can read: its key and its variables."""
        return frozenset({self.key}).union(*(t.keys for t in self.dynamic))

    def holds(self, keys: Mapping[str, object]) -> bool:
        """Decide this entry against lower-cased request keys."""
        raw = keys.get(self.key)
        values = None if raw is None else (tuple(raw) if isinstance(raw, _MULTI) else (raw,))
        op = self.op
        if op is None:
            return (not values) in self.null_expect
        if not values:
            if self.qualifier is not None:
                return self.qualifier == FOR_ALL
            return self.if_exists or op.negated
        if self.qualifier is None and isinstance(raw, _MULTI):
            return False
        policy = self._policy_values(op, keys)
        results = (_test_one(op, v, policy) for v in values)
        return any(results) if self.qualifier == FOR_ANY else all(results)

    def _policy_values(self, op: Operator, keys: Mapping[str, object]) -> tuple[Any, ...]:
        if not self.dynamic:
            return self.static
        resolved = (t.resolve(keys) for t in self.dynamic)
        compiled = (_compile_resolved(op.name, s) for s in resolved if s is not None)
        return self.static + tuple(c for c in compiled if not isinstance(c, _Bad))


def _test_one(op: Operator, value: object, policy: tuple[Any, ...]) -> bool:
    """One request value against the OR'ed (NOR'ed when negated) policy values."""
    request = op.coerce(value)
    if isinstance(request, _Bad):
        return False
    hit = any(op.test(request, p) for p in policy)
    return hit != op.negated


# --- parsing the Condition element --------------------------------------------------------------

_KEY_RE = re.compile(r"[A-Za-z0-9-]+:.+", re.DOTALL)


def split_operator(name: str) -> tuple[str | None, str, bool] | None:
    """'ForAnyValue:StringLikeIfExists' -> ('ForAnyValue', 'StringLike', True); None if unknown."""
    qualifier = None
    for q in (FOR_ALL, FOR_ANY):
        if name.startswith(q + ":"):
            qualifier, name = q, name[len(q) + 1:]
            break
    if_exists = name.endswith("IfExists")
    base = name[:-len("IfExists")] if if_exists else name
    if base == NULL:
        return None if qualifier or if_exists else (None, NULL, False)
    return (qualifier, base, if_exists) if base in OPERATORS else None


def _scalar(value: object) -> str | None:
    if isinstance(value, (str, bool, int, float)):
        text = as_text(value)
        return None if isinstance(text, _Bad) else text
    return None


def _policy_strings(value: object) -> list[str]:
    items = value if isinstance(value, list) else [value]
    texts = [_scalar(v) for v in items]
    if not texts or any(t is None for t in texts):
        raise MalformedPolicy(SYNTAX_ERROR)
    return texts  # type: ignore[return-value]


def _parse_entry(name: str, split: tuple[str | None, str, bool], key: object, value: object,
                 *, variables: bool) -> Condition:
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise MalformedPolicy(VENDOR_ERROR)
    qualifier, base, if_exists = split
    texts = _policy_strings(value)
    if base == NULL:
        if any(t.lower() not in ("true", "false") for t in texts):
            raise MalformedPolicy(f"Null condition on {key} must be true or false")
        return Condition(name, key.lower(), None, null_expect=frozenset(t.lower() == "true" for t in texts))
    op = OPERATORS[base]
    templates = [parse_template(t, variables=variables and op.variables) for t in texts]
    try:
        static = tuple(op.compile(t.segments()) for t in templates if t.is_static)
    except (ValueError, ArithmeticError):
        raise MalformedPolicy(f"Invalid value for condition {name} on key {key}") from None
    dynamic = tuple(t for t in templates if not t.is_static)
    return Condition(name, key.lower(), op, qualifier, if_exists, static, dynamic)


def parse_conditions(raw: object, *, variables: bool) -> tuple[Condition, ...]:
    """The statement's Condition element -> its entries (all must hold). Raises MalformedPolicy."""
    if not isinstance(raw, dict):
        raise MalformedPolicy(SYNTAX_ERROR)
    entries: list[Condition] = []
    for name, block in raw.items():
        split = split_operator(name)
        if split is None:
            raise MalformedPolicy(f"Invalid Condition type : {name}")
        if not isinstance(block, dict):
            raise MalformedPolicy(SYNTAX_ERROR)
        entries.extend(_parse_entry(name, split, k, v, variables=variables) for k, v in block.items())
    return tuple(entries)
