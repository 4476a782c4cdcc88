"""bench/report.py: a goal's verdict over rounds, beside the verdict of its medians."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import report  # noqa: E402  (bench/ is a directory of scripts, not a package)


@pytest.mark.parametrize("cells, verdict", [
    ([[True, True, True], [True, True]], "met"),
    ([[True, False, True], [True, True, True]], "split"),
    ([[True, False, True], [False, False, False]], "missed"),
    ([[False]], "missed"),
    ([], ""),
    ([[]], ""),
])
def test_in_every_round(cells, verdict):
    assert report.in_every_round(cells) == verdict


def _run(bare: list[float], regauth: list[float], p99: list[float]) -> dict:
    wrk = []
    for rnd, (b, r, p) in enumerate(zip(bare, regauth, p99)):
        wrk.append({"workload": "ecr", "server": "bare", "connections": 16, "round": rnd, "ok_rps": b,
                    "p50_ms": 1.0, "p99_ms": 2.0, "errors": 0, "requests": 1, "note": ""})
        wrk.append({"workload": "ecr", "server": "regauth-sqlite", "connections": 16, "round": rnd, "ok_rps": r,
                    "p50_ms": 2.0, "p99_ms": p, "errors": 0, "requests": 1, "note": ""})
    server = {"label": "regauth (SQLite)", "start_seconds": 0.2, "cold_start_seconds": 0.4, "rss_idle": 40 * 2**20}
    return {"servers": {"regauth-sqlite": server}, "wrk": wrk, "clients": []}


def _goal(summary: dict, prefix: str) -> dict:
    return next(g for g in summary["goals"] if g["goal"].startswith(prefix))


def test_the_goals_say_whether_every_round_agrees_with_the_median():
    # of ceiling per round: 45%, 35%, 42% -> median 42% (met), one round below 40%: split
    # p99 per round: 6, 7, 8 ms -> missed in every round
    s = report.summarize(_run([10000, 10000, 10000], [4500, 3500, 4200], [6.0, 7.0, 8.0]))
    ceiling = _goal(s, "regauth (SQLite): every GetAuthorizationToken dialect")
    assert (ceiling["met"], ceiling["rounds"]) == (True, "split")
    p99 = _goal(s, "regauth (SQLite): p99")
    assert (p99["met"], p99["rounds"]) == (False, "missed")
    s = report.summarize(_run([10000, 10000, 10000], [4500, 4100, 4200], [4.0, 4.5, 4.9]))
    assert _goal(s, "regauth (SQLite): every GetAuthorizationToken dialect")["rounds"] == "met"
    assert _goal(s, "regauth (SQLite): p99")["rounds"] == "met"
    assert "| in every round |" in report.goals_table(s)[0]


def test_the_run_says_how_fast_the_ceiling_ran():
    out = _run([9000, 8000, 10000], [4000, 4000, 4000], [4.0, 4.0, 4.0])
    out["wrk"].append({"workload": "sts", "server": "bare", "connections": 64, "round": 0, "ok_rps": 12000,
                       "p50_ms": 1.0, "p99_ms": 2.0, "errors": 0, "requests": 1, "note": ""})
    text = report.ceiling_speed(out)
    assert text.startswith("The bare-ASGI ceiling answered 9,000–12,000 req/s in this run")
    assert report.ceiling_speed({"wrk": []}) == ""
