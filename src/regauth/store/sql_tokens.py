"""Issued-token index, audit events and the signing keyring."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from regauth.domain.principals import AuditEvent, IssuedToken, SigningKey
from regauth.store import row_records as rr
from regauth.store import schema as t
from regauth.store.sql_base import SqlBase, map_integrity

_INSERT_TOKEN = t.issued_tokens.insert()
KEYRING_LOCK_ID = 0x7265_6761_7574_6802 & 0x7FFF_FFFF_FFFF_FFFF  # "regauth" + 2 (the migration lock is + 1)
_INSERT_EVENT = t.audit_events.insert()


def _from_json(table: str, columns: tuple[str, ...]) -> str:
    """The rows of a JSON array of objects (one key per column), as the table's row type."""
    names = ", ".join(columns)
    return f"INSERT INTO {table} ({names}) SELECT {names} FROM json_populate_recordset(NULL::{table}, %s)"


# psycopg's executemany sends, and reads back the outcome of, one statement per row (on the bench
# a commit took twice as long), and adapting columns as arrays runs in Python element by element
# (6 % more CPU per request); one JSON text per table is encoded in C. Both tables are written by
# one statement (the tokens' INSERT in a WITH): atomic on its own, so it needs no BEGIN and COMMIT
# and is sent on the writer's held autocommit connection in one round trip.
_BATCH_SQL_PG = (f"WITH tokens AS ({_from_json('issued_tokens', rr.TOKEN_COLUMNS)}) "
                 + _from_json("audit_events", rr.EVENT_COLUMNS))
# Non-ASCII as itself (PostgreSQL accepts \u escapes above 007F only in a UTF8 database); no NaN or
# infinity (JSON has none: the batch fails as a whole and is retried a request at a time).
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _json_rows(columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    return _JSON.encode([dict(zip(columns, row)) for row in rows])


_TOKEN_LANDED = "SELECT 1 FROM issued_tokens WHERE token_id = %s"
_EVENT_LANDED = "SELECT 1 FROM audit_events WHERE at = %s AND request_id = %s AND action = %s LIMIT 1"


def _landed(token_rows: list[tuple[Any, ...]], event_rows: list[tuple[Any, ...]]) -> tuple[str, tuple[Any, ...]]:
    """A query that finds the batch once it is stored (one statement: all of it or none): its first
    token by id, or its first event by time (ix_audit_events_at), request id and action."""
    if token_rows:
        return _TOKEN_LANDED, (token_rows[0][0],)
    at, request_id, _, action = event_rows[0][:4]
    return _EVENT_LANDED, (at, request_id, action)


class SqlTokensMixin(SqlBase):
    # --- issued tokens ------------------------------------------------------------------------
    def record_issued_token(self, token: IssuedToken) -> None:
        with map_integrity("issued_token", token.token_id), self._write(bump=False) as conn:
            conn.execute(t.issued_tokens.insert().values(**rr.token_values(token)))

    def record_issuance(self, token: IssuedToken, event: AuditEvent) -> None:
        """The index entry and its audit event in one transaction: both or neither."""
        with map_integrity("issued_token", token.token_id), self._write(bump=False) as conn:
            # parameters passed apart from the statement: one cached compiled INSERT per table
            conn.execute(_INSERT_TOKEN, rr.token_values(token))
            conn.execute(_INSERT_EVENT, rr.event_values(event))

    def record_batch(self, tokens: Sequence[IssuedToken], events: Sequence[AuditEvent]) -> None:
        """All or none: on SQLite one transaction of two executemany statements straight on the
        DB-API; on PostgreSQL one statement for both tables (see `_BATCH_SQL_PG`)."""
        if not tokens and not events:
            return
        token_rows, event_rows = rr.batch_rows(tokens, events)
        if self._direct is not None:
            self._direct.insert_many([(rr.SQLITE_BATCH_SQL[0], token_rows), (rr.SQLITE_BATCH_SQL[1], event_rows)])
            return
        if self._held_writer is not None:
            self._held_writer.execute(_BATCH_SQL_PG, (_json_rows(rr.TOKEN_COLUMNS, token_rows),
                                                      _json_rows(rr.EVENT_COLUMNS, event_rows)),
                                      landed=_landed(token_rows, event_rows))
            return
        with self._write(bump=False) as conn:
            token_sql, event_sql = rr.SQLITE_BATCH_SQL
            if token_rows:
                conn.exec_driver_sql(token_sql, token_rows)
            if event_rows:
                conn.exec_driver_sql(event_sql, event_rows)

    def get_issued_token(self, token_id: str) -> IssuedToken | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.issued_tokens)
                               .where(t.issued_tokens.c.token_id == token_id)).first()
        return rr.token(row) if row else None

    # --- audit ----------------------------------------------------------------------------------
    def record_audit(self, event: AuditEvent) -> None:
        with self._write(bump=False) as conn:
            conn.execute(_INSERT_EVENT, rr.event_values(event))

    def list_audit_events(self, limit: int = 100, principal_arn: str | None = None) -> list[AuditEvent]:
        a = t.audit_events.c
        query = sa.select(t.audit_events).order_by(a.at.desc(), a.id.desc()).limit(max(0, limit))
        if principal_arn is not None:
            query = query.where(a.principal_arn == principal_arn)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [rr.event(r) for r in rows]

    # --- signing keys -----------------------------------------------------------------------------
    def add_signing_key(self, key: SigningKey) -> None:
        sealed = self._box.seal(key.secret, rr.signing_key_ad(key.kid))
        with map_integrity("signing_key", key.kid), self._write() as conn:
            conn.execute(t.signing_keys.insert().values(
                kid=key.kid, secret=sealed, created_at=key.created_at, retired_at=key.retired_at))

    def add_first_signing_key(self, key: SigningKey) -> bool:
        """Store `key` unless an active key is stored; True when `key` was stored. Decided by one writer
        at a time, also among nodes starting together on one database: on PostgreSQL the transaction
        takes an advisory lock before it looks (READ COMMITTED: it then sees the key the previous
        holder committed); on SQLite the write transaction is IMMEDIATE."""
        sealed = self._box.seal(key.secret, rr.signing_key_ad(key.kid))
        k = t.signing_keys.c
        with map_integrity("signing_key", key.kid), self._write() as conn:
            if self._dialect == "postgresql":
                self._advisory_lock(conn, KEYRING_LOCK_ID)
            if conn.execute(sa.select(k.kid).where(k.retired_at.is_(None)).limit(1)).first() is not None:
                return False
            conn.execute(t.signing_keys.insert().values(
                kid=key.kid, secret=sealed, created_at=key.created_at, retired_at=key.retired_at))
            return True

    def rotate_signing_keys(self, new: SigningKey, retired_at: float, delete_previous: bool) -> list[str]:
        """In one transaction: store `new` (active) and retire every other active key at `retired_at`
        (they still verify what they signed) or, with `delete_previous`, delete every other key (what
        they signed stops verifying). The kids retired or deleted, oldest first."""
        sealed = self._box.seal(new.secret, rr.signing_key_ad(new.kid))
        k = t.signing_keys.c
        with map_integrity("signing_key", new.kid), self._write() as conn:
            if delete_previous:
                others = [r.kid for r in conn.execute(sa.select(k.kid).order_by(k.created_at, k.kid))]
                conn.execute(t.signing_keys.delete())
            else:
                others = [r.kid for r in conn.execute(sa.select(k.kid).where(k.retired_at.is_(None))
                                                      .order_by(k.created_at, k.kid))]
                conn.execute(t.signing_keys.update().where(k.retired_at.is_(None)).values(retired_at=retired_at))
            conn.execute(t.signing_keys.insert().values(
                kid=new.kid, secret=sealed, created_at=new.created_at, retired_at=None))
        return others

    def list_signing_keys(self) -> list[SigningKey]:
        k = t.signing_keys.c
        with self._read() as conn:
            rows = conn.execute(sa.select(t.signing_keys).order_by(k.created_at, k.kid)).all()
        return [rr.signing_key(r, self._box) for r in rows]
