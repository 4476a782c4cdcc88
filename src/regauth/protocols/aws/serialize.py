"""Response side of the AWS wire: result dicts and WireErrors -> (status, headers, body).

Driven by the operation's output shape (only modeled members are emitted, unknown keys and None
values are dropped). Timestamps: epoch-seconds NUMBERS in JSON (paws cannot read ISO strings),
`YYYY-MM-DDTHH:MM:SSZ` in query XML. Result values for timestamps may be int/float epoch seconds
or datetimes (naive ones are taken as UTC).

Error envelopes (what botocore and paws actually parse, aws-wire §2.4):
  rest-json  x-amzn-ErrorType: <Code> + {"message": ..., <modeled fields>}
  json       exactly {"__type": "<Code>", "message": "..."}  (no namespace, one message key)
  query      <ErrorResponse xmlns=..><Error><Type>Sender|Receiver</Type><Code/><Message/></Error>
             <RequestId/></ErrorResponse>
Every response carries x-amzn-RequestId; query bodies also carry the id in XML.

Speed: per operation, an `_Output` is built once from the model: the member table and, per shape,
a converter closure that does what `_to_json` / `_xml` do for that shape without looking the model
up again (tests compare both on many values). JSON is encoded by one prebuilt encoder.
"""

from __future__ import annotations

import base64
import re
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any, Callable

from regauth.protocols.json_body import dumps as _dumps

from .errors import WireError
from .models import ServiceSpec
from .shapes import OperationModel, Shape

Response = tuple[int, list[tuple[str, str]], bytes]
_CONTENT_TYPE = {"json": "application/x-amz-json-1.1", "rest-json": "application/json", "query": "text/xml"}
# Characters XML 1.0 does not allow: the complement of [\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff],
# written as the short class it is (the negated wide class took ~20 ms to compile at every start).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# anything _esc changes: what _XML_INVALID matches, and & < > \r
_XML_SPECIAL = re.compile("[\x00-\x08\x0b-\x1f&<>\ud800-\udfff\ufffe\uffff]")


class _Output:
    """One operation's output, precomputed from the model for the service's protocol."""

    __slots__ = ("op", "status", "shape", "members", "body", "xml")

    def __init__(self, op: OperationModel, protocol: str) -> None:
        shape = self.shape = op.output_shape
        self.op = op
        self.status = int(op.http.get("responseCode", 200))
        members = list(shape.members.items()) if shape is not None else []
        # query: (name, wire, xml writer) per member
        self.xml = [(name, m.serialization.get("name", name), _xml_writer(m)) for name, m in members] \
            if protocol == "query" else []
        # rest-json: (name, member, where, wire, json writer) with `where` the branch of serialize_result
        # that takes the member: header, headers, statusCode, payload, body, or None (ignored)
        payload = shape.serialization.get("payload") if shape is not None else None
        self.members = []
        for name, m in members if protocol == "rest-json" else ():
            loc, wire = m.serialization.get("location"), m.serialization.get("name", name)
            where = loc if loc in ("header", "headers", "statusCode") else \
                "payload" if name == payload else "body" if loc is None else None
            self.members.append((name, m, where, wire, _json_writer(m)))
        # the JSON body: json, the whole output; rest-json, the body members
        self.body = _json_writer(shape) if protocol == "json" and shape is not None else \
            _structure_writer(tuple((name, wire, write) for name, _, where, wire, write in self.members
                                    if where == "body"))


def _output(spec: ServiceSpec, operation: str) -> _Output:
    attrs = spec.model.__dict__        # kept with the model, as regauth.protocols.aws.parse keeps its tables
    outputs: dict[str, _Output] | None = attrs.get("_regauth_outputs")
    if outputs is None:
        outputs = attrs.setdefault("_regauth_outputs", {})
    out = outputs.get(operation)
    if out is None:
        out = outputs[operation] = _Output(spec.model.operation_model(operation), spec.protocol)
    return out


def serialize_result(spec: ServiceSpec, operation: str, result: dict | None, request_id: str) -> Response:
    out = _output(spec, operation)
    result = result or {}
    headers = [("x-amzn-RequestId", request_id), ("Content-Type", _CONTENT_TYPE[spec.protocol])]
    if spec.protocol == "query":
        return 200, headers, _query_result(spec, out, result, request_id)
    status = out.status
    if out.shape is None:
        return status, headers, b"{}"
    if spec.protocol == "json":
        return status, headers, _dumps(out.body(result) or {})
    body: bytes | None = None
    for name, member, where, wire, write in out.members:
        value = result.get(name)
        if value is None:
            continue
        if where == "header":
            headers.append((wire, _header_text(member, value)))
        elif where == "headers":
            headers.extend((f"{wire}{k}", str(v)) for k, v in value.items() if v is not None)
        elif where == "statusCode":
            status = int(value)
        elif where == "payload":
            if member.type_name in ("blob", "string"):
                body = value if isinstance(value, bytes) else str(value).encode("utf-8")
                headers[1] = ("Content-Type", "application/octet-stream")
            else:
                body = _dumps(write(value) or {})
    if body is None:
        body = _dumps(out.body(result) or {})
    return status, headers, body


def serialize_error(spec: ServiceSpec, err: WireError, request_id: str) -> Response:
    headers = [("x-amzn-RequestId", request_id), ("Content-Type", _CONTENT_TYPE[spec.protocol])]
    extra = [(k, v) for k, v in err.headers]
    if spec.protocol == "json":
        return err.status, headers + extra, _dumps({"__type": err.code, "message": err.message})
    if spec.protocol == "query":
        body = (f'<ErrorResponse xmlns="{spec.xmlns}"><Error><Type>{"Sender" if err.sender_fault else "Receiver"}'
                f"</Type><Code>{_esc(err.code)}</Code><Message>{_esc(err.message)}</Message></Error>"
                f"<RequestId>{_esc(request_id)}</RequestId></ErrorResponse>")
        return err.status, headers + extra, body.encode("utf-8")
    headers.append(("x-amzn-ErrorType", err.code))
    body_fields: dict[str, Any] = {"message": err.message}
    shape = spec.error_shape(err.code)
    members = shape.members if shape is not None else {}
    have = {k.lower() for k, _ in extra}
    for name, value in err.fields.items():
        if value is None or name == "message":
            continue
        member = members.get(name)
        loc = member.serialization.get("location") if member is not None else None
        wire = member.serialization.get("name", name) if member is not None else name
        if loc == "header":
            if wire.lower() not in have:
                extra.append((wire, _header_text(member, value)))
        else:
            body_fields[wire] = _to_json(member, value) if member is not None else value
    return err.status, headers + extra, _dumps(body_fields)


# --- JSON (bodies are encoded by regauth.protocols.json_body) ----------------------------------------

def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return round(value.timestamp(), 3)
    if isinstance(value, str):
        return _epoch(datetime.fromisoformat(value.replace("Z", "+00:00")))
    return round(float(value), 3)


def _as_datetime(value: Any) -> datetime:
    return datetime.fromtimestamp(_epoch(value), tz=timezone.utc)


def _timestamp(shape: Shape, value: Any, default: str) -> Any:
    fmt = shape.serialization.get("timestampFormat", default)
    if fmt == "iso8601":
        return _iso(value)
    if fmt == "rfc822":
        return format_datetime(_as_datetime(value), usegmt=True)
    return _epoch(value)


def _to_json(shape: Shape, value: Any) -> Any:
    if value is None:
        return None
    t = shape.type_name
    if t == "structure":
        out = {}
        for name, member in shape.members.items():
            converted = _to_json(member, value.get(name)) if isinstance(value, dict) else None
            if converted is not None:
                out[member.serialization.get("name", name)] = converted
        return out
    if t == "list":
        return [c for c in (_to_json(shape.member, v) for v in value) if c is not None]
    if t == "map":
        return {str(k): c for k, v in value.items() if (c := _to_json(shape.value, v)) is not None}
    return _scalar(shape, value, "unixtimestamp")


# --- the same, compiled per shape: writer(value) == _to_json(shape, value) for value not None -------

Writer = Callable[[Any], Any]


def _json_writer(shape: Shape, outer: frozenset[str] = frozenset()) -> Writer:
    if shape.name in outer:                 # recursive shape: interpret its own subtree
        return lambda value: _to_json(shape, value)
    t, outer = shape.type_name, outer | {shape.name}
    if t == "structure":
        return _structure_writer(tuple((name, member.serialization.get("name", name), _json_writer(member, outer))
                                       for name, member in shape.members.items()))
    if t == "list":
        item = _json_writer(shape.member, outer)
        return lambda value: [item(v) for v in value if v is not None]
    if t == "map":
        item = _json_writer(shape.value, outer)
        return lambda value: {str(k): item(v) for k, v in value.items() if v is not None}
    if t == "timestamp":
        fmt = shape.serialization.get("timestampFormat", "unixtimestamp")
        if fmt == "iso8601":
            return _iso
        return (lambda value: format_datetime(_as_datetime(value), usegmt=True)) if fmt == "rfc822" else _epoch
    return {"boolean": bool, "integer": int, "long": int, "float": float, "double": float,
            "string": str}.get(t) or (lambda value: _scalar(shape, value, "unixtimestamp"))


def _structure_writer(members: tuple[tuple[str, str, Writer], ...]) -> Writer:
    def structure(value: Any) -> dict[str, Any]:
        out = {}
        if isinstance(value, dict):
            for name, wire, write in members:
                v = value.get(name)
                if v is not None:
                    out[wire] = write(v)
        return out
    return structure


def _scalar(shape: Shape, value: Any, ts_default: str) -> Any:
    t = shape.type_name
    if t == "timestamp":
        return _timestamp(shape, value, ts_default)
    if t == "blob":
        raw = value if isinstance(value, (bytes, bytearray)) else str(value).encode("utf-8")
        return base64.b64encode(raw).decode("ascii")
    if t == "boolean":
        return bool(value)
    if t in ("integer", "long"):
        return int(value)
    if t in ("float", "double"):
        return float(value)
    return str(value)


def _header_text(shape: Shape | None, value: Any) -> str:
    if shape is None:
        return str(value)
    if shape.type_name == "boolean":
        return "true" if value else "false"
    if shape.type_name == "timestamp":
        return str(_timestamp(shape, value, "rfc822"))
    if shape.type_name == "string" and shape.serialization.get("jsonvalue"):
        return base64.b64encode(_dumps(value)).decode("ascii")
    return str(_scalar(shape, value, "rfc822"))


# --- query XML --------------------------------------------------------------------------------------

def _esc(text: str) -> str:
    if _XML_SPECIAL.search(text) is None:
        return text
    text = _XML_INVALID.sub("\ufffd", text)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#xD;"))


def _iso(value: Any) -> str:
    return _as_datetime(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _query_result(spec: ServiceSpec, out: _Output, result: dict, request_id: str) -> bytes:
    op, shape = out.op, out.shape
    parts = [f'<{op.name}Response xmlns="{spec.xmlns}">']
    if shape is not None:
        wrapper = shape.serialization.get("resultWrapper", f"{op.name}Result")
        parts.append(f"<{wrapper}>")
        for name, tag, write in out.xml:
            write(result.get(name), tag, parts)
        parts.append(f"</{wrapper}>")
    parts.append(f"<ResponseMetadata><RequestId>{_esc(request_id)}</RequestId></ResponseMetadata>"
                 f"</{op.name}Response>")
    return "".join(parts).encode("utf-8")


def _xml(shape: Shape, value: Any, tag: str, out: list[str]) -> None:
    if value is None:
        return
    t = shape.type_name
    if t == "structure":
        out.append(f"<{tag}>")
        for name, member in shape.members.items():
            if isinstance(value, dict):
                _xml(member, value.get(name), member.serialization.get("name", name), out)
        out.append(f"</{tag}>")
    elif t == "list":
        item = shape.member.serialization.get("name", "member")
        if shape.serialization.get("flattened"):
            for v in value:
                _xml(shape.member, v, tag, out)
            return
        out.append(f"<{tag}>")
        for v in value:
            _xml(shape.member, v, item, out)
        out.append(f"</{tag}>")
    elif t == "map":
        kname = shape.key.serialization.get("name", "key")
        vname = shape.value.serialization.get("name", "value")
        out.append(f"<{tag}>")
        for k, v in value.items():
            out.append("<entry>")
            _xml(shape.key, k, kname, out)
            _xml(shape.value, v, vname, out)
            out.append("</entry>")
        out.append(f"</{tag}>")
    else:
        out.append(f"<{tag}>{_esc(_xml_text(shape, value))}</{tag}>")


def _xml_text(shape: Shape, value: Any) -> str:
    t = shape.type_name
    if t == "timestamp":
        fmt = shape.serialization.get("timestampFormat", "iso8601")
        return str(_timestamp(shape, value, fmt)) if fmt != "iso8601" else _iso(value)
    if t == "boolean":
        return "true" if value else "false"
    if t in ("float", "double"):
        return repr(float(value))
    return str(_scalar(shape, value, "iso8601"))


# --- the same, compiled per shape: writer(value, tag, out) == _xml(shape, value, tag, out) ----------

XmlWriter = Callable[[Any, str, list[str]], None]


def _xml_writer(shape: Shape, outer: frozenset[str] = frozenset()) -> XmlWriter:
    t = shape.type_name
    if shape.name in outer or t in ("list", "map"):     # recursive, or a collection: interpret
        return lambda value, tag, out: _xml(shape, value, tag, out)
    if t == "structure":
        outer = outer | {shape.name}
        members = tuple((name, member.serialization.get("name", name), _xml_writer(member, outer))
                        for name, member in shape.members.items())

        def structure(value: Any, tag: str, out: list[str]) -> None:
            if value is None:
                return
            out.append(f"<{tag}>")
            if isinstance(value, dict):
                for name, wire, write in members:
                    write(value.get(name), wire, out)
            out.append(f"</{tag}>")
        return structure
    text: Callable[[Any], str] = (lambda value: str(str(value))) if t == "string" else \
        (lambda value: _xml_text(shape, value))

    def scalar(value: Any, tag: str, out: list[str]) -> None:
        if value is not None:
            out.append(f"<{tag}>{_esc(text(value))}</{tag}>")
    return scalar
