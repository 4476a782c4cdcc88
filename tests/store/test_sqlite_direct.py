"""The request path's SQLite connections: no automatic checkpoint on them, one in the background instead."""

from __future__ import annotations

import os
import sqlite3
import threading

from regauth.domain.principals import AuditEvent, IssuedToken
from regauth.store.open import open_store
from regauth.store.sqlite_direct import checkpoint

ACCT = "111122223333"


def _batch(i: int) -> tuple[list[IssuedToken], list[AuditEvent]]:
    arn = f"arn:aws:iam::{ACCT}:user/u"
    toks = [IssuedToken(f"tid-{i:06d}-{j:02d}-padding", "ecr", arn, ACCT, "scope", 1.0, 2.0) for j in range(16)]
    return toks, [AuditEvent(1.0, f"r{i}-{t.token_id}", arn, "ecr:GetAuthorizationToken", "scope", "allowed", "",
                             t.token_id, "") for t in toks]


def _checkpointers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "regauth-checkpoint"]


def test_request_path_writes_leave_checkpoints_to_a_background_thread(tmp_path) -> None:
    db = tmp_path / "regauth.db"
    store = open_store(f"sqlite:///{db}", os.urandom(32))
    before = len(_checkpointers())
    try:
        assert store.generation() >= 0
        for i in range(300):
            store.record_batch(*_batch(i))
        assert len(_checkpointers()) == before + 1
        direct = store._direct._conn()                  # the connection the writes went through
        assert direct.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        other = sqlite3.connect(db)
        assert other.execute("SELECT COUNT(*) FROM audit_events").fetchone()[0] == 300 * 16
        busy, frames, moved = checkpoint(other)
        assert busy == 0 and frames == moved             # the held connections pin no part of the WAL
        other.close()
    finally:
        store.close()
    assert len(_checkpointers()) == before              # stopped with the store
