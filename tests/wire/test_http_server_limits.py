"""What regauth's HTTP server lets unauthenticated clients cost it, over raw sockets: log lines (each
at most once a minute, with the count left out)."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.fixtures.server import RegauthServer, server_env, start_server
from tests.wire.test_http_server import Reader, connect, logged_lines, sts_post


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegauthServer]:
    srv = start_server(tmp_path_factory.mktemp("http-limits"),
                       {**server_env(), "REGAUTH_REQUEST_TIMEOUT_SECONDS": "1"})
    yield srv
    srv.stop()


def synced(server: RegauthServer, before: int, marker: str) -> list[str]:
    """The lines after the first `before` that hold `marker`, once a request made now has been logged
    (its audit line, found by its request id, comes after every line the server wrote before it)."""
    with connect(server) as s:
        s.sendall(sts_post())
        status, headers, _ = Reader(s).response()
        assert status == 403
    assert logged_lines(server, before, headers["x-amzn-requestid"])
    return [line for line in server.output[before:] if marker in line]


def test_malformed_requests_are_logged_once_a_minute_per_kind(server: RegauthServer) -> None:
    # one client made 10,000 of these lines in 5 s; each kind is said once, naming its first client
    before = len(server.output)
    for raw in [b"\x01GARBAGE\r\n\r\n"] * 3 + [b"GET /healthz HTTP/1.1\r\n\r\n"] * 2:
        with connect(server) as s:
            s.sendall(raw)
            assert Reader(s).response()[0] == 400
    lines = synced(server, before, "malformed HTTP request")
    assert len(lines) == 2, lines
    said = " INFO regauth.server client 127.0.0.1: malformed HTTP request: "
    assert lines[0].endswith(said + "Invalid method encountered") and lines[1].endswith(said + "no Host header")


def test_requests_that_arrive_too_slowly_are_logged_once_a_minute(server: RegauthServer) -> None:
    before = len(server.output)
    socks = [connect(server) for _ in range(3)]
    try:
        for s in socks:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")      # and never the blank line
        for s in socks:
            assert Reader(s).response()[0] == 408
    finally:
        for s in socks:
            s.close()
    lines = synced(server, before, "a request took over")
    assert len(lines) == 1, lines
    assert lines[0].endswith(" INFO regauth.server client 127.0.0.1: closing a connection: a request took over 1 s"
                             " to arrive")
