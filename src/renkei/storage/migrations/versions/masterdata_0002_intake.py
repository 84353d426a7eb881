"""The integrated DB's intake: hub feed cursors and refused events, every key led by the tenant.

Revision ID: masterdata_0002
Revises: masterdata_0001
Create Date: 2026-12-16

Types are spelled out here rather than imported from ``storage/sql/masterdata.py``, so that a later change of
the tables never rewrites history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "masterdata_0002"
down_revision: str | None = "masterdata_0001"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "masterdata_intake_cursor",
        sa.Column("tenant", sa.String(length=6), nullable=False),
        sa.Column("subscriber", sa.String(length=128), nullable=False, comment="the 統合DB member system"),
        sa.Column(
            "publisher", sa.String(length=128), nullable=False, comment="the member system whose feed it is"
        ),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column(
            "cursor", sa.BigInteger(), autoincrement=False, nullable=False, comment="hub sequence taken up to"
        ),
        sa.Column("advanced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "applied", sa.Integer(), nullable=False, comment="events applied since the previous cursor"
        ),
        sa.Column(
            "rejected", sa.Integer(), nullable=False, comment="events refused since the previous cursor"
        ),
        sa.PrimaryKeyConstraint(
            "tenant", "subscriber", "publisher", "topic", "cursor", name=op.f("pk_masterdata_intake_cursor")
        ),
        comment=(
            "統合DB intake: each advance of a hub feed's cursor; the greatest is the cursor (append-only)"
        ),
    )
    op.create_table(
        "masterdata_intake_rejection",
        sa.Column("tenant", sa.String(length=6), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False, comment="the hub's event id"),
        sa.Column("subscriber", sa.String(length=128), nullable=False),
        sa.Column("publisher", sa.String(length=128), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False, comment="masterdata.* error code"),
        sa.Column("field", sa.String(length=64), nullable=True, comment="the item or argument refused"),
        sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "event_id", name=op.f("pk_masterdata_intake_rejection")),
        comment="統合DB intake: events the master refused, skipped with this record (append-only)",
    )
    op.create_index(
        "ix_masterdata_intake_rejection_tenant_rejected_at",
        "masterdata_intake_rejection",
        ["tenant", "rejected_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_masterdata_intake_rejection_tenant_rejected_at", table_name="masterdata_intake_rejection"
    )
    op.drop_table("masterdata_intake_rejection")
    op.drop_table("masterdata_intake_cursor")
