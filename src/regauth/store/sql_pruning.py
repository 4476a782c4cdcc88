"""Deleting what has outlived its use (`services.pruning` decides the cut-offs): issued-token index
entries past their expiry, STS sessions, revocations, retired signing keys, and audit events past a
retention the operator chose.

Each call deletes at most `limit` rows in one short transaction, chosen through the table's index
on the time column, so a large prune runs as many small transactions and never holds SQLite's one
write lock for long while a server keeps issuing tokens."""

from __future__ import annotations

import sqlalchemy as sa

from regauth.store import schema as t
from regauth.store.sql_base import SqlBase


def _oldest(table: sa.Table, key: sa.Column, when: sa.Column, before: float, limit: int) -> sa.Delete:
    chosen = sa.select(key).where(when < before).order_by(when).limit(max(0, limit)).scalar_subquery()
    return table.delete().where(key.in_(chosen))


class SqlPruningMixin(SqlBase):
    def prune_issued_tokens(self, expired_before: float, limit: int) -> int:
        """Delete up to `limit` issued-token index entries whose token expired before `expired_before`
        (oldest first); how many. The index is append-only for the request path: no generation bump."""
        c = t.issued_tokens.c
        with self._write(bump=False) as conn:
            return int(conn.execute(_oldest(t.issued_tokens, c.token_id, c.expires_at, expired_before,
                                            limit)).rowcount)

    def prune_sessions(self, expired_before: float, limit: int) -> int:
        """Delete up to `limit` STS sessions (temporary credentials) that expired before
        `expired_before`, oldest first; how many."""
        c = t.sessions.c
        with self._write() as conn:
            return int(conn.execute(_oldest(t.sessions, c.access_key_id, c.expires_at, expired_before,
                                            limit)).rowcount)

    def prune_audit_events(self, before: float, limit: int) -> int:
        """Delete up to `limit` audit events recorded before `before`, oldest first; how many. Only
        when the operator asks for a retention (`admin prune --audit-days`). No generation bump."""
        c = t.audit_events.c
        with self._write(bump=False) as conn:
            return int(conn.execute(_oldest(t.audit_events, c.id, c.at, before, limit)).rowcount)

    def prune_signing_keys(self, retired_before: float) -> int:
        """Delete the signing keys retired before `retired_before` (never an active one); how many."""
        c = t.signing_keys.c
        with self._write() as conn:
            return int(conn.execute(t.signing_keys.delete()
                                    .where(c.retired_at.is_not(None), c.retired_at < retired_before)).rowcount)

    def prune_revocations(self, not_before_before: float) -> int:
        """Delete every revocation whose `not_before` is before `not_before_before`; how many.
        (A short list: one statement.)"""
        with self._write() as conn:
            return int(conn.execute(t.revocations.delete()
                                    .where(t.revocations.c.not_before < not_before_before)).rowcount)
