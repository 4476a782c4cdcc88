"""regauth.server.Connection's deadlines, driven directly (the wire tests cover the rest over sockets):
what a socket test cannot force, because loopback buffers absorb megabytes."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket

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
        self.closing = self.aborted = self.eof_written = False
        self.reading = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

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
    metrics = None

    def __init__(self) -> None:
        self.events: list[str] = []

    def serve(self, req, too_large, answer) -> None:
        self.events.append(req.query)
        answer(Response(200, [("content-type", "application/json")], b'{"status": "ok"}'))

    def client_ip(self, peer, headers) -> str:
        return peer

    def forwarded_https(self, peer, headers) -> bool:
        return False

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
        assert transport.written.startswith(b"HTTP/1.1 408 Request Timeout")
        # half-closed after the answer, reading on so what the client still sends is drained (a close
        # with unread input would reset the connection, and the 408 with it)
        assert transport.eof_written and transport.reading and not transport.closing
        written = transport.written
        conn.data_received(b"Host: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        loop.run_until_complete(asyncio.sleep(0))
        assert transport.written == written                 # dropped, not parsed
        loop.now += server.LINGER_SECONDS - 0.1
        conn.expire(loop.now)
        assert not transport.closing
        loop.now += 0.2
        conn.expire(loop.now)
        assert transport.closing                            # drained long enough: closed
    finally:
        loop.close()


def test_a_lingering_connection_closes_when_the_client_does() -> None:
    conn, transport, loop = _connected()
    try:
        conn.data_received(b"NOT HTTP\r\n\r\n")
        assert transport.written.startswith(b"HTTP/1.1 400 Bad Request") and transport.eof_written
        assert conn.eof_received() is False                 # asyncio then closes the transport
    finally:
        loop.close()


def test_shutdown_does_not_wait_for_a_lingering_connection() -> None:
    conn, transport, loop = _connected()
    try:
        conn.data_received(b"NOT HTTP\r\n\r\n")
        assert transport.eof_written and not transport.closing
        conn.shutdown()
        assert transport.closing
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


class Listener:
    """A listening socket whose accept() finds no descriptor left (a real socket's fd, for the loop)."""

    def __init__(self) -> None:
        self.real, self.peer = socket.socketpair()
        self.accepts = 0

    def fileno(self) -> int:
        return self.real.fileno()

    def accept(self):
        self.accepts += 1
        raise OSError(errno.EMFILE, "Too many open files")

    def close(self) -> None:
        self.real.close()
        self.peer.close()


def test_out_of_descriptors_accepting_backs_off_once_with_one_log_line(caplog) -> None:
    # asyncio's own accept loop (CPython 3.11) logs every failed accept of a batch and schedules a
    # retry per failure: thousands of lines a second. Here: one try per readiness, one timer, one line.
    loop = Loop()
    srv = Server(loop)
    listener = Listener()
    listener.peer.send(b"x")                    # the listening fd stays readable, as a full queue does
    srv.sock = listener  # type: ignore[assignment]
    srv._listening = True

    def turns(n: int) -> None:
        for _ in range(n):
            loop.run_until_complete(asyncio.sleep(0))

    try:
        with caplog.at_level(logging.WARNING, logger="regauth.server"):
            srv._start_accepting()
            turns(5)
            assert listener.accepts == 1       # the first failure stopped accepting
            assert listener.fileno() not in loop._selector.get_map()
            retry = srv._retry
            assert retry is not None
            srv.connection_closed()             # a connection ending does not cut the back-off short
            turns(3)
            assert listener.accepts == 1 and srv._retry is retry
            loop.now += 0.6                     # past ACCEPT_RETRY_SECONDS: tried again, once
            turns(5)
            assert listener.accepts == 2 and srv._retry is not None and srv._retry is not retry
        lines = [r.getMessage() for r in caplog.records if r.name == "regauth.server"]
        assert len(lines) == 1 and "could not accept a connection (Too many open files)" in lines[0], lines
    finally:
        srv._stop_listening()
        loop.close()
    assert srv._retry is None


def test_at_the_connection_budget_accepting_stops_until_one_closes() -> None:
    loop = Loop()
    srv = Server(loop)
    srv.max_connections = 2
    listener = Listener()
    srv.sock = listener  # type: ignore[assignment]
    srv._listening = True
    try:
        first, second = Connection(srv), Connection(srv)     # type: ignore[arg-type]
        first.connection_made(Transport())
        second.connection_made(Transport())
        srv._start_accepting()
        srv._accept()
        assert listener.accepts == 0                        # at the budget: accept() is not even tried
        assert listener.fileno() not in loop._selector.get_map()
        first.connection_lost(None)
        assert listener.fileno() in loop._selector.get_map()  # one closed: accepting goes on
    finally:
        srv._stop_listening()
        loop.close()
