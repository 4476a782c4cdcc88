"""Where a request's time goes.

1. In-process (deterministic): a regauth store in a temp dir, the real services, and the dialects'
   `handle` called directly with signed `HttpRequest`s, as `regauth.http.Front` would hand them over
   (the HTTP server, regauth.server, is left out: the live profile measures it). Per dialect: the
   unprofiled time per request, then a cProfile run reported as a call tree (share of `handle`)
   and as self time grouped by library.
2. Live (sampling): py-spy (--gil, so only the thread holding the GIL is counted: on one core that
   is where the CPU goes) attached to the running server while wrk loads it.

    python bench/profiling.py [--requests 1000] [--out bench/results/profile.md]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from servers import ACCESS_KEY_ID, ACCOUNT_ID, PEERS, Pinning, Server  # noqa: E402
from workloads import BY_KEY, RawRequest, Workload, acr_paths  # noqa: E402

HOSTPORT = "127.0.0.1:8080"
COMMIT_BATCH = 16         # requests per shared transaction in the in-process runs (16 connections' worth)
TIMED_SLICES = 5          # the in-process time per request is the median of this many slices of the run


class _Captured(Exception):
    pass


def sign_offline(wl: Workload, secret: str, params: dict | None = None, operation: str | None = None) -> RawRequest:
    """The request boto3 would send for the workload, signed now, captured instead of sent."""
    import boto3
    from botocore.config import Config

    client = boto3.session.Session().client(
        wl.service, endpoint_url=f"http://{HOSTPORT}", region_name=wl.region, aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}))
    seen = {}

    def hook(request, **_):
        seen["req"] = request
        raise _Captured()

    client.meta.events.register_first("before-send", hook)
    try:
        getattr(client, operation or wl.operation)(**(wl.params if params is None else params))
    except _Captured:
        pass
    r = seen["req"]
    parts = urlsplit(r.url)
    body = r.body or b""
    headers = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in r.headers.items()}
    return RawRequest(r.method, parts.path + (f"?{parts.query}" if parts.query else ""), headers,
                      body if isinstance(body, bytes) else body.encode())


def to_http(raw: RawRequest):
    from regauth.auth.canonical import HttpRequest

    path, _, query = raw.path.partition("?")
    headers = tuple(raw.headers.items())
    if not any(k.lower() == "host" for k, _ in headers):
        headers = (("Host", HOSTPORT),) + headers
    if raw.body and not any(k.lower() == "content-length" for k, _ in headers):
        headers += (("Content-Length", str(len(raw.body))),)
    return HttpRequest(method=raw.method, path=path, query=query, headers=headers, body=raw.body,
                       source_ip="127.0.0.1")


class InProcess:
    """The real services on a fresh SQLite store, built the way `regauth serve` builds them."""

    def __init__(self, data_dir: Path, secret: str) -> None:
        from regauth.cli.runtime import open_runtime
        from regauth.cli.serve import configure_logging
        from regauth.config import load_settings
        from regauth.protocols.acr import AcrDialect
        from regauth.protocols.aws.dispatch import AwsDialect
        from regauth.services.bootstrap import bootstrap

        env = {"REGAUTH_ACCOUNT_ID": ACCOUNT_ID, "REGAUTH_BOOTSTRAP_ACCESS_KEY_ID": ACCESS_KEY_ID,
               "REGAUTH_BOOTSTRAP_SECRET_ACCESS_KEY": secret, "REGAUTH_RATE_LIMIT_PER_SECOND": "0"}
        settings = load_settings(env, data_dir=str(data_dir))
        # as `regauth serve` configures logging (level info), but into a file rather than a terminal
        self._log = open(data_dir / "server.log", "a")
        configure_logging(settings.log_level, self._log)
        self.rt = open_runtime(settings)
        bootstrap(settings, self.rt.services.store, self.rt.services.clock)
        self.aws = AwsDialect(self.rt.services)
        self.acr = AcrDialect(self.rt.services)
        self.secret = secret
        resp = self.aws.handle(to_http(sign_offline(BY_KEY["codeartifact"], secret, {"domain": "bench"},
                                                    "create_domain")))
        assert resp.status == 200, resp.body
        inst = self.rt.services.acr.create_instance(ACCOUNT_ID, "cn-hangzhou", "bench", "127.0.0.1:5000")
        self.acr_instance = inst.instance_id

    def requests(self, wl: Workload, n: int) -> list:
        if wl.dialect == "acr":
            fake = Server("x", "x", "", 8080, None, ACCESS_KEY_ID, self.secret, 0.0)  # type: ignore[arg-type]
            fake.acr_instance = self.acr_instance
            raws = [RawRequest("GET", p, {"Host": HOSTPORT}, b"") for p in acr_paths(fake, n)]
            return [to_http(r) for r in raws]
        raw = sign_offline(wl, self.secret)
        return [to_http(raw) for _ in range(n)]     # a fresh HttpRequest each time, as regauth.server builds one

    def handler(self, wl: Workload):
        """`handle`, then the group commit as `http.Front` runs it: the records of every 16 requests
        stored in one transaction (the cost of storing shows in the totals, not in `handle()`'s tree)."""
        handle = self.acr.handle if wl.dialect == "acr" else self.aws.handle
        commit = self.rt.services.auditor.commit
        waiting: list = []

        def served(req):
            resp = handle(req)
            if resp.pending:
                waiting.append(resp.pending)
                if len(waiting) >= COMMIT_BATCH:
                    commit(waiting)
                    waiting.clear()
            return resp
        return served

    def close(self) -> None:
        self.rt.services.store.close()
        self._log.close()


# --- reading a cProfile -----------------------------------------------------------------------

def _label(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    if filename == "~":
        return name
    p = Path(filename)
    parts = p.parts
    for anchor in ("regauth", "sqlalchemy", "botocore", "cryptography", "httptools", "alembic"):
        if anchor in parts:
            i = len(parts) - 1 - parts[::-1].index(anchor)
            return f"{'/'.join(parts[i:])}:{line}({name})"
    return f"{p.name}:{line}({name})"


def area(func: tuple[str, int, str]) -> str:
    """The library a function belongs to (self time is grouped by this)."""
    filename, _, name = func
    if filename == "~":
        low = name.lower()
        for key, label in (("sqlite3", "sqlite3 (C)"), ("psycopg", "psycopg (C)"), ("hmac", "hashing/HMAC (C)"),
                           ("_hashlib", "hashing/HMAC (C)"), ("sha", "hashing/HMAC (C)"), ("lock", "locks/threads"),
                           ("json", "json"), ("re.pattern", "regex"), ("_sre", "regex"),
                           ("builtins.", "builtins"), ("posix", "os calls"), ("time", "time/clock")):
            if key in low:
                return label
        return "other C builtins"
    parts = Path(filename).parts
    if "regauth" in parts:
        i = len(parts) - 1 - parts[::-1].index("regauth")
        sub = parts[i + 1] if i + 1 < len(parts) - 1 else ""
        return f"regauth/{sub}" if sub else "regauth"
    for key in ("sqlalchemy", "botocore", "cryptography", "psycopg", "alembic", "httptools", "asyncio", "logging", "json",
                "hmac", "hashlib", "threading", "datetime", "uuid", "secrets", "urllib", "base64", "dataclasses",
                "re", "enum", "contextlib", "ipaddress", "fnmatch", "random"):
        if key in parts or Path(filename).stem == key:
            return key
    return "stdlib/other"


def call_tree(stats: pstats.Stats, root_name: str, total: float, min_share: float, depth: int) -> list[str]:
    st = stats.stats  # type: ignore[attr-defined]
    roots = [f for f in st if f[2] == root_name and ("regauth" in f[0] or "profiling" in f[0])]
    if not roots:
        return [f"(no {root_name} in profile)"]
    callees: dict = defaultdict(dict)
    for func, (_cc, _nc, _tt, _ct, callers) in st.items():
        for caller, (_c, _n, _t, ct) in callers.items():
            callees[caller][func] = ct
    lines: list[str] = []

    def walk(func, ct: float, level: int, path: set) -> None:
        # A function reached along several paths: its callees' times are split in proportion to
        # this path's share of its total (cProfile keeps one level of caller edges only).
        lines.append(f"{'  ' * level}{100 * ct / total:5.1f}%  {_label(func)}")
        if level >= depth:
            return
        own_total = st[func][3] or 1e-12
        scale = min(1.0, ct / own_total)
        for child, cct in sorted(callees.get(func, {}).items(), key=lambda kv: -kv[1]):
            share = cct * scale
            if share / total >= min_share and child not in path:
                walk(child, share, level + 1, path | {child})

    for r in roots:
        walk(r, st[r][3], 0, {r})
    return lines


def by_area(stats: pstats.Stats) -> list[tuple[str, float]]:
    acc: dict[str, float] = defaultdict(float)
    total = 0.0
    for func, (_cc, _nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        acc[area(func)] += tt
        total += tt
    return sorted(((k, 100 * v / total) for k, v in acc.items()), key=lambda kv: -kv[1])


def top_self(stats: pstats.Stats, n: int) -> list[tuple[str, float, int]]:
    rows = []
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    for func, (_cc, nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((_label(func), 100 * tt / total, nc))
    return sorted(rows, key=lambda r: -r[1])[:n]


def profile_in_process(workloads: list[Workload], n: int, secret: str = "bench-profile-secret-0123456789") -> dict:
    """{workload key: {"us_per_request", "tree", "areas", "top"}}"""
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="regauth-profile-") as tmp:
        ip = InProcess(Path(tmp), secret)
        try:
            for wl in workloads:
                handle = ip.handler(wl)
                warm = ip.requests(wl, 50)
                for r in warm:
                    resp = handle(r)
                    assert resp.status == 200, (wl.key, resp.status, resp.body[:300])
                # timed in TIMED_SLICES slices, the median kept: one stall of the machine (they last
                # seconds here at times) would otherwise be the figure
                reqs = ip.requests(wl, n)
                step = max(1, n // TIMED_SLICES)
                per_request = []
                for i in range(0, n, step):
                    part = reqs[i:i + step]
                    t0 = time.perf_counter()
                    for r in part:
                        handle(r)
                    per_request.append((time.perf_counter() - t0) / len(part))
                us = statistics.median(per_request) * 1e6
                reqs = ip.requests(wl, n)
                prof = cProfile.Profile()
                prof.enable()
                for r in reqs:
                    handle(r)
                prof.disable()
                stats = pstats.Stats(prof)
                root = [v for f, v in stats.stats.items() if f[2] == "served" and "profiling" in f[0]]  # type: ignore
                total = root[0][3] if root else 1.0
                out[wl.key] = {
                    "us_per_request": us,
                    "profiled_us_per_request": total / n * 1e6,
                    "tree": call_tree(stats, "served", total, 0.02, 6),
                    "areas": by_area(stats),
                    "top": top_self(stats, 25),
                }
        finally:
            ip.close()
    return out


# --- start-up: phases, RSS, imports, in a fresh interpreter -------------------------------------

_STARTUP_SNIPPET = r"""
import cProfile, io, json, os, pstats, sys, time
t0 = time.perf_counter()
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
marks = [("interpreter", time.perf_counter() - t0, rss())]
prof = cProfile.Profile()
profiling = sys.argv[2] == "profile"
if profiling:
    prof.enable()
def mark(name):
    marks.append((name, time.perf_counter() - t0, rss()))
import asyncio, httptools
mark("import asyncio, httptools")
import cryptography.hazmat.primitives.ciphers.aead
mark("import cryptography")
from regauth.cli import serve
from regauth.cli.runtime import open_runtime
from regauth.config import load_settings
from regauth.http import Front
from regauth.server import Server
from regauth.services.bootstrap import bootstrap
mark("import regauth (the rest)")
settings = load_settings(data_dir=sys.argv[1])
rt = open_runtime(settings)
mark("open store (schema check or creation, master key)")
bootstrap(settings, rt.services.store, rt.services.clock)
mark("bootstrap")
app = Front(rt.services)
mark("Front(): dialects, AWS models")
from regauth.auth.canonical import HttpRequest
r = json.loads(sys.stdin.read())
req = HttpRequest(method=r["method"], path=r["path"], query=r["query"], headers=tuple(map(tuple, r["headers"])),
                  body=r["body"].encode("latin-1"), source_ip="127.0.0.1")
resp = app._aws.handle(req)
mark(f"first request handled in-process (STS GetCallerIdentity -> {resp.status})")
prof.disable()
top = []
for func, (cc, nc, tt, ct, callers) in (pstats.Stats(prof, stream=io.StringIO()).stats.items() if profiling else []):
    path = func[0].split("site-packages/", 1)[-1].split("/src/", 1)[-1]
    top.append((ct, tt, f"{path}:{func[1]}({func[2]})", func[0], func[2]))
top.sort(reverse=True)
keep = [t for t in top if ("regauth" in t[3] or "site-packages" in t[3]) and t[4] != "<module>"][:40]
print("STARTUPJSON " + json.dumps({"marks": marks, "top": [(c, t, n) for c, t, n, _, _ in keep] if profiling else []}))
"""


def startup_breakdown(secret: str = "bench-startup-secret-0123456789") -> dict:
    """Phases of `regauth serve` start-up up to the first request (no socket), in a new interpreter:
    wall time and RSS after each, the top cumulative functions, and -X importtime per package."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGAUTH_", "AWS_"))}
    env.update({"REGAUTH_ACCOUNT_ID": ACCOUNT_ID, "REGAUTH_BOOTSTRAP_ACCESS_KEY_ID": ACCESS_KEY_ID,
                "REGAUTH_BOOTSTRAP_SECRET_ACCESS_KEY": secret, "REGAUTH_RATE_LIMIT_PER_SECOND": "0",
                "REGAUTH_LOG_LEVEL": "warning"})
    raw = sign_offline(BY_KEY["sts"], secret)
    req = to_http(raw)
    payload = json.dumps({"method": req.method, "path": req.path, "query": req.query, "headers": req.headers,
                          "body": req.body.decode("latin-1")})
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="regauth-startup-") as tmp:
        for label, how in (("first start (empty store)", "time"), ("restart", "time"),
                           ("restart under cProfile", "profile")):
            run = subprocess.run([sys.executable, "-X", "importtime", "-c", _STARTUP_SNIPPET, tmp, how],
                                 input=payload, capture_output=True, text=True, timeout=120, env=env)
            line = next((x for x in run.stdout.splitlines() if x.startswith("STARTUPJSON ")), None)
            if line is None:
                out[label] = {"error": (run.stdout + run.stderr)[-1500:]}
                continue
            d = json.loads(line[len("STARTUPJSON "):])
            d["imports"] = _importtime(run.stderr)
            out[label] = d
    return out


def _importtime(stderr: str) -> list[tuple[str, float]]:
    """-X importtime -> cumulative seconds per top-level package (first time each is imported)."""
    acc: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:"):].split("|")
        name = parts[2]
        if name.startswith("  ") or not parts[1].strip().isdigit():   # only top-level imports (not nested)
            continue
        acc[name.strip().split(".")[0]] += int(parts[1]) / 1e6
    return sorted(acc.items(), key=lambda kv: -kv[1])[:15]


# --- py-spy on the live server --------------------------------------------------------------------

def py_spy() -> Path | None:
    exe = PEERS / "tools" / "bin" / "py-spy"
    return exe if exe.is_file() else None


def start_py_spy(pid: int, seconds: int, out: Path, pin: Pinning, gil: bool = True) -> subprocess.Popen | None:
    """gil=True: only the thread holding the GIL (Python CPU). gil=False: every thread py-spy finds
    active, which adds threads inside C calls that released the GIL (SQLite, os.urandom, socket
    writes) but also some that wait on a lock."""
    exe = py_spy()
    if exe is None:
        return None
    cmd = pin.prefix(pin.load_core) + [str(exe), "record", "--pid", str(pid), "--duration", str(seconds),
                                       "--rate", "250", *(["--gil"] if gil else []), "--nonblocking",
                                       "--format", "raw", "--output", str(out)]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def _frame_area(frame: str) -> str:
    # "function (path/to/file.py:line)"
    inside = frame[frame.rfind("(") + 1:].rstrip(")")
    return area((inside.rsplit(":", 1)[0], 0, frame.split(" (", 1)[0]))


# Leaf frames of threads that wait rather than work (py-spy's idle detection misses some of them
# when it does not pause the process): dropped from the every-thread view.
_WAITING = ("_worker (concurrent/futures/thread.py)", "EpollSelector.select (selectors.py)",
            "Condition.wait (threading.py)", "Event.wait (threading.py)")


def read_collapsed(path: Path, n: int = 25, drop_waiting: bool = False) -> dict:
    """py-spy raw output -> inclusive and self shares per frame, self share per library."""
    inclusive: dict[str, int] = defaultdict(int)
    selfs: dict[str, int] = defaultdict(int)
    areas: dict[str, int] = defaultdict(int)
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        c = int(count)
        frames = [f for f in stack.split(";") if f]
        if drop_waiting and frames and _short_frame(frames[-1]) in _WAITING:
            continue
        total += c
        for f in set(frames):
            inclusive[_short_frame(f)] += c
        if frames:
            selfs[_short_frame(frames[-1])] += c
            areas[_frame_area(frames[-1])] += c
    if not total:
        return {"samples": 0}
    pct = lambda d: sorted(((k, 100 * v / total) for k, v in d.items()), key=lambda kv: -kv[1])  # noqa: E731
    return {"samples": total, "inclusive": pct(inclusive)[:n], "self": pct(selfs)[:n], "areas": pct(areas)}


def _short_frame(frame: str) -> str:
    name, _, loc = frame.partition(" (")
    loc = loc.rstrip(")")
    p = Path(loc.rsplit(":", 1)[0])
    parts = p.parts
    for anchor in ("regauth", "sqlalchemy", "httptools", "asyncio", "concurrent", "logging", "botocore", "threading"):
        if anchor in parts:
            i = len(parts) - 1 - parts[::-1].index(anchor)
            return f"{name} ({'/'.join(parts[i:])})"
    return f"{name} ({p.name})"


# --- markdown -----------------------------------------------------------------------------------

def render(in_process: dict, live: dict | None, live_what: str, startup: dict | None = None,
           extra: list[str] | None = None) -> str:
    lines = ["# Where a regauth request's time goes", ""] + (extra or [])
    if in_process:
        lines += ["## In-process: dialect `handle()` and the group commit (16 requests per transaction) on the real services (SQLite store, logging at info)", "",
                  f"Time per request without the profiler (one thread, no HTTP; the median of {TIMED_SLICES} slices of the run): the upper bound on one core is "
                  "1 s / this.", "",
                  "| workload | µs per request | max req/s on one core | (under cProfile) |", "|---|---:|---:|---:|"]
        for key, d in in_process.items():
            lines.append(f"| {BY_KEY[key].title} | {d['us_per_request']:.0f} | {1e6 / d['us_per_request']:.0f} | "
                         f"{d['profiled_us_per_request']:.0f} µs |")
        for key, d in in_process.items():
            lines += ["", f"### {BY_KEY[key].title}", "", "Self time by library (cProfile):", "",
                      "| library | % of self time |", "|---|---:|"]
            lines += [f"| {k} | {v:.1f} |" for k, v in d["areas"][:12]]
            lines += ["", "Call tree, share of a served request (`handle()` plus its share of the group commit; edges ≥ 2 %):", "", "```"] + d["tree"] + ["```"]
            lines += ["", "Top functions by self time:", "", "| function | % self | calls |", "|---|---:|---:|"]
            lines += [f"| `{name}` | {p:.1f} | {nc} |" for name, p, nc in d["top"][:15]]
    for mode, what in (("gil", "the thread holding the GIL: where Python spends the CPU"),
                       ("all", "every active thread: adds threads inside C calls that released the GIL "
                               "(SQLite, os.urandom, socket writes); idle workers and the event loop's "
                               "epoll wait are left out, lock waits are not")):
        d = (live or {}).get(mode)
        if d is None:
            continue
        lines += ["", f"## Live server under load: py-spy{' --gil' if mode == 'gil' else ''}, {live_what}", ""]
        if not d.get("samples"):
            lines.append("(no samples: py-spy missing or not permitted)")
            continue
        lines += [f"{d['samples']} samples of {what}.", "", "| library | % of samples (self) |", "|---|---:|"]
        lines += [f"| {k} | {v:.1f} |" for k, v in d["areas"][:12]]
        lines += ["", "| frame | % inclusive |", "|---|---:|"]
        lines += [f"| `{k}` | {v:.1f} |" for k, v in d["inclusive"][:25]]
        lines += ["", "| frame | % self |", "|---|---:|"]
        lines += [f"| `{k}` | {v:.1f} |" for k, v in d["self"][:20]]
    if startup:
        lines += ["", "## Start-up (`regauth serve` phases in a fresh interpreter, up to the first request)", ""]
        for label, d in startup.items():
            if "error" in d:
                lines += [f"{label}: failed: `{d['error'][-300:]}`", ""]
                continue
            if d["top"]:
                lines += [f"### {label}: top cumulative functions (imports excluded; see -X importtime above)", "",
                          "| function | cumulative s | self s |", "|---|---:|---:|"]
                lines += [f"| `{name}` | {ct:.3f} | {tt:.3f} |" for ct, tt, name in d["top"][:15]]
                lines.append("")
                continue
            lines += [f"### {label}", "", "| phase | ends at | takes | RSS after |", "|---|---:|---:|---:|"]
            prev = 0.0
            for name, at, rss in d["marks"]:
                lines.append(f"| {name} | {at * 1000:.0f} ms | {(at - prev) * 1000:.0f} ms | {rss / 2**20:.0f} MiB |")
                prev = at
            lines += ["", "Top-level imports (`-X importtime`, cumulative):", "", "| package | s |", "|---|---:|"]
            lines += [f"| {name} | {sec:.3f} |" for name, sec in d["imports"][:10]]
            lines.append("")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--workloads", default=",".join(w.key for w in BY_KEY.values()))
    p.add_argument("--out", default=None)
    a = p.parse_args()
    res = profile_in_process([BY_KEY[k] for k in a.workloads.split(",")], a.requests)
    text = render(res, None, "", startup_breakdown())
    if a.out:
        Path(a.out).write_text(text)
    print(text)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
