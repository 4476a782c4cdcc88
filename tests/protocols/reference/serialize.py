# Frozen copy of src/regauth/protocols/aws/serialize.py before per-operation plans (test oracle only).
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
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

from botocore.model import OperationModel, Shape

from regauth.protocols.aws.errors import WireError
from regauth.protocols.aws.models import ServiceSpec

Response = tuple[int, list[tuple[str, str]], bytes]
_CONTENT_TYPE = {"json": "application/x-amz-json-1.1", "rest-json": "application/json", "query": "text/xml"}
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def serialize_result(spec: ServiceSpec, operation: str, result: dict | None, request_id: str) -> Response:
    op = spec.model.operation_model(operation)
    result = result or {}
    headers = [("x-amzn-RequestId", request_id), ("Content-Type", _CONTENT_TYPE[spec.protocol])]
    if spec.protocol == "query":
        return 200, headers, _query_result(spec, op, result, request_id)
    shape = op.output_shape
    status = int(op.http.get("responseCode", 200))
    if shape is None:
        return status, headers, b"{}"
    if spec.protocol == "json":
        return status, headers, _dumps(_to_json(shape, result) or {})
    body_members: dict[str, Any] = {}
    payload = shape.serialization.get("payload")
    body: bytes | None = None
    for name, member in shape.members.items():
        value = result.get(name)
        if value is None:
            continue
        loc, wire = member.serialization.get("location"), member.serialization.get("name", name)
        if loc == "header":
            headers.append((wire, _header_text(member, value)))
        elif loc == "headers":
            headers.extend((f"{wire}{k}", str(v)) for k, v in value.items() if v is not None)
        elif loc == "statusCode":
            status = int(value)
        elif name == payload:
            if member.type_name in ("blob", "string"):
                body = value if isinstance(value, bytes) else str(value).encode("utf-8")
                headers[1] = ("Content-Type", "application/octet-stream")
            else:
                body = _dumps(_to_json(member, value) or {})
        elif loc is None:
            body_members[name] = value
    if body is None:
        body = _dumps(_to_json(shape, body_members) or {})
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


# --- JSON --------------------------------------------------------------------------------------------

def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode("ascii")


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
    text = _XML_INVALID.sub("\ufffd", text)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#xD;"))


def _iso(value: Any) -> str:
    return _as_datetime(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _query_result(spec: ServiceSpec, op: OperationModel, result: dict, request_id: str) -> bytes:
    shape = op.output_shape
    parts = [f'<{op.name}Response xmlns="{spec.xmlns}">']
    if shape is not None:
        wrapper = shape.serialization.get("resultWrapper", f"{op.name}Result")
        parts.append(f"<{wrapper}>")
        for name, member in shape.members.items():
            _xml(member, result.get(name), member.serialization.get("name", name), parts)
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
