"""Tenancy (federation): this deployment's identity, trusted peers and what each peer hosts.

Revision ID: tenancy_0001
Revises: 0001
Create Date: 2026-12-10

Types are spelled out here rather than imported from ``storage/sql/tenancy.py``, so that a later change of
the tables never rewrites history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "tenancy_0001"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = ("tenancy",)
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "tenancy_deployment",
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False, comment="always 1: one row"),
        sa.Column("id", sa.String(length=32), nullable=False, comment="this deployment's id, e.g. DC1"),
        sa.Column("hub_url", sa.String(length=2048), nullable=False),
        sa.Column("configured_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("slot", name=op.f("pk_tenancy_deployment")),
        comment="This deployment's federation identity (one row)",
    )
    op.create_table(
        "tenancy_peer",
        sa.Column("deployment", sa.String(length=32), nullable=False, comment="the peer's id, e.g. DC2"),
        sa.Column("hub_url", sa.String(length=2048), nullable=False),
        sa.Column(
            "ca_certificate",
            sa.Text(),
            nullable=False,
            comment="the peer CA's certificate (PEM): trust anchor",
        ),
        sa.Column("ca_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("list_issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trusted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("deployment", name=op.f("pk_tenancy_peer")),
        comment="Other deployments this one trusts, from their signed trust lists",
    )
    op.create_index(op.f("ix_tenancy_peer_ca_fingerprint"), "tenancy_peer", ["ca_fingerprint"], unique=False)
    op.create_table(
        "tenancy_peer_organisation",
        sa.Column("deployment", sa.String(length=32), nullable=False),
        sa.Column("organisation_id", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment"],
            ["tenancy_peer.deployment"],
            name=op.f("fk_tenancy_peer_organisation_deployment_tenancy_peer"),
        ),
        sa.PrimaryKeyConstraint("deployment", "organisation_id", name=op.f("pk_tenancy_peer_organisation")),
        comment="Organisations a peer hosts (one organisation may be hosted by several deployments)",
    )
    op.create_index(
        op.f("ix_tenancy_peer_organisation_organisation_id"),
        "tenancy_peer_organisation",
        ["organisation_id"],
        unique=False,
    )
    op.create_table(
        "tenancy_peer_member",
        sa.Column(
            "member_id",
            sa.String(length=128),
            nullable=False,
            comment="a member system is hosted by one peer",
        ),
        sa.Column("deployment", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment"],
            ["tenancy_peer.deployment"],
            name=op.f("fk_tenancy_peer_member_deployment_tenancy_peer"),
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_tenancy_peer_member")),
        comment="Member systems a peer hosts",
    )
    op.create_index(
        op.f("ix_tenancy_peer_member_deployment"), "tenancy_peer_member", ["deployment"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_tenancy_peer_member_deployment"), table_name="tenancy_peer_member")
    op.drop_table("tenancy_peer_member")
    op.drop_index(
        op.f("ix_tenancy_peer_organisation_organisation_id"), table_name="tenancy_peer_organisation"
    )
    op.drop_table("tenancy_peer_organisation")
    op.drop_index(op.f("ix_tenancy_peer_ca_fingerprint"), table_name="tenancy_peer")
    op.drop_table("tenancy_peer")
    op.drop_table("tenancy_deployment")
