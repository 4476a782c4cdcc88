# Frozen copy of src/regauth/protocols/aws/parse.py before per-operation plans (test oracle only).
"""Request side of the AWS wire: HttpRequest -> (operation name, params), checked per the model.

Params are keyed by member names exactly as botocore uses them (`{"domain": "d",
"durationSeconds": 900}`), converted per shape (ints, booleans, aware-UTC datetimes, bytes,
lists, maps, nested structures). Unknown members are ignored, as AWS does.

Type errors are CANNOT_PARSE here; every constraint botocore leaves to the server (required, min
AND max, pattern, enum) is checked by `ServiceSpec.violations` and raised here with the AWS
wording: `1 validation error detected: Value 'x' at 'domain' failed to satisfy constraint: ...`.

Only regauth errors leave this module: Unparseable (CANNOT_PARSE), InvalidInput (FIELD_VALIDATION_FAILED),
MissingParameter, UnknownOperation.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from botocore.model import OperationModel, Shape

from regauth.auth.canonical import HttpRequest
from regauth.errors import InvalidInput, MissingAction, MissingParameter, UnknownOperation, Unparseable

from regauth.protocols.aws.models import ServiceSpec, lower_camel as _lc

_INT_RANGE = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_INT_TEXT = re.compile(r"[+-]?[0-9]{1,20}")
_INDEX = re.compile(r"[0-9]{1,9}")
_ECHO_MAX = 128          # operation names / paths echoed in UnknownOperation messages


def _cannot_parse(field: str, what: str) -> Unparseable:
    return Unparseable(f"Cannot parse the value at '{field}': expected {what}", field=field)


def parse_request(spec: ServiceSpec, req: HttpRequest) -> tuple[str, dict[str, Any]]:
    try:
        if spec.protocol == "query":
            op, params = _parse_query_protocol(spec, req)
        elif spec.protocol == "json":
            op, params = _parse_json_protocol(spec, req)
        elif spec.protocol == "rest-json":
            op, params = _parse_rest_json(spec, req)
        else:   # pragma: no cover - the five models use only these three
            raise UnknownOperation(f"Unsupported protocol {spec.protocol}")
    except RecursionError:
        raise Unparseable("The request is nested too deeply") from None
    _raise_violations(spec.violations(op.input_shape, params, lower_camel=spec.protocol == "query"))
    return op.name, params


def _raise_violations(found: list[tuple[str, str, bool]]) -> None:
    """AWS wording: `N validation error(s) detected: <e1>; <e2>`; only-nulls -> MissingParameter."""
    if not found:
        return
    n = len(found)
    message = f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(text for _, text, _ in found)
    if all(is_null for _, _, is_null in found):
        raise MissingParameter(message, field=found[0][0])
    raise InvalidInput(message, field=found[0][0], reason="FIELD_VALIDATION_FAILED")


# --- query (STS, IAM) ----------------------------------------------------------------------------

class _Node:
    __slots__ = ("value", "children")

    def __init__(self) -> None:
        self.value: str | None = None
        self.children: dict[str, _Node] = {}


def _query_pairs(text: str) -> list[tuple[str, str]]:
    """A query string is read as the SigV4 verifier reads it: %XX escapes only, '+' is a plus."""
    pairs = []
    for part in text.split("&"):
        if part:
            k, _, v = part.partition("=")
            try:
                pairs.append((unquote(k, errors="strict"), unquote(v, errors="strict")))
            except UnicodeDecodeError:
                raise Unparseable("Cannot parse the query string") from None
    return pairs


def _form_pairs(text: str) -> list[tuple[str, str]]:
    """A form-encoded body: '+' is a space."""
    try:
        return parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise Unparseable("Cannot parse the form-encoded parameters") from None


def _parse_query_protocol(spec: ServiceSpec, req: HttpRequest) -> tuple[OperationModel, dict]:
    pairs = _query_pairs(req.query)
    if req.body:
        try:
            body = req.body.decode("utf-8")
        except UnicodeDecodeError:
            raise Unparseable("Cannot parse the request body") from None
        pairs += _form_pairs(body)
    seen: set[str] = set()
    for key, _ in pairs:        # a key given twice: the order of its values is not signed
        if key in seen:
            raise _cannot_parse(key[:_ECHO_MAX], f"one value, not {sum(k == key for k, _ in pairs)}")
        seen.add(key)
    root = _Node()
    for key, value in pairs:
        node = root
        for part in key.split("."):
            node = node.children.setdefault(part, _Node())
        if node.value is None:
            node.value = value
    action = root.children.get("Action")
    version = root.children.get("Version")
    action_name = action.value if action is not None else None
    if not action_name:
        raise MissingAction("The request must contain the parameter Action.", field="Action")
    version_name = version.value if version is not None else None
    op = spec.operation(action_name)
    if op is None or version_name != spec.api_version:
        raise UnknownOperation(f"Could not find operation {action_name[:_ECHO_MAX]} for version "
                               f"{(version_name or 'NO_VERSION_SPECIFIED')[:_ECHO_MAX]}",
                               field="Action" if op is None else "Version")
    return op, (_from_query(op.input_shape, root, "", True) or {}) if op.input_shape else {}


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

def _parse_json_protocol(spec: ServiceSpec, req: HttpRequest) -> tuple[OperationModel, dict]:
    target = req.header("X-Amz-Target") or ""
    prefix, dot, name = target.rpartition(".")
    op = spec.operation(name) if dot and prefix == spec.target_prefix else None
    if op is None:
        raise UnknownOperation(f"Unknown operation {target[:_ECHO_MAX]!r}" if target
                               else "Missing X-Amz-Target header", field="X-Amz-Target")
    body = _json_body(req.body)
    return op, (_from_json(op.input_shape, body, "", True) if op.input_shape else {})


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _json_body(body: bytes) -> dict:
    if not body.strip():
        return {}
    try:
        value = json.loads(body, parse_constant=_reject_constant)
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
    out: dict[str, list[str]] = {}
    for part in raw.split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        try:
            out.setdefault(unquote(k, errors="strict"), []).append(unquote(v, errors="strict"))
        except UnicodeDecodeError:
            raise Unparseable("Cannot parse the query string") from None
    return out


def _parse_rest_json(spec: ServiceSpec, req: HttpRequest) -> tuple[OperationModel, dict]:
    """Members from uri labels, querystring (scalars, lists), headers (scalars) and the body.

    Querystring maps and `headers` prefix maps are not supported: none of CodeArtifact's inputs
    use them (they are ignored, like unknown members)."""
    query = _rest_query(req.query)
    found = spec.route(req.method, req.path, query)
    if found is None:
        raise UnknownOperation(f"No operation matches {req.method[:16]} {req.path[:_ECHO_MAX]}", field="path")
    op, labels = found
    shape = op.input_shape
    params: dict[str, Any] = {}
    payload = shape.serialization.get("payload") if shape is not None else None
    body_members = {}
    for name, member in (shape.members.items() if shape is not None else ()):
        loc, wire = member.serialization.get("location"), member.serialization.get("name", name)
        value: Any = None
        if loc == "uri" and wire in labels:
            value = _from_text(member, labels[wire], name, "iso8601")
        elif loc == "querystring" and query.get(wire) and member.type_name == "list":
            value = [_from_text(member.member, v, f"{name}.{i}.member", "iso8601")
                     for i, v in enumerate(query[wire], 1)]
        elif loc == "querystring" and query.get(wire) and member.type_name != "map":
            if len(query[wire]) > 1:
                raise _cannot_parse(name, f"one '{wire}' parameter, not {len(query[wire])}")
            value = _from_text(member, query[wire][0], name, "iso8601")
        elif loc == "header" and req.header(wire) is not None and member.type_name != "list":
            value = _from_text(member, req.header(wire) or "", name, "rfc822")
        elif loc is None and name == payload:
            value = _payload(member, req.body, name)
        elif loc is None and payload is None:
            body_members[name] = member
        if value is not None:
            params[name] = value
    if body_members:
        body = _json_body(req.body)
        for name, member in body_members.items():
            raw = body.get(member.serialization.get("name", name))
            if raw is not None:
                params[name] = _from_json(member, raw, name)
    return op, params


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
