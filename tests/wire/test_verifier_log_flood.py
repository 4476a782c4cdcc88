"""The verifier's misconfiguration messages (a URL that names no index, a GET without the original
method) stay visible at ERROR, but any client can send the request that earns one: each message is
logged at most once a minute, the next line saying how many were left out. The server's clock is
moved with libfaketime to reach the next minute."""

from __future__ import annotations

import http.client
import re
import time
from pathlib import Path

import pytest

from tests.fixtures.server import RegauthServer
from tests.wire.test_registry_clock_steps import shifted

pytestmark = pytest.mark.wire
REQUESTS = 500
MESSAGES = {"GET": "the verifier's URL must name the index's domain",      # X-Original-Method sent
            "": "the verifier needs the original request's method"}       # no X-Original-Method
_LEFT_OUT = re.compile(r"\((\d+) more since the last such line, not logged\)")


def verify_requests(server: RegauthServer, count: int, method: str) -> None:
    conn = http.client.HTTPConnection(server.url.split("://", 1)[1], timeout=10)
    try:
        for _ in range(count):
            conn.request("GET", "/auth/verify?x=1", headers={"X-Original-Method": method} if method else {})
            response = conn.getresponse()
            response.read()
            assert response.status == 400
    finally:
        conn.close()


def error_lines(server: RegauthServer, message: str, last_left_out: bool) -> list[str]:
    """The server's ERROR lines with `message`, once the last of them says it left some out (another
    thread reads the output, in order)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [line for line in server.output if " ERROR " in line and message in line]
        if lines and (_LEFT_OUT.search(lines[-1]) or not last_left_out):
            return lines
        time.sleep(0.05)
    return [line for line in server.output if " ERROR " in line and message in line]


def test_a_flood_of_misconfigured_requests_logs_one_error_a_minute(tmp_path: Path) -> None:
    """The count left out is said once the minute is over, without waiting for another such request;
    the next one after that is logged at once."""
    shift = shifted(tmp_path / "data", REGAUTH_LOG_LEVEL="error")
    try:
        started = time.monotonic()
        for method in MESSAGES:
            verify_requests(shift.server, REQUESTS, method)
        minutes = int((time.monotonic() - started) // 60)
        shift.shift(61)                              # the minute is over: the count is said, unasked
        for message in MESSAGES.values():
            lines = error_lines(shift.server, message, last_left_out=True)
            assert 2 <= len(lines) <= 2 + minutes, lines[:5]
            left_out = [int(m.group(1)) for m in map(_LEFT_OUT.search, lines) if m]
            assert left_out and _LEFT_OUT.search(lines[-1]), lines
            assert len(lines) - 1 + sum(left_out) == REQUESTS     # every request logged or counted
        said = {message: len(error_lines(shift.server, message, last_left_out=True)) for message in MESSAGES.values()}
        for method in MESSAGES:
            verify_requests(shift.server, 1, method)
        for message in MESSAGES.values():
            deadline = time.monotonic() + 10
            while len(lines := error_lines(shift.server, message, False)) == said[message]:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert len(lines) == said[message] + 1, lines[-3:]
            assert "verify request " in lines[-1] and not _LEFT_OUT.search(lines[-1]), lines[-3:]
    finally:
        shift.shift(0)
        shift.server.stop()


def test_the_count_left_out_is_said_when_the_server_stops(tmp_path: Path) -> None:
    """A flood within a minute, then SIGTERM before the minute ends: the count was lost with the process."""
    shift = shifted(tmp_path / "data", REGAUTH_LOG_LEVEL="error")
    message = MESSAGES[""]
    try:
        verify_requests(shift.server, 50, "")
    finally:
        shift.server.stop()
    lines = error_lines(shift.server, message, last_left_out=True)   # read by another thread: wait for it
    left_out = [int(m.group(1)) for m in map(_LEFT_OUT.search, lines) if m]
    assert len(lines) - len(left_out) + sum(left_out) == 50, lines     # within one minute: one line, one count
