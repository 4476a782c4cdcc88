"""regauth's HTTP/1.1 server: asyncio streams of bytes, parsed by httptools (llhttp, the parser
uvicorn and Node use), handed to `regauth.http.Front` as `HttpRequest`s.

Why not an ASGI server: uvicorn and the ASGI adapter cost about 130 µs per request (a task, two
coroutines, an event and half a dozen dicts), about as much as verifying, authorizing, minting and
recording a token; this module costs about a third of that (docs/decisions.md). It does only what
regauth needs:

- HTTP/1.1 (and 1.0, answered and closed), keep-alive, pipelining: answers leave in request order,
  at most `MAX_PIPELINED` requests of a connection are in hand at once, parsing pauses beyond that
  (what was read is kept unparsed) and so does reading;
- strict parsing (llhttp's defaults, no leniencies): a malformed request gets a 400 and the
  connection is closed: after a refusal (400, 408, 431, an oversized body announced with `Expect`)
  only the sending side is closed and what the client still sends is drained for up to
  `LINGER_SECONDS`, so that the close is orderly rather than a reset that can destroy the answer;
  `Upgrade` is not spoken (the request is answered, then the connection closed);
- bounds: request line and headers together at most `MAX_HEAD_BYTES` (431 otherwise), the body at
  most the configured limit (read and dropped past it, then answered by the dialect's own error),
  a request must arrive whole within REGAUTH_REQUEST_TIMEOUT_SECONDS of its first byte (a slow
  sender gets a 408, its dialect's error once the head has arrived, and is cut off), an idle
  connection is closed after REGAUTH_KEEP_ALIVE_SECONDS;
- `Expect: 100-continue` is honoured: a body within the limit gets its 100 Continue, one announced over
  it is refused at once (the dialect's error, then the connection closed); chunked request bodies
  are decoded by the parser;
- backpressure: a client that does not read its answers stops being read from; so does one still
  sending a body while the bodies held in memory, all connections together, are over
  `BODIES_BUFFERED` times the body limit (`BodyBudget`: connections are let go on in the order they
  were held back, as bodies are answered);
- connections: at most REGAUTH_MAX_CONNECTIONS, and never more than `connection_budget()` (the
  descriptor limit, less a reserve for the store and the logs), open at once; past it, and whenever
  accept() finds no descriptor left, new connections wait in the listen queue and accepting resumes
  once one closes (or after `ACCEPT_RETRY_SECONDS`), with at most one log line a minute (asyncio's
  own accept loop logged every failed accept, thousands a second, and rescheduled itself once per
  failure: CPython gh-151615);
- what any client can make the log say (a malformed request, a request too slow) is said at most
  once a minute per message, with the count left out (regauth.notices);
- graceful shutdown on SIGTERM/SIGINT: stop listening, finish the requests in hand, close idle
  connections (a second signal closes everything at once).
"""

from __future__ import annotations

import asyncio
import errno
import http
import logging
import resource
import signal
import socket
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from email.utils import formatdate

import httptools

from regauth import notices
from regauth.errors import RequestTimedOut
from regauth.auth.canonical import HttpRequest
from regauth.http import Front
from regauth.protocols.aws.dispatch import Response

log = logging.getLogger("regauth.server")

MAX_HEAD_BYTES = 64 * 1024          # request line + headers
MAX_HEADERS = 200
MAX_PIPELINED = 8                   # requests of one connection in hand before parsing pauses
FEED_BYTES = 4096                   # parsed at a time, so that the pause comes within a few requests
SWEEP_SECONDS = 0.25                # how often deadlines are checked
SHUTDOWN_GRACE = 10.0               # how long requests in hand may take to finish at shutdown
CLOSE_GRACE = 5.0                   # then how long the store may take to close
LINGER_SECONDS = 2.0                # after refusing a request, how long what the client still sends is drained
ACCEPT_BATCH = 64                   # connections taken per readiness of the listening socket
ACCEPT_RETRY_SECONDS = 0.5          # after accept() found no descriptor (or buffer) left
FD_RESERVE = 64                     # descriptors kept for the store, its WAL, logs and accept itself
NOTICE_SECONDS = 60.0               # at most one log line per this long about refused accepts (and per kind below)
BODIES_BUFFERED = 64                # request bodies at the limit held in memory at once, all connections together
READ_BYTES = MAX_HEAD_BYTES         # the most one read of a connection takes (asyncio's own is 256 KiB)
SMALL_BODY_BYTES = MAX_HEAD_BYTES   # a body announced at most this long is never held back (it costs what a head may)
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

# A line any client can earn (a malformed request, one too slow): at most one a minute per message, with
# the count left out (regauth.notices; the client named is the first of the minute's).
_NOTICES = notices.Notices(log, NOTICE_SECONDS, time.monotonic, level=logging.INFO)

_STATUS = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in http.HTTPStatus}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _Date:
    """The Date header's text, made once per second."""

    second = -1
    text = b""

    @classmethod
    def header(cls) -> bytes:
        now = int(time.time())
        if now != cls.second:
            cls.text = b"date: " + formatdate(now, usegmt=True).encode() + b"\r\n"
            cls.second = now
        return cls.text


def _plain(status: int, message: str, *, close: bool) -> bytes:
    """A minimal text answer for what never reaches a dialect (unparseable requests)."""
    body = message.encode()
    head = (f"content-type: text/plain; charset=utf-8\r\ncontent-length: {len(body)}\r\n"
            + ("connection: close\r\n" if close else "")).encode()
    return _STATUS[status] + _Date.header() + head + b"\r\n" + body


def encode(response: Response, *, head_only: bool, close: bool) -> bytes:
    """Status line, headers and body as bytes; raises ValueError on a header that would split."""
    parts = [_STATUS.get(response.status) or f"HTTP/1.1 {response.status} \r\n".encode(), _Date.header()]
    for name, value in response.headers:
        # printable text only (no CR, LF or other control character: no response splitting)
        if not (name.isprintable() and value.isprintable()) or ":" in name or not name:
            raise ValueError(f"refusing to send header {name!r}: it holds a control character")
        parts.append(f"{name}: {value}\r\n".encode("latin-1"))
    body = response.body
    parts.append(b"content-length: %d\r\n" % len(body))
    if close:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    if not head_only:
        parts.append(body)
    return b"".join(parts)


def raise_open_file_limit() -> None:
    """Raise the process's soft descriptor limit to its hard one, as Go programs do at start
    (`regauth serve` calls it once, before the server is made); left as it is if refused."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass


def connection_budget() -> int:
    """How many client connections may be open at once: the process's (soft) descriptor limit,
    less a reserve (at most half of it) for the descriptors the rest of the server needs."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(1, soft - min(FD_RESERVE, soft // 2))


class _BadHost(Exception):
    """No Host header in an HTTP/1.1 request, or more than one (RFC 9112 section 3.2: a 400)."""


class _HeadTooLarge(Exception):
    pass


class _Slot:
    """One request's place in its connection's answer order."""

    __slots__ = ("data", "close", "linger", "body")

    def __init__(self) -> None:
        self.data: bytes | None = None
        self.close = False
        self.linger = False      # the close follows a refusal: the client may still be sending
        self.body = 0            # bytes of its body counted against the body budget: until it is
                                 # answered (or not served, its client gone), its connection closed or not


_NO_BODY: tuple[bytes, ...] = ()     # between requests (on_message_begin gives each its own list)
_GRANTED = 1        # a connection let go on, for one read, while others wait for the body budget
_RUNNER = 2         # the one let go on, to the end of its body, while the budget is spent


class BodyBudget:
    """Request body bytes held in memory, all connections together (bodies that did not arrive in one
    read: while they arrive, then until they are answered, their client gone or not), and which
    connections may read more of theirs.

    Without a bound, each connection could hold a body just short of the limit, unauthenticated, for
    the request timeout: 1,500 of them held 1.5 GiB. Past `limit`, a connection still sending a body
    stops being read (its client waits, held back by TCP) and waits its turn in a queue, first come,
    first served; no request is refused for it, and the request timeout still cuts one that never
    completes. A body that arrives whole in one read (a token request's few KiB), or one announced
    at most SMALL_BODY_BYTES long, is neither counted nor waited on (see Connection._read_done). As
    bytes are released (answers made, bodies dropped), the longest waiting are let go on, as many as
    one read each (READ_BYTES) fits in what is free; after that read each is held back again if the
    budget is still spent, behind the others. And while it is spent, one of them, the longest
    waiting, goes on to the end of its body even so (the runner): bodies still on their way could
    otherwise fill the budget and wait on each other until they time out. What is held past `limit`
    is therefore the runner's body and, for each connection, the one read that found the budget
    spent."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._waiting: OrderedDict[Connection, None] = OrderedDict()
        self._granted = 0                       # connections let go on for one read, not made yet
        self._runner: Connection | None = None
        self._notices = notices.Notices(log, NOTICE_SECONDS, time.monotonic, level=logging.WARNING)

    def waiting(self) -> int:
        """Connections held back now (for /metrics)."""
        return len(self._waiting)

    def release(self, size: int) -> None:
        self.held -= size
        if self._waiting:
            self._admit()

    def after_read(self, conn: "Connection") -> None:
        """`conn` has read (and parsed) what came: still sending a body, it is held back if the
        budget is spent (its one-read grant used)."""
        if conn.grant == _GRANTED:
            conn.grant = 0
            self._granted -= 1
        if conn.charged and conn.grant != _RUNNER and self.held + self._granted * READ_BYTES > self.limit:
            self._notices.say(f"request bodies held in memory reached {self.limit} bytes ({BODIES_BUFFERED} times "
                              "the body limit): connections still sending one are read as others are answered")
            if self._runner is None and not self._waiting:
                self._runner, conn.grant = conn, _RUNNER        # the first to find it spent goes on
                return
            self._waiting[conn] = None
            conn.hold_back()
        if self._waiting:
            self._admit()

    def done(self, conn: "Connection") -> None:
        """`conn` no longer reads a body (it is whole, dropped, or the connection is gone)."""
        self._waiting.pop(conn, None)
        if conn.grant == _GRANTED:
            self._granted -= 1
        elif conn.grant == _RUNNER and self._runner is conn:
            self._runner = None
        conn.grant = 0
        if self._waiting:
            self._admit()

    def _admit(self) -> None:
        """Let the longest waiting go on: as many as one read each fits in what is free, or the
        runner if there is none."""
        waiting = self._waiting
        while waiting:
            if self.held + (self._granted + 1) * READ_BYTES <= self.limit:
                grant = _GRANTED
                self._granted += 1
            elif self._runner is None:
                grant = _RUNNER
            else:
                return
            conn, _ = waiting.popitem(last=False)
            if grant == _RUNNER:
                self._runner = conn
            conn.go_on(grant)


class Connection(asyncio.Protocol):
    """One client connection: parse, hand over, answer in order."""

    def __init__(self, server: "Server") -> None:
        self._server = server
        self._front = server.front
        self._budget = server.body_budget
        self._loop = server.loop
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._peer = ""
        self._answers: deque[_Slot] = deque()
        self._deadline: float | None = None     # when the connection is cut, if nothing happens (see Server)
        self._reading = True
        self._write_paused = False
        self._in_message = False
        self._closing = False          # no more requests are taken; close once the answers are out
        self._finishing = False        # shut down while a request was arriving: it is read to its end
        self._held: bytes | None = None     # bytes read but not yet parsed (too many answers owed)
        self._held_scheduled = False
        self._eof = False
        self._lingering = False        # half-closed after a refusal, draining what the client sends
        self._body_wait = False        # not read: the body budget is spent (see BodyBudget)
        self.grant = 0                 # let go on by the body budget: _GRANTED (one read), _RUNNER
        # the request being read
        self._url = b""
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._headers: tuple[tuple[str, str], ...] = ()
        self._head_done = False        # the head of the request being read has arrived (and `_headers` is its)
        self._head_bytes = 0
        self._body: list[bytes] | tuple[bytes, ...] = []
        self._body_bytes = 0
        self.charged = 0               # bytes of `_body` counted against the body budget (see _read_done)
        self._too_large = False
        self._small_body = False       # announced (Content-Length) at most SMALL_BODY_BYTES: never held back

    # --- asyncio.Protocol -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        # asyncio's socket transports read `max_size` (256 KiB) at a time: a read that finds the body
        # budget spent is held past it, so one read is made no larger than a request's head may be
        transport.max_size = READ_BYTES     # type: ignore[attr-defined]
        peer = transport.get_extra_info("peername")
        self._peer = peer[0] if isinstance(peer, tuple) and peer else ""
        self._server.connections.add(self)
        self._deadline = self._loop.time() + self._server.keep_alive

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        self._server.connection_closed()
        self._deadline = None
        self._closing = True
        self._drop_body()
        self._answers.clear()          # answers still being made are dropped when they arrive
        self._parser = None  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self._closing or self._finishing:
            self._feed(data)
            if self._in_message or self.grant:
                self._read_done()

    def _feed(self, data: bytes) -> None:
        """Parse `data` a slice at a time; once MAX_PIPELINED answers are owed, keep the rest until
        they are sent (one read can hold thousands of pipelined requests: they are not all taken)."""
        pos, size = 0, len(data)
        while pos < size:
            if len(self._answers) >= MAX_PIPELINED:
                self._held = data[pos:]
                self._update_reading()
                return
            chunk = data if pos == 0 and size <= FEED_BYTES else data[pos:pos + FEED_BYTES]
            pos += FEED_BYTES
            try:
                self._parser.feed_data(chunk)
            except httptools.HttpParserUpgrade:
                self._stop_taking()        # answered as plain HTTP; what follows is not spoken here
            except httptools.HttpParserCallbackError as exc:
                if isinstance(exc.__context__, _HeadTooLarge):
                    self._refuse(431, "Request header fields too large")
                elif isinstance(exc.__context__, _BadHost):
                    _NOTICES.say(f"malformed HTTP request: {exc.__context__}", f"client {self._peer}: ")
                    self._refuse(400, "Invalid HTTP request")
                else:                      # a fault of ours while taking the request
                    log.error("could not take a request", exc_info=exc)
                    self._refuse(500, "Internal Server Error")
            except httptools.HttpParserError as exc:
                _NOTICES.say(f"malformed HTTP request: {exc}", f"client {self._peer}: ")
                self._refuse(400, "Invalid HTTP request")
            if self._closing and not self._finishing:     # at shutdown, the request begun is read to its end
                return

    def _feed_held(self) -> None:
        self._held_scheduled = False
        data, self._held = self._held, None
        if data is not None and (not self._closing or self._finishing):
            self._feed(data)
            if self._in_message or self.grant:
                self._read_done()
        if self._eof and self._held is None:
            self._after_eof()
        self._update_reading()

    def eof_received(self) -> bool:
        self._eof = True
        if self._lingering:
            return False               # drained: asyncio closes the transport
        if self._held is None:
            self._after_eof()
        return True                    # keep the write side open for the answers owed

    def _read_done(self) -> None:
        """A read has been parsed with a request still arriving: what it holds of its body is counted
        against the body budget, which may hold the connection back. Counted from the first read
        that ends with the body incomplete, so a body that arrives whole in one read (a token
        request's few KiB; a read is at most READ_BYTES) costs the budget nothing, and neither does one
        announced at most SMALL_BODY_BYTES long: it may hold no more than a request head may, and over
        a real network a token request's body often comes in a packet after its head. Held back, it
        waited behind a flood of large bodies for most of the request timeout."""
        if self._in_message and not self._too_large and not self._small_body and self._body_bytes > self.charged:
            self._budget.held += self._body_bytes - self.charged
            self.charged = self._body_bytes
        self._budget.after_read(self)

    def _after_eof(self) -> None:
        self._in_message = self._finishing = False      # a request cut short will never be whole: dropped
        self._drop_body()
        self._stop_taking()            # the client sent all it will; answer what is in hand

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._update_reading()

    # --- httptools callbacks --------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._in_message = True
        self._head_done = False
        self._url = b""
        self._raw_headers = []
        self._head_bytes = 0
        self._body = []
        self._body_bytes = 0
        self._too_large = False
        self._small_body = False
        self._deadline = self._loop.time() + self._server.request_timeout

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_bytes += len(url)
        if self._head_bytes > MAX_HEAD_BYTES:
            raise _HeadTooLarge()

    def on_header(self, name: bytes, value: bytes) -> None:
        headers = self._raw_headers
        headers.append((name, value))
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > MAX_HEAD_BYTES or len(headers) > MAX_HEADERS:
            raise _HeadTooLarge()

    def on_headers_complete(self) -> None:
        length: int | None = None
        expect = False
        hosts = 0
        for name, value in self._raw_headers:
            size = len(name)
            if size == 14 and name.lower() == b"content-length":
                length = int(value)            # llhttp has checked it is a number, and the only one
            elif size == 6 and name.lower() == b"expect":
                expect = value.strip().lower() == b"100-continue"
            elif size == 4 and name.lower() == b"host":
                hosts += 1
        if hosts != 1 and (hosts or self._parser.get_http_version() != "1.0"):
            # RFC 9112 3.2: exactly one in HTTP/1.1
            raise _BadHost("more than one Host header" if hosts else "no Host header")
        self._headers = tuple([(n.decode("latin-1"), v.decode("latin-1")) for n, v in self._raw_headers])
        self._head_done = True
        self._small_body = length is not None and length <= SMALL_BODY_BYTES
        if length is not None and length > self._front.max_body_bytes:
            self._too_large = True
            if expect:
                self._refuse_before_body()
        elif expect and not self._answers:
            self._transport.write(_CONTINUE)     # type: ignore[union-attr]

    def _refuse_before_body(self) -> None:
        """A body announced over the limit, with `Expect: 100-continue`: the client waits for a word
        before sending it (some for ever), so it is answered now by its dialect's error, without the
        body, and the connection is closed after the answer (RFC 9110 §10.1.1), lingering: whatever
        the client sends meanwhile is drained, never parsed (see `_close`)."""
        self._in_message = False
        self._finishing = False         # nothing more is read, at shutdown too (the body would be parsed)
        self._deadline = None
        req = self._request(b"")
        if req is None:
            return
        slot = _Slot()
        slot.close = slot.linger = True
        self._answers.append(slot)
        self._stop_taking()
        self._server.take(self, req, slot, True)

    def on_body(self, body: bytes) -> None:
        if self._too_large:
            return
        self._body_bytes += len(body)
        if self._body_bytes > self._front.max_body_bytes:
            self._too_large = True
            self._drop_body()
        else:
            self._body.append(body)     # type: ignore[union-attr]

    def on_message_complete(self) -> None:
        self._in_message = False
        self._deadline = None
        if self._closing and not self._finishing:
            self._drop_body()
            return
        finishing, self._finishing = self._finishing, False
        parser = self._parser
        keep_alive = not finishing and parser.should_keep_alive() and parser.get_http_version() == "1.1"
        body, self._body = self._body, _NO_BODY      # not kept past the request (idle connections hold none)
        charged = self.charged
        if charged:                     # counted while it arrived: all of it is, until it is answered
            self._budget.held += self._body_bytes - charged
            charged, self.charged = self._body_bytes, 0
        if self.grant:
            self._budget.done(self)                 # whole: the next in line may go on
        req = self._request(b"".join(body) if len(body) != 1 else body[0])
        if req is None:
            if charged:
                self._budget.release(charged)
            return
        slot = _Slot()
        slot.body = charged
        self._answers.append(slot)
        if not keep_alive:
            slot.close = True
            self._stop_taking()
        self._update_reading()
        # Handled in a later loop turn than the one its bytes arrived in: see regauth.http.OncePerTurn.
        self._server.take(self, req, slot, self._too_large)

    def _request(self, body: bytes) -> HttpRequest | None:
        """The request read so far, with `body`; None (and a 400 on its way) if its target is invalid."""
        try:
            parsed = httptools.parse_url(self._url)
        except httptools.HttpParserInvalidURLError:
            self._refuse(400, "Invalid request target")
            return None
        return HttpRequest(self._parser.get_method().decode("ascii"), (parsed.path or b"").decode("latin-1"),
                           (parsed.query or b"").decode("latin-1"), self._headers, body,
                           self._front.client_ip(self._peer, self._headers),
                           self._front.forwarded_https(self._peer, self._headers))

    # --- serving --------------------------------------------------------------------------------
    def serve(self, req: HttpRequest, slot: _Slot, too_large: bool) -> None:
        if self._transport is None or self._transport.is_closing():
            if slot.body:
                self._budget.release(slot.body)
            return                     # the client is gone: nothing to answer, nothing to issue
        answer = self._answerer(slot, head_only=req.method == "HEAD")
        try:
            self._front.serve(req, too_large, answer)
        except Exception as exc:  # noqa: BLE001 - a fault of ours: a generic 500, the connection closed
            log.error("could not serve a request", exc_info=exc)
            slot.close = True
            answer(Response(500, [("content-type", "text/plain; charset=utf-8")], b"Internal Server Error"))

    def _answerer(self, slot: _Slot, *, head_only: bool) -> Callable[[Response], None]:
        """What puts a response in `slot` (the first one given; later ones are dropped) and sends what is ready."""
        def answer(response: Response) -> None:
            if slot.data is not None:
                return
            if slot.body:
                self._budget.release(slot.body)
                slot.body = 0
            try:
                slot.data = encode(response, head_only=head_only, close=slot.close)
            except ValueError as exc:
                log.error("%s", exc)
                slot.data, slot.close = _plain(500, "Internal Server Error", close=True), True
            self._flush()
        return answer

    def _flush(self) -> None:
        """Send the answers that are ready, in request order."""
        transport = self._transport
        answers = self._answers
        if transport is None or transport.is_closing():
            return
        while answers and answers[0].data is not None:
            slot = answers.popleft()
            transport.write(slot.data)  # type: ignore[arg-type]
            if slot.close:
                answers.clear()
                self._close(linger=slot.linger)
                return
        self._update_reading()
        if not answers:
            if self._closing:
                self._close()
            elif not self._in_message:
                self._deadline = self._loop.time() + self._server.keep_alive

    # --- helpers --------------------------------------------------------------------------------
    def _refuse(self, status: int, message: str) -> None:
        """An answer that ends the connection, after the answers still owed before it (counted under
        the route `server`: no dialect saw the request)."""
        metrics = self._front.metrics
        if metrics is not None:
            metrics.http_requests[("server", status)] += 1
        self._drop_body()
        self._finishing = False         # nothing more is read
        slot = _Slot()
        slot.data, slot.close, slot.linger = _plain(status, message, close=True), True, True
        self._answers.append(slot)
        self._stop_taking()
        self._flush()

    def _refuse_slow(self) -> None:
        """A 408: the request did not arrive whole in time. Once its head has arrived, an AWS or
        Alibaba request is refused by its dialect's error (`RequestTimedOut`): their clients read the
        code from the body, and to botocore a text answer is "Unable to parse response"; the
        connection is then closed, lingering, as after any refusal. Before that (or for the registry
        endpoints, whose clients read only the status) the answer is text."""
        arrived = b"".join(self._body) if self._head_done and not self._too_large else b""
        req = self._request(arrived) if self._head_done else None   # its format may be in the body so far
        if req is None:
            if not self._head_done:
                self._refuse(408, "Request timeout")
            return                      # else: an invalid target, refused by _request (400)
        self._drop_body()
        self._finishing = False         # nothing more is read
        slot = _Slot()
        slot.close = slot.linger = True
        self._answers.append(slot)
        self._stop_taking()
        answer = self._answerer(slot, head_only=req.method == "HEAD")
        try:
            refused = self._front.refuse(req, RequestTimedOut(
                f"The request did not arrive whole within {self._server.request_timeout:g} seconds."), answer)
        except Exception as exc:  # noqa: BLE001 - a fault of ours: the text answer instead
            log.error("could not refuse a request", exc_info=exc)
            refused = False
        if not refused:
            metrics = self._front.metrics
            if metrics is not None:
                metrics.http_requests[("server", 408)] += 1
            slot.data = _plain(408, "Request timeout", close=True)
            self._flush()

    def _drop_body(self) -> None:
        """The body being read will not be served (cut short, refused, over the limit, the connection
        gone): its bytes leave the body budget, and the connection its queue."""
        self._body = _NO_BODY
        if self.charged:
            self._budget.release(self.charged)
            self.charged = 0
        if self.grant or self._body_wait:
            self._body_wait = False
            self._budget.done(self)

    def hold_back(self) -> None:
        """Called by the body budget: not read until `go_on`."""
        self._body_wait = True
        self._update_reading()

    def go_on(self, grant: int) -> None:
        self._body_wait = False
        self.grant = grant
        self._update_reading()

    def _stop_taking(self) -> None:
        self._closing = True
        self._update_reading()
        if not self._answers and self._transport is not None and not self._in_message:
            self._close()

    def _update_reading(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing() or self._lingering:
            return
        want = ((not self._closing or (self._finishing and self._in_message)) and not self._write_paused
                and len(self._answers) < MAX_PIPELINED and not self._body_wait)
        if want and self._held is not None:         # parse what is kept before reading more
            if not self._held_scheduled:
                self._held_scheduled = True
                self._loop.call_soon(self._feed_held)
            want = False
        if want != self._reading:
            self._reading = want
            if want:
                transport.resume_reading()
            else:
                transport.pause_reading()

    def expire(self, now: float) -> None:
        """Called by the server's sweep: cut the connection if its deadline has passed."""
        deadline = self._deadline
        if deadline is None or now < deadline:
            return
        self._deadline = None
        if self._transport is None:
            return
        if self._transport.is_closing():            # closed, but the client has not read what is owed
            self._transport.abort()
            return
        if self._lingering:                         # drained long enough: whatever still comes is cut off
            self._lingering = False
            self._close()
            return
        if self._in_message and self._held is not None and not self._write_paused:
            # its bytes may well be here, kept unparsed while MAX_PIPELINED answers are being made: the
            # wait is regauth's (a slow store, say), not the client's (one not reading its answers is)
            self._deadline = now + self._server.request_timeout
            return
        if self._in_message:
            _NOTICES.say(f"closing a connection: a request took over {self._server.request_timeout:.0f} s to arrive",
                         f"client {self._peer}: ")
            self._in_message = False
            self._refuse_slow()
        elif not self._answers:
            self._close()                           # idle keep-alive connection (or one not reading)

    def _close(self, linger: bool = False) -> None:
        """Close once what is written has been sent; a client that will not read it for another
        keep-alive period is cut off (asyncio would otherwise keep the connection for ever).

        `linger` (after a refusal, when the client may still be sending a request or its body): only
        the sending side is closed, after the answer, and what arrives is read and dropped until the
        client closes too or LINGER_SECONDS pass. Closing with unread input makes the kernel send a
        reset, which can destroy the answer before the client reads it (nginx's lingering close)."""
        transport = self._transport
        if transport is None or transport.is_closing() or self._lingering:
            return
        if linger and not self._eof and transport.can_write_eof():
            self._lingering = self._closing = True
            self._deadline = self._loop.time() + LINGER_SECONDS
            try:
                transport.write_eof()
            except OSError:                         # the client reset the connection: nothing to linger for
                self._lingering = False
                transport.abort()
                return
            if not self._reading:
                self._reading = True
                transport.resume_reading()
            return
        transport.close()
        self._deadline = self._loop.time() + self._server.keep_alive

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def shutdown(self) -> None:
        """Stop taking requests; close once the answers in hand are out. A request that has begun to
        arrive is read to its end and answered too (with the connection's close), as nginx and Go's
        net/http do at a graceful stop: a client uploading its request during a rolling restart
        would otherwise see its connection closed under it. The server's grace bounds the wait."""
        self._finishing = self._in_message
        if self._lingering and self._transport is not None:
            self._lingering = False                 # the server is going: no more draining
            self._transport.close()
            return
        self._stop_taking()


class Server:
    """The listening socket, its connections, and their orderly end."""

    def __init__(self, front: Front, sock: socket.socket, *, keep_alive: float, request_timeout: float,
                 max_connections: int | None = None) -> None:
        self.front = front
        self.sock = sock
        self.keep_alive = keep_alive
        self.request_timeout = request_timeout
        budget = connection_budget()        # never more than the descriptors allow
        self.max_connections = min(max_connections, budget) if max_connections else budget
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.connections: set[Connection] = set()
        self.body_budget = BodyBudget(BODIES_BUFFERED * front.max_body_bytes)
        if front.metrics is not None:
            front.metrics.open_connections = lambda: len(self.connections)
            front.metrics.body_bytes_held = lambda: self.body_budget.held
            front.metrics.connections_held_back = self.body_budget.waiting
        self._attaching = 0                     # accepted, their transport not made yet
        self._listening = False                 # the listening socket is open (until shutdown)
        self._accepting = False                 # its reader is registered
        self._retry: asyncio.TimerHandle | None = None
        self._noticed = -NOTICE_SECONDS         # when the last line about refused accepts was logged
        self._refused = 0                       # accepts put off since then
        self._taken: list[tuple[Connection, HttpRequest, _Slot, bool]] = []
        self._stop: asyncio.Event | None = None
        self._signals = 0
        self.abandoned = False              # shut down with the store still busy (see _close_front)

    def take(self, conn: Connection, req: HttpRequest, slot: _Slot, too_large: bool) -> None:
        """Queue a whole request; the requests taken in one loop turn are served together in the next."""
        taken = self._taken
        taken.append((conn, req, slot, too_large))
        if len(taken) == 1:
            self.loop.call_soon(self._serve_taken)

    def _serve_taken(self) -> None:
        """Serve the requests taken in the last turn, in the order they came, then have their records
        stored together (one transaction on SQLite), so their answers leave in this turn."""
        taken, self._taken = self._taken, []
        try:
            for conn, req, slot, too_large in taken:
                conn.serve(req, slot, too_large)
        finally:
            self.front.served()

    # --- accepting ----------------------------------------------------------------------------
    def _start_accepting(self) -> None:
        if self._listening and not self._accepting:
            self._accepting = True
            self.loop.add_reader(self.sock.fileno(), self._accept)

    def _stop_accepting(self) -> None:
        if self._accepting:
            self._accepting = False
            self.loop.remove_reader(self.sock.fileno())

    def _accept(self) -> None:
        """Take the connections waiting in the listen queue, up to the budget."""
        for _ in range(ACCEPT_BATCH):
            if len(self.connections) + self._attaching >= self.max_connections:
                self._stop_accepting()          # resumed by connection_closed()
                self._notice(f"{self.max_connections} connections are open, the limit (REGAUTH_MAX_CONNECTIONS, "
                             "or the open-file limit less a reserve): new ones wait in the listen queue "
                             "until one closes")
                return
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:   # that connection's own failure (EPROTO, EPERM, ...)
                    self._notice(f"could not accept a connection: {exc}")
                    return
                self._stop_accepting()
                if self._retry is None:
                    self._retry = self.loop.call_later(ACCEPT_RETRY_SECONDS, self._retry_accepting)
                self._notice(f"could not accept a connection ({exc.strerror}): new ones wait in the listen "
                             f"queue, retried every {ACCEPT_RETRY_SECONDS:g} s")
                return
            conn.setblocking(False)
            self._attaching += 1
            self.loop.create_task(self._attach(conn))

    async def _attach(self, conn: socket.socket) -> None:
        try:
            await self.loop.connect_accepted_socket(lambda: Connection(self), conn)
        except Exception as exc:  # noqa: BLE001 - one connection's failure must not stop the others
            log.info("could not take a connection: %s", exc)
            conn.close()
        finally:
            self._attaching -= 1
            self.connection_closed()        # it may have ended (or failed) while it counted here too

    def _retry_accepting(self) -> None:
        self._retry = None
        self._start_accepting()

    def connection_closed(self) -> None:
        """A connection ended: if accepting stopped at the budget, it goes on."""
        if (not self._accepting and self._retry is None
                and len(self.connections) + self._attaching < self.max_connections):
            self._start_accepting()

    def _notice(self, message: str) -> None:
        """One warning per NOTICE_SECONDS, with how many accepts were put off since the last."""
        self._refused += 1
        now = self.loop.time()
        if now - self._noticed >= NOTICE_SECONDS:
            more = f" ({self._refused - 1} more times since the last notice)" if self._refused > 1 else ""
            log.warning("%s%s", message, more)
            self._noticed, self._refused = now, 0

    def _stop_listening(self) -> None:
        self._stop_accepting()
        self._listening = False
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self.sock.close()

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.loop.add_signal_handler(sig, self._on_signal)
        self.sock.setblocking(False)
        self._listening = True
        self._start_accepting()
        sweep = self.loop.create_task(self._sweep())
        self.front.ready = True
        try:
            await self._stop.wait()
        finally:
            self.front.ready = False
            self._stop_listening()
            for conn in list(self.connections):
                conn.shutdown()
            deadline = self.loop.time() + SHUTDOWN_GRACE
            while self.connections and self.loop.time() < deadline and self._signals < 2:
                await asyncio.sleep(0.01)       # the sweep goes on meanwhile: a request stalled on its way gets its 408
            sweep.cancel()
            for conn in list(self.connections):
                conn.abort()
            await self._close_front()
            notices.flush_all(final=True)     # the counts whose window had not ended: none is lost

    async def _close_front(self) -> None:
        """Close the front (worker threads, group commit, store) off the loop, so that a store that
        hangs (a database that stopped answering) cannot hold the process: past CLOSE_GRACE, or at
        a second signal, the process leaves without it (`abandoned`; the caller exits at once)."""
        closing = threading.Thread(target=self.front.close, name="regauth-close", daemon=True)
        closing.start()
        deadline, hurried = self.loop.time() + CLOSE_GRACE, False
        while closing.is_alive() and self.loop.time() < deadline:
            if self._signals >= 2 and not hurried:      # stop at once: a healthy store closes in ms
                deadline, hurried = min(deadline, self.loop.time() + 0.5), True
            await asyncio.sleep(0.02)
        if closing.is_alive():
            log.error("the store did not close (a request still waits on it): exiting without it")
            self.abandoned = True

    async def _sweep(self) -> None:
        """Every SWEEP_SECONDS, cut the connections whose deadline passed (an idle keep-alive, or a
        request arriving too slowly). One sweep instead of a timer per request: a timer set and
        cancelled per request cost more than the rest of the bookkeeping."""
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            now = self.loop.time()
            for conn in list(self.connections):
                conn.expire(now)
            notices.flush_all()     # counts of ERROR lines left out, once their window ends

    def _on_signal(self) -> None:
        self._signals += 1
        if self._signals == 1:
            log.info("shutting down: finishing the requests in hand")
        assert self._stop is not None
        self._stop.set()

