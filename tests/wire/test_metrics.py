"""GET /metrics on a real `regauth serve`: what real clients' calls add to it, and what it never shows."""

from __future__ import annotations

import re
import secrets
import string
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
from botocore.exceptions import ClientError

from tests.fixtures.server import REPO, RegauthServer, new_user, server_env, start_server

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
N_ISSUED, N_DENIED = 3, 2
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegauthServer]:
    """A server of its own: the counts below are this module's calls and nothing else's."""
    s = start_server(tmp_path_factory.mktemp("regauth-metrics"), server_env())
    yield s
    s.stop()


def fetch(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def parse(text: str) -> Samples:
    """The exposition, checked line by line: every sample `name{labels} value` of a family that has
    its HELP and TYPE lines before it (counter or gauge); a counter's name ends in _total."""
    helped: set[str] = set()
    typed: dict[str, str] = {}
    samples: Samples = {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert help_text, line
            helped.add(name)
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert kind in ("counter", "gauge"), line
            typed[name] = kind
        else:
            m = _SAMPLE.match(line)
            assert m, f"not a sample line: {line!r}"
            name, inner, value = m.groups()
            assert name.startswith("regauth_"), line
            assert name in helped and name in typed, f"{name} has no HELP or TYPE line before it"
            if typed[name] == "counter":
                assert name.endswith("_total"), name
            labels: list[tuple[str, str]] = []
            if inner:
                pos = 0
                while pos < len(inner):
                    lm = _LABEL.match(inner, pos)
                    assert lm, f"bad labels in {line!r}"
                    labels.append((lm.group(1), lm.group(2)))
                    pos = lm.end()
            key = (name, frozenset(labels))
            assert key not in samples, f"duplicate series: {line!r}"
            samples[key] = float(value)
    assert set(typed) == helped
    return samples


def scrape(server: RegauthServer) -> tuple[str, Samples]:
    status, headers, body = fetch(server.url + "/metrics")
    assert status == 200, body[:300]
    assert headers["content-type"] == CONTENT_TYPE
    text = body.decode("utf-8")
    return text, parse(text)


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def test_issued_and_denied_ecr_tokens_are_counted_without_identities(server: RegauthServer) -> None:
    _, before = scrape(server)
    assert value(before, "regauth_tokens_issued_total", kind="ecr") == 0
    tokens = [server.client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
              for _ in range(N_ISSUED)]
    nobody = new_user(server, None)
    for _ in range(N_DENIED):
        with pytest.raises(ClientError) as err:
            server.client("ecr", nobody).get_authorization_token()
        assert err.value.response["Error"]["Code"] == "AccessDeniedException"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    text, after = scrape(server)

    assert value(after, "regauth_tokens_issued_total", kind="ecr") == N_ISSUED
    assert value(after, "regauth_tokens_issued_total", kind="codeartifact") == 0
    assert value(after, "regauth_audit_events_total", action="ecr:GetAuthorizationToken", outcome="allowed") == N_ISSUED
    assert value(after, "regauth_audit_events_total", action="ecr:GetAuthorizationToken", outcome="denied") == N_DENIED
    assert (value(after, "regauth_http_requests_total", route="aws", status="200") or 0) >= N_ISSUED
    assert (value(after, "regauth_http_requests_total", route="aws", status="400") or 0) >= N_DENIED
    # the scrape before this one was answered, and counted
    assert (value(after, "regauth_http_requests_total", route="metrics", status="200") or 0) >= 1
    assert value(after, "regauth_audit_write_failures_total") == 0
    assert (value(after, "regauth_open_connections") or 0) >= 1          # this scrape's own
    started = value(after, "regauth_start_time_seconds")
    assert started is not None and time.time() - 600 < started <= time.time()
    assert value(after, "regauth_build_info", version="0.1.0") == 1
    assert f"Prometheus: {server.url}/metrics" in "\n".join(server.output)      # the banner names it

    # no identity: no key id, account, ARN, user name or token, whatever the calls carried
    for secret_ish in (server.admin.access_key_id, nobody.access_key_id, server.account_id, "arn:", "user/",
                       *tokens, *[t[:24] for t in tokens]):
        assert secret_ish not in text
    routes = {dict(labels).get("route") for name, labels in after if name == "regauth_http_requests_total"}
    assert routes <= {"aws", "acr", "token", "verify", "healthz", "metrics", "server"}


def test_an_unauthenticated_acr_request_cannot_add_a_label_value(server: RegauthServer) -> None:
    action = "X" + "".join(secrets.choice(string.ascii_letters) for _ in range(90))
    akid = "LTAI" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(20))
    query = urllib.parse.urlencode({
        "Action": action, "Version": "2018-12-01", "AccessKeyId": akid, "Signature": "c2lnbmF0dXJl",
        "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureNonce": secrets.token_hex(16),
        "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "Format": "JSON"})
    _, before = scrape(server)
    status, _, body = fetch(f"{server.url}/?{query}")
    assert status == 404 and b"InvalidAccessKeyId.NotFound" in body, body[:300]
    text, after = scrape(server)

    assert action[:20] not in text and akid not in text
    other_before = value(before, "regauth_audit_events_total", action="other", outcome="denied") or 0
    assert value(after, "regauth_audit_events_total", action="other", outcome="denied") == other_before + 1
    actions = {dict(labels)["action"] for name, labels in after if name == "regauth_audit_events_total"}
    assert not any(a.startswith("cr:") and a != "cr:GetAuthorizationToken" for a in actions), actions
    assert (value(after, "regauth_http_requests_total", route="acr", status="404") or 0) >= 1


def test_what_the_http_server_refuses_before_routing_is_counted_as_server(server: RegauthServer) -> None:
    import socket

    def refusals() -> float:
        return value(scrape(server)[1], "regauth_http_requests_total", route="server", status="400") or 0

    before = refusals()
    host, port = server.url.split("://", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n")      # no colon: malformed
        assert sock.recv(4096).startswith(b"HTTP/1.1 400")
    assert refusals() == before + 1


def test_head_answers_without_a_body(server: RegauthServer) -> None:
    status, headers, body = fetch(server.url + "/metrics", method="HEAD")
    assert status == 200
    assert headers["content-type"] == CONTENT_TYPE
    assert body == b""
    assert int(headers["content-length"]) > 0


def test_metrics_off_leaves_the_path_to_the_aws_dialect(tmp_path: Path) -> None:
    """Off, /metrics is an unknown path: answered as any other one is (the AWS dialect's refusal of an
    unsigned request), with none of the metrics."""
    s = start_server(tmp_path, {**server_env(), "REGAUTH_METRICS": "off"})
    try:
        unknown_status, _, unknown_body = fetch(s.url + "/no-such-path")
        status, headers, body = fetch(s.url + "/metrics")
    finally:
        s.stop()
    assert status != 200 and status == unknown_status
    assert b"MissingAuthenticationToken" in body and b"MissingAuthenticationToken" in unknown_body
    assert headers.get("content-type") != CONTENT_TYPE
    assert b"regauth_" not in body
    assert "/metrics" not in "\n".join(s.output)            # the banner does not offer it either


def test_a_bad_metrics_setting_stops_serve_naming_the_variable(tmp_path: Path) -> None:
    full = {k: v for k, v in os.environ.items() if not k.startswith("REGAUTH_")}
    proc = subprocess.run([sys.executable, "-m", "regauth", "serve", "--port", "0", "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, env={**full, "REGAUTH_METRICS": "maybe"}, cwd=REPO,
                          timeout=60)
    assert proc.returncode == 2
    assert "REGAUTH_METRICS must be on or off" in proc.stderr
    assert "Traceback" not in proc.stderr
