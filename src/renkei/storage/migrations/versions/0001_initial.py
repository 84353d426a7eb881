"""Initial schema: the spec release history.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Migrations spell out their types instead of importing them from ``tables.py``, so that a later change of
the tables never rewrites history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "spec_release",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("digest", sa.String(length=128), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spec_release")),
        sa.UniqueConstraint("version", name=op.f("uq_spec_release_version")),
        comment="Versions of the standard put in force on this deployment (仕様の版)",
    )
    op.create_index(op.f("ix_spec_release_activated_at"), "spec_release", ["activated_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_spec_release_activated_at"), table_name="spec_release")
    op.drop_table("spec_release")
