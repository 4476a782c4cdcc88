"""A request whose body stops on its way (REGAUTH_REQUEST_TIMEOUT_SECONDS) is refused by its dialect's
error, as the real clients read it: AWS's `RequestTimeoutException` 408, which the AWS CLI v2 and boto3's
standard retry mode treat as transient and send again; Alibaba's JSON error; the registry endpoints' own.

A proxy between client and server forwards the head and the first bytes of the body of the first
request(s), then holds the rest back, as a stalled network path does; later connections pass whole.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from typing import Iterator
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.fixtures.server import RegauthServer, require_program, server_env, start_server, which_aws_v2

pytestmark = pytest.mark.wire


class StallingProxy:
    """Relays TCP connections to regauth; the body of the first `stalls` requests is cut after `keep`
    bytes (what the client sends after that is read and dropped), everything after passes whole."""

    def __init__(self, upstream_port: int, stalls: int = 1, keep: int = 1) -> None:
        self.upstream, self.stalls, self.keep = upstream_port, stalls, keep
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            stall = self.connections <= self.stalls
            up = socket.create_connection(("127.0.0.1", self.upstream), timeout=30)
            threading.Thread(target=self._up, args=(client, up, stall), daemon=True).start()
            threading.Thread(target=self._down, args=(up, client), daemon=True).start()

    def _up(self, client: socket.socket, up: socket.socket, stall: bool) -> None:
        seen, limit = b"", None
        try:
            while data := client.recv(65536):
                if not stall:
                    up.sendall(data)
                    continue
                if limit is None:
                    seen += data
                    end = seen.find(b"\r\n\r\n")
                    if end < 0:
                        continue
                    limit = end + 4 + self.keep
                    up.sendall(seen[:limit])
                # past `limit`: held back for good (dropped)
            up.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _down(self, up: socket.socket, client: socket.socket) -> None:
        try:
            while data := up.recv(65536):
                client.sendall(data)
            client.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegauthServer]:
    srv = start_server(tmp_path_factory.mktemp("slow-bodies"), {**server_env(), "REGAUTH_REQUEST_TIMEOUT_SECONDS": "1"})
    yield srv
    srv.stop()


def port(server: RegauthServer) -> int:
    return int(urlsplit(server.url).port or 0)


def raw_exchange(server: RegauthServer, head: bytes, body_part: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send a request head and only part of its body; read the one answer that comes."""
    with socket.create_connection(("127.0.0.1", port(server)), timeout=10) as s:
        s.sendall(head + body_part)
        buf = b""
        while data := s.recv(65536):
            buf += data
    head_out, _, body = buf.partition(b"\r\n\r\n")
    lines = head_out.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert len(body) == int(headers["content-length"])
    return int(lines[0].split()[1]), headers, body


def client_via(server: RegauthServer, service: str, url: str, mode: str, attempts: int):
    k = server.admin
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id=k.access_key_id,
                        aws_secret_access_key=k.secret_access_key,
                        config=Config(retries={"total_max_attempts": attempts, "mode": mode}))


@pytest.mark.parametrize("service", ["ecr", "sts"])
def test_boto3_standard_retry_sends_a_stalled_request_again_and_it_succeeds(server: RegauthServer,
                                                                             service: str) -> None:
    proxy = StallingProxy(port(server))
    try:
        client = client_via(server, service, proxy.url, "standard", 3)
        if service == "ecr":
            out = client.get_authorization_token()
            assert out["authorizationData"][0]["authorizationToken"]
        else:
            out = client.get_caller_identity()
            assert out["Account"] == server.account_id
        assert out["ResponseMetadata"]["RetryAttempts"] == 1      # the 408 was retried, once
        assert proxy.connections == 2
    finally:
        proxy.close()


@pytest.mark.parametrize("service", ["ecr", "ecr-public", "sts", "iam"])
def test_boto3_legacy_mode_reports_the_timeout_by_its_code(server: RegauthServer, service: str) -> None:
    # boto3's default (legacy) retry mode does not retry it; the client still reads code and status
    proxy = StallingProxy(port(server), stalls=5)
    try:
        client = client_via(server, service, proxy.url, "legacy", 1)
        operation = {"ecr": "get_authorization_token", "ecr-public": "get_authorization_token",
                     "sts": "get_caller_identity", "iam": "list_users"}[service]
        with pytest.raises(ClientError) as err:
            getattr(client, operation)()
        error = err.value.response["Error"]
        assert error["Code"] == "RequestTimeoutException", err.value.response
        assert "did not arrive whole within 1 seconds" in error["Message"]
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 408
    finally:
        proxy.close()


def test_aws_cli_v2_retries_a_stalled_request(server: RegauthServer, tmp_path) -> None:
    aws = require_program(which_aws_v2(), "AWS CLI v2")
    proxy = StallingProxy(port(server))
    try:
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "AWS_DEFAULT_REGION": "us-east-1",
               **server.admin.env()}
        proc = subprocess.run([aws, "ecr", "get-login-password", "--endpoint-url", proxy.url, "--debug"],
                              capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.strip() and proxy.connections == 2
        assert "RequestTimeoutException" in proc.stderr           # seen, then retried
    finally:
        proxy.close()


def test_codeartifact_gets_the_rest_json_envelope(server: RegauthServer) -> None:
    head = (b"POST /v1/authorization-token?domain=d HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/codeartifact/"
            b"aws4_request, SignedHeaders=host, Signature=00\r\nContent-Length: 10\r\n\r\n")
    status, headers, body = raw_exchange(server, head, b"{")
    assert status == 408 and headers["connection"] == "close"
    assert headers["x-amzn-errortype"].startswith("RequestTimeoutException")
    assert json.loads(body)["message"].startswith("The request did not arrive whole")


def test_alibaba_pop_core_gets_its_json_error(server: RegauthServer) -> None:
    from tests.wire.test_acr_sdks import popcore
    proxy = StallingProxy(port(server), stalls=5, keep=3)      # pop-core sends its parameters as a form body
    try:
        out = popcore(f"127.0.0.1:{proxy.port}", server.admin, "cri-0123456789abcdef")
        assert (out.status, out.code) == (408, "RequestTimeout")
        assert out.message.startswith("The request did not arrive whole")
    finally:
        proxy.close()


@pytest.mark.parametrize("path, status, kind", [("/token", 408, "application/json"),
                                                ("/auth/verify", 408, "text/plain"),
                                                ("/healthz", 408, "text/plain")])
def test_the_other_endpoints_answer_408_in_their_own_form(server: RegauthServer, path: str, status: int,
                                                          kind: str) -> None:
    head = f"GET {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n".encode()
    got, headers, body = raw_exchange(server, head, b"ab")
    assert got == status and headers["content-type"].startswith(kind), (headers, body)
    if path == "/token":
        assert json.loads(body)["errors"][0]["message"] == "request timeout"


def test_a_head_that_never_ends_is_still_a_text_408(server: RegauthServer) -> None:
    status, headers, body = raw_exchange(server, b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: A.B\r\n", b"")
    assert (status, body) == (408, b"Request timeout") and headers["content-type"].startswith("text/plain")


def test_a_body_stalled_at_shutdown_gets_its_408_within_the_request_timeout(tmp_path) -> None:
    """SIGTERM while a body is stalled: the request timeout still runs during the shutdown's grace, so
    the client gets its dialect's 408 and the server exits; before, nothing answered it and every
    shutdown waited the whole 10 s grace for it, then cut the connection without a word."""
    import time
    srv = start_server(tmp_path / "data", {**server_env(), "REGAUTH_REQUEST_TIMEOUT_SECONDS": "2"})
    try:
        head = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
                b"X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken\r\n"
                b"Content-Length: 10\r\n\r\n{")
        with socket.create_connection(("127.0.0.1", port(srv)), timeout=15) as s:
            s.sendall(head)
            time.sleep(0.3)
            srv.process.terminate()
            buf = b""
            while data := s.recv(65536):
                buf += data
        assert buf.startswith(b"HTTP/1.1 408 ") and b"RequestTimeoutException" in buf, buf[:300]
        assert srv.process.wait(timeout=15) == 0
        assert not any("Traceback" in line for line in srv.output), srv.output
    finally:
        srv.stop()


def test_the_408_is_in_the_format_the_body_so_far_asks_for(server: RegauthServer) -> None:
    # an Alibaba RPC call with its parameters in a form body: Format=XML gets an XML error, as it would whole
    head = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 300\r\n\r\n")
    status, headers, body = raw_exchange(server, head, b"SignatureNonce=0f1e2d3c&AccessKeyId=LTAI5tTestKeyId000&Format=XML&Action=Get")
    assert status == 408 and "xml" in headers["content-type"], (headers, body)
    assert b"<Code>RequestTimeout</Code>" in body
