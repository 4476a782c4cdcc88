"""Revocations and the registry CA: what the registry side (token realm, auth_request verifier) reads.

Revocations are a table read whole: the list is short (revoked tokens and principals, not issued
ones), every node caches it until the generation moves (`services.cache`), and the verifier indexes
it once per cached list (`services.revocations`).

The registry CA is one `meta` value rather than a table of its own: the certificate and its sealed
key in one JSON text (`row_records.registry_ca_text`), so the pair is written by one statement and
`set_registry_ca_once` is `set_meta_once`'s INSERT ... ON CONFLICT DO NOTHING, whose first writer
wins across processes on one PostgreSQL as well. Its key is sealed with the store's `SecretBox`
under the associated data "registry-ca"; the clear PEM never reaches a row.

On a SQLite file both reads are answered without SQLAlchemy by `sqlite_reads`; these are the
`SqlStore` spellings (PostgreSQL, and the writes everywhere).
"""

from __future__ import annotations

import sqlalchemy as sa

from regauth.domain.principals import RegistryCa, Revocation
from regauth.store import row_records as rr
from regauth.store import schema as t
from regauth.store.sql_base import SqlBase

_META_VALUE = sa.select(t.meta.c.value).where(t.meta.c.key == rr.REGISTRY_CA_META)


class SqlRevocationsMixin(SqlBase):
    # --- revocations ------------------------------------------------------------------------------
    def add_revocation(self, rev: Revocation) -> None:
        """Upsert on (kind, subject). Only a principal's row changes, and only to a later `not_before`
        (taking that revocation's created_at and reason): a repeated or late-arriving older
        revocation never re-admits tokens, and a token's row keeps the moment it was first revoked."""
        if self._dialect == "postgresql":      # imported here: a SQLite server never loads psycopg's dialect
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        r = t.revocations.c
        insert = dialect_insert(t.revocations).values(**rr.revocation_values(rev))
        stmt = insert.on_conflict_do_update(
            index_elements=["kind", "subject"],
            set_={"not_before": insert.excluded.not_before, "created_at": insert.excluded.created_at,
                  "reason": insert.excluded.reason},
            where=sa.and_(r.kind == "principal", insert.excluded.not_before > r.not_before))
        with self._write() as conn:
            conn.execute(stmt)

    def list_revocations(self) -> list[Revocation]:
        r = t.revocations.c
        with self._read() as conn:
            rows = conn.execute(sa.select(t.revocations).order_by(r.created_at, r.kind, r.subject)).all()
        return [rr.revocation(row) for row in rows]

    # --- registry CA ------------------------------------------------------------------------------
    def get_registry_ca(self) -> RegistryCa | None:
        with self._read() as conn:
            text = conn.execute(_META_VALUE).scalar()
        return rr.registry_ca(text, self._box) if text is not None else None

    def set_registry_ca_once(self, ca: RegistryCa) -> RegistryCa:
        """First writer wins (see the module docstring); returns the stored CA, maybe another's."""
        text = rr.registry_ca_text(ca, self._box)
        with self._write() as conn:
            self._upsert(conn, t.meta, {"key": rr.REGISTRY_CA_META, "value": text}, ["key"], update=())
            stored = conn.execute(_META_VALUE).scalar_one()
        return ca if stored == text else rr.registry_ca(stored, self._box)
