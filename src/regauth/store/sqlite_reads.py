"""The reads a SQLite server makes at start and on the request path, in plain SQL.

A restart reads the schema revision, the master-key check, the bootstrap account and the keyring;
a token request reads the caller's key, identity and policies, a domain or an instance, an endpoint;
the registry side (token realm, auth_request verifier) reads the revocation list, the registry CA and
the instances of an ACR token's account, and every registry host once per generation; a start also
checks the few tables of operator-set rows an older regauth may have filled with what it now refuses
(`services.legacy_data`).
These are a dozen indexed single-table lookups. Written here as SQL text on the thread's held
connection (`sqlite_direct`), they need no SQLAlchemy: loading it is most of a restart (about 0.3 s
of 0.45 s on the bench machine), so a server that only issues tokens never loads it (see
`store.sqlite_store`).

Each method answers exactly what the `SqlStore` method of the same name answers (the same records,
built by `row_records`); `tests/store/test_sqlite_store.py` compares the two on the same database.
"""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Iterable
from typing import Any

from regauth.domain.principals import (
    AcrInstance, Credential, Domain, DomainPolicy, InlinePolicy, RegistryCa, Repository, Revocation, Role, SigningKey,
    User,
)
from regauth.store import row_records as rr
from regauth.store.crypto import SecretBox
from regauth.store.sqlite_direct import SqliteDirect

# Times are DOUBLE columns; SQLAlchemy's `schema.Seconds` reads them back as float, and so does this.
_SECONDS = frozenset({"created_at", "expires_at", "retired_at", "issued_at", "at", "not_before"})

GENERATION_SQL = "SELECT value FROM generation WHERE id = 1"     # also read so on PostgreSQL (store.sql_base)
_META = "SELECT value FROM meta WHERE key = ?"
_ACCESS_KEY = "SELECT account_id, user_name, status, secret FROM access_keys WHERE access_key_id = ?"
_SESSION = ("SELECT access_key_id, account_id, kind, source_name, session_name, arn, user_id, session_policy, "
            "expires_at, created_at, secret, token_hash FROM sessions WHERE access_key_id = ?")
_USER = "SELECT account_id, name, user_id, arn, path, created_at FROM users WHERE account_id = ? AND name = ?"
_ROLE = ("SELECT account_id, name, role_id, arn, path, trust_policy, max_session_duration, description, created_at, "
         "trust_principal_ids FROM roles WHERE account_id = ? AND name = ?")
_USER_POLICIES = ("SELECT policy_name, document FROM user_policies WHERE account_id = ? AND user_name = ? "
                  "ORDER BY policy_name")
_ROLE_POLICIES = ("SELECT policy_name, document FROM role_policies WHERE account_id = ? AND role_name = ? "
                  "ORDER BY policy_name")
_DOMAIN = ("SELECT d.account_id, d.region, d.name, d.arn, d.encryption_key, d.created_at, "
           "(SELECT count(*) FROM codeartifact_repositories AS r WHERE r.account_id = d.account_id "
           "AND r.region = d.region AND r.domain_name = d.name) AS repository_count "
           "FROM codeartifact_domains AS d WHERE d.account_id = ? AND d.region = ? AND d.name = ?")
_DOMAIN_POLICY = ("SELECT account_id, region, domain_name, document, revision, principal_ids "
                  "FROM codeartifact_domain_policies "
                  "WHERE account_id = ? AND region = ? AND domain_name = ?")
_REPOSITORY_ENDPOINT = ("SELECT template FROM codeartifact_repository_endpoints "
                        "WHERE account_id = ? AND region = ? AND domain_name = ? AND format = ?")
_REPOSITORY = ("SELECT account_id, region, domain_name, name, arn, description, upstreams, created_at "
               "FROM codeartifact_repositories WHERE account_id = ? AND region = ? AND domain_name = ? AND name = ?")
_REGISTRY_ENDPOINT = "SELECT url FROM ecr_registry_endpoints WHERE account_id = ? AND region = ?"
_ACR_INSTANCE = ("SELECT instance_id, account_id, region, name, login_server, created_at FROM acr_instances "
                 "WHERE instance_id = ?")
_ACR_INSTANCES = ("SELECT instance_id, account_id, region, name, login_server, created_at FROM acr_instances "
                  "WHERE account_id = ? ORDER BY name, instance_id")
_SIGNING_KEYS = "SELECT kid, secret, created_at, retired_at FROM signing_keys ORDER BY created_at, kid"
_ACCOUNT = "SELECT account_id FROM accounts WHERE account_id = ?"
# start-up checks and the realm's host owners (once per generation): whole tables, operator-set and short
_ACCOUNT_IDS = "SELECT account_id FROM accounts ORDER BY account_id"
_REGISTRY_ENDPOINTS = "SELECT account_id, region, url FROM ecr_registry_endpoints ORDER BY account_id, region"
_REGISTRY_HOSTS = ("SELECT 'endpoint', account_id, url FROM ecr_registry_endpoints "
                   "UNION ALL SELECT 'instance', account_id, login_server FROM acr_instances")
_REPOSITORY_ENDPOINTS = ("SELECT account_id, region, domain_name, format, template "
                         "FROM codeartifact_repository_endpoints ORDER BY account_id, region, domain_name, format")
_REVOCATIONS = ("SELECT kind, subject, not_before, created_at, reason FROM revocations "
                "ORDER BY created_at, kind, subject")


@functools.lru_cache(maxsize=64)
def _row_type(names: tuple[str, ...]) -> Any:
    """A row class with the columns as attributes (what `row_records` reads), times as floats."""
    plain = namedtuple("Row", names)  # type: ignore[misc]  # noqa: PYI024
    seconds = [i for i, name in enumerate(names) if name in _SECONDS]
    if not seconds:
        return plain._make

    def make(values: tuple[Any, ...]) -> Any:
        values = list(values)
        for i in seconds:
            if values[i] is not None:
                values[i] = float(values[i])
        return plain._make(values)
    return make


class SqliteReads:
    """The request path's and a restart's reads of a SQLite store (see the module docstring)."""

    def __init__(self, direct: SqliteDirect, box: SecretBox) -> None:
        self._direct = direct
        self._box = box

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        names, values = self._direct.read_rows(sql, params)
        make = _row_type(names)
        return [make(v) for v in values]

    def _first(self, sql: str, params: tuple[Any, ...]) -> Any:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _scalar(self, sql: str, params: tuple[Any, ...]) -> Any:
        _, values = self._direct.read_rows(sql, params)
        return values[0][0] if values else None

    # --- meta and accounts ------------------------------------------------------------------------
    def generation(self) -> int:
        row = self._direct.read_one(GENERATION_SQL)
        return generation_value(row)

    def get_meta(self, key: str) -> str | None:
        return self._scalar(_META, (key,))

    def account_exists(self, account_id: str) -> bool:
        return self._scalar(_ACCOUNT, (account_id,)) is not None

    def list_account_ids(self) -> list[str]:
        return [row[0] for row in self._direct.read_rows(_ACCOUNT_IDS)[1]]

    # --- IAM ----------------------------------------------------------------------------------------
    def get_credential(self, access_key_id: str) -> Credential | None:
        row = self._first(_ACCESS_KEY, (access_key_id,))
        if row is not None:
            return rr.key_credential(access_key_id, row, self._box)
        row = self._first(_SESSION, (access_key_id,))
        return rr.session_credential(access_key_id, row, self._box) if row else None

    def get_user(self, account_id: str, name: str) -> User | None:
        row = self._first(_USER, (account_id, name))
        return rr.user(row) if row else None

    def get_role(self, account_id: str, name: str) -> Role | None:
        row = self._first(_ROLE, (account_id, name))
        return rr.role(row) if row else None

    def list_user_policies(self, account_id: str, user_name: str) -> list[InlinePolicy]:
        return [rr.inline_policy(r) for r in self._rows(_USER_POLICIES, (account_id, user_name))]

    def list_role_policies(self, account_id: str, role_name: str) -> list[InlinePolicy]:
        return [rr.inline_policy(r) for r in self._rows(_ROLE_POLICIES, (account_id, role_name))]

    # --- CodeArtifact -------------------------------------------------------------------------------
    def get_domain(self, account_id: str, region: str, name: str) -> Domain | None:
        row = self._first(_DOMAIN, (account_id, region, name))
        return rr.domain(row, row.repository_count) if row else None

    def get_domain_policy(self, account_id: str, region: str, domain_name: str) -> DomainPolicy | None:
        row = self._first(_DOMAIN_POLICY, (account_id, region, domain_name))
        return rr.domain_policy(row) if row else None

    def get_repository_endpoint(self, account_id: str, region: str, domain_name: str, fmt: str) -> str | None:
        return self._scalar(_REPOSITORY_ENDPOINT, (account_id, region, domain_name, fmt))

    def list_repository_endpoints(self) -> list[tuple[str, str, str, str, str]]:
        return [tuple(row) for row in self._direct.read_rows(_REPOSITORY_ENDPOINTS)[1]]

    def get_repository(self, account_id: str, region: str, domain_name: str, name: str) -> Repository | None:
        row = self._first(_REPOSITORY, (account_id, region, domain_name, name))
        return rr.repository(row) if row else None

    # --- ECR and ACR --------------------------------------------------------------------------------
    def get_registry_endpoint(self, account_id: str, region: str) -> str | None:
        return self._scalar(_REGISTRY_ENDPOINT, (account_id, region))

    def list_registry_endpoints(self) -> list[tuple[str, str, str]]:
        return [tuple(row) for row in self._direct.read_rows(_REGISTRY_ENDPOINTS)[1]]

    def list_registry_hosts(self) -> list[tuple[str, str]]:
        rows = self._direct.read_rows(_REGISTRY_HOSTS)[1]
        return registry_hosts([(a, url) for kind, a, url in rows if kind == "endpoint"],
                              [(a, server) for kind, a, server in rows if kind == "instance"])

    def get_acr_instance(self, instance_id: str) -> AcrInstance | None:
        row = self._first(_ACR_INSTANCE, (instance_id,))
        return rr.acr_instance(row) if row else None

    def list_acr_instances(self, account_id: str) -> list[AcrInstance]:
        return [rr.acr_instance(r) for r in self._rows(_ACR_INSTANCES, (account_id,))]

    # --- keyring ------------------------------------------------------------------------------------
    def list_signing_keys(self) -> list[SigningKey]:
        return [rr.signing_key(r, self._box) for r in self._rows(_SIGNING_KEYS, ())]

    # --- the registry side: revocations (checked on every use) and the registry CA --------------------
    def list_revocations(self) -> list[Revocation]:
        return [rr.revocation(r) for r in self._rows(_REVOCATIONS, ())]

    def get_registry_ca(self) -> RegistryCa | None:
        text = self._scalar(_META, (rr.REGISTRY_CA_META,))
        return rr.registry_ca(text, self._box) if text is not None else None


def registry_hosts(endpoints: Iterable[tuple[str, str]], servers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """`Store.list_registry_hosts` from (account, registry endpoint URL) and (account, ACR login server)."""
    hosts = {(account, url.split("://", 1)[-1].rstrip("/")) for account, url in endpoints}
    return sorted(hosts | {(account, server) for account, server in servers})


def generation_value(row: tuple[Any, ...] | None) -> int:
    if row is None:
        raise RuntimeError("the generation row is missing: the store was not migrated")
    return int(row[0])


# What `SqliteReads` answers; every other `Store` method goes to `SqlStore`.
READS = frozenset(name for name in vars(SqliteReads) if not name.startswith("_"))
