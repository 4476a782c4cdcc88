"""initial schema: meta, accounts, IAM, STS sessions, CodeArtifact, ECR, ACR, issued tokens, audit, keyring

Revision ID: 0001
Revises:
Create Date: 2026-01-01

"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the column types of this revision (see regauth/store/schema.py).
NAME = sa.String().with_variant(sa.String(collation="C"), "postgresql")
TIME = sa.Double()
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _name(column: str, nullable: bool = False) -> sa.Column:
    return sa.Column(column, NAME, nullable=nullable)


def _time(column: str, nullable: bool = False) -> sa.Column:
    return sa.Column(column, TIME, nullable=nullable)


def _text(column: str, nullable: bool = False) -> sa.Column:
    return sa.Column(column, sa.Text(), nullable=nullable)


_DOMAIN_COLS = ["account_id", "region", "domain_name"]
_DOMAIN_REFS = ["codeartifact_domains.account_id", "codeartifact_domains.region", "codeartifact_domains.name"]


def upgrade() -> None:
    op.create_table(
        "meta",
        _name("key"),
        _text("value"),
        sa.PrimaryKeyConstraint("key", name="pk_meta"),
    )
    op.create_table(
        "accounts",
        _name("account_id"),
        _time("created_at"),
        sa.PrimaryKeyConstraint("account_id", name="pk_accounts"),
    )

    # --- IAM ---
    op.create_table(
        "users",
        _name("account_id"),
        _name("name"),
        _name("user_id"),
        _name("arn"),
        _name("path"),
        _time("created_at"),
        sa.PrimaryKeyConstraint("account_id", "name", name="pk_users"),
        sa.UniqueConstraint("user_id", name="uq_users_user_id"),
    )
    op.create_table(
        "access_keys",
        _name("access_key_id"),
        _name("account_id"),
        _name("user_name"),
        _name("status"),
        _text("secret"),
        _time("created_at"),
        sa.PrimaryKeyConstraint("access_key_id", name="pk_access_keys"),
        sa.ForeignKeyConstraint(["account_id", "user_name"], ["users.account_id", "users.name"],
                                name="fk_access_keys_users"),
    )
    op.create_index("ix_access_keys_user", "access_keys", ["account_id", "user_name"])
    op.create_table(
        "user_policies",
        _name("account_id"),
        _name("user_name"),
        _name("policy_name"),
        _text("document"),
        sa.PrimaryKeyConstraint("account_id", "user_name", "policy_name", name="pk_user_policies"),
        sa.ForeignKeyConstraint(["account_id", "user_name"], ["users.account_id", "users.name"],
                                name="fk_user_policies_users"),
    )
    op.create_table(
        "roles",
        _name("account_id"),
        _name("name"),
        _name("role_id"),
        _name("arn"),
        _name("path"),
        _text("trust_policy"),
        sa.Column("max_session_duration", sa.Integer(), nullable=False),
        _text("description"),
        _time("created_at"),
        sa.PrimaryKeyConstraint("account_id", "name", name="pk_roles"),
        sa.UniqueConstraint("role_id", name="uq_roles_role_id"),
    )
    op.create_table(
        "role_policies",
        _name("account_id"),
        _name("role_name"),
        _name("policy_name"),
        _text("document"),
        sa.PrimaryKeyConstraint("account_id", "role_name", "policy_name", name="pk_role_policies"),
        sa.ForeignKeyConstraint(["account_id", "role_name"], ["roles.account_id", "roles.name"],
                                name="fk_role_policies_roles"),
    )

    # --- STS ---
    op.create_table(
        "sessions",
        _name("access_key_id"),
        _name("account_id"),
        _name("kind"),
        _name("source_name"),
        _name("session_name"),
        _name("arn"),
        _name("user_id"),
        _text("session_policy", nullable=True),
        _text("secret"),
        _name("token_hash"),
        _time("expires_at"),
        _time("created_at"),
        sa.PrimaryKeyConstraint("access_key_id", name="pk_sessions"),
    )
    op.create_index("ix_sessions_expires_at", "sessions", ["expires_at"])

    # --- CodeArtifact ---
    op.create_table(
        "codeartifact_domains",
        _name("account_id"),
        _name("region"),
        _name("name"),
        _name("arn"),
        _name("encryption_key"),
        _time("created_at"),
        sa.PrimaryKeyConstraint("account_id", "region", "name", name="pk_codeartifact_domains"),
    )
    op.create_table(
        "codeartifact_domain_policies",
        _name("account_id"),
        _name("region"),
        _name("domain_name"),
        _text("document"),
        _name("revision"),
        sa.PrimaryKeyConstraint(*_DOMAIN_COLS, name="pk_codeartifact_domain_policies"),
        sa.ForeignKeyConstraint(_DOMAIN_COLS, _DOMAIN_REFS,
                                name="fk_codeartifact_domain_policies_codeartifact_domains"),
    )
    op.create_table(
        "codeartifact_repository_endpoints",
        _name("account_id"),
        _name("region"),
        _name("domain_name"),
        _name("format"),
        _text("template"),
        sa.PrimaryKeyConstraint(*_DOMAIN_COLS, "format", name="pk_codeartifact_repository_endpoints"),
        sa.ForeignKeyConstraint(_DOMAIN_COLS, _DOMAIN_REFS,
                                name="fk_codeartifact_repository_endpoints_codeartifact_domains"),
    )
    op.create_table(
        "codeartifact_repositories",
        _name("account_id"),
        _name("region"),
        _name("domain_name"),
        _name("name"),
        _name("arn"),
        _text("description"),
        _text("upstreams"),
        _time("created_at"),
        sa.PrimaryKeyConstraint(*_DOMAIN_COLS, "name", name="pk_codeartifact_repositories"),
        sa.ForeignKeyConstraint(_DOMAIN_COLS, _DOMAIN_REFS,
                                name="fk_codeartifact_repositories_codeartifact_domains"),
    )

    # --- ECR and Alibaba ACR ---
    op.create_table(
        "ecr_repositories",
        _name("account_id"),
        _name("region"),
        _name("name"),
        _name("arn"),
        _name("uri"),
        _name("image_tag_mutability"),
        sa.Column("scan_on_push", sa.Boolean(), nullable=False),
        _name("encryption_type"),
        _time("created_at"),
        sa.PrimaryKeyConstraint("account_id", "region", "name", name="pk_ecr_repositories"),
    )
    op.create_table(
        "ecr_registry_endpoints",
        _name("account_id"),
        _name("region"),
        _text("url"),
        sa.PrimaryKeyConstraint("account_id", "region", name="pk_ecr_registry_endpoints"),
    )
    op.create_table(
        "acr_instances",
        _name("instance_id"),
        _name("account_id"),
        _name("region"),
        _name("name"),
        _name("login_server"),
        _time("created_at"),
        sa.PrimaryKeyConstraint("instance_id", name="pk_acr_instances"),
    )
    op.create_index("ix_acr_instances_account", "acr_instances", ["account_id", "name"])

    # --- tokens, audit, keyring ---
    op.create_table(
        "issued_tokens",
        _name("token_id"),
        _name("kind"),
        _name("principal_arn"),
        _name("account_id"),
        _name("scope"),
        _time("issued_at"),
        _time("expires_at"),
        sa.PrimaryKeyConstraint("token_id", name="pk_issued_tokens"),
    )
    op.create_index("ix_issued_tokens_expires_at", "issued_tokens", ["expires_at"])
    op.create_table(
        "audit_events",
        sa.Column("id", BIGID, nullable=False, autoincrement=True),
        _time("at"),
        _name("request_id"),
        _name("principal_arn"),
        _name("action"),
        _text("resource"),
        _name("outcome"),
        _name("source_ip"),
        _name("token_id"),
        _text("detail"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at", "id"])
    op.create_index("ix_audit_events_principal", "audit_events", ["principal_arn", "at", "id"])
    op.create_table(
        "signing_keys",
        _name("kid"),
        _text("secret"),
        _time("created_at"),
        _time("retired_at", nullable=True),
        sa.PrimaryKeyConstraint("kid", name="pk_signing_keys"),
    )
    op.create_index("ix_signing_keys_created_at", "signing_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_signing_keys_created_at", table_name="signing_keys")
    op.drop_table("signing_keys")
    op.drop_index("ix_audit_events_principal", table_name="audit_events")
    op.drop_index("ix_audit_events_at", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_index("ix_issued_tokens_expires_at", table_name="issued_tokens")
    op.drop_table("issued_tokens")
    op.drop_index("ix_acr_instances_account", table_name="acr_instances")
    op.drop_table("acr_instances")
    op.drop_table("ecr_registry_endpoints")
    op.drop_table("ecr_repositories")
    op.drop_table("codeartifact_repositories")
    op.drop_table("codeartifact_repository_endpoints")
    op.drop_table("codeartifact_domain_policies")
    op.drop_table("codeartifact_domains")
    op.drop_index("ix_sessions_expires_at", table_name="sessions")
    op.drop_table("sessions")
    op.drop_table("role_policies")
    op.drop_table("roles")
    op.drop_table("user_policies")
    op.drop_index("ix_access_keys_user", table_name="access_keys")
    op.drop_table("access_keys")
    op.drop_table("users")
    op.drop_table("accounts")
    op.drop_table("meta")
