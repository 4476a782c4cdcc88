"""One typed facade over botocore's service models for the five AWS dialects regauth speaks.

botocore's data files say everything about the wire (protocol, signing name, target prefix,
shapes, constraints, routes, error shapes); this module loads them ONCE per `AwsModels`
instance and precompiles what the request path needs:

* a rest-json router (method + requestUri template, `{x}` / `{x+}` labels and literal query
  parts such as `?tagging`), tolerant of an endpoint path prefix (`/prefix/v1/...`);
* every `pattern` of the five models, translated from Java regex syntax to Python `re`
  (botocore never checks patterns; the server must, see DESIGN habit 3);
* `ServiceSpec.violations`: every constraint of a shape (required, min AND max, pattern, enum)
  checked against converted params, worded as AWS words them (`parse` raises them).

Nothing here touches HTTP objects or domain errors.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable
from urllib.parse import unquote

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel, Shape

# regauth service key -> (botocore service name, xmlns for query-protocol responses)
SERVICES: dict[str, tuple[str, str | None]] = {
    "codeartifact": ("codeartifact", None),
    "ecr": ("ecr", None),
    "ecr-public": ("ecr-public", None),
    "sts": ("sts", "https://sts.amazonaws.com/doc/2011-06-15/"),
    "iam": ("iam", "https://iam.amazonaws.com/doc/2010-05-08/"),
}


# --- Java regex -> Python re ---------------------------------------------------------------------
# The five models use Java syntax that `re` lacks: \p{L} \p{Z} \p{N} \p{C} \P{C} \p{IsWhitespace},
# and `\u10000-\u10FFFF` (meant as the supplementary planes; Java itself would read `\u1000` `0`,
# we follow the evident intent). Java's \w \d \s are ASCII-only, hence re.ASCII.

_JAVA_WHITESPACE = [(0x09, 0x0D), (0x20, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680),
                    (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F),
                    (0x3000, 0x3000)]


@lru_cache(maxsize=1)
def _category_ranges() -> dict[str, list[tuple[int, int]]]:
    """Code point ranges per major Unicode category letter (L, N, Z, C, ...). ~0.3 s, once."""
    out: dict[str, list[tuple[int, int]]] = {}
    start, current = 0, unicodedata.category("\x00")[0]
    for cp in range(1, 0x110000):
        cat = unicodedata.category(chr(cp))[0]
        if cat != current:
            out.setdefault(current, []).append((start, cp - 1))
            start, current = cp, cat
    out.setdefault(current, []).append((start, 0x10FFFF))
    return out


def _complement(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out, nxt = [], 0
    for lo, hi in sorted(ranges):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = max(nxt, hi + 1)
    if nxt <= 0x10FFFF:
        out.append((nxt, 0x10FFFF))
    return out


def _class_ranges(name: str, negated: bool) -> list[tuple[int, int]]:
    if name == "IsWhitespace":
        ranges = list(_JAVA_WHITESPACE)
    elif name in ("L", "N", "Z", "C", "M", "P", "S"):
        ranges = list(_category_ranges()[name])
    else:
        raise ValueError(f"unsupported Java character class \\p{{{name}}}")
    return _complement(ranges) if negated else ranges


def _render_ranges(ranges: Iterable[tuple[int, int]]) -> str:
    return "".join(f"\\U{lo:08X}" if lo == hi else f"\\U{lo:08X}-\\U{hi:08X}" for lo, hi in ranges)


_PROP = re.compile(r"\\([pP])\{(\w+)\}")


def java_regex_to_python(pattern: str) -> str:
    """Translate the Java-regex constructs found in the AWS models into Python `re` syntax."""
    pattern = pattern.replace("\\u10000-\\u10FFFF", "\\U00010000-\\U0010FFFF")
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        m = _PROP.match(pattern, i) if ch == "\\" else None
        if m:
            ranges = _render_ranges(_class_ranges(m.group(2), m.group(1) == "P"))
            out.append(ranges if in_class else f"[{ranges}]")
            i = m.end()
            continue
        if ch == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
            out.append(ch)
            if pattern.startswith("^", i + 1):
                out.append("^")
                i += 1
            if pattern.startswith("]", i + 1):  # a literal ']' first in a class
                out.append("\\]")
                i += 1
        elif ch == "]" and in_class:
            in_class = False
            out.append(ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


# Model patterns whose literal form backtracks exponentially in a backtracking engine, each with an
# equivalent linear form (equivalence is checked by brute force in tests/protocols).
# ECR ScanningRepositoryFilterValue: `(?:X?A+)*` with X ⊇ A is `(A|SA)*`.
LINEAR_EQUIVALENTS: dict[str, str] = {
    r"^[a-z0-9*](?:[._\-/a-z0-9*]?[a-z0-9*]+)*$": r"^[a-z0-9*](?:[._\-/]?[a-z0-9*])*$",
}


def compile_java_pattern(pattern: str) -> re.Pattern[str]:
    """Compiled so that `.fullmatch` is the check AWS makes (the whole value must match)."""
    source = LINEAR_EQUIVALENTS.get(pattern, pattern)
    return re.compile(f"(?:{java_regex_to_python(source)})", re.ASCII)


# --- rest-json routing -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    method: str
    operation: str
    regex: re.Pattern[str]                      # over the raw (still %-encoded) path
    labels: tuple[str, ...]                     # label names in template order
    query_literals: tuple[tuple[str, str | None], ...]   # "?foo" / "?foo=bar" parts of requestUri
    specificity: tuple[int, int, int]


def _compile_route(method: str, operation: str, request_uri: str) -> Route:
    path, _, query = request_uri.partition("?")
    literals = []
    for part in filter(None, query.split("&")):
        k, eq, v = part.partition("=")
        literals.append((k, v if eq else None))
    regex, labels, literal_chars, greedy = ["^"], [], 0, 0
    for token in re.split(r"(\{[^}]+\})", path):
        if token.startswith("{") and token.endswith("}"):
            name = token[1:-1]
            if name.endswith("+"):
                greedy += 1
                labels.append(name[:-1])
                regex.append(r"(.+)")
            else:
                labels.append(name)
                regex.append(r"([^/]+)")
        else:
            literal_chars += len(token)
            regex.append(re.escape(token))
    regex.append("$")
    return Route(method, operation, re.compile("".join(regex)), tuple(labels), tuple(literals),
                 (literal_chars, len(literals), -greedy))


def _query_has(query: dict[str, list[str]], literals: tuple[tuple[str, str | None], ...]) -> bool:
    for key, value in literals:
        if key not in query or (value is not None and value not in query[key]):
            return False
    return True


# --- constraints ------------------------------------------------------------------------------

def lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:]


class _Checker:
    def __init__(self, spec: "ServiceSpec", lc: bool) -> None:
        self.spec, self.lc = spec, lc
        self.errors: list[tuple[str, str, bool]] = []

    def _add(self, field: str, value: Any, sensitive: bool, constraint: str) -> None:
        shown = "null" if value is None else "'***'" if sensitive else f"'{_plain(value)}'"
        self.errors.append((field, f"Value {shown} at '{field}' failed to satisfy constraint: {constraint}",
                            value is None))

    def value(self, shape: Shape, value: Any, path: str, sensitive: bool) -> None:
        sensitive = sensitive or bool(shape.metadata.get("sensitive"))
        if shape.type_name == "structure":
            for name, member in shape.members.items():
                label = lower_camel(name) if self.lc else name
                fld = f"{path}.{label}" if path else label
                if name in value:
                    self.value(member, value[name], fld, sensitive)
                elif name in shape.required_members:
                    self._add(fld, None, False, "Member must not be null")
            return
        for constraint in scalar_violations(self.spec, shape, value):
            self._add(path, value, sensitive or _has_sensitive(shape), constraint)
        if shape.type_name == "list":
            self._items(shape.member, list(enumerate(value, 1)), path, sensitive, "Member", value)
        elif shape.type_name == "map":
            self._items(shape.key, [(k, k) for k in value], path, sensitive, "Map keys", value, fold=True)
            self._items(shape.value, list(value.items()), path, sensitive, "Map value", value)

    def _items(self, shape: Shape, items: list, path: str, sensitive: bool, label: str, whole: Any,
               fold: bool = False) -> None:
        if shape.type_name in ("structure", "list", "map") and not fold:
            for key, item in items:
                fld = f"{path}.{key}.member" if label == "Member" else f"{path}.{key}"
                if item is None:
                    self._add(fld, None, False, "Member must not be null")
                else:
                    self.value(shape, item, fld, sensitive)
            return
        folded: list[str] = []
        for _, item in items:
            found = ["Member must not be null"] if item is None else scalar_violations(self.spec, shape, item)
            folded += [c for c in found if c not in folded]
        if folded:
            self._add(path, whole, sensitive or _has_sensitive(shape),
                      f"{label} must satisfy constraint: [{', '.join(folded)}]")


def scalar_violations(spec: "ServiceSpec", shape: Shape, value: Any) -> list[str]:
    """Constraint texts for one value; AWS order: pattern, min, max, enum. Lengths count UTF-16
    code units, as Java's String.length() does."""
    meta, t, out = shape.metadata, shape.type_name, []
    if t == "string":
        if "pattern" in meta and not spec.pattern(meta["pattern"]).fullmatch(value):
            out.append(f"Member must satisfy regular expression pattern: {meta['pattern']}")
        size, kind = len(value.encode("utf-16-le", "surrogatepass")) // 2, "length"
    elif t in ("list", "map", "blob"):
        size, kind = len(value), "length"
    elif t in ("integer", "long", "float", "double"):
        size, kind = value, "value"
    else:
        return out
    if "min" in meta and size < meta["min"]:
        out.append(f"Member must have {kind} greater than or equal to {_num(meta['min'])}")
    if "max" in meta and size > meta["max"]:
        out.append(f"Member must have {kind} less than or equal to {_num(meta['max'])}")
    if t == "string" and shape.enum and value not in shape.enum:
        out.append(f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
    return out


def _num(n: Any) -> str:
    return str(int(n)) if isinstance(n, float) and n.is_integer() else str(n)


def _has_sensitive(shape: Shape, seen: set[str] | None = None) -> bool:
    seen = set() if seen is None else seen
    if shape.metadata.get("sensitive"):
        return True
    if shape.name in seen:
        return False
    seen.add(shape.name)
    return any(_has_sensitive(c, seen) for c in _children(shape))


def _children(shape: Shape) -> list[Shape]:
    if shape.type_name == "structure":
        return list(shape.members.values())
    if shape.type_name == "list":
        return [shape.member]
    return [shape.key, shape.value] if shape.type_name == "map" else []


def _plain(value: Any) -> str:
    """Java-ish toString for error messages: [a, b], {k=v}, true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_plain(v)}" for k, v in value.items()) + "}"
    return "null" if value is None else str(value)


# --- the per-service spec ------------------------------------------------------------------------

@dataclass
class ServiceSpec:
    key: str
    model: ServiceModel
    protocol: str
    signing_name: str
    target_prefix: str | None
    xmlns: str | None
    api_version: str
    _patterns: dict[str, re.Pattern[str]] = field(default_factory=dict, repr=False)
    _routes: dict[str, list[Route]] = field(default_factory=dict, repr=False)
    _errors: dict[str, Shape] = field(default_factory=dict, repr=False)

    @property
    def operation_names(self) -> list[str]:
        return list(self.model.operation_names)

    def operation(self, name: str) -> OperationModel | None:
        """Operation by exact name, or None (never raises)."""
        if name in self._op_names:
            return self.model.operation_model(name)
        return None

    def pattern(self, java_pattern: str) -> re.Pattern[str]:
        compiled = self._patterns.get(java_pattern)
        if compiled is None:   # not in the model (cannot happen for model shapes); compile once
            compiled = self._patterns[java_pattern] = compile_java_pattern(java_pattern)
        return compiled

    def violations(self, shape: Shape | None, params: dict[str, Any],
                   lower_camel: bool = False) -> list[tuple[str, str, bool]]:
        """(field, AWS-worded error, is-a-missing-required) for every constraint `params` break.

        Field paths use member names (lowerCamel for the query protocol, as STS/IAM print them),
        list elements `tags.1.member.key`; violations by scalar list elements are folded into one
        error at the list (`Member must satisfy constraint: [...]`). Sensitive values show `'***'`.
        """
        checker = _Checker(self, lower_camel)
        if shape is not None:
            checker.value(shape, params, "", False)
        return checker.errors

    def error_shape(self, code: str) -> Shape | None:
        """The modeled error shape whose wire code (or shape name) is `code`."""
        return self._errors.get(code)

    def route(self, method: str, raw_path: str,
              query: dict[str, list[str]]) -> tuple[OperationModel, dict[str, str]] | None:
        """rest-json: (operation, decoded uri labels) for method + raw path, or None.

        An endpoint path prefix is tolerated: leading segments are dropped one at a time and the
        first suffix that matches a route wins (so an exact match always beats a prefixed one).
        """
        routes = self._routes.get(method.upper())
        if not routes:
            return None
        path = raw_path or "/"
        segments = path.split("/")
        for k in range(1, max(len(segments), 2)):
            candidate = "/" + "/".join(segments[k:])
            for route in routes:
                m = route.regex.match(candidate)
                if m and _query_has(query, route.query_literals):
                    try:
                        labels = {n: unquote(v, errors="strict") for n, v in zip(route.labels, m.groups())}
                    except UnicodeDecodeError:
                        continue
                    return self.model.operation_model(route.operation), labels
        return None

    # built by AwsModels
    _op_names: frozenset[str] = field(default_factory=frozenset, repr=False)


def _walk_patterns(shape: Shape, seen: set[str], out: set[str]) -> None:
    if shape.name not in seen:
        seen.add(shape.name)
        if "pattern" in shape.metadata:
            out.add(shape.metadata["pattern"])
        for child in _children(shape):
            _walk_patterns(child, seen, out)


class AwsModels:
    """Loads the five service models once; `spec(key)` is cheap afterwards."""

    def __init__(self, loader: Loader | None = None, services: Iterable[str] = SERVICES) -> None:
        loader = loader or Loader()
        self._specs: dict[str, ServiceSpec] = {}
        compiled: dict[str, re.Pattern[str]] = {}
        for key in services:
            botocore_name, xmlns = SERVICES[key]
            model = ServiceModel(loader.load_service_model(botocore_name, "service-2"), botocore_name)
            meta = model.metadata
            spec = ServiceSpec(
                key=key, model=model, protocol=meta["protocol"],
                signing_name=meta.get("signingName") or meta.get("endpointPrefix") or botocore_name,
                target_prefix=meta.get("targetPrefix"), xmlns=xmlns, api_version=meta["apiVersion"],
                _patterns=compiled, _op_names=frozenset(model.operation_names))
            seen: set[str] = set()
            patterns: set[str] = set()
            for name in model.operation_names:
                op = model.operation_model(name)
                if op.input_shape is not None:
                    _walk_patterns(op.input_shape, seen, patterns)
                if spec.protocol == "rest-json":
                    http = op.http
                    spec._routes.setdefault(http["method"].upper(), []).append(
                        _compile_route(http["method"].upper(), name, http["requestUri"]))
            for routes in spec._routes.values():
                routes.sort(key=lambda r: r.specificity, reverse=True)
            for p in patterns:
                if p not in compiled:
                    compiled[p] = compile_java_pattern(p)
            for shape in model.error_shapes:
                spec._errors[shape.name] = shape
                spec._errors[shape.error_code or shape.name] = shape
            self._specs[key] = spec

    def spec(self, key: str) -> ServiceSpec:
        return self._specs[key]

    def __getitem__(self, key: str) -> ServiceSpec:
        return self._specs[key]

    def keys(self) -> list[str]:
        return list(self._specs)
