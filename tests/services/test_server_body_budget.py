"""regauth.server.BodyBudget, driven through real Connections on transports that record what is asked of
them (as in test_server_connection): who is held back and in which order they go on, which a socket
test cannot observe (loopback buffers absorb megabytes)."""

from __future__ import annotations

import asyncio

from regauth.server import SMALL_BODY_BYTES, Connection
from tests.services.test_server_connection import Loop, Server, Transport

ONE_MIB = 1 << 20
LARGE = SMALL_BODY_BYTES + 2000          # a body the budget may hold back (a small one never waits)


def post(length: int) -> bytes:
    return b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % length


def test_connections_held_back_go_on_first_come_first_served_and_every_byte_is_given_back() -> None:
    loop = Loop()
    srv = Server(loop)
    budget = srv.body_budget
    try:
        conns: list[tuple[Connection, Transport]] = []

        def connect() -> tuple[Connection, Transport]:
            conn, transport = Connection(srv), Transport()      # type: ignore[arg-type]
            conn.connection_made(transport)
            conns.append((conn, transport))
            return conn, transport

        # 65 bodies a byte short of whole: the 65th is past the budget (64 MiB), and goes on (the runner)
        fillers = [connect() for _ in range(65)]
        for conn, _ in fillers:
            conn.data_received(post(ONE_MIB) + b"x" * (ONE_MIB - 1))
        assert budget.held == 65 * (ONE_MIB - 1) > budget.limit
        assert all(t.reading for _, t in fillers)
        (a, ta), (b, tb), (c, tc) = connect(), connect(), connect()
        for conn in (a, b, c):
            conn.data_received(post(LARGE) + b"y" * 1000)
        assert not (ta.reading or tb.reading or tc.reading)     # held back, in this order
        (s, ts) = connect()
        s.data_received(post(SMALL_BODY_BYTES) + b"s" * 1000)
        assert ts.reading                                       # a small body is never held back
        s.data_received(b"s" * (SMALL_BODY_BYTES - 1000))
        loop.run_until_complete(asyncio.sleep(0))               # whole and answered ahead of the line
        assert ts.reading and not (ta.reading or tb.reading or tc.reading)

        runner, _ = fillers[64]
        runner.data_received(b"x")                              # whole: the first held back runs next
        loop.run_until_complete(asyncio.sleep(0))               # answered
        assert ta.reading and not tb.reading and not tc.reading
        b.connection_lost(None)                                 # gone while waiting: out of the line
        a.data_received(b"y" * (LARGE - 1000))
        loop.run_until_complete(asyncio.sleep(0))
        assert tc.reading
        assert not a._body                                      # an idle connection keeps no body it was sent

        for conn, _ in conns:
            conn.connection_lost(None)
        assert budget.held == 0                                 # bodies whole, answered, dropped: all given back
    finally:
        loop.close()
