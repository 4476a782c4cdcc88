"""regauth.server.Connection's deadlines, driven directly (the wire tests cover the rest over sockets):
what a socket test cannot force, because loopback buffers absorb megabytes."""

from __future__ import annotations

import asyncio

from regauth.protocols.aws.dispatch import Response
from regauth import server
from regauth.server import Connection

HEALTH = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


class Transport(asyncio.Transport):
    """Records what the connection does; `close` leaves it closing, as asyncio does while the peer
    has not read what is buffered."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closing = self.aborted = False
        self.reading = True

    def write(self, data) -> None:  # type: ignore[override]
        self.written += bytes(data)

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = self.aborted = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name, default=None):  # type: ignore[override]
        return ("127.0.0.1", 40000) if name == "peername" else default


class Front:
    max_body_bytes = 1 << 20

    def __init__(self) -> None:
        self.events: list[str] = []

    def serve(self, req, too_large, answer) -> None:
        self.events.append(req.query)
        answer(Response(200, [("content-type", "application/json")], b'{"status": "ok"}'))

    def client_ip(self, peer, headers) -> str:
        return peer

    def served(self) -> None:
        self.events.append("served")


class Server(server.Server):
    """The real one (it queues and serves the requests), on no socket and a loop the test runs."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(Front(), None, keep_alive=5.0, request_timeout=30.0)  # type: ignore[arg-type]
        self.loop = loop


class Loop(asyncio.SelectorEventLoop):
    """A loop whose clock the test sets."""

    now = 1000.0

    def time(self) -> float:
        return self.now


def _connected() -> tuple[Connection, Transport, Loop]:
    loop = Loop()
    conn = Connection(Server(loop))        # type: ignore[arg-type]
    transport = Transport()
    conn.connection_made(transport)
    return conn, transport, loop


def test_a_closed_connection_whose_client_reads_nothing_is_aborted_a_keep_alive_later() -> None:
    conn, transport, loop = _connected()
    try:
        conn.data_received(HEALTH)
        loop.run_until_complete(asyncio.sleep(0))          # the request is served in a later turn
        assert transport.written.startswith(b"HTTP/1.1 200 OK")
        for at, closing, aborted in [(4.9, False, False),    # idle, not yet a keep-alive period
                                     (5.1, True, False),     # closed: what is written may still leave
                                     (10.0, True, False),
                                     (10.2, True, True)]:    # the client never read it: dropped
            loop.now = 1000.0 + at
            conn.expire(loop.now)
            assert (transport.closing, transport.aborted) == (closing, aborted), at
    finally:
        loop.close()


def test_a_request_arriving_too_slowly_is_answered_408_and_closed() -> None:
    conn, transport, loop = _connected()
    try:
        conn.data_received(b"GET /healthz HTTP/1.1\r\n")
        loop.now += 29
        conn.expire(loop.now)
        assert transport.written == b""
        loop.now += 1.5
        conn.expire(loop.now)
        assert transport.written.startswith(b"HTTP/1.1 408 Request Timeout") and transport.closing
    finally:
        loop.close()


def test_parsing_pauses_while_answers_are_owed_and_resumes_in_order() -> None:
    conn, transport, loop = _connected()
    try:
        conn.data_received(b"".join(b"GET /healthz?i=%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(50)))
        assert not transport.reading                        # 8 taken, the rest kept unparsed
        for _ in range(30):
            loop.run_until_complete(asyncio.sleep(0))
        assert transport.written.count(b"HTTP/1.1 200 OK") == 50
        assert transport.reading
    finally:
        loop.close()


def test_the_requests_taken_in_a_turn_are_served_together_in_the_next_then_their_records_stored() -> None:
    loop = Loop()
    srv = Server(loop)
    try:
        first, second = Connection(srv), Connection(srv)     # type: ignore[arg-type]
        t1, t2 = Transport(), Transport()
        first.connection_made(t1)
        second.connection_made(t2)
        first.data_received(b"GET /healthz?a HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz?b HTTP/1.1\r\nHost: x\r\n\r\n")
        second.data_received(b"GET /healthz?c HTTP/1.1\r\nHost: x\r\n\r\n")
        assert srv.front.events == [] and t1.written == t2.written == b""    # not in the turn they came in
        loop.run_until_complete(asyncio.sleep(0))
        # one pass, in arrival order; the store is told once, after the last of them
        assert srv.front.events == ["a", "b", "c", "served"]
        assert t1.written.count(b"HTTP/1.1 200 OK") == 2 and t2.written.count(b"HTTP/1.1 200 OK") == 1
        second.data_received(b"GET /healthz?d HTTP/1.1\r\nHost: x\r\n\r\n")
        loop.run_until_complete(asyncio.sleep(0))
        assert srv.front.events[4:] == ["d", "served"]
    finally:
        loop.close()
