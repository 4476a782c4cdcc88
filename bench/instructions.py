"""Instructions per request: the request path's cost counted, not timed.

On the bench machines a timed A/B needs 8+ alternating rounds to see a 5 % change, and `make bench`
cannot see one at all (absolute numbers drift by tens of percent). Valgrind's callgrind counts the
instructions a piece of code executes instead: the same code, input and interpreter give the same
count whatever else the machine is doing (repeat runs here agree to within 0.01 %). An instruction
is not a nanosecond (a cache miss or a system call costs more than its count says), so this is for
comparing two versions of the request path, not for the goals; those are `bench/run.py`'s.

What is counted is what `bench/profiling.py` profiles: for each workload, `handle()` plus the group
commit (16 requests per transaction), on the real services over a fresh SQLite store, logging at
info, in one process. Setting up, signing the requests and warming up are not counted: each
workload's timed requests run inside `sys.call_tracing`, which nothing else calls, and callgrind
collects only there (`--toggle-collect`), dumping one total per workload (`--dump-after`).

    .venv/bin/python bench/instructions.py                  # this tree: bench/results/instructions.md
    .venv/bin/python bench/instructions.py --against HEAD   # and the committed tree, side by side
    make bench-instructions                                 # the same as the first (~2 min)

Needs valgrind (Debian's `valgrind`; `bench/setup.sh` installs it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
WORKLOADS = ("ecr", "codeartifact", "ecr-public", "acr", "sts")


# --- the counted process ------------------------------------------------------------------------

def child(keys: list[str], n: int, expect_src: str) -> None:
    """Runs under valgrind: set up, warm up, then each workload's n requests in sys.call_tracing."""
    import gc

    sys.path.insert(0, str(BENCH))
    import regauth
    from profiling import InProcess
    from workloads import BY_KEY

    if not Path(regauth.__file__).resolve().is_relative_to(Path(expect_src).resolve()):
        raise SystemExit(f"regauth was imported from {regauth.__file__}, not from {expect_src}")
    with tempfile.TemporaryDirectory(prefix="regauth-instructions-") as tmp:
        ip = InProcess(Path(tmp), "bench-instructions-secret-0123456789")
        plan = []
        for key in keys:
            wl = BY_KEY[key]
            handle = ip.handler(wl)
            for req in ip.requests(wl, 64):
                resp = handle(req)
                assert resp.status == 200, (key, resp.status, resp.body[:300])
            plan.append((handle, ip.requests(wl, n)))
        gc.collect()
        gc.freeze()          # as `regauth serve` does once ready

        def run(handle, reqs) -> None:
            for req in reqs:
                handle(req)

        for handle, reqs in plan:
            sys.call_tracing(run, (handle, reqs))
        ip.close()


# --- the driver -----------------------------------------------------------------------------------

def count(src: Path, keys: list[str], n: int, work: Path) -> dict[str, int]:
    """{workload: instructions per request} for the regauth source tree `src`."""
    out = work / "callgrind.out"
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONHASHSEED": "0"}
    cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=sys_call_tracing",
           "--dump-after=sys_call_tracing", f"--callgrind-out-file={out}",
           sys.executable, __file__, "--child", ",".join(keys), "--requests", str(n), "--src", str(src)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"the counted run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result = {}
    for i, key in enumerate(keys, start=1):
        dump = Path(f"{out}.{i}")
        totals = [line.split()[1] for line in dump.read_text().splitlines() if line.startswith("totals:")]
        if not totals:
            raise RuntimeError(f"no totals in {dump}")
        result[key] = round(int(totals[0]) / n)
    return result


def tree_at(rev: str, into: Path) -> Path:
    """The src/ of a git revision, extracted under `into`."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "src"


def compile_tree(src: Path) -> None:
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=True)


def render(counts: dict[str, dict[str, int]], labels: list[str], n: int, when: str) -> str:
    from workloads import BY_KEY

    lines = ["# Instructions per request (callgrind)", "",
             f"Run {when}: {n} requests per workload, `handle()` plus the group commit (16 requests per "
             "transaction) in-process on a fresh SQLite store, as `bench/profiling.py` runs them; counted by "
             "valgrind's callgrind, so repeatable to about 0.01 % whatever the machine is doing. For comparing "
             "versions of the request path: an instruction is not a unit of time (see `bench/instructions.py`).",
             ""]
    head = "| workload | " + " | ".join(f"{label} instr/req" for label in labels)
    rule = "|---|" + "---:|" * len(labels)
    if len(labels) == 2:
        head += " | change"
        rule += "---:|"
    lines += [head + " |", rule]
    for key in counts[labels[0]]:
        cells = [f"{counts[label][key]:,}" for label in labels]
        if len(labels) == 2:
            old, new = counts[labels[1]][key], counts[labels[0]][key]
            cells.append(f"{(new - old) / old:+.1%}")
        lines.append(f"| {BY_KEY[key].title} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--requests", type=int, default=400, help="requests counted per workload (default 400)")
    p.add_argument("--against", metavar="REV", help="also count the src/ of this git revision (e.g. HEAD)")
    p.add_argument("--out", default=str(RESULTS / "instructions.md"))
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--src", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child is not None:
        child(a.child.split(","), a.requests, a.src)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: run bench/setup.sh (Debian package valgrind)")
    keys = a.workloads.split(",")
    with tempfile.TemporaryDirectory(prefix="regauth-instructions-") as tmp:
        trees = {"this tree": ROOT / "src"}
        if a.against:
            trees[a.against] = tree_at(a.against, Path(tmp))
        for src in trees.values():
            compile_tree(src)             # as a pip install leaves them; not counted anyway
        started = time.monotonic()
        print(f"counting {len(keys)} workloads x {a.requests} requests in {len(trees)} tree(s) under callgrind "
              "(~2 min)...", file=sys.stderr)
        works = {label: Path(tmp) / f"work{i}" for i, label in enumerate(trees)}
        for w in works.values():
            w.mkdir()
        with ThreadPoolExecutor(max_workers=len(trees)) as pool:     # one core each
            futures = {label: pool.submit(count, src, keys, a.requests, works[label]) for label, src in trees.items()}
            counts = {label: f.result() for label, f in futures.items()}
        print(f"done in {time.monotonic() - started:.0f} s", file=sys.stderr)
    when = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    text = render(counts, list(trees), a.requests, when)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps({"when": when, "requests": a.requests, "counts": counts},
                                                   indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH))
    main()
