"""principal ids: the unique ids of the users and roles a trust or domain policy named when stored

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for the policies stored before: they go on matching their principals by ARN alone
    op.add_column("roles", sa.Column("trust_principal_ids", sa.Text(), nullable=True))
    op.add_column("codeartifact_domain_policies", sa.Column("principal_ids", sa.Text(), nullable=True))


def downgrade() -> None:
    # SQLite drops a column in place (3.35 and later): a batch copy of `roles` would have to drop
    # the table that role_policies refers to
    op.drop_column("codeartifact_domain_policies", "principal_ids")
    op.drop_column("roles", "trust_principal_ids")
