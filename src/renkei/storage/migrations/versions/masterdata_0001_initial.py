"""The integrated DB (統合DB): assertions, bitemporal versions and supersessions, every key led by the tenant.

Revision ID: masterdata_0001
Revises: 0001
Create Date: 2026-12-10

Types are spelled out here rather than imported from ``storage/sql/masterdata.py``, so that a later change of
the tables never rewrites history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "masterdata_0001"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = ("masterdata",)
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "masterdata_assertion",
        sa.Column("tenant", sa.String(length=6), nullable=False, comment="全国地方公共団体コード"),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("atena_number", sa.String(length=15), nullable=False, comment="宛名番号"),
        sa.Column(
            "position", sa.Integer(), nullable=False, comment="arrival order among the person's events"
        ),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=10), nullable=False, comment="異動事由 / 住登外異動区分"),
        sa.Column("valid_from", sa.Date(), nullable=False, comment="異動日: start of valid time"),
        sa.Column("occurred", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), nullable=False, comment="when the master learned it"
        ),
        sa.Column(
            "resident_class",
            sa.String(length=16),
            nullable=False,
            comment="住民区分: resident / non_resident",
        ),
        sa.Column("household_number", sa.String(length=15), nullable=True, comment="世帯番号"),
        sa.Column(
            "active", sa.Boolean(), nullable=False, comment="住民 / 転出予定者 / 住登外登録中 on its days"
        ),
        sa.Column("publisher", sa.String(length=128), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("items", sa.Text(), nullable=False, comment="the person's record after the change (JSON)"),
        sa.PrimaryKeyConstraint("tenant", "event_id", name=op.f("pk_masterdata_assertion")),
        sa.UniqueConstraint(
            "tenant",
            "atena_number",
            "position",
            name=op.f("uq_masterdata_assertion_tenant_atena_number_position"),
        ),
        comment="統合DB: applied 異動 events, one assertion each (append-only)",
    )
    op.create_index(
        "ix_masterdata_assertion_tenant_household_number",
        "masterdata_assertion",
        ["tenant", "household_number"],
        unique=False,
    )
    op.create_table(
        "masterdata_version",
        sa.Column("tenant", sa.String(length=6), nullable=False),
        sa.Column("atena_number", sa.String(length=15), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True, comment="exclusive; NULL: open"),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), nullable=False, comment="start of recorded time"
        ),
        sa.Column("event_id", sa.String(length=128), nullable=False, comment="the assertion that tells it"),
        sa.ForeignKeyConstraint(
            ["tenant", "event_id"],
            ["masterdata_assertion.tenant", "masterdata_assertion.event_id"],
            name="fk_masterdata_version_assertion",
        ),
        sa.PrimaryKeyConstraint("tenant", "atena_number", "seq", name=op.f("pk_masterdata_version")),
        comment="統合DB: bitemporal versions of each person (append-only)",
    )
    op.create_index(
        "ix_masterdata_version_tenant_event_id", "masterdata_version", ["tenant", "event_id"], unique=False
    )
    op.create_table(
        "masterdata_supersession",
        sa.Column("tenant", sa.String(length=6), nullable=False),
        sa.Column("atena_number", sa.String(length=15), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column(
            "superseded_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="end of the version's recorded time",
        ),
        sa.Column(
            "event_id", sa.String(length=128), nullable=False, comment="the event whose arrival closed it"
        ),
        sa.ForeignKeyConstraint(
            ["tenant", "atena_number", "seq"],
            ["masterdata_version.tenant", "masterdata_version.atena_number", "masterdata_version.seq"],
            name="fk_masterdata_supersession_version",
        ),
        sa.ForeignKeyConstraint(
            ["tenant", "event_id"],
            ["masterdata_assertion.tenant", "masterdata_assertion.event_id"],
            name="fk_masterdata_supersession_assertion",
        ),
        sa.PrimaryKeyConstraint("tenant", "atena_number", "seq", name=op.f("pk_masterdata_supersession")),
        comment="統合DB: the closing of a version's recorded interval, added once (append-only)",
    )


def downgrade() -> None:
    op.drop_table("masterdata_supersession")
    op.drop_index("ix_masterdata_version_tenant_event_id", table_name="masterdata_version")
    op.drop_table("masterdata_version")
    op.drop_index("ix_masterdata_assertion_tenant_household_number", table_name="masterdata_assertion")
    op.drop_table("masterdata_assertion")
