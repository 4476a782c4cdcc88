"""`SqlStore`: the `Store` contract on SQLAlchemy Core, for SQLite and PostgreSQL.

The methods live in mixins by area (`sql_iam`, `sql_codeartifact`, `sql_registries` for ECR and
ACR, `sql_tokens`, `sql_revocations` for revocations and the registry CA, `sql_pruning`); shared
transaction and error-mapping helpers in `sql_base`. Each method is one short transaction
(`engine.begin()`), uses only indexed lookups or LIMITed index scans, and converts rows to the
frozen records of `regauth.domain.principals` in one place per table.

Errors beyond the contract: creating or putting a child whose parent is missing (an access key
or inline policy of an unknown user/role, a repository, policy or endpoint of an unknown domain)
raises `NotFound(parent_type, parent_name)`. A stored secret that does not decrypt (wrong master
key, tampered row) raises `crypto.SecretBoxError`.

Obtain one with `regauth.store.open.open_store(url, master_key)`.
"""

from __future__ import annotations

import sqlalchemy as sa

from regauth.store import schema as t
from regauth.store.crypto import SecretBox
from regauth.store.sql_base import LOCK_IDLE_SECONDS
from regauth.store.sql_codeartifact import SqlCodeArtifactMixin
from regauth.store.sql_iam import SqlIamMixin
from regauth.store.sql_pruning import SqlPruningMixin
from regauth.store.sql_registries import SqlRegistriesMixin
from regauth.store.sql_revocations import SqlRevocationsMixin
from regauth.store.sql_tokens import SqlTokensMixin
from regauth.store.sqlite_direct import SqliteDirect


class SqlStore(SqlIamMixin, SqlCodeArtifactMixin, SqlRegistriesMixin, SqlTokensMixin, SqlRevocationsMixin,
               SqlPruningMixin):
    def __init__(self, engine: sa.Engine, box: SecretBox, *, direct: SqliteDirect | None = None,
                 lock_idle_seconds: float = LOCK_IDLE_SECONDS) -> None:
        super().__init__(engine, box, direct=direct, lock_idle_seconds=lock_idle_seconds)

    # --- meta -----------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self._read() as conn:
            return conn.execute(sa.select(t.meta.c.value).where(t.meta.c.key == key)).scalar()

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as conn:
            self._upsert(conn, t.meta, {"key": key, "value": value}, ["key"])

    def set_meta_once(self, key: str, value: str) -> str:
        """Store `value` unless `key` already has one; returns what is stored (the first writer wins,
        even among processes starting at the same moment)."""
        with self._write() as conn:
            self._upsert(conn, t.meta, {"key": key, "value": value}, ["key"], update=())
            return conn.execute(sa.select(t.meta.c.value).where(t.meta.c.key == key)).scalar_one()

    def ensure_account(self, account_id: str, now: float) -> None:
        with self._write() as conn:
            self._upsert(conn, t.accounts, {"account_id": account_id, "created_at": now},
                         ["account_id"], update=())

    def account_exists(self, account_id: str) -> bool:
        with self._read() as conn:
            return conn.execute(sa.select(t.accounts.c.account_id)
                                .where(t.accounts.c.account_id == account_id)).first() is not None

    def list_account_ids(self) -> list[str]:
        with self._read() as conn:
            return list(conn.execute(sa.select(t.accounts.c.account_id).order_by(t.accounts.c.account_id)).scalars())
