"""Shared helpers for the AWS wire tests: ONE facade instance, and botocore's own client-side
serializer/parsers as the oracle ("boto reads what we write, we read what boto writes")."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import HeadersDict, create_request_object, prepare_request_dict
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from regauth.auth.canonical import HttpRequest
from regauth.protocols.aws.models import AwsModels, ServiceSpec


@lru_cache(maxsize=1)
def aws_models() -> AwsModels:
    """Loading five botocore models + compiling patterns takes ~0.5 s: do it once per test run."""
    return AwsModels()


def botocore_request(spec: ServiceSpec, operation: str, params: dict[str, Any],
                     endpoint: str = "http://127.0.0.1:18765", validate: bool = True) -> HttpRequest:
    """The request exactly as botocore would put it on the wire (validated client-side first, unless
    `validate` is False: then params botocore would refuse reach the wire, for server-side checks)."""
    op = spec.model.operation_model(operation)
    request_dict = create_serializer(spec.protocol, include_validation=validate).serialize_to_request(params, op)
    prepare_request_dict(request_dict, endpoint_url=endpoint)
    prepared = create_request_object(request_dict).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    return HttpRequest(method=prepared.method, path=url.path, query=url.query,
                       headers=tuple((k, v if isinstance(v, str) else v.decode()) for k, v in prepared.headers.items()),
                       body=body)


def botocore_parse(spec: ServiceSpec, operation: str, status: int, headers: list[tuple[str, str]],
                   body: bytes) -> dict[str, Any]:
    """Parse a response the way botocore's endpoint does, modeled error fields included."""
    op = spec.model.operation_model(operation)
    hdrs = HeadersDict()
    for k, v in headers:
        hdrs[k] = v
    response = {"status_code": status, "headers": hdrs, "body": body,
                "context": {"operation_name": operation}}
    parser = create_parser(spec.protocol)
    parsed = parser.parse(response, op.output_shape)
    code = parsed.get("Error", {}).get("Code")
    if code:
        error_shape = spec.model.shape_for_error_code(code)
        if error_shape is not None:
            parsed.update(parser.parse(response, error_shape))
    return parsed


def raw(method: str, path: str, query: str = "", headers: tuple[tuple[str, str], ...] = (),
        body: bytes = b"") -> HttpRequest:
    return HttpRequest(method=method, path=path, query=query, headers=headers, body=body)
