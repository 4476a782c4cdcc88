"""Workloads: what is sent, how it is signed, and the two load generators.

- wrk (one thread, pinned to the load core): replays a request signed right before the run (SigV4
  allows +-15 min and has no nonce). ACR RPC-v1 requests carry a SignatureNonce that regauth accepts
  once, so for ACR N distinct requests are signed in Python beforehand and the Lua script walks
  through them (and stops the run if they run out, which the result then says).
- real clients: boto3 (AWS dialects) and Alibaba's aliyun-python-sdk-core (ACR), 1 and 8 threads,
  each thread its own client, retries off.

Every run is bounded: wrk by -d and a subprocess timeout, client runs by a deadline.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import shutil
import statistics
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, urlsplit

from servers import ACCOUNT_ID, HOST, Pinning, Server


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    dialect: str                                 # "aws" | "acr"
    service: str = ""                            # boto3 service name
    operation: str = ""                          # boto3 method
    params: dict[str, Any] = field(default_factory=dict)
    region: str = "us-east-1"
    token: bool = True                           # a GetAuthorizationToken dialect (goal: % of the ceiling)
    # dialect "http": an endpoint without an SDK (e.g. the token checks registries will call): build()
    # returns the request for a server, replayed by wrk; the real-client runs skip it.
    build: Callable[[Server], "RawRequest"] | None = None


WORKLOADS = [
    Workload("ecr", "ECR GetAuthorizationToken", "aws", "ecr", "get_authorization_token"),
    Workload("codeartifact", "CodeArtifact GetAuthorizationToken", "aws", "codeartifact", "get_authorization_token",
             {"domain": "bench"}),
    Workload("ecr-public", "ECR Public GetAuthorizationToken", "aws", "ecr-public", "get_authorization_token"),
    Workload("acr", "ACR GetAuthorizationToken (RPC v1)", "acr", region="cn-hangzhou"),
    Workload("sts", "STS GetCallerIdentity", "aws", "sts", "get_caller_identity", token=False),
    # where the tokens are used: a registry client at the token realm, nginx asking the package verifier
    Workload("registry-token", "Registry token realm (GET /token, ECR password)", "http", token=False,
             build=lambda s: _registry_token_request(s)),
    Workload("package-verify", "Package verifier (GET /auth/verify, CodeArtifact token)", "http", token=False,
             build=lambda s: _package_verify_request(s)),
]
BENCH_REPOSITORY = "bench-pypi"                  # made in the domain "bench" by run.py's set-up
BY_KEY = {w.key: w for w in WORKLOADS}


class Unsupported(Exception):
    """The server answered the workload's call with an error: it does not implement it."""


@dataclass(frozen=True)
class RawRequest:
    method: str
    path: str                                    # with the query string
    headers: dict[str, str]
    body: bytes


# --- AWS: a real boto3 request, captured as it leaves --------------------------------------------

def aws_client(server: Server, wl: Workload, pool: int = 10):
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        wl.service, endpoint_url=server.url, region_name=wl.region, aws_access_key_id=server.access_key_id or "AKIAX",
        aws_secret_access_key=server.secret or "x",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=15,
                      max_pool_connections=pool, tcp_keepalive=True))


def capture(server: Server, wl: Workload, client=None, tolerate_errors: bool = False) -> RawRequest:
    """Sign and send the workload's call once with boto3; return the exact request that went out."""
    client = client or aws_client(server, wl)
    seen: dict[str, Any] = {}

    def hook(request, **_):
        seen["req"] = request

    client.meta.events.register_first("before-send", hook)
    try:
        getattr(client, wl.operation)(**wl.params)
    except Exception as exc:  # noqa: BLE001 - a peer that does not implement it answers with an error
        if not tolerate_errors:
            raise Unsupported(_short_error(exc)) from None
    finally:
        client.meta.events.unregister("before-send", hook)
    req = seen.get("req")
    if req is None:
        raise Unsupported("no request was sent")
    parts = urlsplit(req.url)
    body = req.body or b""
    if hasattr(body, "read"):
        body = body.read()
    headers = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in req.headers.items()}
    return RawRequest(req.method, parts.path + (f"?{parts.query}" if parts.query else ""), headers,
                      body if isinstance(body, bytes) else body.encode())


# --- the registry side: requests a registry client and nginx send, with tokens issued just before ---

def _basic(user: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()


def _registry_token_request(server: Server) -> RawRequest:
    """What skopeo sends for a push: Basic AWS:<ECR password>, the registry's service, one scope."""
    host = f"{HOST}:{server.port}"
    if not server.is_regauth:                    # the ceiling answers anything; the peers have no realm
        return RawRequest("GET", "/token?service=x&scope=repository%3Abench%2Fapp%3Apull%2Cpush",
                          {"Host": host, "Authorization": _basic("AWS", "x")}, b"")
    data = aws_client(server, BY_KEY["ecr"]).get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    service = urlsplit(data["proxyEndpoint"]).netloc
    return RawRequest("GET", f"/token?account=AWS&service={quote(service)}"
                             "&scope=repository%3Abench%2Fapp%3Apull%2Cpush",
                      {"Host": host, "Authorization": _basic(user, password)}, b"")


def _package_verify_request(server: Server) -> RawRequest:
    """What nginx's auth_request sends for a pip download: the client's Basic aws:<token>, no body."""
    host = f"{HOST}:{server.port}"
    token = "x"
    if server.is_regauth:
        token = aws_client(server, BY_KEY["codeartifact"]).get_authorization_token(domain="bench")[
            "authorizationToken"]
    index = f"domain=bench&domain-owner={ACCOUNT_ID}&region=us-east-1&repository={BENCH_REPOSITORY}"
    return RawRequest("GET", f"/auth/verify?{index}",
                      {"Host": host, "Authorization": _basic("aws", token), "X-Original-Method": "GET",
                       "X-Original-URI": "/simple/requests/"}, b"")


def _short_error(exc: Exception) -> str:
    resp = getattr(exc, "response", None)
    if isinstance(resp, dict):                        # botocore ClientError: status, code, message
        status = resp.get("ResponseMetadata", {}).get("HTTPStatusCode")
        err = resp.get("Error", {})
        message = err.get("Message", "")
        if "<html" in message.lower() or "<!doctype" in message.lower():
            message = "an HTML error page"
        code = err.get("Code", "")
        text = f"HTTP {status}" + (f" {code}" if code and code != str(status) else "") + f": {message}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if len(text) < 160 else text[:157] + "..."


# --- ACR: RPC v1 (HMAC-SHA1) requests, each with its own SignatureNonce --------------------------

def _pe(s: str) -> str:
    return quote(s, safe="~")


def acr_paths(server: Server, n: int, instance_id: str | None = None) -> list[str]:
    """n distinct signed GET paths for GetAuthorizationToken (Alibaba RPC signature v1)."""
    instance = instance_id or server.acr_instance or "cri-bench0000000000"
    ts = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    before = {"AccessKeyId": server.access_key_id or "LTAIbench", "Action": "GetAuthorizationToken",
              "Format": "JSON", "InstanceId": instance, "RegionId": "cn-hangzhou", "SignatureMethod": "HMAC-SHA1"}
    after = {"SignatureVersion": "1.0", "Timestamp": ts, "Version": "2018-12-01"}
    head = "&".join(f"{_pe(k)}={_pe(v)}" for k, v in sorted(before.items())) + "&SignatureNonce="
    tail = "&" + "&".join(f"{_pe(k)}={_pe(v)}" for k, v in sorted(after.items()))
    key = ((server.secret or "x") + "&").encode()
    prefix = "GET&%2F&"
    run = uuid.uuid4().hex[:12]
    out = []
    for i in range(n):
        canonical = f"{head}{run}{i:012d}{tail}"
        mac = hmac.new(key, (prefix + _pe(canonical)).encode(), hashlib.sha1).digest()
        out.append(f"/?{canonical}&Signature={_pe(base64.b64encode(mac).decode())}")
    return out


def acr_call(server: Server) -> Callable[[], Any]:
    """A thread's call through Alibaba's own SDK (aliyun-python-sdk-core, old-style AcsClient, JSON)."""
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkcr.request.v20181201.GetAuthorizationTokenRequest import GetAuthorizationTokenRequest

    client = AcsClient(server.access_key_id, server.secret, "cn-hangzhou", auto_retry=False, connect_timeout=5,
                       timeout=15)

    def call():
        req = GetAuthorizationTokenRequest()
        req.set_InstanceId(server.acr_instance)
        req.set_endpoint(f"{HOST}:{server.port}")
        return client.do_action_with_exception(req)

    return call


def probe(server: Server, wl: Workload) -> str | None:
    """None when the server implements the workload (one real call succeeds), else why not."""
    try:
        if wl.dialect == "http":
            assert wl.build is not None
            req = wl.build(server)
            conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
            try:
                conn.request(req.method, req.path, body=req.body, headers=req.headers)
                resp = conn.getresponse()
                resp.read()
            finally:
                conn.close()
            return None if resp.status == 200 else f"HTTP {resp.status}"
        if wl.dialect == "acr":
            if not server.is_regauth:
                return "no Alibaba ACR API"
            json.loads(acr_call(server)())
        else:
            capture(server, wl)
    except Unsupported as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001
        return _short_error(exc)
    return None


# --- wrk --------------------------------------------------------------------------------------

_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"mean_us":%.1f,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"ran_out":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout,
    ran_out or 0))
end
"""


def _lua(b: bytes | str) -> str:
    raw = b.encode() if isinstance(b, str) else b
    return '"' + "".join(chr(c) if (32 <= c < 127 and c not in (34, 92)) else f"\\{c:03d}" for c in raw) + '"'


def wrk_script_static(req: RawRequest) -> str:
    lines = [f"wrk.method = {_lua(req.method)}", f"wrk.path = {_lua(req.path)}",
             f"wrk.body = {_lua(req.body)}" if req.body else "wrk.body = nil", "wrk.headers = {}"]
    for k, v in req.headers.items():
        if k.lower() != "content-length":          # wrk.format sets it from the body
            lines.append(f"wrk.headers[{_lua(k)}] = {_lua(v)}")
    return "\n".join(lines) + "\nran_out = 0\n" + _DONE


def wrk_script_cycle(paths_file: Path, host: str, wrap: bool) -> str:
    """Walk through pre-signed GET paths; at the end wrap around (`wrap`) or stop the run."""
    at_end = "i = 1" if wrap else "ran_out = 1\n    wrk.thread:stop()\n    i = n"
    return f"""
local reqs, n, i = {{}}, 0, 0
ran_out = 0
init = function(args)
  local headers = {{}}
  headers["Host"] = {_lua(host)}
  for line in io.lines({_lua(str(paths_file))}) do
    n = n + 1
    reqs[n] = wrk.format("GET", line, headers)
  end
end
request = function()
  i = i + 1
  if i > n then
    {at_end}
  end
  return reqs[i]
end
""" + _DONE


@dataclass
class Result:
    ok_rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    seconds: float
    note: str = ""
    server_cpu: float = float("nan")            # server CPU seconds per second during the run (1.0 = one core)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run_wrk(server: Server, wl: Workload, req: RawRequest | None, connections: int, duration: float,
            pin: Pinning, work: Path, acr_n: int = 0) -> Result:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed: run bench/setup.sh")
    work.mkdir(parents=True, exist_ok=True)
    tag = f"{server.key}.{wl.key}.c{connections}.{time.monotonic_ns()}"
    script = work / f"{tag}.lua"
    if wl.dialect == "acr":
        paths = work / f"{tag}.paths"
        wrap = acr_n <= 0                          # 0: nonces do not matter (the ceiling): cycle a short list
        paths.write_text("\n".join(acr_paths(server, 2000 if wrap else acr_n)) + "\n")
        script.write_text(wrk_script_cycle(paths, f"{HOST}:{server.port}", wrap))
    else:
        assert req is not None
        script.write_text(wrk_script_static(req))
    secs = max(1, int(round(duration)))
    cmd = pin.prefix(pin.load_core) + [wrk, "-t1", f"-c{connections}", f"-d{secs}s", "--timeout", "5s", "-s",
                                        str(script), server.url + "/"]
    cpu0, t0 = server.cpu_seconds(), time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=secs + 30, preexec_fn=pin.preexec(pin.load_core))
    cpu = (server.cpu_seconds() - cpu0) / max(1e-9, time.perf_counter() - t0)
    (work / f"{tag}.out").write_text(out.stdout + out.stderr)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {(out.stdout + out.stderr)[-800:]}")
    d = json.loads(line[len("BENCHJSON "):])
    seconds = d["duration_us"] / 1e6
    errors = d["connect"] + d["read"] + d["write"] + d["status"] + d["timeout"]
    ok = max(0, d["requests"] - d["status"])
    note = "ran out of pre-signed requests" if d["ran_out"] else ""
    if wl.dialect == "acr":
        (work / f"{tag}.paths").unlink(missing_ok=True)
    return Result(ok / seconds if seconds else 0.0, d["p50_us"] / 1000, d["p99_us"] / 1000, errors, d["requests"],
                  seconds, note, cpu)


# --- real clients ------------------------------------------------------------------------------

def make_call(server: Server, wl: Workload) -> Callable[[], Any]:
    if wl.dialect == "acr":
        return acr_call(server)
    client = aws_client(server, wl)
    method = getattr(client, wl.operation)
    return lambda: method(**wl.params)


_CALLS: dict[tuple[str, str], list[Callable[[], Any]]] = {}


def calls_for(server: Server, wl: Workload, n: int) -> list[Callable[[], Any]]:
    """n clients for (server, workload), made (and warmed by one call each) once, reused across rounds."""
    have = _CALLS.setdefault((server.key, wl.key), [])
    while len(have) < n:
        call = make_call(server, wl)
        call()                                 # connection, model loading: not measured
        have.append(call)
    return have[:n]


def run_clients(server: Server, wl: Workload, threads: int, duration: float) -> Result:
    """`threads` threads, each with its own client, calling for `duration` seconds."""
    calls = calls_for(server, wl, threads)
    lat: list[list[float]] = [[] for _ in range(threads)]
    errs = [0] * threads
    first_error: list[str] = []
    barrier = threading.Barrier(threads + 1)
    stop_at = [0.0]

    def worker(i: int) -> None:
        call, mine = calls[i], lat[i]
        barrier.wait()
        end = stop_at[0]
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                break
            try:
                call()
                mine.append(time.perf_counter() - t0)
            except Exception as exc:  # noqa: BLE001
                errs[i] += 1
                if not first_error:
                    first_error.append(_short_error(exc))
                time.sleep(0.01)

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    cpu0 = server.cpu_seconds()
    start = time.perf_counter()
    stop_at[0] = start + duration
    barrier.wait()
    for t in pool:
        t.join(timeout=duration + 30)
    seconds = time.perf_counter() - start
    cpu = (server.cpu_seconds() - cpu0) / seconds
    all_lat = sorted(x for xs in lat for x in xs)
    n = len(all_lat)
    p50 = statistics.median(all_lat) * 1000 if n else float("nan")
    p99 = all_lat[min(n - 1, int(n * 0.99))] * 1000 if n else float("nan")
    return Result(n / seconds, p50, p99, sum(errs), n + sum(errs), seconds, first_error[0] if first_error else "", cpu)
