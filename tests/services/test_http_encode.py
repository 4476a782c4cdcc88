"""How regauth.server writes an answer: framing, HEAD, connection close, and no header splitting."""

from __future__ import annotations

import pytest

from regauth.protocols.aws.dispatch import Response
from regauth.server import encode


def test_an_answer_is_framed_by_its_length() -> None:
    raw = encode(Response(200, [("Content-Type", "text/xml")], b"<a/>"), head_only=False, close=False)
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert b"Content-Type: text/xml" in lines and b"content-length: 4" in lines
    assert any(line.startswith(b"date: ") and line.endswith(b" GMT") for line in lines)
    assert b"connection: close" not in lines
    assert body == b"<a/>"


def test_head_and_close() -> None:
    raw = encode(Response(404, [], b"missing"), head_only=True, close=True)
    assert raw.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert raw.endswith(b"content-length: 7\r\nconnection: close\r\n\r\n")     # the length of the body not sent


@pytest.mark.parametrize("header", [("X-A", "v\r\nSet-Cookie: x=1"), ("X-A", "v\nx"), ("X-A\r\nB", "v"),
                                    ("X-A:B", "v"), ("X-A", "nul\x00")])
def test_a_header_that_would_split_the_answer_is_refused(header: tuple[str, str]) -> None:
    with pytest.raises(ValueError):
        encode(Response(200, [header], b""), head_only=False, close=False)
