"""Medians, within-round ratios, the goals, and the markdown (results page and README block)."""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from pathlib import Path

from servers import RESTARTS
from workloads import BY_KEY

REGAUTH = ("regauth-sqlite", "regauth-pg")
PEERS = ("moto", "localstack")
ORDER = ("regauth-sqlite", "regauth-pg", "moto", "localstack", "bare")
README_BEGIN, README_END = "<!-- bench:begin -->", "<!-- bench:end -->"

GOALS = {"vs_moto": 20.0, "of_ceiling": 0.40, "p99_ms": 5.0, "start_s": 0.5, "rss_mib": 60.0,
         "scale_rps_ratio": 0.90, "scale_p99_ratio": 1.5}


def _med(xs: list[float]) -> float:
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    return statistics.median(xs) if xs else float("nan")


def _k(*parts: object) -> str:
    return "|".join(str(p) for p in parts)


def summarize(out: dict) -> dict:
    wrk: dict[str, dict] = {}
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in out["wrk"]:
        groups[(r["workload"], r["server"], r["connections"])].append(r)
    for (wl, srv, c), rs in groups.items():
        wrk[_k(wl, srv, c)] = {"ok_rps": _med([r["ok_rps"] for r in rs]), "p50_ms": _med([r["p50_ms"] for r in rs]),
                               "p99_ms": _med([r["p99_ms"] for r in rs]), "errors": sum(r["errors"] for r in rs),
                               "requests": sum(r["requests"] for r in rs), "rounds": len(rs),
                               "server_cpu": _med([r.get("server_cpu", float("nan")) for r in rs]),
                               "notes": sorted({r["note"] for r in rs if r["note"]})}
    ratios: dict[str, float] = {}
    by_round: dict[tuple, dict[str, float]] = defaultdict(dict)
    for r in out["wrk"]:
        by_round[(r["workload"], r["connections"], r["round"])][r["server"]] = r["ok_rps"]
    pairs: dict[tuple, list[float]] = defaultdict(list)
    for (wl, c, _rnd), rps in by_round.items():
        for a in rps:
            for b in rps:
                if a != b and rps[b] > 0:
                    pairs[(wl, a, c, b)].append(rps[a] / rps[b])
    for (wl, a, c, b), xs in pairs.items():
        ratios[_k(wl, a, c, b)] = _med(xs)
    ratio_rounds = {_k(wl, a, c, b): xs for (wl, a, c, b), xs in pairs.items()}
    p99_rounds = {_k(wl, srv, c): [r["p99_ms"] for r in rs] for (wl, srv, c), rs in groups.items()}

    clients: dict[str, dict] = {}
    cgroups: dict[tuple, list[dict]] = defaultdict(list)
    for r in out["clients"]:
        cgroups[(r["workload"], r["server"], r["threads"])].append(r)
    for (wl, srv, t), rs in cgroups.items():
        clients[_k(wl, srv, t)] = {"ok_rps": _med([r["ok_rps"] for r in rs]), "p50_ms": _med([r["p50_ms"] for r in rs]),
                                   "p99_ms": _med([r["p99_ms"] for r in rs]), "errors": sum(r["errors"] for r in rs),
                                   "notes": sorted({r["note"] for r in rs if r["note"]})}
    cround: dict[tuple, dict[str, float]] = defaultdict(dict)
    for r in out["clients"]:
        cround[(r["workload"], r["threads"], r["round"])][r["server"]] = r["ok_rps"]
    cpairs: dict[tuple, list[float]] = defaultdict(list)
    for (wl, t, _rnd), rps in cround.items():
        for a in rps:
            if "moto" in rps and a != "moto" and rps["moto"] > 0:
                cpairs[(wl, a, t)].append(rps[a] / rps["moto"])
    client_ratios = {_k(wl, a, t, "moto"): _med(xs) for (wl, a, t), xs in cpairs.items()}

    scale = _summarize_scale(out.get("scale") or {})
    summary = {"wrk": wrk, "ratios": ratios, "ratio_rounds": ratio_rounds, "p99_rounds": p99_rounds,
               "clients": clients, "client_ratios": client_ratios, "scale": scale}
    summary["goals"] = goals(out, summary)
    return summary


def _summarize_scale(sc: dict) -> dict:
    if not sc.get("runs"):
        return {}
    res: dict = {"by": {}, "ratio": {}}
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in sc["runs"]:
        groups[(r["store"], r["connections"])].append(r)
    for (store, c), rs in groups.items():
        res["by"][_k(store, c)] = {"ok_rps": _med([r["ok_rps"] for r in rs]), "p50_ms": _med([r["p50_ms"] for r in rs]),
                                   "p99_ms": _med([r["p99_ms"] for r in rs]), "errors": sum(r["errors"] for r in rs)}
    rounds: dict[tuple, dict[str, dict]] = defaultdict(dict)
    for r in sc["runs"]:
        rounds[(r["connections"], r["round"])][r["store"]] = r
    per: dict[int, dict[str, list[float]]] = defaultdict(lambda: {"rps": [], "p99": []})
    for (c, _rnd), d in rounds.items():
        if "fresh" in d and "full" in d and d["fresh"]["ok_rps"] > 0:
            per[c]["rps"].append(d["full"]["ok_rps"] / d["fresh"]["ok_rps"])
            per[c]["p99"].append(d["full"]["p99_ms"] / d["fresh"]["p99_ms"] if d["fresh"]["p99_ms"] else float("nan"))
    for c, d in per.items():
        res["ratio"][str(c)] = {"rps": _med(d["rps"]), "p99": _med(d["p99"])}
    res["rounds"] = {str(c): list(zip(d["rps"], d["p99"])) for c, d in per.items()}
    return res


def in_every_round(cells: list[list[bool]]) -> str:
    """Whether a goal's cells (each: did each round meet the target?) meet it in every round: "met"
    (every round of every cell), "missed" (some cell in no round) or "split" (some cell's rounds fall
    on both sides of the target, and no cell misses it in every round): then the median decides, and
    on a noisy machine another run may decide otherwise."""
    cells = [c for c in cells if c]
    if not cells:
        return ""
    if all(all(c) for c in cells):
        return "met"
    if any(not any(c) for c in cells):
        return "missed"
    return "split"


def goals(out: dict, s: dict) -> list[dict]:
    g: list[dict] = []
    srv = out["servers"]
    conns = sorted({r["connections"] for r in out["wrk"]})
    ratio_rounds, p99_rounds = s.get("ratio_rounds", {}), s.get("p99_rounds", {})

    def row(goal: str, target: str, measured: str, ok: bool | None, cells: list[list[bool]] | None = None) -> None:
        g.append({"goal": goal, "target": target, "measured": measured, "met": ok,
                  "rounds": in_every_round(cells) if cells is not None else ""})

    for key in REGAUTH:
        if key not in srv:
            continue
        name = srv[key]["label"]
        vals = [(c, s["ratios"].get(_k("ecr", key, c, "moto"))) for c in conns]
        vals = [(c, v) for c, v in vals if v is not None]
        if vals:
            row(f"{name}: ECR GetAuthorizationToken vs moto_server", f"≥ {GOALS['vs_moto']:.0f}×",
                ", ".join(f"{v:.1f}× (c{c})" for c, v in vals), all(v >= GOALS["vs_moto"] for _, v in vals),
                [[x >= GOALS["vs_moto"] for x in ratio_rounds.get(_k("ecr", key, c, "moto"), [])] for c, _ in vals])
        parts, ok, cells = [], True, []
        for wl in (w for w in BY_KEY.values() if w.token):
            for c in conns:
                v = s["ratios"].get(_k(wl.key, key, c, "bare"))
                if v is not None:
                    parts.append(f"{wl.key} {100 * v:.0f}% (c{c})")
                    ok = ok and v >= GOALS["of_ceiling"]
                    cells.append([x >= GOALS["of_ceiling"] for x in ratio_rounds.get(_k(wl.key, key, c, "bare"), [])])
        if parts:
            row(f"{name}: every GetAuthorizationToken dialect vs the bare-ASGI ceiling",
                f"≥ {100 * GOALS['of_ceiling']:.0f}%", ", ".join(parts), ok, cells)
        parts, ok, cells = [], True, []
        for wl in (w for w in BY_KEY.values() if w.token):
            d = s["wrk"].get(_k(wl.key, key, 16))
            if d:
                parts.append(f"{wl.key} {d['p99_ms']:.1f} ms")
                ok = ok and d["p99_ms"] < GOALS["p99_ms"]
                cells.append([x < GOALS["p99_ms"] for x in p99_rounds.get(_k(wl.key, key, 16), [])])
        if parts:
            row(f"{name}: p99 at 16 connections", f"< {GOALS['p99_ms']:.0f} ms", ", ".join(parts), ok, cells)
    if "regauth-sqlite" in srv:
        d = srv["regauth-sqlite"]
        cold = d.get("cold_start_seconds")
        row("regauth (SQLite): start to first successful response", f"< {GOALS['start_s']} s",
            f"{d['start_seconds']:.2f} s (restart, median of {RESTARTS})" + (f", {cold:.2f} s (first start, empty store)" if cold else ""),
            d["start_seconds"] < GOALS["start_s"] and (cold is None or cold < GOALS["start_s"]))
        row("regauth (SQLite): idle RSS", f"< {GOALS['rss_mib']:.0f} MiB", f"{d['rss_idle'] / 2**20:.0f} MiB",
            d["rss_idle"] / 2**20 < GOALS["rss_mib"])
    sc = s.get("scale") or {}
    if sc.get("ratio"):
        tokens = (out.get("scale") or {}).get("tokens", 0)
        parts, ok = [], True
        for c, d in sorted(sc["ratio"].items(), key=lambda kv: int(kv[0])):
            parts.append(f"req/s {100 * d['rps']:.0f}%, p99 {d['p99']:.2f}× (c{c})")
            ok = ok and d["rps"] >= GOALS["scale_rps_ratio"] and d["p99"] <= GOALS["scale_p99_ratio"]
        cells = [[rps >= GOALS["scale_rps_ratio"] and p99 <= GOALS["scale_p99_ratio"] for rps, p99 in rounds]
                 for rounds in (sc.get("rounds") or {}).values()]
        row(f"no slowdown after {tokens:,} tokens (ECR, populated vs fresh store)",
            f"req/s ≥ {100 * GOALS['scale_rps_ratio']:.0f}% and p99 ≤ {GOALS['scale_p99_ratio']}× of fresh",
            "; ".join(parts), ok, cells)
    return g


# --- markdown ---------------------------------------------------------------------------------

def _n(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:,.0f}"


def _ms(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def _x(x: float | None) -> str:
    return "–" if x is None or math.isnan(x) else (f"{x:.1f}×" if x < 100 else f"{x:.0f}×")


def _pct(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}%"


def _label(out: dict, key: str) -> str:
    d = out["servers"].get(key)
    return d["label"] if d else key


def _servers_in(out: dict) -> list[str]:
    return [k for k in ORDER if k in out["servers"]]


def wrk_table(out: dict, s: dict) -> list[str]:
    conns = sorted({r["connections"] for r in out["wrk"]})
    head = ["workload", "server"]
    for c in conns:
        head += [f"req/s c{c}", f"p50 / p99 ms c{c}"]
    head += ["errors"] + [f"vs moto c{c}" for c in conns] + [f"of ceiling c{c}" for c in conns] + \
        [f"server CPU c{c}" for c in conns]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if i < 2 else "---:" for i in range(len(head))) + "|"]
    for wl in BY_KEY.values():
        for key in _servers_in(out):
            cells = [d for c in conns if (d := s["wrk"].get(_k(wl.key, key, c)))]
            if not cells:
                continue
            row = [wl.title, _label(out, key)]
            for c in conns:
                d = s["wrk"].get(_k(wl.key, key, c))
                row += [_n(d and d["ok_rps"]), f"{_ms(d and d['p50_ms'])} / {_ms(d and d['p99_ms'])}"]
            row.append(str(sum(d["errors"] for d in cells)))
            for c in conns:
                row.append("" if key in ("moto", "bare") else _x(s["ratios"].get(_k(wl.key, key, c, "moto"))))
            for c in conns:
                row.append("" if key == "bare" else _pct(s["ratios"].get(_k(wl.key, key, c, "bare"))))
            for c in conns:
                d = s["wrk"].get(_k(wl.key, key, c))
                row.append(_pct(d and d.get("server_cpu")))
            lines.append("| " + " | ".join(row) + " |")
    return lines


def clients_table(out: dict, s: dict) -> list[str]:
    threads = sorted({r["threads"] for r in out["clients"]})
    if not threads:
        return ["(no client runs)"]
    head = ["workload", "server"]
    for t in threads:
        head += [f"req/s {t} thr", f"p50 / p99 ms {t} thr"]
    head += ["errors"] + [f"vs moto {t} thr" for t in threads]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if i < 2 else "---:" for i in range(len(head))) + "|"]
    for wl in BY_KEY.values():
        for key in _servers_in(out):
            cells = [d for t in threads if (d := s["clients"].get(_k(wl.key, key, t)))]
            if not cells:
                continue
            row = [wl.title, _label(out, key)]
            for t in threads:
                d = s["clients"].get(_k(wl.key, key, t))
                row += [_n(d and d["ok_rps"]), f"{_ms(d and d['p50_ms'])} / {_ms(d and d['p99_ms'])}"]
            row.append(str(sum(d["errors"] for d in cells)))
            for t in threads:
                row.append("" if key == "moto" else _x(s["client_ratios"].get(_k(wl.key, key, t, "moto"))))
            lines.append("| " + " | ".join(row) + " |")
    return lines


def servers_table(out: dict) -> list[str]:
    lines = ["| server | version | start → first successful response | idle RSS | RSS after load | "
             "response body lag | notes |", "|---|---|---:|---:|---:|---:|---|"]
    for key in _servers_in(out):
        d = out["servers"][key]
        start = f"{d['start_seconds']:.2f} s"
        if d.get("cold_start_seconds"):
            start += f" (median of {RESTARTS} restarts; first start, empty store: {d['cold_start_seconds']:.2f} s)"
        lag = d.get("body_lag_ms")
        lines.append(f"| {d['label']} | {d['version']} | {start} | {d['rss_idle'] / 2**20:.0f} MiB | "
                     f"{d['rss_after'] / 2**20:.0f} MiB | {'–' if lag is None else f'{lag:.1f} ms'} | "
                     f"{'; '.join(d['notes'])} |")
    return lines


def http_layer_lines(out: dict, s: dict) -> list[str]:
    """For profile.md: what the live server spends beyond `handle()`, and the Nagle check."""
    lines = ["## The live server: CPU per request, and the HTTP layer", ""]
    lags = {k: d.get("body_lag_ms") for k, d in out["servers"].items() if d.get("body_lag_ms") is not None}
    if lags:
        lines += ["Response body lag (GET /healthz on a kept-alive connection, first to last byte of the response): "
                  + ", ".join(f"{_label(out, k)} {v:.1f} ms" for k, v in lags.items()) + ".", ""]
        slow = [k for k, v in lags.items() if v >= 20]
        if slow:
            lines += [f"**{', '.join(_label(out, k) for k in slow)}: the body arrives ~40 ms after the headers.** "
                      "The server writes the headers and the body separately and its accepted sockets lack "
                      "TCP_NODELAY, so Nagle's algorithm holds the body back until the client's delayed ACK. "
                      "Every response then takes ≥ 40 ms, and a connection can carry at most ~20-25 requests/s: "
                      "16 connections cap near 16 / 0.045 s ≈ 350 requests/s whatever the CPU does.", ""]
    prof = out.get("profile") or {}
    conns = sorted({r["connections"] for r in out["wrk"]})
    rows = []
    for wl in BY_KEY.values():
        inproc = (prof.get(wl.key) or {}).get("us_per_request")
        live = []
        for c in conns:
            d = s["wrk"].get(_k(wl.key, "regauth-sqlite", c))
            live.append(d["server_cpu"] / d["ok_rps"] * 1e6 if d and d["ok_rps"] and not math.isnan(d["server_cpu"])
                        else float("nan"))
        if inproc is None and all(math.isnan(x) for x in live):
            continue
        rows.append(f"| {wl.title} | {_n(inproc)} | " + " | ".join(_n(x) for x in live) + " | "
                    + " | ".join(_n(x - inproc) if inproc is not None and not math.isnan(x) else "–" for x in live)
                    + " |")
    if rows:
        lines += ["regauth (SQLite): CPU time per request in the live server (its CPU seconds ÷ successful "
                  "requests during the wrk runs, medians) against `handle()` and its share of the group commit "
                  "in-process (below). The difference is what the HTTP server (regauth.server on httptools), "
                  "the event loop, the socket calls and waiting for the group commit cost; on SQLite requests run "
                  "on the event loop itself, without worker threads.", "",
                  "| workload | in-process µs/req | " + " | ".join(f"live µs/req c{c}" for c in conns) + " | "
                  + " | ".join(f"outside handle() c{c}" for c in conns) + " |",
                  "|---|---:|" + "---:|" * (2 * len(conns))] + rows + [""]
    return lines


ROUNDS_NOTE = ("`met` compares the medians with the target. `in every round`: *met* when every round of every "
               "cell meets it, *missed* when some cell misses it in every round, *split* when some cell's rounds "
               "fall on both sides of it (and none misses it in every round): the median decided, and on a noisy "
               "machine another run may decide otherwise.")


def goals_table(s: dict) -> list[str]:
    lines = ["| goal | target | measured | met | in every round |", "|---|---|---|:---:|:---:|"]
    for g in s["goals"]:
        mark = "yes" if g["met"] else ("**no**" if g["met"] is False else "?")
        lines.append(f"| {g['goal']} | {g['target']} | {g['measured']} | {mark} | {g.get('rounds', '')} |")
    return lines + ["", ROUNDS_NOTE]


def scale_lines(out: dict, s: dict) -> list[str]:
    sc, ss = out.get("scale") or {}, s.get("scale") or {}
    if not ss:
        return ["(scale run skipped)"]
    lines = [f"ECR GetAuthorizationToken on a fresh SQLite store and on one holding {sc['tokens']:,} issued tokens "
             f"and {sc['tokens']:,} audit events (written directly with SQLAlchemy Core in "
             f"{sc['populate_seconds']:.0f} s; database {sc['db_bytes'] / 2**20:.0f} MiB). Rounds alternate the two "
             "servers; ratios are within a round.", "",
             "`start`: spawn to first successful response — on the fresh store this includes creating the schema; "
             "on the populated one it is a restart.", "",
             "| store | connections | req/s | p50 / p99 ms | errors | populated ÷ fresh (req/s, p99) | start "
             "| idle RSS |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for c in sorted({int(k.split("|")[1]) for k in ss["by"]}):
        for store, name in (("fresh", "fresh"), ("full", f"{sc['tokens']:,} tokens")):
            d = ss["by"].get(_k(store, c))
            if not d:
                continue
            ratio = ss["ratio"].get(str(c)) if store == "full" else None
            rtext = f"{_pct(ratio['rps'])}, {ratio['p99']:.2f}×" if ratio else ""
            lines.append(f"| {name} | {c} | {_n(d['ok_rps'])} | {_ms(d['p50_ms'])} / {_ms(d['p99_ms'])} | "
                         f"{d['errors']} | {rtext} | {sc['start_seconds'][store]:.2f} s | "
                         f"{sc['rss_idle'][store] / 2**20:.0f} MiB |")
    return lines


def not_measured(out: dict) -> list[str]:
    lines = []
    for wl, per in out["support"].items():
        for key, why in per.items():
            if why is not None:
                lines.append(f"- {_label(out, key)} — {BY_KEY[wl].title}: not implemented ({why})")
    for sk in out["skipped"]:
        lines.append(f"- {sk['what']}: {sk['why']}")
    return lines or ["- nothing"]


ISSUE_CEILING = "13–15 thousand"      # what the issue measured the bare-ASGI ceiling at on these machines


def ceiling_speed(out: dict) -> str:
    """How fast the machine ran this time, told by the ceiling: the range of its median req/s over the
    workloads and connection counts. Absolute figures move with it; ratios within rounds much less."""
    rates: dict[tuple[str, int], list[float]] = defaultdict(list)
    for r in out.get("wrk", []):
        if r["server"] == "bare" and r["ok_rps"] > 0:
            rates[(r["workload"], r["connections"])].append(r["ok_rps"])
    if not rates:
        return ""
    medians = [statistics.median(v) for v in rates.values()]
    return (f"The bare-ASGI ceiling answered {_n(min(medians))}–{_n(max(medians))} req/s in this run "
            f"(the issue measured {ISSUE_CEILING} on these machines): absolute figures rise and fall with it.")


def _meta_line(out: dict) -> str:
    m = out["meta"]
    mode = m["mode"]
    speed = ceiling_speed(out)
    return (f"Run {m['started_utc']} ({mode['name']} mode, {m.get('wall_seconds', 0):.0f} s wall): "
            f"{mode['rounds']} rounds, wrk {mode['wrk_seconds']:.0f} s per run (1 thread), real clients "
            f"{mode['client_seconds']} s per run; {m['pinning']}; {m['host']['cpus']} CPUs, Python "
            f"{m['host']['python']}, load average at start {m['host']['loadavg_at_start'][0]:.2f}; {m['wrk']}; "
            f"boto3 {m['boto3']}. {m['rate_limit']}." + (f" {speed}" if speed else ""))


def markdown(out: dict, s: dict) -> str:
    lines = ["# regauth vs moto_server vs LocalStack vs a bare-ASGI ceiling", "", _meta_line(out), "",
             "Figures are medians over rounds; ratios (`vs moto`, `of ceiling`) are medians of the ratios taken "
             "within each round, where the servers ran back to back. `req/s` counts successful responses only. "
             "`server CPU` is the server's CPU time per second of the run (100% = its whole core; for the "
             "PostgreSQL variant, regauth's and PostgreSQL's together).", "",
             "## Goals", ""] + goals_table(s) + [
             "", "## wrk: one pre-signed request replayed (ACR: distinct pre-signed requests)", ""] + \
        wrk_table(out, s) + [
             "", "## Real clients: boto3 (ACR: aliyun-python-sdk-core), one client per thread, retries off", "",
             "These are bounded by the client's own CPU (Python, one core), as users see it.", ""] + \
        clients_table(out, s) + ["", "## Servers", ""] + servers_table(out) + [
             "", "## Scale run", ""] + scale_lines(out, s) + ["", "## Not measured", ""] + not_measured(out) + [
             "", "Profiles of the request path: [profile.md](profile.md). Raw numbers: latest.json.", ""]
    return "\n".join(lines)


def readme_block(out: dict, s: dict) -> str:
    lines = [README_BEGIN, "", _meta_line(out), "", "**Goals**", ""] + goals_table(s) + [
        "", "**wrk**, successful responses per second, median of rounds; ratios within rounds", ""] + \
        wrk_table(out, s) + ["", "**Servers**", ""] + servers_table(out) + ["", "**Scale run**", ""] + \
        scale_lines(out, s) + ["", "Not measured:", ""] + not_measured(out) + [
        "", "Real-client (boto3) runs, the profile of the request path and the raw numbers: "
            "[bench/results/latest.md](bench/results/latest.md), [bench/results/profile.md](bench/results/profile.md), "
            "`bench/results/latest.json`.", "", README_END]
    return "\n".join(lines)


def update_readme(path: Path, block: str) -> None:
    text = path.read_text()
    if README_BEGIN in text and README_END in text:
        text = re.sub(re.escape(README_BEGIN) + r".*?" + re.escape(README_END), lambda _m: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
