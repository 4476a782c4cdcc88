"""revocations: tokens refused on use, by token id or by principal "not before"

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Frozen copies of the column types of this revision (see regauth/store/schema.py).
NAME = sa.String().with_variant(sa.String(collation="C"), "postgresql")
TIME = sa.Double()


def upgrade() -> None:
    op.create_table(
        "revocations",
        sa.Column("kind", NAME, nullable=False),
        sa.Column("subject", NAME, nullable=False),
        sa.Column("not_before", TIME, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "subject", name="pk_revocations"),
    )
    op.create_index("ix_revocations_created_at", "revocations", ["created_at", "kind", "subject"])


def downgrade() -> None:
    op.drop_index("ix_revocations_created_at", table_name="revocations")
    op.drop_table("revocations")
