"""The servers under test: started on loopback, pinned to one core, timed to their first successful
response, measured (RSS), and always stopped (`stop_all`, also registered with atexit).

Every process is started in its own session, so stopping it means signalling its process group
(its own id): nothing is ever killed by name.
"""

from __future__ import annotations

import atexit
import glob
import http.client
import os
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PEERS = BENCH / ".peers"
VENV_BIN = Path(sys.executable).parent           # the project's venv: run.py runs under it
HOST = "127.0.0.1"                               # loopback only, always

ACCOUNT_ID = "123456789012"
RESTARTS = 3                                     # regauth restarts timed per server (the median counts)
ACCESS_KEY_ID = "AKIABENCHMARK0000001"           # AKIA + 16 upper-case letters/digits
PEER_KEYS = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")   # moto/LocalStack accept any


@dataclass
class Pinning:
    server_core: int | None
    load_core: int | None
    how: str

    @staticmethod
    def detect() -> "Pinning":
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return Pinning(None, None, f"not pinned: only {len(cpus)} CPU available")
        tool = "taskset" if shutil.which("taskset") else "sched_setaffinity"
        return Pinning(cpus[0], cpus[1], f"server on CPU {cpus[0]}, load generator on CPU {cpus[1]} ({tool})")

    def prefix(self, core: int | None) -> list[str]:
        if core is None or not shutil.which("taskset"):
            return []
        return ["taskset", "-c", str(core)]

    def preexec(self, core: int | None) -> Callable[[], None] | None:
        if core is None or shutil.which("taskset"):
            return None
        return lambda: os.sched_setaffinity(0, {core})


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# --- processes --------------------------------------------------------------------------------

_LIVE: list["Proc"] = []


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is None:
            for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(self.popen.pid, sig)      # its own process group (start_new_session)
                except ProcessLookupError:
                    break
                try:
                    self.popen.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        # children that left the group (none expected) would still be in the tree: end them too
        for pid in descendants(self.popen.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self in _LIVE:
            _LIVE.remove(self)

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def spawn(name: str, cmd: list[str], log_path: Path, pin: Pinning, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> Proc:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")
    try:
        popen = subprocess.Popen(pin.prefix(pin.server_core) + cmd, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, env=env, cwd=str(cwd or REPO),
                                 start_new_session=True, preexec_fn=pin.preexec(pin.server_core))
    finally:
        log.close()
    proc = Proc(name, popen, log_path)
    _LIVE.append(proc)
    return proc


def stop_all() -> None:
    for proc in list(reversed(_LIVE)):
        try:
            proc.stop(timeout=5.0)
        except Exception:  # noqa: BLE001 - keep stopping the others
            pass


atexit.register(stop_all)


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                text = f.read()
            ppid = int(text.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(stat.split("/")[2]))
        except (OSError, ValueError, IndexError):
            continue
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time consumed so far by a process and its descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in [pid, *descendants(pid)]:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])      # utime, stime (clock ticks)
        except (OSError, ValueError, IndexError):
            continue
    return total / tick


def rss_bytes(pid: int) -> int:
    """Resident set of a process and all its descendants."""
    total = 0
    for p in [pid, *descendants(pid)]:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


# --- readiness: time from spawn to the first successful response --------------------------------

@dataclass(frozen=True)
class Probe:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


def wait_first_success(proc: Proc, port: int, probe: Probe, started: float, timeout: float) -> float:
    """Seconds from `started` (just before spawn) to the first 200 answer to `probe`."""
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log_tail()}")
        conn = http.client.HTTPConnection(HOST, port, timeout=2)
        try:
            conn.request(probe.method, probe.path, body=probe.body, headers=probe.headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                return time.perf_counter() - started
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.005)
    raise RuntimeError(f"{proc.name} gave no successful answer within {timeout:.0f} s:\n{proc.log_tail()}")


def sts_probe(port: int, access_key_id: str, secret: str) -> Probe:
    """A SigV4-signed STS GetCallerIdentity: every AWS-speaking server answers it."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method="POST", url=f"http://{HOST}:{port}/", data=b"Action=GetCallerIdentity&Version=2011-06-15",
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(access_key_id, secret), "sts", "us-east-1").add_auth(req)
    return Probe("POST", "/", {k: v if isinstance(v, str) else v.decode() for k, v in req.headers.items()},
                 req.body if isinstance(req.body, bytes) else req.body.encode())


def body_lag_ms(port: int, path: str, n: int = 7) -> float:
    """Median delay between a response's first and last byte for a tiny GET on a kept-alive
    connection. ~0 when the server sends headers and body back to back; ~40 ms when its sockets
    lack TCP_NODELAY (Nagle's algorithm holds the body until the client's delayed ACK)."""
    lags = []
    with socket.create_connection((HOST, port), timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(n):
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode())
            got, first, need = b"", None, None
            while need is None or len(got) < need:
                chunk = s.recv(65536)
                if not chunk:
                    raise OSError("connection closed")
                first = first or time.perf_counter()
                got += chunk
                if need is None and b"\r\n\r\n" in got:
                    head, _, _ = got.partition(b"\r\n\r\n")
                    length = [ln.split(b":", 1)[1] for ln in head.split(b"\r\n")
                              if ln.lower().startswith(b"content-length:")]
                    need = len(head) + 4 + (int(length[0]) if length else 0)
            lags.append((time.perf_counter() - first) * 1000)
    return sorted(lags)[len(lags) // 2]


# --- the servers --------------------------------------------------------------------------------

@dataclass
class Server:
    key: str                         # regauth-sqlite, regauth-pg, moto, localstack, bare
    label: str
    version: str
    port: int
    proc: Proc
    access_key_id: str
    secret: str
    start_seconds: float             # spawn -> first successful response
    cold_start_seconds: float | None = None   # regauth: first start on an empty store (migrations)
    rss_idle: int = 0
    rss_after: int = 0
    notes: list[str] = field(default_factory=list)
    acr_instance: str | None = None
    data_dir: Path | None = None
    body_lag_ms: float | None = None           # see body_lag_ms()
    helper_pids: list[int] = field(default_factory=list)   # counted in its CPU (regauth-pg: the postmaster)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid) + sum(cpu_seconds(p) for p in self.helper_pids)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def is_regauth(self) -> bool:
        return self.key.startswith("regauth")


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGAUTH_", "AWS_"))}
    env.update(extra)
    return env


def regauth_env(secret: str, database_url: str | None) -> dict[str, str]:
    env = {
        "REGAUTH_ACCOUNT_ID": ACCOUNT_ID,
        "REGAUTH_BOOTSTRAP_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "REGAUTH_BOOTSTRAP_SECRET_ACCESS_KEY": secret,
        "REGAUTH_RATE_LIMIT_PER_SECOND": "0",      # the per-principal limit would otherwise be what we measure
    }
    if database_url:
        env["REGAUTH_DATABASE_URL"] = database_url
    return env


def regauth_version() -> str:
    from importlib.metadata import version
    return version("regauth")


def start_regauth(key: str, label: str, data_dir: Path, raw: Path, pin: Pinning, secret: str,
                  database_url: str | None = None, cold_restart: bool = True, timeout: float = 60.0) -> Server:
    """`regauth serve` as `make run` starts it. With `cold_restart`, it is first started on the empty
    store (bootstrap, migrations: the cold start), stopped, and started again RESTARTS times: the
    start that counts is the median restart (one start on these machines varies by a third)."""
    env = _clean_env(regauth_env(secret, database_url))
    cold = None
    restarts: list[float] = []
    attempts = ["cold"] + ["warm"] * RESTARTS if cold_restart else ["warm"]
    for n, attempt in enumerate(attempts):
        port = free_port()
        probe = sts_probe(port, ACCESS_KEY_ID, secret)
        cmd = [str(VENV_BIN / "regauth"), "serve", "--host", HOST, "--port", str(port), "--data-dir", str(data_dir)]
        t0 = time.perf_counter()
        proc = spawn(key, cmd, raw / f"{key}.{attempt}{n}.log", pin, env)
        seconds = wait_first_success(proc, port, probe, t0, timeout)
        if attempt == "cold":
            cold = seconds
        else:
            restarts.append(seconds)
        if n < len(attempts) - 1:
            proc.stop()
    server = Server(key, label, regauth_version(), port, proc, ACCESS_KEY_ID, secret, statistics.median(restarts), cold,
                    data_dir=data_dir)
    server.rss_idle = rss_bytes(proc.pid)
    return server


def regauth_admin(args: list[str], data_dir: Path, secret: str, database_url: str | None) -> str:
    env = _clean_env(regauth_env(secret, database_url))
    out = subprocess.run([str(VENV_BIN / "regauth"), "admin", *args, "--data-dir", str(data_dir)], env=env,
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"regauth admin {args[0]} failed: {out.stderr[-2000:]}")
    return out.stdout


def _dist_version(venv: Path, dist: str) -> str:
    for meta in glob.glob(str(venv / "lib" / "python3*" / "site-packages" / f"{dist}-*.dist-info")):
        return Path(meta).name[len(dist) + 1:].rsplit(".dist-info", 1)[0]
    return "?"


def peer_status(name: str) -> tuple[bool, str]:
    """(installed, why not) for a peer venv made by bench/setup.sh."""
    venv = PEERS / name
    if (venv / ".installed").is_file():
        return True, ""
    reason = (PEERS / f"{name}.skipped").read_text().strip() if (PEERS / f"{name}.skipped").is_file() else ""
    if not reason:
        log = PEERS / f"{name}.log"
        tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.is_file() else []
        reason = "not installed (run bench/setup.sh)" + (": " + " / ".join(tail) if tail else "")
    return False, reason


def start_moto(raw: Path, pin: Pinning, timeout: float = 60.0) -> Server:
    venv = PEERS / "moto"
    port = free_port()
    probe = sts_probe(port, *PEER_KEYS)
    t0 = time.perf_counter()
    proc = spawn("moto", [str(venv / "bin" / "moto_server"), "-H", HOST, "-p", str(port)], raw / "moto.log", pin,
                 _clean_env({}))
    seconds = wait_first_success(proc, port, probe, t0, timeout)
    s = Server("moto", "moto_server", _dist_version(venv, "moto"), port, proc, *PEER_KEYS, seconds)
    s.rss_idle = rss_bytes(proc.pid)
    return s


def start_localstack(raw: Path, pin: Pinning, timeout: float = 120.0) -> Server:
    venv = PEERS / "localstack"
    port = free_port()
    fs = raw / "localstack-fs"                     # host mode: every file it writes stays under here
    fs.mkdir(parents=True, exist_ok=True)
    env = _clean_env({
        "OVERRIDE_IN_DOCKER": "0", "FILESYSTEM_ROOT": str(fs), "GATEWAY_LISTEN": f"{HOST}:{port}",
        "DNS_ADDRESS": "0", "DISABLE_EVENTS": "1", "SKIP_SSL_CERT_DOWNLOAD": "1", "SKIP_INFRA_DOWNLOADS": "1",
        "LOCALSTACK_HOST": f"{HOST}:{port}",
    })
    probe = sts_probe(port, *PEER_KEYS)
    t0 = time.perf_counter()
    proc = spawn("localstack", [str(venv / "bin" / "python"), "-m", "localstack.runtime.main"],
                 raw / "localstack.log", pin, env, cwd=fs)
    seconds = wait_first_success(proc, port, probe, t0, timeout)
    s = Server("localstack", "LocalStack (community)", _dist_version(venv, "localstack_core"), port, proc,
               *PEER_KEYS, seconds)
    s.rss_idle = rss_bytes(proc.pid)
    return s


def start_bare(raw: Path, pin: Pinning, timeout: float = 30.0) -> Server:
    """The ceiling runs in the tools venv (bench/setup.sh installs uvicorn and httptools there):
    regauth itself does not depend on uvicorn."""
    venv = PEERS / "tools"
    port = free_port()
    t0 = time.perf_counter()
    proc = spawn("bare", [str(venv / "bin" / "python"), str(BENCH / "bare_asgi.py"), "--host", HOST,
                          "--port", str(port)], raw / "bare.log", pin, _clean_env({}))
    seconds = wait_first_success(proc, port, Probe("GET", "/", {}), t0, timeout)
    s = Server("bare", "bare ASGI (ceiling)", f"uvicorn {_dist_version(venv, 'uvicorn')}", port, proc, "", "", seconds)
    s.rss_idle = rss_bytes(proc.pid)
    return s


# --- PostgreSQL for the regauth-pg variant -------------------------------------------------------

class Postgres:
    """A throwaway PostgreSQL cluster on loopback, pinned with the server it serves.

    Durability matches regauth's SQLite settings (WAL, synchronous=NORMAL): fsync stays on,
    synchronous_commit=off (a crash may lose the last commits, never corrupts)."""

    def __init__(self, pin: Pinning) -> None:
        self.pin = pin
        self.bin_dir = self._find_bin()
        self.base = Path(tempfile.mkdtemp(prefix="regauth-bench-pg-"))
        self.port = 0
        self.run_as: str | None = None
        self.version = "?"

    @staticmethod
    def _find_bin() -> Path:
        for c in [*sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True),
                  str(Path(shutil.which("pg_ctl") or "/nonexistent").parent)]:
            if (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
                return Path(c)
        raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl) not found: install Debian's postgresql")

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self.run_as:
            cmd = ["runuser", "-u", self.run_as, "--", *cmd]
        return subprocess.run(self.pin.prefix(self.pin.server_core) + cmd, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout,
                              preexec_fn=self.pin.preexec(self.pin.server_core))

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/postgres"

    def start(self) -> None:
        if os.geteuid() == 0:                      # PostgreSQL refuses to run as root
            pw = pwd.getpwnam("postgres")
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
            self.run_as = "postgres"
        r = self._run("initdb", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "-D",
                      str(self.base / "data"))
        if r.returncode != 0:
            raise RuntimeError(f"initdb failed: {r.stderr[-1500:]}")
        found = re.search(r"\)\s+(\d+(?:\.\d+)*)", self._run("postgres", "--version").stdout)
        self.version = found.group(1) if found else "?"
        for _ in range(3):
            self.port = free_port()
            opts = (f"-p {self.port} -k {self.base} -c listen_addresses={HOST} -c synchronous_commit=off "
                    "-c max_connections=100 -c shared_buffers=128MB")
            r = self._run("pg_ctl", "-D", str(self.base / "data"), "-o", opts, "-l", str(self.base / "server.log"),
                          "-w", "-t", "60", "start")
            if r.returncode == 0:
                return
        raise RuntimeError(f"pg_ctl start failed: {r.stderr[-1500:]}")

    def stop(self) -> None:
        try:
            if (self.base / "data" / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.base / "data"), "-m", "immediate", "-w", "stop", timeout=60)
        except Exception:  # noqa: BLE001
            pidfile = self.base / "data" / "postmaster.pid"
            if pidfile.exists():                   # the postmaster's own id, from its pid file
                try:
                    os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def pid(self) -> int | None:
        try:
            return int((self.base / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError):
            return None

    def rss(self) -> int:
        pid = self.pid()
        return rss_bytes(pid) if pid else 0
