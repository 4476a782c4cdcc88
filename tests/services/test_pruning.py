"""`Pruner`: what `regauth admin prune` deletes and keeps, in batches, with its audit event. On a real
SQLite store with a fixed clock (the store methods themselves run on PostgreSQL too, in
tests/store/test_conformance.py)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from regauth.clock import FixedClock
from regauth.domain.principals import IssuedToken, Revocation
from regauth.domain.secret import Secret
from regauth.services.audit import Auditor
from regauth.services.pruning import PRUNE, TOKEN_LIFETIME_BOUND, Pruner
from regauth.store.open import open_store
from tests.store.test_conformance import ACCT, session

NOW = 1_795_000_000.0
HOUR = 3600.0


@pytest.fixture
def store(tmp_path: Path):
    s = open_store(f"sqlite:///{tmp_path / 'regauth.db'}", secrets.token_bytes(32))
    yield s
    s.close()


def test_the_bound_is_the_longest_token_lifetime() -> None:
    assert TOKEN_LIFETIME_BOUND == 24 * HOUR          # ACR's ExpiresInHours may be 24; ECR and CodeArtifact 12 h


def test_only_what_has_no_effect_left_is_deleted(store) -> None:
    tokens = {"expired": NOW - 61, "in-its-leeway": NOW - 30, "expiring": NOW + 1, "long-expired": NOW - 30 * 24 * HOUR}
    store.record_batch([IssuedToken(tid, "ecr", f"arn:aws:iam::{ACCT}:user/u", ACCT, "s", NOW - 12 * HOUR, exp)
                        for tid, exp in tokens.items()], [])
    sessions = {"ASIA0000000000000001": NOW - 25 * HOUR,       # every token it issued has expired
                "ASIA0000000000000002": NOW - 23 * HOUR,       # an ECR token it issued may still live
                "ASIA0000000000000003": NOW + HOUR}
    for akid, exp in sessions.items():
        store.create_session(session(akid, exp), Secret("s"), secrets.token_hex(32))
    store.add_revocation(Revocation("principal", f"arn:aws:iam::{ACCT}:user/old", NOW - 25 * HOUR, NOW - 25 * HOUR))
    store.add_revocation(Revocation("principal", f"arn:aws:iam::{ACCT}:user/new", NOW - 23 * HOUR, NOW - 23 * HOUR))
    store.add_revocation(Revocation("token", "expired", NOW - 25 * HOUR, NOW - 25 * HOUR))
    # a 24-hour token revoked as it was issued, 24 h and 30 s ago: still accepted for its leeway, so
    # its revocation must stay (pruning it would let the token in again)
    store.add_revocation(Revocation("token", "leeway", NOW - 24 * HOUR - 30, NOW - 24 * HOUR - 30))
    # a principal revoked 24 h and 90 s ago: a 24-hour token issued by a node whose clock ran a minute
    # ahead may still be accepted, and the revocation covers it (`revocations.CLOCK_MARGIN`)
    margin = f"arn:aws:iam::{ACCT}:user/margin"
    store.add_revocation(Revocation("principal", margin, NOW - 24 * HOUR - 90, NOW - 24 * HOUR - 90))

    done = Pruner(store, FixedClock(NOW), Auditor(store)).run()

    assert (done.issued_tokens, done.sessions, done.revocations, done.signing_keys) == (2, 1, 2, 0)
    assert done.tokens_expired_before == NOW - 60
    assert done.sessions_expired_before == NOW - TOKEN_LIFETIME_BOUND - 60
    assert [tid for tid in tokens if store.get_issued_token(tid)] == ["in-its-leeway", "expiring"]
    assert [akid for akid in sessions if store.get_credential(akid)] == ["ASIA0000000000000002",
                                                                         "ASIA0000000000000003"]
    assert [r.subject for r in store.list_revocations()] == [margin, "leeway", f"arn:aws:iam::{ACCT}:user/new"]
    assert done.revocations_before == NOW - TOKEN_LIFETIME_BOUND - 60 - 60
    event = store.list_audit_events(limit=1)[0]
    assert (event.action, event.outcome, event.principal_arn) == (PRUNE, "allowed", "")
    assert event.detail == "issued_tokens=2 sessions=1 revocations=2 signing_keys=0 audit_events=0"


def test_large_deletions_run_in_batches_with_progress(store) -> None:
    store.record_batch([IssuedToken(f"t{i}", "ecr", "p", ACCT, "s", NOW - 200, NOW - 70 + i) for i in range(7)], [])
    calls: list[tuple[str, int]] = []
    deleted: list[int] = []
    real = store.prune_issued_tokens

    def counting(before: float, limit: int) -> int:
        n = real(before, limit)
        deleted.append(n)
        return n

    store.prune_issued_tokens = counting            # observe the real method's batches
    done = Pruner(store, FixedClock(NOW), Auditor(store), batch=3).run(lambda what, n: calls.append((what, n)))
    assert done.issued_tokens == 7
    assert deleted == [3, 3, 1]
    assert calls == [("issued tokens", 3), ("issued tokens", 6)]
    assert not any(store.get_issued_token(f"t{i}") for i in range(7))


def test_the_audit_trail_is_pruned_only_past_a_retention_the_operator_names(store) -> None:
    from regauth.domain.principals import AuditEvent
    from regauth.errors import InvalidInput

    for i, age_days in enumerate((40, 31, 29, 1)):
        store.record_audit(AuditEvent(NOW - age_days * 86400, f"r{i}", "", "ecr:GetAuthorizationToken", "",
                                      "allowed", ""))
    pruner = Pruner(store, FixedClock(NOW), Auditor(store))
    assert pruner.run().audit_events == 0
    assert len(store.list_audit_events(limit=100)) == 5                      # four, and the run's own
    done = pruner.run(audit_days=30)
    assert done.audit_events == 2 and done.audit_before == NOW - 30 * 86400
    assert sorted(e.request_id for e in store.list_audit_events(limit=100) if e.action != PRUNE) == ["r2", "r3"]
    with pytest.raises(InvalidInput):
        pruner.run(audit_days=0)
