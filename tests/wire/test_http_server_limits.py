"""What regauth's HTTP server lets unauthenticated clients cost it, over raw sockets: request bodies
held in memory (bounded, all connections together: past the bound, connections still sending a body
wait their turn) and log lines (each at most once a minute, with the count left out)."""

from __future__ import annotations

import queue
import select
import socket
import threading
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from tests.fixtures.server import RegauthServer, server_env, start_server
from tests.wire.test_http_server import ONE_MIB, Reader, connect, logged_lines, sts_post

SPENT = "request bodies held in memory reached"
# an unsigned STS call (a 403, audited) whose body is exactly the limit
BIG = sts_post(b"Action=GetCallerIdentity&Version=2011-06-15&Pad=".ljust(ONE_MIB, b"x"))


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


class Upload:
    """A connection whose parts are sent in order by a thread of its own (the client of a body that is
    held back waits in its send), each part when given."""

    def __init__(self, srv: RegauthServer) -> None:
        self.sock = connect(srv)
        self.sock.settimeout(60)
        self._parts: queue.Queue[bytes | memoryview | None] = queue.Queue()
        threading.Thread(target=self._run, daemon=True).start()

    def send(self, part: bytes | memoryview) -> None:
        self._parts.put(part)

    def answered_within(self, seconds: float) -> bool:
        """True if a byte of an answer arrives within `seconds` (the socket's timeout, which its send
        in the other thread goes by too, is left alone)."""
        return bool(select.select([self.sock], [], [], seconds)[0])

    def _run(self) -> None:
        while (part := self._parts.get()) is not None:
            try:
                self.sock.sendall(part)
            except OSError:
                return

    def close(self) -> None:
        self._parts.put(None)
        try:
            self.sock.shutdown(socket.SHUT_RDWR)        # wakes a send that waits
        except OSError:
            pass
        self.sock.close()


def gauge(srv: RegauthServer, name: str) -> float:
    with urllib.request.urlopen(srv.url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return float(next(line.split()[1] for line in text.splitlines() if line.startswith(name + " ")))


def uploads(srv: RegauthServer, n: int, size: int) -> list[Upload]:
    """`n` connections, each having sent the first `size` bytes of BIG, once those have spent the
    body budget (which the server says; or after 20 s)."""
    before = len(srv.output)
    started = [Upload(srv) for _ in range(n)]
    for u in started:
        u.send(memoryview(BIG)[:size])
    logged_lines(srv, before, SPENT, wait=20)
    return started


def test_past_the_body_budget_a_body_is_read_once_others_are_released(tmp_path: Path) -> None:
    """65 connections hold 65 MiB of bodies, just short of whole, more than the budget (64 MiB): the
    next body sent whole is not read to its end (its bytes wait in the kernel, its client waits) until
    the others let go of theirs; then it is answered. Before, 1,500 such connections held 1.5 GiB."""
    srv = start_server(tmp_path / "d", {**server_env(), "REGAUTH_REQUEST_TIMEOUT_SECONDS": "60"})
    held: list[Upload] = []
    try:
        held = uploads(srv, 65, len(BIG) - 1)
        late = Upload(srv)
        held.append(late)
        late.send(BIG)
        r = Reader(late.sock)
        assert not late.answered_within(1.0)
        with connect(srv) as other:     # a request that is not holding a body is not held back
            other.sendall(sts_post())
            assert Reader(other).response()[0] == 403
        # what an operator sees meanwhile
        assert gauge(srv, "regauth_request_body_bytes_held") >= 64 * ONE_MIB
        assert gauge(srv, "regauth_connections_held_back") >= 1
        for u in held[:-1]:
            u.close()
        assert r.response()[0] == 403
        deadline = time.monotonic() + 10
        while gauge(srv, "regauth_request_body_bytes_held") and time.monotonic() < deadline:
            time.sleep(0.05)            # the closed connections are let go as the loop sees them
        assert (gauge(srv, "regauth_request_body_bytes_held"), gauge(srv, "regauth_connections_held_back")) == (0, 0)
    finally:
        for u in held:
            u.close()
        srv.stop()
    said = [line for line in srv.output if SPENT in line]
    # said once a minute at most; what was left out is counted when the server stops
    assert sum("more since the last such line" not in line for line in said) == 1, said


def test_a_small_body_split_from_its_head_is_not_held_back_by_a_flood(tmp_path: Path) -> None:
    """A small body (a token request's) that comes in a packet after its head, as over a real network,
    while 65 connections hold the body budget spent: answered at once. It was held back behind them
    until they let go, most of the request timeout (26-28 s of 30 in the audit)."""
    srv = start_server(tmp_path / "d", {**server_env(), "REGAUTH_REQUEST_TIMEOUT_SECONDS": "60"})
    held: list[Upload] = []
    try:
        held = uploads(srv, 65, len(BIG) - 1)
        small = sts_post()
        head_end = small.index(b"\r\n\r\n") + 4
        with connect(srv) as s:
            s.sendall(small[:head_end + 10])
            time.sleep(0.2)                     # read alone: the rest of the body is still on its way
            s.sendall(small[head_end + 10:])
            r = Reader(s)
            assert r.answered_within(10.0)     # not after the flood: it holds for the test's whole length
            assert r.response()[0] == 403
            assert gauge(srv, "regauth_connections_held_back") >= 1     # the flood still holds the budget
    finally:
        for u in held:
            u.close()
        srv.stop()


def test_bodies_that_fill_the_budget_together_are_all_answered(tmp_path: Path) -> None:
    """80 bodies, 900 KiB of each read: more than the budget, and none whole, so each connection is
    held back at its next read. The one held back first goes on to the end of its body anyway (they
    would otherwise all wait on each other until the request timeout), and as each is answered the
    next goes on: every one is answered, and so is a request pipelined after each."""
    srv = start_server(tmp_path / "d", {**server_env(), "REGAUTH_REQUEST_TIMEOUT_SECONDS": "30"})
    held: list[Upload] = []
    try:
        held = uploads(srv, 80, 900 * 1024)
        for u in held:
            u.send(memoryview(BIG)[900 * 1024:])
            u.send(sts_post())
        for u in held:
            r = Reader(u.sock)
            assert [r.response()[0], r.response()[0]] == [403, 403]
    finally:
        for u in held:
            u.close()
        srv.stop()


def test_a_body_held_back_at_shutdown_is_read_to_its_end_and_answered(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "d", {**server_env(), "REGAUTH_REQUEST_TIMEOUT_SECONDS": "60"})
    held: list[Upload] = []
    try:
        held = uploads(srv, 65, len(BIG) - 1)
        late = Upload(srv)
        held.append(late)
        late.send(BIG)
        r = Reader(late.sock)
        assert not late.answered_within(0.5)
        srv.process.terminate()
        assert not late.answered_within(0.5)
        assert srv.process.poll() is None       # waiting for the request it has begun to read
        for u in held[:-1]:
            u.close()
        status, headers, _ = r.response()
        assert status == 403 and headers["connection"] == "close"
        assert r.closed()
        assert srv.process.wait(timeout=10) == 0
    finally:
        for u in held:
            u.close()
        srv.stop()
