"""IAM users, access keys, roles, inline policies and STS sessions; the credential lookup."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from regauth.domain.principals import AccessKey, Credential, InlinePolicy, Role, Session, User
from regauth.domain.secret import Secret
from regauth.errors import Conflict
from regauth.store import row_records as rr
from regauth.store import schema as t
from regauth.store.sql_base import SqlBase, map_integrity

_DELETE_KEYS_FIRST = "Cannot delete entity, must delete access keys first."
_DELETE_POLICIES_FIRST = "Cannot delete entity, must delete policies first."


_KEY_COLS = [t.access_keys.c.access_key_id, t.access_keys.c.account_id, t.access_keys.c.user_name,
             t.access_keys.c.status, t.access_keys.c.created_at]


class _InlinePolicies:
    """user_policies and role_policies have the same shape: (account, owner, policy_name) -> document."""

    def __init__(self, table: sa.Table, owner_col: str, owner_type: str) -> None:
        self.table = table
        self.owner = table.c[owner_col]
        self.owner_col = owner_col
        self.owner_type = owner_type

    def where(self, account_id: str, owner: str, name: str | None = None):
        cond = [self.table.c.account_id == account_id, self.owner == owner]
        if name is not None:
            cond.append(self.table.c.policy_name == name)
        return sa.and_(*cond)


_USER_POLICIES = _InlinePolicies(t.user_policies, "user_name", "user")
_ROLE_POLICIES = _InlinePolicies(t.role_policies, "role_name", "role")


class SqlIamMixin(SqlBase):
    # --- users ----------------------------------------------------------------------------------
    def _names(self, conn: sa.Connection, table: sa.Table, account_id: str, guard: Callable[[list[str]], None]) -> None:
        self._exclusive(conn, table.name, account_id)
        guard(list(conn.execute(sa.select(table.c.name).where(table.c.account_id == account_id)).scalars()))

    def create_user(self, user: User, guard: Callable[[list[str]], None] | None = None) -> User:
        with map_integrity("user", user.name), self._write() as conn:
            if guard is not None:
                self._names(conn, t.users, user.account_id, guard)
            conn.execute(t.users.insert().values(**rr.user_values(user)))
        return user

    def get_user(self, account_id: str, name: str) -> User | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.users).where(
                t.users.c.account_id == account_id, t.users.c.name == name)).first()
        return rr.user(row) if row else None

    def list_users(self, account_id: str) -> list[User]:
        with self._read() as conn:
            rows = conn.execute(sa.select(t.users).where(t.users.c.account_id == account_id)
                                .order_by(t.users.c.name)).all()
        return [rr.user(r) for r in rows]

    def delete_user(self, account_id: str, name: str) -> User | None:
        with map_integrity("user", name, conflict_message=_DELETE_KEYS_FIRST), self._write() as conn:
            row = conn.execute(sa.select(t.users).where(
                t.users.c.account_id == account_id, t.users.c.name == name)).first()
            if row is None:
                return None
            if conn.execute(sa.select(t.access_keys.c.access_key_id).where(
                    t.access_keys.c.account_id == account_id,
                    t.access_keys.c.user_name == name).limit(1)).first():
                raise Conflict("user", name, _DELETE_KEYS_FIRST, kind="delete")
            if conn.execute(sa.select(t.user_policies.c.policy_name).where(
                    _USER_POLICIES.where(account_id, name)).limit(1)).first():
                raise Conflict("user", name, _DELETE_POLICIES_FIRST, kind="delete")
            conn.execute(t.users.delete().where(
                t.users.c.account_id == account_id, t.users.c.name == name))
        return rr.user(row)

    # --- access keys ----------------------------------------------------------------------------
    def create_access_key(self, key: AccessKey, secret: Secret,
                          guard: Callable[[int], None] | None = None) -> AccessKey:
        sealed = self._box.seal(secret, rr.access_key_ad(key.access_key_id))
        k = t.access_keys.c
        with map_integrity("access_key", key.access_key_id, parent=("user", key.user_name)), \
                self._write() as conn:
            if guard is not None:
                self._exclusive(conn, "access_keys", key.account_id, key.user_name)
                guard(conn.execute(sa.select(sa.func.count()).select_from(t.access_keys).where(
                    k.account_id == key.account_id, k.user_name == key.user_name)).scalar_one())
            conn.execute(t.access_keys.insert().values(
                access_key_id=key.access_key_id, account_id=key.account_id,
                user_name=key.user_name, status=key.status, secret=sealed,
                created_at=key.created_at))
        return key

    def list_access_keys(self, account_id: str, user_name: str) -> list[AccessKey]:
        k = t.access_keys.c
        with self._read() as conn:
            rows = conn.execute(sa.select(*_KEY_COLS).where(
                k.account_id == account_id, k.user_name == user_name)
                .order_by(k.created_at, k.access_key_id)).all()
        return [rr.access_key(r) for r in rows]

    def update_access_key(self, account_id: str, user_name: str, access_key_id: str,
                          status: str) -> AccessKey | None:
        k = t.access_keys.c
        with self._write() as conn:
            row = conn.execute(t.access_keys.update().where(
                k.access_key_id == access_key_id, k.account_id == account_id,
                k.user_name == user_name).values(status=status).returning(*_KEY_COLS)).first()
        return rr.access_key(row) if row else None

    def delete_access_key(self, account_id: str, user_name: str,
                          access_key_id: str) -> AccessKey | None:
        k = t.access_keys.c
        with self._write() as conn:
            row = conn.execute(t.access_keys.delete().where(
                k.access_key_id == access_key_id, k.account_id == account_id,
                k.user_name == user_name).returning(*_KEY_COLS)).first()
        return rr.access_key(row) if row else None

    def get_credential(self, access_key_id: str) -> Credential | None:
        k, s = t.access_keys.c, t.sessions.c
        with self._read() as conn:
            row = conn.execute(sa.select(k.account_id, k.user_name, k.status, k.secret)
                               .where(k.access_key_id == access_key_id)).first()
            if row is not None:
                return rr.key_credential(access_key_id, row, self._box)
            row = conn.execute(sa.select(t.sessions).where(s.access_key_id == access_key_id)).first()
        return rr.session_credential(access_key_id, row, self._box) if row else None

    # --- inline policies (users and roles) ------------------------------------------------------
    def _put_policy(self, p: _InlinePolicies, account_id: str, owner: str, policy: InlinePolicy,
                    guard: Callable[[list[InlinePolicy]], None] | None) -> None:
        values = {"account_id": account_id, p.owner_col: owner, "policy_name": policy.name,
                  "document": policy.document}
        with map_integrity(f"{p.owner_type}_policy", policy.name, parent=(p.owner_type, owner)), \
                self._write() as conn:
            if guard is not None:
                self._exclusive(conn, p.table.name, account_id, owner)
                guard([rr.inline_policy(r) for r in conn.execute(sa.select(p.table).where(p.where(account_id, owner))
                                                                 .order_by(p.table.c.policy_name))])
            self._upsert(conn, p.table, values, ["account_id", p.owner_col, "policy_name"])

    def _get_policy(self, p: _InlinePolicies, account_id: str, owner: str, name: str) -> InlinePolicy | None:
        with self._read() as conn:
            row = conn.execute(sa.select(p.table).where(p.where(account_id, owner, name))).first()
        return rr.inline_policy(row) if row else None

    def _list_policies(self, p: _InlinePolicies, account_id: str, owner: str) -> list[InlinePolicy]:
        with self._read() as conn:
            rows = conn.execute(sa.select(p.table).where(p.where(account_id, owner))
                                .order_by(p.table.c.policy_name)).all()
        return [rr.inline_policy(r) for r in rows]

    def _delete_policy(self, p: _InlinePolicies, account_id: str, owner: str, name: str) -> InlinePolicy | None:
        with self._write() as conn:
            row = conn.execute(p.table.delete().where(p.where(account_id, owner, name))
                               .returning(p.table.c.policy_name, p.table.c.document)).first()
        return rr.inline_policy(row) if row else None

    def put_user_policy(self, account_id: str, user_name: str, policy: InlinePolicy,
                        guard: Callable[[list[InlinePolicy]], None] | None = None) -> None:
        self._put_policy(_USER_POLICIES, account_id, user_name, policy, guard)

    def get_user_policy(self, account_id: str, user_name: str, name: str) -> InlinePolicy | None:
        return self._get_policy(_USER_POLICIES, account_id, user_name, name)

    def list_user_policies(self, account_id: str, user_name: str) -> list[InlinePolicy]:
        return self._list_policies(_USER_POLICIES, account_id, user_name)

    def delete_user_policy(self, account_id: str, user_name: str, name: str) -> InlinePolicy | None:
        return self._delete_policy(_USER_POLICIES, account_id, user_name, name)

    def put_role_policy(self, account_id: str, role_name: str, policy: InlinePolicy,
                        guard: Callable[[list[InlinePolicy]], None] | None = None) -> None:
        self._put_policy(_ROLE_POLICIES, account_id, role_name, policy, guard)

    def get_role_policy(self, account_id: str, role_name: str, name: str) -> InlinePolicy | None:
        return self._get_policy(_ROLE_POLICIES, account_id, role_name, name)

    def list_role_policies(self, account_id: str, role_name: str) -> list[InlinePolicy]:
        return self._list_policies(_ROLE_POLICIES, account_id, role_name)

    def delete_role_policy(self, account_id: str, role_name: str, name: str) -> InlinePolicy | None:
        return self._delete_policy(_ROLE_POLICIES, account_id, role_name, name)

    # --- roles ----------------------------------------------------------------------------------
    def create_role(self, role: Role, guard: Callable[[list[str]], None] | None = None) -> Role:
        with map_integrity("role", role.name), self._write() as conn:
            if guard is not None:
                self._names(conn, t.roles, role.account_id, guard)
            conn.execute(t.roles.insert().values(**rr.role_values(role)))
        return role

    def get_role(self, account_id: str, name: str) -> Role | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.roles).where(
                t.roles.c.account_id == account_id, t.roles.c.name == name)).first()
        return rr.role(row) if row else None

    def list_roles(self, account_id: str) -> list[Role]:
        with self._read() as conn:
            rows = conn.execute(sa.select(t.roles).where(t.roles.c.account_id == account_id)
                                .order_by(t.roles.c.name)).all()
        return [rr.role(r) for r in rows]

    def delete_role(self, account_id: str, name: str) -> Role | None:
        with map_integrity("role", name, conflict_message=_DELETE_POLICIES_FIRST), self._write() as conn:
            row = conn.execute(sa.select(t.roles).where(
                t.roles.c.account_id == account_id, t.roles.c.name == name)).first()
            if row is None:
                return None
            if conn.execute(sa.select(t.role_policies.c.policy_name).where(
                    _ROLE_POLICIES.where(account_id, name)).limit(1)).first():
                raise Conflict("role", name, _DELETE_POLICIES_FIRST, kind="delete")
            conn.execute(t.roles.delete().where(
                t.roles.c.account_id == account_id, t.roles.c.name == name))
        return rr.role(row)

    def update_role_trust_policy(self, account_id: str, name: str, document: str,
                                 principal_ids: tuple[tuple[str, str], ...] = ()) -> Role | None:
        with self._write() as conn:
            row = conn.execute(t.roles.update().where(
                t.roles.c.account_id == account_id, t.roles.c.name == name)
                .values(trust_policy=document, trust_principal_ids=rr.principal_ids_text(principal_ids))
                .returning(*t.roles.c)).first()
        return rr.role(row) if row else None

    # --- STS sessions ---------------------------------------------------------------------------
    def create_session(self, session: Session, secret: Secret, token_hash: str) -> None:
        sealed = self._box.seal(secret, rr.session_ad(session.access_key_id))
        with map_integrity("session", session.access_key_id), self._write(bump=False) as conn:
            conn.execute(t.sessions.insert().values(
                **rr.session_values(session), secret=sealed, token_hash=token_hash))
