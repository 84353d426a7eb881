"""The registry: organisations, member systems, credentials, provided services, purposes, replay store.

Revision ID: registry_0001
Revises: 0001
Create Date: 2026-12-01

Types are spelled out here rather than imported from ``storage/sql/registry.py``, so that a later change of
the tables never rewrites history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "registry_0001"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = ("registry",)
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "registry_organisation",
        sa.Column(
            "id", sa.String(length=128), nullable=False, comment="INSTANCE/CLASS/MEMBER, e.g. JP/LG/131016"
        ),
        sa.Column("instance", sa.String(length=32), nullable=False),
        sa.Column("member_class", sa.String(length=8), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_organisation")),
        comment="機関: organisations registered with the hub (X-Road members)",
    )
    op.create_table(
        "registry_member",
        sa.Column(
            "id",
            sa.String(length=128),
            nullable=False,
            comment="INSTANCE/CLASS/MEMBER/uNN, e.g. JP/LG/131016/u06",
        ),
        sa.Column("organisation_id", sa.String(length=128), nullable=False),
        sa.Column("unit", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("endpoint", sa.String(length=2048), nullable=True),
        sa.Column("protocol", sa.String(length=8), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["registry_organisation.id"],
            name=op.f("fk_registry_member_organisation_id_registry_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_member")),
        comment="業務ユニット instances: member systems (X-Road subsystems)",
    )
    op.create_index(
        op.f("ix_registry_member_organisation_id"), "registry_member", ["organisation_id"], unique=False
    )
    op.create_table(
        "registry_credential",
        sa.Column(
            "kid", sa.String(length=64), nullable=False, comment="SHA-256 hex of the certificate (or key) DER"
        ),
        sa.Column("member_id", sa.String(length=128), nullable=False),
        sa.Column("key_type", sa.String(length=16), nullable=False),
        sa.Column("public_key_pem", sa.Text(), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=True),
        sa.Column("serial", sa.String(length=64), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revocation_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["registry_member.id"],
            name=op.f("fk_registry_credential_member_id_registry_member"),
        ),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_registry_credential")),
        comment="Member systems' public keys and certificates, with validity and revocation",
    )
    op.create_index(
        op.f("ix_registry_credential_member_id"), "registry_credential", ["member_id"], unique=False
    )
    op.create_table(
        "registry_service",
        sa.Column("member_id", sa.String(length=128), nullable=False),
        sa.Column("service_id", sa.String(length=128), nullable=False),
        sa.Column("information", sa.String(length=128), nullable=False),
        sa.Column("endpoint", sa.String(length=2048), nullable=False),
        sa.Column("protocol", sa.String(length=8), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["registry_member.id"], name=op.f("fk_registry_service_member_id_registry_member")
        ),
        sa.PrimaryKeyConstraint("member_id", "service_id", name=op.f("pk_registry_service")),
        comment="Services of the spec each member system provides, with endpoint and protocol",
    )
    op.create_index(op.f("ix_registry_service_service_id"), "registry_service", ["service_id"], unique=False)
    op.create_table(
        "registry_purpose",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_purpose")),
        comment="事務: purposes information may be used for, with their legal basis",
    )
    op.create_table(
        "registry_purpose_use",
        sa.Column("purpose_id", sa.String(length=64), nullable=False),
        sa.Column("information", sa.String(length=128), nullable=False),
        sa.Column("item", sa.String(length=128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["purpose_id"],
            ["registry_purpose.id"],
            name=op.f("fk_registry_purpose_use_purpose_id_registry_purpose"),
        ),
        sa.PrimaryKeyConstraint("purpose_id", "information", "item", name=op.f("pk_registry_purpose_use")),
        comment="The information kinds and items each purpose may use",
    )
    op.create_table(
        "registry_replay",
        sa.Column("member_id", sa.String(length=128), nullable=False),
        sa.Column("jti", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("member_id", "jti", name=op.f("pk_registry_replay")),
        comment="Nonces (jti) of accepted signed requests, kept until the token could no longer be accepted",
    )
    op.create_index(op.f("ix_registry_replay_expires_at"), "registry_replay", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_registry_replay_expires_at"), table_name="registry_replay")
    op.drop_table("registry_replay")
    op.drop_table("registry_purpose_use")
    op.drop_table("registry_purpose")
    op.drop_index(op.f("ix_registry_service_service_id"), table_name="registry_service")
    op.drop_table("registry_service")
    op.drop_index(op.f("ix_registry_credential_member_id"), table_name="registry_credential")
    op.drop_table("registry_credential")
    op.drop_index(op.f("ix_registry_member_organisation_id"), table_name="registry_member")
    op.drop_table("registry_member")
    op.drop_table("registry_organisation")
