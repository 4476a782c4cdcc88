"""The writes a first start makes on a SQLite file, in plain SQL: the master-key check, the keyring's
first key and the bootstrap account (account, user `admin`, its policy, its access key, two meta
rows); and the registry CA, which the first registry token request makes. With `sqlite_schema` creating
the tables, a first start, like a restart, never loads SQLAlchemy (see `store.sqlite_store`). The
user, inline user policy and access key writes serve IAM's CreateUser, PutUserPolicy and
CreateAccessKey too, with their guards (`store.interfaces`).

Each method does what the `SqlStore` method of the same name does, on the thread's held connection
(`sqlite_direct`) under the store's write lock: one IMMEDIATE transaction that also advances the
generation counter, constraint violations mapped to the same `Conflict` / `NotFound`.
`tests/store/test_conformance.py` runs the `Store` contract against both.
"""

from __future__ import annotations

from collections.abc import Callable

from regauth.domain.principals import AccessKey, InlinePolicy, RegistryCa, SigningKey, User
from regauth.domain.secret import Secret
from regauth.store import row_records as rr
from regauth.store.crypto import SecretBox
from regauth.store.integrity import map_integrity
from regauth.store.sqlite_direct import SqliteDirect

BUMP_SQL = "UPDATE generation SET value = value + 1 WHERE id = 1"
_SET_META = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
_ADD_META = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"
_META = "SELECT value FROM meta WHERE key = ?"
_ADD_ACCOUNT = "INSERT INTO accounts (account_id, created_at) VALUES (?, ?) ON CONFLICT (account_id) DO NOTHING"
_ADD_USER = ("INSERT INTO users (account_id, name, user_id, arn, path, created_at) "
             "VALUES (:account_id, :name, :user_id, :arn, :path, :created_at)")
_PUT_USER_POLICY = ("INSERT INTO user_policies (account_id, user_name, policy_name, document) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (account_id, user_name, policy_name) DO UPDATE SET document = excluded.document")
_ADD_ACCESS_KEY = ("INSERT INTO access_keys (access_key_id, account_id, user_name, status, secret, created_at) "
                   "VALUES (?, ?, ?, ?, ?, ?)")
_USER_NAMES = "SELECT name FROM users WHERE account_id = ?"
_USER_POLICIES = ("SELECT policy_name, document FROM user_policies WHERE account_id = ? AND user_name = ? "
                  "ORDER BY policy_name")
_KEY_COUNT = "SELECT count(*) FROM access_keys WHERE account_id = ? AND user_name = ?"
_ADD_SIGNING_KEY = "INSERT INTO signing_keys (kid, secret, created_at, retired_at) VALUES (?, ?, ?, ?)"
_ACTIVE_SIGNING_KEY = "SELECT kid FROM signing_keys WHERE retired_at IS NULL LIMIT 1"


class SqliteWrites:
    """A first start's writes to a SQLite store (see the module docstring)."""

    def __init__(self, direct: SqliteDirect, box: SecretBox) -> None:
        self._direct = direct
        self._box = box

    def _write(self, sql: str, params: tuple | dict) -> None:
        with self._direct.transaction() as conn:
            conn.execute(sql, params)
            conn.execute(BUMP_SQL)

    # --- meta and accounts ------------------------------------------------------------------------
    def set_meta(self, key: str, value: str) -> None:
        self._write(_SET_META, (key, value))

    def set_meta_once(self, key: str, value: str) -> str:
        """Store `value` unless `key` already has one; returns what is stored (the first writer wins,
        even among processes starting at the same moment)."""
        with self._direct.transaction() as conn:
            conn.execute(_ADD_META, (key, value))
            conn.execute(BUMP_SQL)
            return conn.execute(_META, (key,)).fetchall()[0][0]   # fetchall: no statement left running

    def ensure_account(self, account_id: str, now: float) -> None:
        self._write(_ADD_ACCOUNT, (account_id, now))

    # --- IAM ----------------------------------------------------------------------------------------
    # A guard is called inside the IMMEDIATE transaction (one writer at a time, across processes) with
    # what is stored now, and raises to refuse the write: see `SqlStore`'s methods of the same names.
    def create_user(self, user: User, guard: Callable[[list[str]], None] | None = None) -> User:
        with map_integrity("user", user.name), self._direct.transaction() as conn:
            if guard is not None:
                guard([row[0] for row in conn.execute(_USER_NAMES, (user.account_id,)).fetchall()])
            conn.execute(_ADD_USER, rr.user_values(user))
            conn.execute(BUMP_SQL)
        return user

    def put_user_policy(self, account_id: str, user_name: str, policy: InlinePolicy,
                        guard: Callable[[list[InlinePolicy]], None] | None = None) -> None:
        with map_integrity("user_policy", policy.name, parent=("user", user_name)), \
                self._direct.transaction() as conn:
            if guard is not None:
                guard([InlinePolicy(name=name, document=document)
                       for name, document in conn.execute(_USER_POLICIES, (account_id, user_name)).fetchall()])
            conn.execute(_PUT_USER_POLICY, (account_id, user_name, policy.name, policy.document))
            conn.execute(BUMP_SQL)

    def create_access_key(self, key: AccessKey, secret: Secret,
                          guard: Callable[[int], None] | None = None) -> AccessKey:
        sealed = self._box.seal(secret, rr.access_key_ad(key.access_key_id))
        with map_integrity("access_key", key.access_key_id, parent=("user", key.user_name)), \
                self._direct.transaction() as conn:
            if guard is not None:
                guard(conn.execute(_KEY_COUNT, (key.account_id, key.user_name)).fetchall()[0][0])
            conn.execute(_ADD_ACCESS_KEY, (key.access_key_id, key.account_id, key.user_name, key.status, sealed,
                                           key.created_at))
            conn.execute(BUMP_SQL)
        return key

    # --- the registry CA (made by the first registry token request or `admin registry-ca`) ------------
    def set_registry_ca_once(self, ca: RegistryCa) -> RegistryCa:
        text = rr.registry_ca_text(ca, self._box)
        stored = self.set_meta_once(rr.REGISTRY_CA_META, text)
        return ca if stored == text else rr.registry_ca(stored, self._box)

    # --- keyring ------------------------------------------------------------------------------------
    def add_signing_key(self, key: SigningKey) -> None:
        sealed = self._box.seal(key.secret, rr.signing_key_ad(key.kid))
        with map_integrity("signing_key", key.kid):
            self._write(_ADD_SIGNING_KEY, (key.kid, sealed, key.created_at, key.retired_at))

    def add_first_signing_key(self, key: SigningKey) -> bool:
        """Store `key` unless an active key is stored, deciding inside one IMMEDIATE transaction (so
        among processes starting together on one file, one writes); True when `key` was stored."""
        sealed = self._box.seal(key.secret, rr.signing_key_ad(key.kid))
        with map_integrity("signing_key", key.kid), self._direct.transaction() as conn:
            conn.execute(BUMP_SQL)                 # as SqlStore's write does, whichever way it goes
            if conn.execute(_ACTIVE_SIGNING_KEY).fetchall():
                return False
            conn.execute(_ADD_SIGNING_KEY, (key.kid, sealed, key.created_at, key.retired_at))
            return True


# What `SqliteWrites` does; with `sqlite_reads.READS`, what a SQLite store answers without SQLAlchemy.
WRITES = frozenset(name for name in vars(SqliteWrites) if not name.startswith("_"))
