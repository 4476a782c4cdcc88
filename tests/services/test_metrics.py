"""regauth.metrics: the exposition text, the bounded labels, and what the audit trail and the group commit count."""

from __future__ import annotations

import asyncio
import re
from typing import Sequence

import pytest

from regauth.domain.principals import AuditEvent, IssuedToken
from regauth.group_commit import GroupCommit
from regauth.metrics import RAW_KEYS, Metrics, escape_label, family
from regauth.services.audit import Auditor
from regauth.services.pending import Pending


def event(action: str, outcome: str = "allowed", request_id: str = "r") -> AuditEvent:
    return AuditEvent(at=0.0, request_id=request_id, principal_arn="arn:aws:iam::111122223333:user/alice",
                      action=action, resource="", outcome=outcome, source_ip="10.0.0.1")


def token(kind: str) -> IssuedToken:
    return IssuedToken(token_id="tid-1", kind=kind, principal_arn="arn:aws:iam::111122223333:user/alice",
                       account_id="111122223333", scope="*", issued_at=0.0, expires_at=1.0)


def test_label_values_are_escaped_as_the_format_says() -> None:
    assert escape_label('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    out: list[str] = []
    family(out, "regauth_x_total", "counter", "Help with a \\ and a\nnewline.", [({"v": 'say "hi"\n'}, 3)])
    assert out == ["# HELP regauth_x_total Help with a \\\\ and a\\nnewline.\n",
                   "# TYPE regauth_x_total counter\n",
                   'regauth_x_total{v="say \\"hi\\"\\n"} 3\n']


def test_render_gives_help_and_type_before_each_family_and_one_line_per_sample() -> None:
    m = Metrics(version='1.0"\n', started=1700000000.5)
    m.open_connections = lambda: 7
    m.http_requests[("aws", 200)] += 2
    text = m.render().decode()
    lines = text.splitlines()
    names = []
    for i, line in enumerate(lines):
        if line.startswith("# HELP "):
            name = line.split()[2]
            names.append(name)
            assert lines[i + 1].startswith(f"# TYPE {name} ")
            assert lines[i + 1].split()[3] in ("counter", "gauge")
        elif not line.startswith("# TYPE "):
            assert re.match(r"^regauth_[a-z_]+(\{.*\})? \S+$", line), line
            assert line.split("{")[0].split(" ")[0] in names       # its family's HELP came first
    assert names == ["regauth_tokens_issued_total", "regauth_audit_events_total", "regauth_http_requests_total",
                     "regauth_audit_write_failures_total", "regauth_open_connections",
                     "regauth_start_time_seconds", "regauth_build_info"]
    assert 'regauth_build_info{version="1.0\\"\\n"} 1' in lines
    assert 'regauth_http_requests_total{route="aws",status="200"} 2' in lines
    assert "regauth_open_connections 7" in lines
    assert "regauth_start_time_seconds 1700000000.5" in lines
    assert 'regauth_tokens_issued_total{kind="ecr"} 0' in lines          # known kinds start at 0
    assert not any(line.startswith("regauth_audit_events_total") for line in lines)  # none yet: no series


def test_an_action_not_declared_is_shown_as_other_and_adds_no_series() -> None:
    m = Metrics(version="0")
    m.know_actions(["ecr:GetAuthorizationToken"])
    m.stored([token("ecr"), token("ecr")],
             [event("ecr:GetAuthorizationToken"), event("ecr:GetAuthorizationToken", "denied")]
             + [event(f"cr:Random{i}", "denied") for i in range(100)] + [event("cr:X", "weird")])
    assert m.tokens_issued["ecr"] == 2
    assert m.shown_events() == {("ecr:GetAuthorizationToken", "allowed"): 1, ("ecr:GetAuthorizationToken", "denied"): 1,
                                ("other", "denied"): 100,
                                ("other", "error"): 1}   # an outcome outside the set: never a label of its own
    text = m.render().decode()
    assert "Random" not in text and "weird" not in text and "alice" not in text and "tid-1" not in text
    assert 'regauth_audit_events_total{action="other",outcome="denied"} 100' in text
    assert text.count("regauth_audit_events_total{") == 4


def test_new_action_strings_in_every_request_hold_a_bounded_number_of_keys() -> None:
    m = Metrics(version="0")
    m.know_actions(["ecr:GetAuthorizationToken"])
    for batch in range(50):
        m.stored([], [event("ecr:GetAuthorizationToken")] + [event(f"cr:R{batch}-{i}", "denied") for i in range(100)])
        assert len(m.audit_events) <= RAW_KEYS + 1
    assert m.shown_events() == {("ecr:GetAuthorizationToken", "allowed"): 50, ("other", "denied"): 5000}


def test_the_auditor_counts_a_batch_once_stored_and_not_when_storing_fails() -> None:
    class Store:
        fail = False

        def record_batch(self, tokens: Sequence[IssuedToken], events: Sequence[AuditEvent]) -> None:
            if self.fail:
                raise RuntimeError("disk full")

    m = Metrics(version="0")
    m.know_actions(["ecr:GetAuthorizationToken"])
    store = Store()
    auditor = Auditor(store, m)  # type: ignore[arg-type]
    units = []
    for _ in range(3):
        unit = Pending()
        unit.issued(token("ecr"), event("ecr:GetAuthorizationToken"))
        units.append(unit)
    auditor.commit(units)
    store.fail = True
    with pytest.raises(RuntimeError):
        auditor.commit(units)
    assert m.tokens_issued["ecr"] == 3
    assert m.audit_events[("ecr:GetAuthorizationToken", "allowed")] == 3


@pytest.mark.parametrize("on_loop", [True, False])
def test_the_group_commit_counts_each_request_whose_records_cannot_be_stored(on_loop: bool) -> None:
    def write(units: Sequence[Pending]) -> None:
        if any(e.request_id.startswith("bad") for u in units for e in u.events):
            raise RuntimeError("constraint failed")

    m = Metrics(version="0")
    group = GroupCommit(write, on_loop=on_loop, metrics=m)

    async def run() -> list[BaseException | None]:
        async def one(i: str) -> BaseException | None:
            unit = Pending()
            unit.audited(event("x:Y", "denied", i))
            try:
                await group.commit(unit)
                return None
            except RuntimeError as exc:
                return exc
        return list(await asyncio.gather(*(one(i) for i in ["ok1", "bad1", "ok2", "bad2", "ok3"])))

    outcomes = asyncio.run(run())
    group.close()
    assert [o is None for o in outcomes] == [True, False, True, False, True]
    assert m.audit_write_failures == 2
    assert "regauth_audit_write_failures_total 2" in m.render().decode().splitlines()
