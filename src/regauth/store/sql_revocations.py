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

import json

import sqlalchemy as sa

from regauth.domain.principals import RegistryCa, Revocation
from regauth.store import row_records as rr
from regauth.store import schema as t
from regauth.store.sql_base import SqlBase

_META_VALUE = sa.select(t.meta.c.value).where(t.meta.c.key == rr.REGISTRY_CA_META)
REGISTRY_CA_LOCK_ID = 0x7265_6761_7574_6803 & 0x7FFF_FFFF_FFFF_FFFF  # "regauth" + 3


def _meta(conn: sa.Connection, key: str) -> str | None:
    value = conn.execute(sa.select(t.meta.c.value).where(t.meta.c.key == key)).scalar()
    return None if value is None else str(value)


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

    # --- registry CA rotation (`services.registry_ca`) ----------------------------------------------
    def prepare_registry_ca(self, ca: RegistryCa) -> RegistryCa:
        """Store `ca` as the next CA unless one is prepared; the prepared one (first writer wins)."""
        text = rr.registry_ca_text(ca, self._box)
        with self._write() as conn:
            self._upsert(conn, t.meta, {"key": rr.REGISTRY_CA_NEXT_META, "value": text}, ["key"], update=())
            stored = _meta(conn, rr.REGISTRY_CA_NEXT_META)
        assert stored is not None
        return ca if stored == text else rr.registry_ca(stored, self._box)

    def activate_registry_ca(self) -> bool:
        """In one transaction: the prepared CA becomes the active one, and the active one's certificate
        joins the previous ones (which registries keep trusting until `forget_previous_registry_cas`).
        False, and nothing changed, when no CA is prepared."""
        with self._write() as conn:
            if self._dialect == "postgresql":
                self._advisory_lock(conn, REGISTRY_CA_LOCK_ID)
            nxt, active = _meta(conn, rr.REGISTRY_CA_NEXT_META), _meta(conn, rr.REGISTRY_CA_META)
            if nxt is None:
                return False
            previous = json.loads(_meta(conn, rr.REGISTRY_CA_PREVIOUS_META) or "[]")
            if active is not None:
                previous.append(rr.registry_ca_cert(active))
            for key, value in ((rr.REGISTRY_CA_META, nxt), (rr.REGISTRY_CA_PREVIOUS_META, json.dumps(previous))):
                self._upsert(conn, t.meta, {"key": key, "value": value}, ["key"])
            conn.execute(t.meta.delete().where(t.meta.c.key == rr.REGISTRY_CA_NEXT_META))
            return True

    def forget_previous_registry_cas(self) -> int:
        """Drop the certificates earlier rotations replaced; how many."""
        with self._write() as conn:
            previous = json.loads(_meta(conn, rr.REGISTRY_CA_PREVIOUS_META) or "[]")
            conn.execute(t.meta.delete().where(t.meta.c.key == rr.REGISTRY_CA_PREVIOUS_META))
        return len(previous)

    def registry_ca_certificates(self) -> tuple[str | None, str | None, list[str]]:
        """(active, next, previous) certificates, PEM, for a registry's trust bundle; no key is opened."""
        with self._read() as conn:
            active, nxt = _meta(conn, rr.REGISTRY_CA_META), _meta(conn, rr.REGISTRY_CA_NEXT_META)
            previous = json.loads(_meta(conn, rr.REGISTRY_CA_PREVIOUS_META) or "[]")
        return (rr.registry_ca_cert(active) if active else None, rr.registry_ca_cert(nxt) if nxt else None,
                [str(p) for p in previous])
