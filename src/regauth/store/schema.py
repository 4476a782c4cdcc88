"""The relational schema shared by SQLite and PostgreSQL (SQLAlchemy Core, portable types only).

This module describes the current shape of the database; the migrations in
`store/migrations/versions/` create it (they never import this module, and
`tests/store/test_migrations.py` checks that both agree). An empty database is created straight
from this module instead, stamped at the head revision (`store.open.migrate`: no Alembic import on
a first start), so a schema change needs both a migration and the change here, and then
`python -m regauth.store.sqlite_schema` to render the plain-SQL DDL an empty SQLite file is created
with (`tests/store/test_fresh_schema.py` checks that every way gives the same database).

Conventions:
- Names and keys are `NAME` columns: VARCHAR, with the binary "C" collation on PostgreSQL so
  ordering, range scans and paging compare code points exactly as SQLite does.
- Times are epoch seconds in DOUBLE columns (exact round trip of a Python float).
- Secret columns hold only `SecretBox` output (`v1:...`); bearer tokens are never stored, and
  session tokens only as a hex sha256.
"""

from __future__ import annotations

import sqlalchemy as sa

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)



class Seconds(sa.TypeDecorator):
    """Epoch seconds as DOUBLE, always read back as a float (SQLite may hand back an int for a
    REAL holding an integral value, e.g. through RETURNING)."""

    impl = sa.Double
    cache_ok = True

    def process_result_value(self, value, dialect):
        return None if value is None else float(value)


NAME = sa.String().with_variant(sa.String(collation="C"), "postgresql")
TIME = Seconds()
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER PRIMARY KEY = rowid on SQLite
# `info` of a column a migration added to an existing table: a fresh SQLite file gets it as the
# migration did, by ALTER TABLE … ADD COLUMN (store/sqlite_schema.py), so that its `sqlite_master`
# text is the one an upgraded file has
ADDED = {"added_by_migration": True}


def _name(column: str, **kw) -> sa.Column:
    return sa.Column(column, NAME, nullable=kw.pop("nullable", False), **kw)


# --- meta and accounts ----------------------------------------------------------------------

meta = sa.Table(
    "meta", metadata,
    _name("key", primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
)

# One row, bumped by every write that changes what the request path caches (identities, keys,
# policies, domains, endpoints, instances), so every node drops stale cache entries at once.
generation = sa.Table(
    "generation", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("value", sa.BigInteger(), nullable=False),
)

accounts = sa.Table(
    "accounts", metadata,
    _name("account_id", primary_key=True),
    sa.Column("created_at", TIME, nullable=False),
)

# --- IAM --------------------------------------------------------------------------------------

users = sa.Table(
    "users", metadata,
    _name("account_id", primary_key=True),
    _name("name", primary_key=True),
    _name("user_id", unique=True),
    _name("arn"),
    _name("path"),
    sa.Column("created_at", TIME, nullable=False),
)

access_keys = sa.Table(
    "access_keys", metadata,
    _name("access_key_id", primary_key=True),
    _name("account_id"),
    _name("user_name"),
    _name("status"),
    sa.Column("secret", sa.Text(), nullable=False),        # SecretBox, AD "access_key/<id>"
    sa.Column("created_at", TIME, nullable=False),
    sa.ForeignKeyConstraint(["account_id", "user_name"], ["users.account_id", "users.name"]),
    sa.Index("ix_access_keys_user", "account_id", "user_name"),
)

user_policies = sa.Table(
    "user_policies", metadata,
    _name("account_id", primary_key=True),
    _name("user_name", primary_key=True),
    _name("policy_name", primary_key=True),
    sa.Column("document", sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(["account_id", "user_name"], ["users.account_id", "users.name"]),
)

roles = sa.Table(
    "roles", metadata,
    _name("account_id", primary_key=True),
    _name("name", primary_key=True),
    _name("role_id", unique=True),
    _name("arn"),
    _name("path"),
    sa.Column("trust_policy", sa.Text(), nullable=False),
    sa.Column("max_session_duration", sa.Integer(), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("trust_principal_ids", sa.Text(), info=ADDED),  # JSON [[ARN, unique id], ...]; NULL: none
)

role_policies = sa.Table(
    "role_policies", metadata,
    _name("account_id", primary_key=True),
    _name("role_name", primary_key=True),
    _name("policy_name", primary_key=True),
    sa.Column("document", sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(["account_id", "role_name"], ["roles.account_id", "roles.name"]),
)

# --- STS ----------------------------------------------------------------------------------------

sessions = sa.Table(
    "sessions", metadata,
    _name("access_key_id", primary_key=True),
    _name("account_id"),
    _name("kind"),
    _name("source_name"),
    _name("session_name"),
    _name("arn"),
    _name("user_id"),
    sa.Column("session_policy", sa.Text(), nullable=True),
    sa.Column("secret", sa.Text(), nullable=False),        # SecretBox, AD "session/<id>"
    _name("token_hash"),                                   # hex sha256 of the session token
    sa.Column("expires_at", TIME, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Index("ix_sessions_expires_at", "expires_at"),
)

# --- CodeArtifact -------------------------------------------------------------------------------

_DOMAIN_FK = (
    ["account_id", "region", "domain_name"],
    ["codeartifact_domains.account_id", "codeartifact_domains.region", "codeartifact_domains.name"],
)

domains = sa.Table(
    "codeartifact_domains", metadata,
    _name("account_id", primary_key=True),
    _name("region", primary_key=True),
    _name("name", primary_key=True),
    _name("arn"),
    _name("encryption_key"),
    sa.Column("created_at", TIME, nullable=False),
)

domain_policies = sa.Table(
    "codeartifact_domain_policies", metadata,
    _name("account_id", primary_key=True),
    _name("region", primary_key=True),
    _name("domain_name", primary_key=True),
    sa.Column("document", sa.Text(), nullable=False),
    _name("revision"),
    sa.Column("principal_ids", sa.Text(), info=ADDED),        # JSON [[ARN, unique id], ...]; NULL: none
    sa.ForeignKeyConstraint(*_DOMAIN_FK),
)

repository_endpoints = sa.Table(
    "codeartifact_repository_endpoints", metadata,
    _name("account_id", primary_key=True),
    _name("region", primary_key=True),
    _name("domain_name", primary_key=True),
    _name("format", primary_key=True),
    sa.Column("template", sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(*_DOMAIN_FK),
)

repositories = sa.Table(
    "codeartifact_repositories", metadata,
    _name("account_id", primary_key=True),
    _name("region", primary_key=True),
    _name("domain_name", primary_key=True),
    _name("name", primary_key=True),
    _name("arn"),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("upstreams", sa.Text(), nullable=False),     # JSON array of repository names
    sa.Column("created_at", TIME, nullable=False),
    sa.ForeignKeyConstraint(*_DOMAIN_FK),
)

# --- ECR and Alibaba ACR ------------------------------------------------------------------------

ecr_repositories = sa.Table(
    "ecr_repositories", metadata,
    _name("account_id", primary_key=True),
    _name("region", primary_key=True),
    _name("name", primary_key=True),
    _name("arn"),
    _name("uri"),
    _name("image_tag_mutability"),
    sa.Column("scan_on_push", sa.Boolean(), nullable=False),
    _name("encryption_type"),
    sa.Column("created_at", TIME, nullable=False),
)

registry_endpoints = sa.Table(
    "ecr_registry_endpoints", metadata,
    _name("account_id", primary_key=True),
    _name("region", primary_key=True),
    sa.Column("url", sa.Text(), nullable=False),
)

acr_instances = sa.Table(
    "acr_instances", metadata,
    _name("instance_id", primary_key=True),
    _name("account_id"),
    _name("region"),
    _name("name"),
    _name("login_server"),
    sa.Column("created_at", TIME, nullable=False),
    sa.Index("ix_acr_instances_account", "account_id", "name"),
)

# --- tokens, audit, keyring ---------------------------------------------------------------------

issued_tokens = sa.Table(
    "issued_tokens", metadata,
    _name("token_id", primary_key=True),
    _name("kind"),
    _name("principal_arn"),
    _name("account_id"),
    _name("scope"),
    sa.Column("issued_at", TIME, nullable=False),
    sa.Column("expires_at", TIME, nullable=False),
    sa.Index("ix_issued_tokens_expires_at", "expires_at"),
)

audit_events = sa.Table(
    "audit_events", metadata,
    sa.Column("id", BIGID, primary_key=True, autoincrement=True),
    sa.Column("at", TIME, nullable=False),
    _name("request_id"),
    _name("principal_arn"),
    _name("action"),
    sa.Column("resource", sa.Text(), nullable=False),
    _name("outcome"),
    _name("source_ip"),
    _name("token_id"),
    sa.Column("detail", sa.Text(), nullable=False),
    sa.Index("ix_audit_events_at", "at", "id"),
    sa.Index("ix_audit_events_principal", "principal_arn", "at", "id"),
)

signing_keys = sa.Table(
    "signing_keys", metadata,
    _name("kid", primary_key=True),
    sa.Column("secret", sa.Text(), nullable=False),        # SecretBox, AD "signing_key/<kid>"
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("retired_at", TIME, nullable=True),
    sa.Index("ix_signing_keys_created_at", "created_at"),
)

# Tokens refused on use (`services.revocations`): one token by id, or a principal's tokens issued before
# `not_before`. Read whole (a short list) and cached per node until the generation moves; the index
# gives that read its order. The registry CA is not here: it is one `meta` value (`sql_revocations`).
revocations = sa.Table(
    "revocations", metadata,
    _name("kind", primary_key=True),                       # "token" | "principal"
    _name("subject", primary_key=True),                    # token id, or principal ARN
    sa.Column("not_before", TIME, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Index("ix_revocations_created_at", "created_at", "kind", "subject"),
)

# --- rows every database starts with ------------------------------------------------------------

# What the data migrations insert, as (table, rows), so a database created straight from this module
# (`store.open.migrate` on an empty database) holds the same rows as one the migrations built:
# 0002 seeds the generation row. `tests/store/test_fresh_schema.py` compares both.
INITIAL_ROWS: tuple[tuple[sa.Table, list[dict]], ...] = (
    (generation, [{"id": 1, "value": 1}]),
)
