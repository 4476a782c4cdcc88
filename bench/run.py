"""regauth against moto_server, LocalStack and a bare-ASGI ceiling, side by side, in one run.

    python bench/run.py            # the full comparison (~10 min): bench/results/latest.{md,json}, profile.md
    python bench/run.py --quick    # a ~2 min smoke run: bench/results/raw/quick.{md,json}
    python bench/run.py --readme   # also replace the table in README's Benchmarks section

Servers run on loopback pinned to one core, the load generators (wrk, the real clients) on the
other. Every figure is the median of several rounds; in each round the servers are measured back
to back (their order rotating), and each ratio is taken within a round, then its median reported:
absolute numbers on shared 2-core machines drift by tens of percent, ratios much less.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import profiling  # noqa: E402
import report  # noqa: E402
import scale  # noqa: E402
import servers as S  # noqa: E402
import workloads as W  # noqa: E402

RESULTS = S.BENCH / "results"


@dataclass(frozen=True)
class Mode:
    name: str
    rounds: int
    wrk_seconds: float
    warmup_seconds: float
    client_seconds: float
    connections: tuple[int, ...]
    threads: tuple[int, ...]
    scale_tokens: int
    scale_rounds: int
    profile_requests: int
    spy_seconds: int
    budget_seconds: float          # the run stops starting new measurements past this


FULL = Mode("full", rounds=3, wrk_seconds=2, warmup_seconds=1, client_seconds=1.0, connections=(16, 64),
            threads=(1, 8), scale_tokens=1_000_000, scale_rounds=3, profile_requests=400, spy_seconds=4,
            budget_seconds=9 * 60)
QUICK = Mode("quick", rounds=1, wrk_seconds=1, warmup_seconds=0, client_seconds=0.5, connections=(16, 64),
             threads=(1, 8), scale_tokens=100_000, scale_rounds=1, profile_requests=100, spy_seconds=2,
             budget_seconds=4 * 60)


class OutOfTime(Exception):
    pass


class Run:
    def __init__(self, mode: Mode, args: argparse.Namespace) -> None:
        self.mode = mode
        self.args = args
        self.t0 = time.perf_counter()
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        _prune_raw(keep=5)
        self.raw = RESULTS / "raw" / f"{stamp}-{mode.name}"
        self.raw.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix="regauth-bench-"))
        self.pin = S.Pinning.detect()
        self.secret = secrets.token_urlsafe(30)
        self.servers: list[S.Server] = []
        self.pg: S.Postgres | None = None
        self.out: dict = {"meta": {}, "servers": {}, "support": {}, "wrk": [], "clients": [], "scale": {},
                          "skipped": [], "errors": []}

    # --- bookkeeping ----------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def check_time(self, what: str) -> None:
        if self.elapsed() > self.mode.budget_seconds:
            raise OutOfTime(f"time budget ({self.mode.budget_seconds:.0f} s) spent before {what}")

    def log(self, msg: str) -> None:
        print(f"[{self.elapsed():6.1f}s] {msg}", flush=True)

    def skip(self, what: str, why: str) -> None:
        self.out["skipped"].append({"what": what, "why": why})
        self.log(f"skipped {what}: {why}")

    # --- servers --------------------------------------------------------------------------------
    def start_servers(self) -> None:
        wanted = self.args.servers.split(",") if self.args.servers else \
            ["bare", "regauth-sqlite", "regauth-pg", "moto", "localstack"]
        for key in wanted:
            try:
                server = self._start(key)
            except Exception as exc:  # noqa: BLE001 - one server failing must not sink the others
                self.skip(key, f"did not start: {str(exc).strip().splitlines()[0][:300]}")
                self.out["errors"].append({"server": key, "error": traceback.format_exc()[-3000:]})
                continue
            if server is not None:
                if server.is_regauth or server.key == "bare":
                    try:
                        server.body_lag_ms = S.body_lag_ms(server.port, "/healthz")
                    except OSError:
                        pass
                self.servers.append(server)
                self.log(f"{server.label} {server.version}: first success after {server.start_seconds:.2f} s"
                         + (f" (cold {server.cold_start_seconds:.2f} s)" if server.cold_start_seconds else "")
                         + f", idle RSS {server.rss_idle / 2**20:.0f} MiB")

    def _start(self, key: str) -> S.Server | None:
        if key == "bare":
            ok, why = S.peer_status("tools")
            if not ok:
                self.skip(key, why)
                return None
            return S.start_bare(self.raw, self.pin)
        if key == "regauth-sqlite":
            s = S.start_regauth(key, "regauth (SQLite)", self.tmp / key, self.raw, self.pin, self.secret)
            s.notes.append("`make run` configuration: SQLite (WAL, synchronous=NORMAL), log level info; "
                           "REGAUTH_RATE_LIMIT_PER_SECOND=0")
            self._setup_regauth(s, None)
            return s
        if key == "regauth-pg":
            self.pg = S.Postgres(self.pin)
            self.pg.start()
            s = S.start_regauth(key, f"regauth (PostgreSQL {self.pg.version})", self.tmp / key, self.raw, self.pin,
                                self.secret, database_url=self.pg.url)
            s.notes.append(f"PostgreSQL {self.pg.version} on the same core, synchronous_commit=off; "
                           "REGAUTH_RATE_LIMIT_PER_SECOND=0; server CPU includes PostgreSQL, RSS does not")
            pg_pid = self.pg.pid()
            s.helper_pids = [pg_pid] if pg_pid else []
            self._setup_regauth(s, self.pg.url)
            return s
        if key in ("moto", "localstack"):
            ok, why = S.peer_status(key)
            if not ok:
                self.skip(key, why)
                return None
            s = S.start_moto(self.raw, self.pin) if key == "moto" else S.start_localstack(self.raw, self.pin)
            if key == "localstack":
                s.notes.append("localstack-core 4.13.1 on Python 3.11 with pins (see bench/setup.sh)")
            try:                                   # so that a CodeArtifact token could be asked for, if implemented
                W.aws_client(s, W.BY_KEY["codeartifact"]).create_domain(domain="bench")
            except Exception:  # noqa: BLE001
                pass
            return s
        raise ValueError(f"unknown server {key}")

    def _setup_regauth(self, s: S.Server, database_url: str | None) -> None:
        codeartifact = W.aws_client(s, W.BY_KEY["codeartifact"])
        codeartifact.create_domain(domain="bench")
        codeartifact.create_repository(domain="bench", repository=W.BENCH_REPOSITORY)
        created = json.loads(S.regauth_admin(["create-acr-instance", "--account-id", S.ACCOUNT_ID, "--region",
                                              "cn-hangzhou", "--name", "bench", "--login-server", "127.0.0.1:5000"],
                                             s.data_dir, self.secret, database_url))
        s.acr_instance = created["InstanceId"]

    # --- measurements ---------------------------------------------------------------------------
    def probe_support(self) -> dict[str, list[S.Server]]:
        chosen = [W.BY_KEY[k] for k in self.args.workloads.split(",")] if self.args.workloads else W.WORKLOADS
        plan: dict[str, list[S.Server]] = {}
        for wl in chosen:
            self.out["support"][wl.key] = {}
            plan[wl.key] = []
            for s in self.servers:
                why = None if s.key == "bare" else W.probe(s, wl)
                self.out["support"][wl.key][s.key] = why
                if why is None:
                    plan[wl.key].append(s)
                else:
                    self.log(f"{s.label} does not implement {wl.title}: {why}")
        return plan

    def request_for(self, s: S.Server, wl: W.Workload) -> W.RawRequest | None:
        if wl.dialect == "acr":
            return None
        if wl.dialect == "http":
            assert wl.build is not None
            return wl.build(s)
        return W.capture(s, wl, tolerate_errors=(s.key == "bare"))

    def acr_n(self, s: S.Server, conns: int, seconds: float) -> int:
        if s.key == "bare":
            return 0                               # the ceiling ignores nonces: a short list, cycled
        seen = [r["ok_rps"] for r in self.out["wrk"] if r["server"] == s.key]
        guess = max(seen) if seen else 3000.0
        return int(max(guess, 500.0) * 1.6 * (seconds + 1)) + 2000

    def wrk_once(self, s: S.Server, wl: W.Workload, conns: int, seconds: float) -> W.Result:
        req = self.request_for(s, wl)                               # signed now, right before the run
        return W.run_wrk(s, wl, req, conns, seconds, self.pin, self.raw / "wrk", acr_n=self.acr_n(s, conns, seconds))

    def measure_wrk(self, plan: dict[str, list[S.Server]]) -> None:
        m = self.mode
        for key, participants in plan.items():
            wl = W.BY_KEY[key]
            for s in participants if m.warmup_seconds else []:   # warm-up: lazy loading, first connections
                self.wrk_once(s, wl, m.connections[0], m.warmup_seconds)
            for rnd in range(m.rounds):
                self.check_time(f"wrk round {rnd + 1} of {wl.title}")
                order = participants[rnd % len(participants):] + participants[:rnd % len(participants)]
                for conns in m.connections:
                    for s in order:
                        r = self.wrk_once(s, wl, conns, m.wrk_seconds)
                        self.out["wrk"].append({"workload": key, "server": s.key, "connections": conns,
                                                "round": rnd, **r.as_dict()})
                        self.log(f"wrk  {wl.key:<13} {s.key:<15} c{conns:<3} {r.ok_rps:8.0f} req/s  "
                                 f"p50 {r.p50_ms:7.2f}  p99 {r.p99_ms:7.2f} ms  err {r.errors}"
                                 + (f"  ({r.note})" if r.note else ""))

    def measure_clients(self, plan: dict[str, list[S.Server]]) -> None:
        m = self.mode
        for key, participants in plan.items():
            wl = W.BY_KEY[key]
            real = [s for s in participants if s.key != "bare"] if wl.dialect != "http" else []
            for rnd in range(m.rounds):
                self.check_time(f"client round {rnd + 1} of {wl.title}")
                order = real[rnd % max(1, len(real)):] + real[:rnd % max(1, len(real))]
                for threads in m.threads:
                    for s in order:
                        r = W.run_clients(s, wl, threads, m.client_seconds)
                        self.out["clients"].append({"workload": key, "server": s.key, "threads": threads,
                                                    "round": rnd, **r.as_dict()})
                        self.log(f"sdk  {wl.key:<13} {s.key:<15} t{threads:<3} {r.ok_rps:8.0f} req/s  "
                                 f"p50 {r.p50_ms:7.2f}  p99 {r.p99_ms:7.2f} ms  err {r.errors}"
                                 + (f"  ({r.note})" if r.note else ""))

    def live_profile(self) -> dict | None:
        """py-spy on regauth (SQLite) under ECR GetAuthorizationToken at 64 connections (where it is CPU-bound),
        both modes at once."""
        target = next((s for s in self.servers if s.key == "regauth-sqlite"), None)
        if target is None:
            return None
        outs = {mode: self.raw / f"py-spy-{mode}-ecr-c64.txt" for mode in ("gil", "all")}
        spies = {mode: profiling.start_py_spy(target.proc.pid, self.mode.spy_seconds, path, self.pin, mode == "gil")
                 for mode, path in outs.items()}
        if any(p is None for p in spies.values()):
            self.skip("live profile", "py-spy not installed (bench/setup.sh)")
            return None
        time.sleep(0.3)
        self.wrk_once(target, W.BY_KEY["ecr"], 64, self.mode.spy_seconds + 1)
        live: dict = {}
        for mode, spy in spies.items():
            try:
                _, err = spy.communicate(timeout=30)
            except Exception:  # noqa: BLE001
                os.killpg(spy.pid, signal.SIGKILL)
                spy.wait()
                err = b"timed out"
            if outs[mode].is_file():
                live[mode] = profiling.read_collapsed(outs[mode], drop_waiting=(mode == "all"))
            else:
                self.skip(f"live profile ({mode})", f"py-spy wrote nothing: {err.decode(errors='replace')[-300:]}")
        return live or None

    def measure_rss_after(self) -> None:
        for s in self.servers:
            s.rss_after = S.rss_bytes(s.proc.pid)

    def stop_servers(self) -> None:
        for s in self.servers:
            s.proc.stop()
        if self.pg is not None:
            self.out["meta"]["postgres_rss_after"] = self.pg.rss()
            self.pg.stop()
            self.pg = None

    # --- the scale run --------------------------------------------------------------------------
    def scale_run(self) -> None:
        m = self.mode
        self.check_time("the scale run")
        fresh_dir, full_dir = self.tmp / "scale-fresh", self.tmp / "scale-1e6"
        self.log(f"scale: populating a store with {m.scale_tokens:,} tokens and audit events")
        boot = S.start_regauth("regauth-scale-boot", "", full_dir, self.raw, self.pin, self.secret, cold_restart=False)
        boot.proc.stop()
        seconds = scale.populate(f"sqlite:///{full_dir}/regauth.db", m.scale_tokens, S.ACCOUNT_ID)
        db_bytes = sum(p.stat().st_size for p in full_dir.glob("regauth.db*"))
        self.log(f"scale: populated in {seconds:.1f} s ({db_bytes / 2**20:.0f} MiB)")
        fresh = S.start_regauth("regauth-fresh", "fresh store", fresh_dir, self.raw, self.pin, self.secret,
                                cold_restart=False)
        full = S.start_regauth("regauth-1e6", f"{m.scale_tokens:,} tokens", full_dir, self.raw, self.pin,
                               self.secret, cold_restart=False)
        res = {"tokens": m.scale_tokens, "populate_seconds": seconds, "db_bytes": db_bytes,
               "start_seconds": {"fresh": fresh.start_seconds, "full": full.start_seconds},
               "rss_idle": {"fresh": fresh.rss_idle, "full": full.rss_idle}, "runs": []}
        try:
            wl = W.BY_KEY["ecr"]
            pair = [fresh, full]
            for s in pair if m.warmup_seconds else []:
                self.wrk_once(s, wl, 16, m.warmup_seconds)
            for rnd in range(m.scale_rounds):
                order = pair if rnd % 2 == 0 else pair[::-1]
                for conns in m.connections:
                    for s in order:
                        r = self.wrk_once(s, wl, conns, m.wrk_seconds)
                        which = "fresh" if s is fresh else "full"
                        res["runs"].append({"store": which, "connections": conns, "round": rnd, **r.as_dict()})
                        self.log(f"scale {which:<5} c{conns:<3} {r.ok_rps:8.0f} req/s  p50 {r.p50_ms:7.2f}  "
                                 f"p99 {r.p99_ms:7.2f} ms  err {r.errors}")
            res["rss_after"] = {"fresh": S.rss_bytes(fresh.proc.pid), "full": S.rss_bytes(full.proc.pid)}
        finally:
            fresh.proc.stop()
            full.proc.stop()
            shutil.rmtree(full_dir, ignore_errors=True)
        self.out["scale"] = res

    # --- the whole run ----------------------------------------------------------------------------
    def meta(self) -> dict:
        import boto3

        try:
            load = os.getloadavg()
        except OSError:
            load = (0.0, 0.0, 0.0)
        return {
            "mode": self.mode.__dict__, "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "host": {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release(),
                     "loadavg_at_start": load},
            "pinning": self.pin.how, "boto3": boto3.__version__, "wrk": _wrk_version(),
            "rate_limit": "REGAUTH_RATE_LIMIT_PER_SECOND=0 on every regauth server (throttling is not measured); "
                          "regauth's modules byte-compiled first, as a pip install leaves them",
        }

    def execute(self) -> int:
        if self.pin.load_core is not None:
            os.sched_setaffinity(0, {self.pin.load_core})         # this process and the clients it runs
        self.out["meta"] = self.meta()
        if shutil.which("wrk") is None:
            print("wrk is not installed: run bench/setup.sh (make bench does)", file=sys.stderr)
            return 2
        live = None
        in_process: dict = {}
        startup: dict = {}
        _byte_compile()
        try:
            self.start_servers()
            plan = self.probe_support()
            try:
                self.measure_wrk(plan)
                self.measure_clients(plan)
            except OutOfTime as exc:
                self.skip("remaining measurements", str(exc))
            self.measure_rss_after()
            if not self.args.no_profile:
                live = self.live_profile()
            for s in self.servers:
                self.out["servers"][s.key] = {
                    "label": s.label, "version": s.version, "start_seconds": s.start_seconds,
                    "cold_start_seconds": s.cold_start_seconds, "rss_idle": s.rss_idle, "rss_after": s.rss_after,
                    "body_lag_ms": s.body_lag_ms, "notes": s.notes}
            self.stop_servers()
            if not self.args.no_scale:
                try:
                    self.scale_run()
                except OutOfTime as exc:
                    self.skip("scale run", str(exc))
            if not self.args.no_profile:
                self.log("profile: in-process request path (cProfile)")
                in_process = profiling.profile_in_process(
                    [W.BY_KEY[k] for k in self.out["support"] if W.BY_KEY[k].dialect in ("aws", "acr")],
                    self.mode.profile_requests)
                self.out["profile"] = {k: {"us_per_request": v["us_per_request"], "areas": v["areas"][:10]}
                                       for k, v in in_process.items()}
                self.log("profile: start-up phases")
                startup = profiling.startup_breakdown()
                self.out["profile"]["startup"] = {k: v.get("marks") for k, v in startup.items()}
                for mode, d in (live or {}).items():
                    if d.get("samples"):
                        self.out["profile"][f"live_{mode}"] = {"samples": d["samples"], "areas": d["areas"][:12],
                                                               "inclusive": d["inclusive"][:20]}
        finally:
            S.stop_all()
            if self.pg is not None:
                self.pg.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)
        self.out["meta"]["wall_seconds"] = self.elapsed()
        self.write(in_process, live, startup)
        return 0

    def write(self, in_process: dict, live: dict | None, startup: dict) -> None:
        quick = self.mode.name == "quick"
        where = RESULTS / "raw" if quick else RESULTS
        base = "quick" if quick else "latest"
        where.mkdir(parents=True, exist_ok=True)
        summary = report.summarize(self.out)
        (where / f"{base}.json").write_text(json.dumps({**self.out, "summary": summary}, indent=1, default=str))
        md = report.markdown(self.out, summary)
        (where / f"{base}.md").write_text(md)
        shutil.copy(where / f"{base}.json", self.raw / "results.json")
        if in_process or live or startup:
            ptext = profiling.render(in_process, live, "ECR GetAuthorizationToken, wrk, 64 connections", startup,
                                     report.http_layer_lines(self.out, summary))
            (where / ("quick-profile.md" if quick else "profile.md")).write_text(ptext)
        if self.args.readme and not quick:
            report.update_readme(S.REPO / "README.md", report.readme_block(self.out, summary))
        self.log(f"wrote {where / (base + '.md')} (raw: {self.raw})")
        print()
        print(md)


def _prune_raw(keep: int) -> None:
    """Per-run raw folders (logs, wrk output, py-spy samples) pile up: keep the newest few."""
    runs = sorted(p for p in (RESULTS / "raw").glob("*-*") if p.is_dir())
    for old in runs[:-keep] if len(runs) > keep else []:
        shutil.rmtree(old, ignore_errors=True)


def _wrk_version() -> str:
    import subprocess
    try:
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10)
        first = (out.stdout + out.stderr).splitlines()[0].strip()      # "wrk debian/4.1.0-3+b2 [epoll] Copyright..."
        return first.split(" Copyright")[0]
    except Exception:  # noqa: BLE001
        return "?"


def _byte_compile() -> None:
    """regauth's modules as a pip install leaves them: byte-compiled. An editable install compiles
    on first import, unless PYTHONDONTWRITEBYTECODE is set (as on these machines): then every start
    would compile every module again, and the start-up figures would measure that."""
    src = Path(__file__).resolve().parent.parent / "src"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=False, timeout=120,
                   stdout=subprocess.DEVNULL)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a ~2 minute run (fewer rounds, shorter runs, 10^5 tokens)")
    p.add_argument("--readme", action="store_true", help="replace the table in README's Benchmarks section")
    p.add_argument("--servers", default="",
                   help="comma-separated subset: bare,regauth-sqlite,regauth-pg,moto,localstack")
    p.add_argument("--workloads", default="", help="comma-separated subset: " + ",".join(W.BY_KEY))
    p.add_argument("--no-scale", action="store_true", help="skip the 10^6-token scale run")
    p.add_argument("--no-profile", action="store_true", help="skip the profiles")
    args = p.parse_args()
    run = Run(QUICK if args.quick else FULL, args)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        return run.execute()
    except KeyboardInterrupt:
        print("interrupted: every server stopped", file=sys.stderr)
        return 130
    finally:
        S.stop_all()
        print(f"total wall time {run.elapsed():.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
