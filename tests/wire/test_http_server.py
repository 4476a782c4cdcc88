"""regauth's own HTTP/1.1 server (regauth.server), driven over raw sockets: keep-alive, pipelining,
bounds, timeouts, strict parsing, backpressure and an orderly shutdown."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest

from tests.fixtures.server import RegauthServer, server_env, start_server

HEALTH = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
STS_UNSIGNED = b"Action=GetCallerIdentity&Version=2011-06-15"
ONE_MIB = 1 << 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegauthServer]:
    srv = start_server(tmp_path_factory.mktemp("http-server"),
                       {**server_env(), "REGAUTH_KEEP_ALIVE_SECONDS": "1", "REGAUTH_REQUEST_TIMEOUT_SECONDS": "2"})
    yield srv
    srv.stop()


def connect(server: RegauthServer) -> socket.socket:
    u = urlsplit(server.url)
    sock = socket.create_connection((u.hostname, u.port), timeout=10)
    return sock


class Reader:
    """Reads HTTP/1.1 responses (content-length framed, as regauth sends them) off a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _more(self) -> bool:
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            if not self._more():
                raise ConnectionError(f"closed before a whole response head: {self.buf[:200]!r}")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        if status == 100:
            return status, headers, b""
        n = int(headers["content-length"])
        while len(self.buf) < n:
            if not self._more():
                raise ConnectionError("closed before the whole body")
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def answered_within(self, seconds: float) -> bool:
        """True if any byte of an answer arrives within `seconds`."""
        self.sock.settimeout(seconds)
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            return False
        finally:
            self.sock.settimeout(10)
        self.buf += data
        return bool(data)

    def closed(self, within: float = 5.0) -> bool:
        """True once the server has closed the connection (and nothing more was sent)."""
        self.sock.settimeout(within)
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            return False
        except ConnectionResetError:
            return True
        self.buf += data
        return data == b""


def sts_post(body: bytes = STS_UNSIGNED, extra: bytes = b"") -> bytes:
    return (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n%s\r\n" % (len(body), extra)) + body


def test_keep_alive_serves_several_requests_on_one_connection(server: RegauthServer) -> None:
    with connect(server) as s:
        r = Reader(s)
        for _ in range(3):
            s.sendall(HEALTH)
            status, headers, body = r.response()
            assert status == 200 and json.loads(body) == {"status": "ok"}
            assert "connection" not in headers and headers["content-type"] == "application/json"
            assert headers["date"].endswith("GMT")


def test_pipelined_requests_are_answered_in_order(server: RegauthServer) -> None:
    # a health check, an unsigned STS call (denied, audited: its answer waits for the group commit),
    # and a health check again: the third is ready first but must leave last
    with connect(server) as s:
        s.sendall(HEALTH + sts_post() + HEALTH)
        r = Reader(s)
        statuses = [r.response()[0] for _ in range(3)]
        assert statuses[0] == 200 and statuses[2] == 200
        assert statuses[1] == 403


def test_many_pipelined_requests_from_a_client_that_reads_late_are_all_answered(server: RegauthServer) -> None:
    # reading pauses while answers are owed (backpressure); nothing is lost or reordered when it resumes
    n = 2000
    with connect(server) as s:
        payload = b"".join(b"GET /healthz?i=%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(n))
        s.sendall(payload)
        time.sleep(0.5)
        r = Reader(s)
        for _ in range(n):
            assert r.response()[0] == 200
    with connect(server) as s:                     # and the server still serves others
        s.sendall(HEALTH)
        assert Reader(s).response()[0] == 200


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    # request smuggling shapes: both framings, or two different lengths
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
    b"GET /h\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET /healthz HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n",
], ids=["not-http", "header-without-colon", "cl-and-te", "two-lengths", "non-ascii-target", "no-host",
        "two-hosts", "two-hosts-http-1.0"])
def test_a_malformed_request_gets_400_and_the_connection_is_closed(server: RegauthServer, raw: bytes) -> None:
    with connect(server) as s:
        s.sendall(raw)
        r = Reader(s)
        status, headers, _ = r.response()
        assert status == 400
        assert headers["connection"] == "close"
        assert r.closed()


def test_headers_over_64_kib_get_431(server: RegauthServer) -> None:
    with connect(server) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (70 * 1024) + b"\r\n\r\n")
        r = Reader(s)
        status, headers, _ = r.response()
        assert status == 431 and headers["connection"] == "close"
        assert r.closed()


def test_too_many_headers_get_431(server: RegauthServer) -> None:
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(300))
    with connect(server) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        assert Reader(s).response()[0] == 431


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_limit_is_refused_in_the_dialects_envelope(server: RegauthServer, chunked: bool) -> None:
    body = b"Action=GetCallerIdentity&Version=2011-06-15&Pad=" + b"x" * ONE_MIB
    if chunked:
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536])
                          for i in range(0, len(body), 65536))
        raw = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
    else:
        raw = sts_post(body)
    with connect(server) as s:
        s.sendall(raw)
        r = Reader(s)
        status, headers, text = r.response()
        assert status == 400
        assert b"<ErrorResponse" in text and b"larger than 1048576 bytes" in text     # STS's XML envelope
        s.sendall(HEALTH)                           # the body was read to its end: the connection goes on
        assert r.response()[0] == 200


def test_an_oversized_signed_body_is_refused_in_its_credential_scope_s_envelope(server: RegauthServer) -> None:
    """The body that names the service (IAM's Version) is never read when it is too large: the
    signature's credential scope says which envelope the client reads."""
    body = b"Action=ListUsers&Version=2010-05-08&Pad=" + b"x" * ONE_MIB
    auth = (b"Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261124/us-east-1/iam/aws4_request, "
            b"SignedHeaders=host;x-amz-date, Signature=" + b"a" * 64 + b"\r\nX-Amz-Date: 20261124T000000Z\r\n")
    with connect(server) as s:
        s.sendall(sts_post(body, auth))
        status, _, text = Reader(s).response()
    assert status == 400 and b"larger than 1048576 bytes" in text
    assert b'xmlns="https://iam.amazonaws.com/doc/2010-05-08/"' in text


def test_an_oversized_alibaba_sdk_form_body_is_refused_in_acr_s_envelope(server: RegauthServer) -> None:
    """pop-core and aliyun-python-sdk-core put an RPC call's parameters in the form body, which is
    never read when too large; their `x-sdk-client` header says whose envelope to answer in."""
    body = b"Action=GetAuthorizationToken&Version=2018-12-01&Pad=" + b"x" * ONE_MIB
    with connect(server) as s:
        s.sendall(sts_post(body, b"x-sdk-client: node/2.0.0\r\n"))
        status, _, text = Reader(s).response()
    assert status == 400 and b"larger than 1048576 bytes" in text
    error = json.loads(text)                                            # ACR's envelope, not STS's XML
    assert error["Code"] == "InvalidParameter" and {"RequestId", "HostId", "Recommend"} <= set(error)


def test_expect_100_continue_is_answered_before_the_body(server: RegauthServer) -> None:
    with connect(server) as s:
        s.sendall(sts_post(extra=b"Expect: 100-continue\r\n").split(b"\r\n\r\n")[0] + b"\r\n\r\n")
        r = Reader(s)
        assert r.response()[0] == 100
        s.sendall(STS_UNSIGNED)
        assert r.response()[0] == 403


def test_expect_100_continue_over_the_limit_is_refused_before_the_body(server: RegauthServer) -> None:
    # The client waits for a 100 before sending 2 MiB; it must not wait for the request timeout (2 s
    # here) or send the body for nothing: the dialect's own error comes at once and the connection ends.
    head = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % (2 * ONE_MIB))
    with connect(server) as s:
        started = time.monotonic()
        s.sendall(head)
        r = Reader(s)
        status, headers, text = r.response()
        assert status == 400 and headers["connection"] == "close"
        assert b"<ErrorResponse" in text and b"larger than 1048576 bytes" in text     # STS's XML envelope
        assert time.monotonic() - started < 1.5         # not the 408 of the request timeout
        assert r.closed()


def test_expect_100_continue_over_the_limit_after_pipelined_requests(server: RegauthServer) -> None:
    head = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % (2 * ONE_MIB))
    with connect(server) as s:
        s.sendall(HEALTH + HEALTH + head)
        r = Reader(s)
        assert [r.response()[0] for _ in range(2)] == [200, 200]      # the answers owed come first, in order
        assert r.response()[0] == 400
        assert r.closed()


def test_a_chunked_request_body_is_decoded(server: RegauthServer) -> None:
    half = len(STS_UNSIGNED) // 2
    a, b = STS_UNSIGNED[:half], STS_UNSIGNED[half:]
    raw = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(a), a, len(b), b))
    with connect(server) as s:
        s.sendall(raw)
        status, _, text = Reader(s).response()
        assert status == 403 and b"MissingAuthenticationToken" in text   # parsed as STS, not malformed


def test_head_gets_headers_without_a_body(server: RegauthServer) -> None:
    with connect(server) as s:
        s.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + HEALTH)
        r = Reader(s)
        while b"\r\n\r\n" not in r.buf:
            assert r._more()
        head, r.buf = r.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200") and b"content-length: 16" in head
        assert r.response()[0] == 200               # the next answer starts right after the head


def test_http_1_0_is_answered_and_closed(server: RegauthServer) -> None:
    with connect(server) as s:
        s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        r = Reader(s)
        status, headers, _ = r.response()
        assert status == 200 and headers["connection"] == "close"
        assert r.closed()


def test_connection_close_is_honoured(server: RegauthServer) -> None:
    with connect(server) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + HEALTH)
        r = Reader(s)
        assert r.response()[1]["connection"] == "close"
        assert r.closed()                          # the pipelined request after it is not served


def test_an_upgrade_is_not_spoken(server: RegauthServer) -> None:
    with connect(server) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        r = Reader(s)
        assert r.response()[0] == 200
        assert r.closed()


def test_an_idle_connection_is_closed_after_the_keep_alive_time(server: RegauthServer) -> None:
    with connect(server) as s:
        s.sendall(HEALTH)
        r = Reader(s)
        assert r.response()[0] == 200
        started = time.monotonic()
        assert r.closed(within=5)
        assert 0.5 < time.monotonic() - started < 4      # REGAUTH_KEEP_ALIVE_SECONDS=1


def test_a_request_that_arrives_too_slowly_gets_408(server: RegauthServer) -> None:
    with connect(server) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")       # and never the blank line
        r = Reader(s)
        time.sleep(0.8)
        s.sendall(b"X-Slow: 1\r\n")                              # trickling bytes do not extend the time
        started = time.monotonic()
        status, headers, _ = r.response()
        assert status == 408 and headers["connection"] == "close"
        assert time.monotonic() - started < 3                    # REGAUTH_REQUEST_TIMEOUT_SECONDS=2
        assert r.closed()


def test_shutdown_closes_idle_connections_and_exits(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", server_env())
    try:
        with connect(srv) as s:
            s.sendall(HEALTH)
            r = Reader(s)
            assert r.response()[0] == 200
            started = time.monotonic()
            srv.process.terminate()
            assert r.closed(within=5)
            assert srv.process.wait(timeout=10) == 0
            assert time.monotonic() - started < 5
    finally:
        srv.stop()


def test_a_request_arriving_at_shutdown_is_read_to_its_end_and_answered(tmp_path: Path) -> None:
    """SIGTERM while one request's body and another's headers are still on their way: both are
    answered (as at a graceful stop of nginx or Go's net/http), each with the connection's close;
    an idle connection is closed; then the process exits 0."""
    srv = start_server(tmp_path / "data", server_env())
    try:
        whole = sts_post()
        with connect(srv) as body_due, connect(srv) as head_due, connect(srv) as idle:
            body_due.sendall(whole[:-10])
            head_due.sendall(whole[:20])
            idle.sendall(HEALTH)
            assert Reader(idle).response()[0] == 200
            time.sleep(0.2)                     # both partial requests are in the server's hands
            srv.process.terminate()
            assert Reader(idle).closed(within=5)
            time.sleep(0.3)
            assert srv.process.poll() is None   # waiting for the requests it has begun to read
            body_due.sendall(whole[-10:])
            head_due.sendall(whole[20:])
            for s in (body_due, head_due):
                r = Reader(s)
                status, headers, body = r.response()
                assert status == 403 and b"<ErrorResponse" in body, (status, body[:200])
                assert headers["connection"] == "close"
                assert r.closed()
        assert srv.process.wait(timeout=10) == 0
    finally:
        srv.stop()


def test_a_large_body_arriving_at_shutdown_is_read_whole(tmp_path: Path) -> None:
    """Each read at shutdown is parsed whole: only its first 4 KiB slice was, the rest dropped, so a
    body of more than a few KiB still on its way at SIGTERM never completed (cut at the grace's end)."""
    srv = start_server(tmp_path / "data", server_env())
    try:
        whole = sts_post(STS_UNSIGNED + b"&Pad=" + b"x" * 300_000)
        with connect(srv) as s:
            s.sendall(whole[:1000])
            time.sleep(0.2)                     # the request is in the server's hands
            srv.process.terminate()
            time.sleep(0.3)
            s.sendall(whole[1000:])
            r = Reader(s)
            status, headers, body = r.response()
            assert status == 403 and b"<ErrorResponse" in body, (status, body[:200])
            assert headers["connection"] == "close"
        assert srv.process.wait(timeout=10) == 0
    finally:
        srv.stop()


def test_a_body_refused_before_it_is_sent_at_shutdown_is_not_read(tmp_path: Path) -> None:
    """SIGTERM while a request's head is arriving; the head then announces a body over the limit with
    Expect: 100-continue: refused at once (400), and what the client sends anyway is drained, never
    parsed. It was parsed: its end handed the request over a second time, and answering it after
    the close logged a traceback."""
    srv = start_server(tmp_path / "data", server_env())
    try:
        with connect(srv) as s:
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
            time.sleep(0.2)                     # the request is in the server's hands
            srv.process.terminate()
            time.sleep(0.3)
            s.sendall(b"Content-Type: application/x-www-form-urlencoded\r\nExpect: 100-continue\r\n"
                      b"Content-Length: %d\r\n\r\n" % (ONE_MIB + 1000))
            r = Reader(s)
            status, headers, body = r.response()
            assert status == 400 and b"larger than" in body and headers["connection"] == "close"
            try:
                s.sendall(b"a" * (ONE_MIB + 1000) + HEALTH)
            except OSError:
                pass                            # the lingering drain may end first
            r.closed()
        assert srv.process.wait(timeout=15) == 0
        assert not [line for line in srv.output if "ERROR" in line or "Traceback" in line], srv.output
    finally:
        srv.stop()


def test_a_request_cut_short_by_the_client_closes_the_connection_at_once(server: RegauthServer) -> None:
    with connect(server) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part")
        s.shutdown(socket.SHUT_WR)
        started = time.monotonic()
        assert Reader(s).closed(within=5)
        assert time.monotonic() - started < 1.5       # not left to the 2 s request timeout


def test_an_answer_owed_is_still_sent_after_the_client_half_closes(server: RegauthServer) -> None:
    with connect(server) as s:
        s.sendall(sts_post())
        s.shutdown(socket.SHUT_WR)
        r = Reader(s)
        assert r.response()[0] == 403
        assert r.closed()


def test_pipelined_requests_sent_before_a_half_close_are_all_answered(server: RegauthServer) -> None:
    n = 300                                      # more than one slice and many more than are taken at once
    with connect(server) as s:
        s.sendall(b"".join(b"GET /healthz?i=%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(n)))
        s.shutdown(socket.SHUT_WR)
        r = Reader(s)
        assert [r.response()[0] for _ in range(n)] == [200] * n
        assert r.closed()


def logged_lines(server: RegauthServer, before: int, marker: str, wait: float = 5.0) -> list[str]:
    """The server's output lines after the first `before` that hold `marker`, once one has appeared
    (the log is read by another thread) or `wait` seconds have passed."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and not any(marker in line for line in server.output[before:]):
        time.sleep(0.05)
    return [line for line in server.output[before:] if marker in line]


def raw_get(server: RegauthServer, target: str, headers: str = "") -> int:
    """The status of `GET target` sent as raw bytes (no client re-encodes what the test smuggles in)."""
    with connect(server) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        return Reader(s).response()[0]


def test_a_newline_smuggled_into_a_logged_value_does_not_forge_a_log_line(server: RegauthServer) -> None:
    # an ACR RPC request's Action is percent-decoded, and a denial's audit line names it (cr:<Action>)
    stamp = time.strftime("%Y-%m-%dT%H%%3A%M%%3A%SZ", time.gmtime())
    forged = "FORGED-LINE audit allowed ecr:X ip=9.9.9.9"
    query = (f"Action=Get%0A{forged.replace(' ', '%20')}&Version=2018-12-01&Format=JSON&InstanceId=cri-x"
             f"&AccessKeyId=AKIAAAAAAAAAAAAAAAAA&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0"
             f"&SignatureNonce=n{time.time_ns()}&Timestamp={stamp}&Signature=AAAA")
    before = len(server.output)
    assert raw_get(server, f"/?{query}") == 404                 # InvalidAccessKeyId.NotFound
    logged = logged_lines(server, before, "FORGED-LINE")
    assert len(logged) == 1 and " INFO regauth.audit audit denied " in logged[0]
    assert "cr:Get\\nFORGED-LINE" in logged[0]                        # escaped, on the audit line itself


def test_no_logged_value_can_start_a_line_of_its_own(server: RegauthServer) -> None:
    """Not only audit fields: any log line (here the realm's refusal, which names the `service` it was
    asked for) shows a newline, a carriage return or a NUL from a request escaped."""
    data = server.client("ecr").get_authorization_token()["authorizationData"][0]
    auth = "Basic " + data["authorizationToken"]          # base64 of AWS:<password>, as docker sends it
    forged = "2026-11-24 00:00:00,000 INFO regauth.audit audit allowed registry:GetToken FORGED-REALM"
    service = "x%0a" + forged.replace(" ", "%20") + "%0d%00tail%e2%80%a8nel%c2%85end"
    before = len(server.output)
    assert raw_get(server, f"/token?service={service}", f"Authorization: {auth}\r\n") == 401
    logged = logged_lines(server, before, "FORGED-REALM")
    assert logged and all(not line.startswith("2026-11-24 00:00:00,000") for line in logged), logged
    assert any("x\\n2026-11-24" in line and "\\r\\x00tail" in line for line in logged), logged
    assert not any(c in line for line in server.output for c in "\x00\r\u2028\x85")
    assert any("\\u2028nel\\x85end" in line for line in logged), logged       # Unicode's line breaks too


def test_a_malformed_key_id_is_not_repeated_in_the_log(server: RegauthServer) -> None:
    # the access key id of a presigned URL is percent-decoded; one not shaped like a key id may be a
    # secret pasted in the wrong place, and the denial's audit line does not repeat it
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    credential = f"AKIA%0AMALFORMED-KEY-ID/{stamp[:8]}/us-east-1/sts/aws4_request"
    query = (f"Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256"
             f"&X-Amz-Credential={credential}&X-Amz-Date={stamp}&X-Amz-Expires=300&X-Amz-SignedHeaders=host"
             f"&X-Amz-Signature={'0' * 64}")
    before = len(server.output)
    assert raw_get(server, f"/?{query}") == 403
    assert any("key=(not a key id)" in line for line in logged_lines(server, before, "(not a key id)"))
    assert not any("MALFORMED-KEY-ID" in line for line in server.output)


def test_connections_past_the_descriptor_budget_wait_and_are_taken_once_others_close(tmp_path: Path) -> None:
    # 64 descriptors: the budget is 64 - 32 = 32 connections. 70 are opened: past the budget they
    # wait in the listen queue, in order (the server neither refuses them nor floods its log, as
    # asyncio's accept loop did once descriptors ran out), and are taken as others close.
    srv = start_server(tmp_path, server_env(), nofile=64)
    held: list[socket.socket] = []
    try:
        held = [connect(srv) for _ in range(70)]
        readers = [Reader(s) for s in held]
        for s, r in zip(held[:32], readers):
            s.sendall(HEALTH)
            assert r.response()[0] == 200
        for s in held[32:]:
            s.sendall(HEALTH)
        assert not readers[32].answered_within(1.0)
        for s in held[:10]:
            s.close()
        for r in readers[32:42]:                    # the first ten that waited are taken
            assert r.response()[0] == 200
        assert not readers[42].answered_within(1.0)  # and no more: the budget holds
        for s in held[10:20]:
            s.close()
        assert readers[42].response()[0] == 200
    finally:
        for s in held:
            s.close()
        srv.stop()
    log = "\n".join(srv.output)
    assert log.count("32 connections are open, the limit") == 1, log[-3000:]
    assert "out of system resource" not in log and "Traceback" not in log, log[-3000:]


@pytest.mark.parametrize("sent", [
    b"NOT HTTP\r\n\r\n" + b"x" * 200_000,
    b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 70_000 + b"\r\n\r\n" + b"y" * 100_000,
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3000000\r\nExpect: 100-continue\r\n\r\n" + b"z" * 300_000,
], ids=["malformed", "head-too-large", "expect-over-the-limit"])
def test_a_refusal_ends_in_an_orderly_close_while_the_client_still_sends(server: RegauthServer, sent: bytes) -> None:
    # What the client sent past the refused request is read and dropped after the answer: closing
    # with it unread would reset the connection, and a reset can destroy the answer in flight.
    with connect(server) as s:
        s.sendall(sent)
        time.sleep(0.2)                 # the answer and the server's FIN arrive before anything is read
        data = b""
        while chunk := s.recv(65536):   # no ConnectionResetError: the answer, then end of stream
            data += chunk
        assert data.startswith((b"HTTP/1.1 400 ", b"HTTP/1.1 431 ")), data[:100]
        assert b"connection: close" in data


def test_max_connections_holds_the_rest_in_the_listen_queue(tmp_path: Path) -> None:
    srv = start_server(tmp_path, {**server_env(), "REGAUTH_MAX_CONNECTIONS": "3"})
    held: list[socket.socket] = []
    try:
        held = [connect(srv) for _ in range(5)]
        readers = [Reader(s) for s in held]
        for s in held:
            s.sendall(HEALTH)
        assert [r.response()[0] for r in readers[:3]] == [200, 200, 200]
        assert not readers[3].answered_within(1.0)
        held[0].close()
        assert readers[3].response()[0] == 200
        assert not readers[4].answered_within(0.5)
    finally:
        for s in held:
            s.close()
        srv.stop()
    assert "\n".join(srv.output).count("3 connections are open, the limit (REGAUTH_MAX_CONNECTIONS") == 1


@pytest.mark.parametrize("refused", [b"GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n", b"\x01GARBAGE\r\n\r\n"])
def test_a_client_that_resets_during_a_refusal_leaves_no_connection_behind(tmp_path: Path, refused: bytes) -> None:
    """A malformed request after a good one, and the client resets the connection (closing it with
    the answers unread): the lingering close finds the connection gone. It must not hold it for ever
    (connections count against a limit: unauthenticated clients could fill it) nor log a traceback."""
    srv = start_server(tmp_path / "d", {**server_env(), "REGAUTH_KEEP_ALIVE_SECONDS": "1",
                                        "REGAUTH_REQUEST_TIMEOUT_SECONDS": "30"})
    try:
        for _ in range(60):
            sock = connect(srv)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + refused)
            try:
                sock.recv(1)            # the first byte of the first answer; the rest unread: a reset
            except OSError:
                pass
            sock.close()
        deadline = time.monotonic() + 10
        while (open_now := _open_connections(srv)) > 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert open_now == 1            # the metrics request itself
        assert not any("Traceback" in line for line in srv.output)
    finally:
        srv.stop()


def _open_connections(srv: RegauthServer) -> int:
    sock = connect(srv)
    try:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        _, _, body = Reader(sock).response()
    finally:
        sock.close()
    return int(next(line.split()[1] for line in body.decode().splitlines()
                    if line.startswith("regauth_open_connections ")))
