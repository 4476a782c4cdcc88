"""The server's counters and gauges, and their text for Prometheus (`GET /metrics`, exposition format 0.0.4).

One `Metrics` per app (`build_services` makes it when REGAUTH_METRICS is on), nothing global.
Counting is plain dict and int arithmetic under the GIL, no locks: the issued tokens and audit
events are counted once per group-commit batch (`Auditor.commit`), after the batch is stored; the
HTTP answers as each leaves (`regauth.http.Front`). Each counter has one writer thread (the event
loop, or the group commit's single writer thread); `render` copies a dict in one C call, so it
never sees one change size under it.

Labels carry only values from fixed sets in the code: a token kind, an audited action the dialects
declare with `know_actions` (anything else, such as the `cr:<Action>` an unauthenticated ACR
request names, is shown as `other`), an outcome, a route name, a status code. Never a principal,
an ARN, a key id, a token id or a repository name.

The per-item work is C: `Counter.update` over `map(attrgetter(...))` (one hash per item, no
bytecode per item; a Python loop of `d[key] += 1` cost ~0.7 % of a token request). So events are
counted under their (action, outcome) as stored, and the keys no series shows are folded into
`other` when rendered, and whenever more than `RAW_KEYS` keys are held: a client that names a new
action in every request grows the dict by at most that much.
"""

from __future__ import annotations

import time
from collections import Counter
from operator import attrgetter
from typing import Callable, Iterable, Sequence

from regauth.domain.principals import AuditEvent, IssuedToken

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PATH = "/metrics"
TOKEN_KINDS = ("codeartifact", "ecr", "ecr-public", "acr")
OUTCOMES = ("allowed", "denied", "error")
OTHER = "other"
ROUTES = ("aws", "acr", "token", "verify", "healthz", "metrics", "server")   # server: refused before routing
RAW_KEYS = 1024                     # (action, outcome) keys held before those no series shows are folded

_KIND = attrgetter("kind")
_ACTION_OUTCOME = attrgetter("action", "outcome")


class Metrics:
    def __init__(self, *, version: str, started: float | None = None) -> None:
        self.version = version
        self.started = time.time() if started is None else started
        self.tokens_issued: Counter[str] = Counter(dict.fromkeys(TOKEN_KINDS, 0))
        self.audit_events: Counter[tuple[str, str]] = Counter()   # (action, outcome) as stored; see `_fold`
        self._known: set[str] = set()
        self.http_requests: Counter[tuple[str, int]] = Counter()      # (route, status)
        self.audit_write_failures = 0
        self.open_connections: Callable[[], int] | None = None
        self.body_bytes_held: Callable[[], int] | None = None        # request bodies in memory (BodyBudget)
        self.connections_held_back: Callable[[], int] | None = None  # waiting for the body budget

    # --- set up -----------------------------------------------------------------------------------
    def know_actions(self, actions: Iterable[str]) -> None:
        """Actions a dialect may audit: shown under their own name (every other one as `other`)."""
        self._known.update(actions)

    # --- counting ---------------------------------------------------------------------------------
    def stored(self, tokens: Sequence[IssuedToken], events: Sequence[AuditEvent]) -> None:
        """One stored batch's records (kinds come from the code: counted as they are)."""
        if tokens:
            self.tokens_issued.update(map(_KIND, tokens))
        if events:
            counts = self.audit_events
            counts.update(map(_ACTION_OUTCOME, events))
            if len(counts) > RAW_KEYS:
                self._fold(counts)

    def label(self, key: tuple[str, str]) -> tuple[str, str]:
        """The (action, outcome) a series shows for an event's."""
        action, outcome = key
        if outcome not in OUTCOMES:
            outcome = "error"
        return (action if action in self._known else OTHER, outcome)

    def _fold(self, counts: Counter[tuple[str, str]]) -> None:
        """Count the keys no series shows under the one shown instead (on the thread that counts)."""
        for key in [k for k in counts if self.label(k) != k]:
            counts[self.label(key)] += counts.pop(key)

    # --- the text -----------------------------------------------------------------------------------
    def render(self) -> bytes:
        out: list[str] = []
        family(out, "regauth_tokens_issued_total", "counter", "Tokens issued (their index entry stored), by kind.",
               [({"kind": k}, v) for k, v in sorted(self.tokens_issued.copy().items())])
        family(out, "regauth_audit_events_total", "counter",
               "Audit events stored by requests, by action (actions outside a fixed set: other) and outcome.",
               [({"action": a, "outcome": o}, v) for (a, o), v in sorted(self.shown_events().items())])
        family(out, "regauth_http_requests_total", "counter", "HTTP requests answered, by route and status.",
               [({"route": r, "status": str(s)}, v) for (r, s), v in sorted(self.http_requests.copy().items())])
        family(out, "regauth_audit_write_failures_total", "counter",
               "Requests whose records (issued token, audit event) could not be stored.",
               [({}, self.audit_write_failures)])
        if self.open_connections is not None:
            family(out, "regauth_open_connections", "gauge", "Client connections open now.",
                   [({}, self.open_connections())])
        if self.body_bytes_held is not None:
            family(out, "regauth_request_body_bytes_held", "gauge",
                   "Bytes of request bodies that did not arrive in one read, held in memory now (bounded at 64 times "
                   "the body limit, which each connection may pass by one read).", [({}, self.body_bytes_held())])
        if self.connections_held_back is not None:
            family(out, "regauth_connections_held_back", "gauge",
                   "Connections still sending a body, not read now: the bodies held are at their bound.",
                   [({}, self.connections_held_back())])
        family(out, "regauth_start_time_seconds", "gauge", "When the server started, in seconds since the epoch.",
               [({}, self.started)])
        family(out, "regauth_build_info", "gauge", "The regauth version, as a label; the value is always 1.",
               [({"version": self.version}, 1)])
        return "".join(out).encode("utf-8")

    def shown_events(self) -> Counter[tuple[str, str]]:
        shown: Counter[tuple[str, str]] = Counter()
        for key, n in self.audit_events.copy().items():
            shown[self.label(key)] += n
        return shown


def family(out: list[str], name: str, kind: str, help_text: str,
           samples: Iterable[tuple[dict[str, str], float]]) -> None:
    """One metric family: its HELP and TYPE lines, then a line per sample."""
    out.append(f"# HELP {name} {help_text.replace(chr(92), chr(92) * 2).replace(chr(10), chr(92) + 'n')}\n")
    out.append(f"# TYPE {name} {kind}\n")
    for labels, value in samples:
        if labels:
            inner = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items())
            out.append(f"{name}{{{inner}}} {_number(value)}\n")
        else:
            out.append(f"{name} {_number(value)}\n")


def escape_label(value: str) -> str:
    """A label value as the format writes it: backslash, double quote and line feed escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return repr(float(value))
