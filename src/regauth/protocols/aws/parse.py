"""Request side of the AWS wire: HttpRequest -> (operation name, params), checked per the model.

Params are keyed by member names exactly as botocore uses them (`{"domain": "d",
"durationSeconds": 900}`), converted per shape (ints, booleans, aware-UTC datetimes, bytes,
lists, maps, nested structures). Unknown members are ignored, as AWS does.

Type errors are CANNOT_PARSE here; every constraint botocore leaves to the server (required, min
AND max, pattern, enum) is checked by `ServiceSpec.violations` and raised here with the AWS
wording: `1 validation error detected: Value 'x' at 'domain' failed to satisfy constraint: ...`.

The query string is read as the SigV4 verifier reads it (%XX escapes only, '+' is a plus), a
form-encoded body as a form ('+' is a space). A parameter read as one value may be given once: the
canonical query is sorted, so the order of a key's values is not signed (query protocol: any key,
query string and body together; rest-json: the querystring members that are not lists).

Only regauth errors leave this module: Unparseable (CANNOT_PARSE), InvalidInput (FIELD_VALIDATION_FAILED),
MissingParameter, UnknownOperation.

Speed: per operation, a `_Plan` is built once from the model (member tables and a compiled
validity predicate: True exactly when `ServiceSpec.violations` finds nothing, so the checker runs
only to word errors), and rest-json routes are memoised by (method, path) when no route has
literal query parts (then the query cannot change the match).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote

from regauth.auth.canonical import HttpRequest
from regauth.errors import InvalidInput, MissingAction, MissingParameter, UnknownOperation, Unparseable

from .models import ServiceSpec, lower_camel as _lc
from .shapes import OperationModel, ServiceModel, Shape

_INT_RANGE = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_INT_TEXT = re.compile(r"[+-]?[0-9]{1,20}")
_INDEX = re.compile(r"[0-9]{1,9}")
_ECHO_MAX = 128          # operation names / paths echoed in UnknownOperation messages
_ROUTES_MAX = 1024       # memoised (method, path) -> route per service


def _cannot_parse(field: str, what: str) -> Unparseable:
    return Unparseable(f"Cannot parse the value at '{field}': expected {what}", field=field)


def parse_request(spec: ServiceSpec, req: HttpRequest) -> tuple[str, dict[str, Any]]:
    try:
        if spec.protocol == "query":
            plan, params = _parse_query_protocol(spec, req)
        elif spec.protocol == "json":
            plan, params = _parse_json_protocol(spec, req)
        elif spec.protocol == "rest-json":
            plan, params = _parse_rest_json(spec, req)
        else:   # pragma: no cover - the five models use only these three
            raise UnknownOperation(f"Unsupported protocol {spec.protocol}")
    except RecursionError:
        raise Unparseable("The request is nested too deeply") from None
    if not plan.valid(params):
        _raise_violations(*spec.counted_violations(plan.op.input_shape, params, lower_camel=spec.protocol == "query"))
    return plan.op.name, params


def _raise_violations(found: list[tuple[str, str, bool]], n: int) -> None:
    """AWS wording: `N validation error(s) detected: <e1>; <e2>`; only-nulls -> MissingParameter.
    `found` lists the first few of the `n` (models.MAX_LISTED)."""
    if not found:
        return
    more = f"; and {n - len(found)} more" if n > len(found) else ""
    message = (f"{n} validation error{'s' if n > 1 else ''} detected: "
               + "; ".join(text for _, text, _ in found) + more)
    if all(is_null for _, _, is_null in found):
        raise MissingParameter(message, field=found[0][0])
    raise InvalidInput(message, field=found[0][0], reason="FIELD_VALIDATION_FAILED")


# --- per-operation plans -------------------------------------------------------------------------

class _Plan:
    """One operation's input, precomputed: member table and the validity predicate. `flat`: every
    member is a scalar (query protocol: no need for the tree of dotted keys)."""

    __slots__ = ("op", "valid", "members", "payload", "flat")

    def __init__(self, spec: ServiceSpec, op: OperationModel) -> None:
        shape = op.input_shape
        self.op = op
        self.valid = _validator(spec, shape) if shape is not None else _always
        self.payload = shape.serialization.get("payload") if shape is not None else None
        self.members = tuple((name, member, member.serialization.get("location"),
                              member.serialization.get("name", name))
                             for name, member in (shape.members.items() if shape is not None else ()))
        self.flat = all(m.type_name not in ("structure", "list", "map") for _, m, _, _ in self.members)


class _Tables:
    """Per service model: plans by operation name; rest-json routes by (method, path) when no
    requestUri has a literal query part."""

    __slots__ = ("plans", "routes", "route_by_path")

    def __init__(self, model: ServiceModel) -> None:
        self.plans: dict[str, _Plan] = {}
        self.routes: dict[tuple[str, str], tuple[_Plan, dict[str, str]]] = {}
        self.route_by_path = model.metadata.get("protocol") == "rest-json" and not any(
            "?" in model.operation_model(n).http.get("requestUri", "") for n in model.operation_names)


def _tables(spec: ServiceSpec) -> _Tables:
    """The model's tables, kept in the model's own `__dict__` (they live and die with it; a weak-key
    dictionary made a weak reference per lookup)."""
    attrs = spec.model.__dict__
    tables = attrs.get("_regauth_parse_tables")
    if tables is None:
        tables = attrs.setdefault("_regauth_parse_tables", _Tables(spec.model))
    return tables


def _plan(spec: ServiceSpec, name: str) -> _Plan | None:
    """The plan of the operation named exactly `name`, or None."""
    plans = _tables(spec).plans
    plan = plans.get(name)
    if plan is None:
        op = spec.operation(name)
        if op is None:
            return None
        plan = plans[name] = _Plan(spec, op)
    return plan


def _route(spec: ServiceSpec, req: HttpRequest, query: dict[str, list[str]]) -> tuple[_Plan, dict[str, str]]:
    """rest-json: the plan and uri labels of the operation the request addresses (`spec.route`)."""
    tables = _tables(spec)
    key = (req.method, req.path)
    found = tables.routes.get(key) if tables.route_by_path else None
    if found is None:
        route = spec.route(req.method, req.path, query)
        plan = _plan(spec, route[0].name) if route is not None else None
        if route is None or plan is None:
            raise UnknownOperation(f"No operation matches {req.method[:16]} {req.path[:_ECHO_MAX]}", field="path")
        found = (plan, route[1])
        if tables.route_by_path:
            if len(tables.routes) >= _ROUTES_MAX:
                tables.routes = {}
            tables.routes[key] = found
    return found


# --- compiled validity predicates -------------------------------------------------------------------
# `_validator(spec, shape)(value)` is True exactly when `spec.violations(shape, value)` is empty, for
# values as this module converts them (a structure is a dict without None values, lists and maps
# may hold None). It mirrors models._Checker and models.scalar_violations; tests compare the two.

def _always(value: Any) -> bool:
    return True


def _validator(spec: ServiceSpec, shape: Shape, outer: frozenset[str] = frozenset()) -> Callable[[Any], bool]:
    if shape.name in outer:         # a recursive shape: its own subtree is left to the checker
        return lambda value: not spec.violations(shape, value)
    t, meta, outer = shape.type_name, shape.metadata, outer | {shape.name}
    if t == "structure":
        members = tuple((name, name in shape.required_members, _validator(spec, member, outer))
                        for name, member in shape.members.items())

        def structure(value: Any) -> bool:
            for name, required, ok in members:
                if name in value:
                    if not ok(value[name]):
                        return False
                elif required:
                    return False
            return True
        return structure
    lo, hi = meta.get("min"), meta.get("max")
    if t == "string":
        pattern = spec.pattern(meta["pattern"]) if "pattern" in meta else None
        enum = frozenset(shape.enum) if shape.enum else None

        def string(value: Any) -> bool:
            if pattern is not None and not pattern.fullmatch(value):
                return False
            if lo is not None or hi is not None:     # Java length: UTF-16 code units
                n = len(value) if value.isascii() else len(value.encode("utf-16-le", "surrogatepass")) // 2
                if (lo is not None and n < lo) or (hi is not None and n > hi):
                    return False
            return enum is None or value in enum
        return string
    if t in ("integer", "long", "float", "double"):
        if lo is None and hi is None:
            return _always
        return lambda value: not ((lo is not None and value < lo) or (hi is not None and value > hi))
    if t not in ("list", "map", "blob"):
        return _always
    if t == "blob":
        return lambda value: not ((lo is not None and len(value) < lo) or (hi is not None and len(value) > hi))
    item = _validator(spec, shape.member if t == "list" else shape.value, outer)
    key = _validator(spec, shape.key, outer) if t == "map" else _always

    def collection(value: Any) -> bool:
        if (lo is not None and len(value) < lo) or (hi is not None and len(value) > hi):
            return False
        if t == "map":
            return all(k is not None and key(k) and v is not None and item(v) for k, v in value.items())
        return all(v is not None and item(v) for v in value)
    return collection


# --- query (STS, IAM) ----------------------------------------------------------------------------

class _Node:
    __slots__ = ("value", "children")

    def __init__(self) -> None:
        self.value: str | None = None
        self.children: dict[str, _Node] = {}


def _query_pairs(text: str) -> list[tuple[str, str]]:
    """The query string's pairs decoded as the signature verifier decodes them
    (`sigv4_canonical.query_pairs`): %XX escapes only, a '+' is a plus. Read as a form (a '+' as a
    space), `a+b` would verify as the signed `a%2Bb` and be stored as `a b`."""
    if not text:
        return []
    encoded = "%" in text           # else unquote would return its argument
    pairs = []
    for part in text.split("&"):
        if part:
            name, _, value = part.partition("=")
            if encoded:
                try:
                    name, value = unquote(name, errors="strict"), unquote(value, errors="strict")
                except UnicodeDecodeError:
                    raise Unparseable("Cannot parse the query string") from None
            pairs.append((name, value))
    return pairs


def _form_pairs(text: str) -> list[tuple[str, str]]:
    """A form-encoded body's pairs: a '+' is a space (botocore's urlencode writes a space as '+', a
    plus as %2B); the body's bytes are signed as they are, so no reading of them is unsigned."""
    if not text:
        return []
    if "%" not in text and "+" not in text:     # nothing to decode: parse_qsl's pairs, directly
        pairs = []
        for part in text.split("&"):
            if part:
                name, _, value = part.partition("=")
                pairs.append((name, value))
        return pairs
    try:
        return parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise Unparseable("Cannot parse the form-encoded parameters") from None


def _parse_query_protocol(spec: ServiceSpec, req: HttpRequest) -> tuple[_Plan, dict]:
    pairs = _query_pairs(req.query)
    if req.body:
        try:
            body = req.body.decode("utf-8")
        except UnicodeDecodeError:
            raise Unparseable("Cannot parse the request body") from None
        pairs += _form_pairs(body)
    given: dict[str, str] = {}      # each exact key's one value
    for key, value in pairs:
        given[key] = value
    if len(given) != len(pairs):    # a key given twice
        raise _given_twice(pairs)
    action_name = given.get("Action")
    if not action_name:
        raise MissingAction("The request must contain the parameter Action.", field="Action")
    version_name = given.get("Version")
    plan = _plan(spec, action_name)
    if plan is None or version_name != spec.api_version:
        raise UnknownOperation(f"Could not find operation {action_name[:_ECHO_MAX]} for version "
                               f"{(version_name or 'NO_VERSION_SPECIFIED')[:_ECHO_MAX]}",
                               field="Action" if plan is None else "Version")
    shape = plan.op.input_shape
    if not shape:
        return plan, {}
    if plan.flat:
        return plan, {name: _from_text(member, given[wire], _lc(name), "iso8601")
                      for name, member, _, wire in plan.members if wire in given}
    return plan, _from_query(shape, _tree(pairs), "", True) or {}


def _given_twice(pairs: list[tuple[str, str]]) -> Unparseable:
    """A key given more than once is refused wherever it is: the signature does not fix the order of
    a query string's values (the canonical query is sorted), so which one is 'first' is anyone's
    choice. A signed body's order is signed, but one rule is simpler to trust than two."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            break
        seen.add(key)
    count = sum(1 for k, _ in pairs if k == key)
    return _cannot_parse(key[:_ECHO_MAX], f"one value, not {count}")


def _tree(pairs: list[tuple[str, str]]) -> _Node:
    """Dotted keys (`Tags.member.1.Key`) as a tree; each node keeps the first value given for it."""
    root = _Node()
    for key, value in pairs:
        node = root
        for part in key.split("."):
            child = node.children.get(part)
            if child is None:
                child = node.children[part] = _Node()
            node = child
        if node.value is None:
            node.value = value
    return root


def _from_query(shape: Shape, node: _Node, path: str, top: bool = False) -> Any:
    t = shape.type_name
    if t == "structure":
        out = {}
        for name, member in shape.members.items():
            child = node.children.get(member.serialization.get("name", name))
            if child is not None:
                field = _lc(name) if top else f"{path}.{_lc(name)}"
                value = _from_query(member, child, field)
                if value is not None:
                    out[name] = value
        return out
    if t in ("list", "map"):
        if not node.children:
            if node.value in ("", None):
                return [] if t == "list" else {}
            raise _cannot_parse(path, t)
        if t == "list":
            items = node if shape.serialization.get("flattened") else \
                node.children.get(shape.member.serialization.get("name", "member"), _Node())
            return [_from_query(shape.member, child, f"{path}.{i}.member") for i, child in _indexed(items)]
        entries = node if shape.serialization.get("flattened") else node.children.get("entry", _Node())
        kname = shape.key.serialization.get("name", "key")
        vname = shape.value.serialization.get("name", "value")
        out = {}
        for i, entry in _indexed(entries):
            k, v = entry.children.get(kname), entry.children.get(vname)
            if k is None or k.value is None:
                raise _cannot_parse(f"{path}.entry.{i}.key", "a map key")
            out[k.value] = _from_query(shape.value, v, f"{path}.{k.value}") if v is not None else None
        return out
    if node.value is None:
        return None
    return _from_text(shape, node.value, path, "iso8601")


def _indexed(node: _Node) -> list[tuple[int, _Node]]:
    return sorted((int(k), c) for k, c in node.children.items() if _INDEX.fullmatch(k))


# --- json (ECR, ECR Public) ------------------------------------------------------------------------

def _parse_json_protocol(spec: ServiceSpec, req: HttpRequest) -> tuple[_Plan, dict]:
    if req.method != "POST":    # every operation of these protocols is a POST (to /, or an endpoint's prefix)
        raise UnknownOperation(f"Operations are POST requests, not {req.method[:16]}", field="X-Amz-Target")
    target = req.header("X-Amz-Target") or ""
    prefix, dot, name = target.rpartition(".")
    plan = _plan(spec, name) if dot and prefix == spec.target_prefix else None
    if plan is None:
        raise UnknownOperation(f"Unknown operation {target[:_ECHO_MAX]!r}" if target
                               else "Missing X-Amz-Target header", field="X-Amz-Target")
    body = _json_body(req.body)
    shape = plan.op.input_shape
    return plan, (_from_json(shape, body, "", True) if shape else {})


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


# json.loads(body, parse_constant=...) builds a decoder per call; this is the same decoder, once
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _json_body(body: bytes) -> dict:
    if body == b"{}":           # what SDKs send for an operation without parameters
        return {}
    if not body.strip():
        return {}
    try:
        value = _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise Unparseable("Cannot parse the request body as a JSON object", field="body")
    return value


def _from_json(shape: Shape, value: Any, path: str, top: bool = False) -> Any:
    if value is None:
        return None
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            raise _cannot_parse(path or "body", "an object")
        out = {}
        for name, member in shape.members.items():
            raw = value.get(member.serialization.get("name", name))
            if raw is not None:
                out[name] = _from_json(member, raw, name if top else f"{path}.{name}")
        return out
    if t == "list":
        if not isinstance(value, list):
            raise _cannot_parse(path, "a list")
        return [_from_json(shape.member, v, f"{path}.{i}.member") for i, v in enumerate(value, 1)]
    if t == "map":
        if not isinstance(value, dict):
            raise _cannot_parse(path, "a map")
        return {_string(k, path): _from_json(shape.value, v, f"{path}.{k}") for k, v in value.items()}
    if t == "string":
        if not isinstance(value, str):
            raise _cannot_parse(path, "a string")
        return _string(value, path)
    if t in ("integer", "long"):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise _cannot_parse(path, t)
        return _in_range(value, t, path)
    if t in ("float", "double"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _cannot_parse(path, t)
        return float(value)
    if t == "boolean":
        if not isinstance(value, bool):
            raise _cannot_parse(path, "a boolean")
        return value
    if t == "timestamp" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return _epoch(value, path)
    if t in ("timestamp", "blob") and isinstance(value, str):
        return _from_text(shape, value, path, "unixtimestamp")
    raise _cannot_parse(path, t)


# --- rest-json (CodeArtifact) --------------------------------------------------------------------

def _rest_query(raw: str) -> dict[str, list[str]]:
    """Decoded as `_query_pairs` decodes, straight into lists: going through its pairs cost 0.5 % of a
    CodeArtifact token request's instructions."""
    out: dict[str, list[str]] = {}
    encoded = "%" in raw            # else unquote would return its argument
    for part in raw.split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        if encoded:
            try:
                k, v = unquote(k, errors="strict"), unquote(v, errors="strict")
            except UnicodeDecodeError:
                raise Unparseable("Cannot parse the query string") from None
        out.setdefault(k, []).append(v)
    return out


def _parse_rest_json(spec: ServiceSpec, req: HttpRequest) -> tuple[_Plan, dict]:
    """Members from uri labels, querystring (scalars, lists), headers (scalars) and the body.

    Querystring maps and `headers` prefix maps are not supported: none of CodeArtifact's inputs
    use them (they are ignored, like unknown members)."""
    query = _rest_query(req.query)
    plan, labels = _route(spec, req, query)
    params: dict[str, Any] = {}
    payload = plan.payload
    body_members = {}
    for name, member, loc, wire in plan.members:
        value: Any = None
        if loc == "querystring":
            values = query.get(wire)
            if values and member.type_name == "list":
                value = [_from_text(member.member, v, f"{name}.{i}.member", "iso8601")
                         for i, v in enumerate(values, 1)]
            elif values and member.type_name != "map":
                if len(values) > 1:     # the signature does not fix their order: which is first is unsigned
                    raise _cannot_parse(name, f"one '{wire}' parameter, not {len(values)}")
                value = _from_text(member, values[0], name, "iso8601")
        elif loc == "uri":
            if wire in labels:
                value = _from_text(member, labels[wire], name, "iso8601")
        elif loc == "header":
            if req.header(wire) is not None and member.type_name != "list":
                value = _from_text(member, req.header(wire) or "", name, "rfc822")
        elif loc is None:
            if name == payload:
                value = _payload(member, req.body, name)
            elif payload is None:
                body_members[name] = member
        if value is not None:
            params[name] = value
    if body_members:
        body = _json_body(req.body)
        for name, member in body_members.items():
            raw = body.get(member.serialization.get("name", name))
            if raw is not None:
                params[name] = _from_json(member, raw, name)
    return plan, params


def _payload(member: Shape, body: bytes, name: str) -> Any:
    if member.type_name == "blob":
        return body or None
    if member.type_name == "string":
        try:
            return body.decode("utf-8") or None
        except UnicodeDecodeError:
            raise _cannot_parse(name, "UTF-8 text") from None
    return _from_json(member, _json_body(body), name) if body.strip() else None


# --- scalars from text -----------------------------------------------------------------------------

def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _cannot_parse(path, "a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:           # lone surrogates from JSON "\ud800"
        raise _cannot_parse(path, "valid Unicode text") from None
    return value


def _in_range(value: int, type_name: str, path: str) -> int:
    lo, hi = _INT_RANGE[type_name]
    if not lo <= value <= hi:
        raise _cannot_parse(path, f"a {type_name} in [{lo}, {hi}]")
    return value


def _epoch(value: float, path: str) -> datetime:
    try:
        return datetime.fromtimestamp(value, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise _cannot_parse(path, "a timestamp") from None


def _from_text(shape: Shape, text: str, path: str, ts_default: str) -> Any:
    t = shape.type_name
    if t == "string":
        return _string(text, path)
    if t in ("integer", "long"):
        if not _INT_TEXT.fullmatch(text):
            raise _cannot_parse(path, t)
        return _in_range(int(text), t, path)
    if t in ("float", "double"):
        try:
            return float(text)
        except ValueError:
            raise _cannot_parse(path, t) from None
    if t == "boolean":
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise _cannot_parse(path, "true or false")
    if t == "blob":
        try:
            return base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error):
            raise _cannot_parse(path, "base64 data") from None
    if t == "timestamp":
        return _timestamp_text(text.strip(), path, shape.serialization.get("timestampFormat", ts_default))
    raise _cannot_parse(path, t)


def _timestamp_text(text: str, path: str, fmt: str) -> datetime:
    try:
        return _epoch(float(text), path)
    except ValueError:
        pass
    try:
        if fmt == "rfc822" or not text[:1].isdigit():
            value = parsedate_to_datetime(text)
        else:
            value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    except (ValueError, TypeError, IndexError, OverflowError):
        raise _cannot_parse(path, "a timestamp") from None
