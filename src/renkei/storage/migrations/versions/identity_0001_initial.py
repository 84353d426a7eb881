"""identity: numbering (sequence values), persons and 基本4情報, organisations, 符号, 宛名番号, cards, logins.

Revision ID: identity_0001
Revises: 0001
Create Date: 2026-12-01

Types are spelled out here rather than imported from ``storage/sql/identity.py`` (history never changes).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "identity_0001"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = ("identity",)
depends_on: str | None = None

KEY = 32


def upgrade() -> None:
    op.create_table(
        "identity_sequence",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("next_value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_identity_sequence")),
        comment="Issuance sequence counters (個人番号, 法人番号); a value is never handed out twice",
    )
    op.create_table(
        "identity_person",
        sa.Column("person_key", sa.String(length=KEY), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("person_key", name=op.f("pk_identity_person")),
        comment="Persons by their random internal key (never derived from a number)",
    )
    op.create_table(
        "identity_number",
        sa.Column("sequence_value", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("person_key", sa.String(length=KEY), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replaces_sequence", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_key"],
            ["identity_person.person_key"],
            name=op.f("fk_identity_number_person_key_identity_person"),
        ),
        sa.PrimaryKeyConstraint("sequence_value", name=op.f("pk_identity_number")),
        sa.UniqueConstraint("replaces_sequence", name=op.f("uq_identity_number_replaces_sequence")),
        comment="個人番号 issuance by sequence value (number = FF1(sequence) + check digit); 番号変更 links",
    )
    op.create_index(op.f("ix_identity_number_person_key"), "identity_number", ["person_key"], unique=False)
    op.create_table(
        "identity_basic_info",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_key", sa.String(length=KEY), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=400), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(length=1), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_key"],
            ["identity_person.person_key"],
            name=op.f("fk_identity_basic_info_person_key_identity_person"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_basic_info")),
        sa.UniqueConstraint(
            "person_key", "valid_from", name=op.f("uq_identity_basic_info_person_key_valid_from")
        ),
        comment="基本4情報 (氏名, 住所, 生年月日, 性別) with history",
    )
    op.create_table(
        "identity_organisation",
        sa.Column("org", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("previous_valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("org", name=op.f("pk_identity_organisation")),
        comment="Organisations of the linkage base and their current 符号 generation",
    )
    op.create_table(
        "identity_fugo",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_key", sa.String(length=KEY), nullable=False),
        sa.Column("org", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("fugo", sa.String(length=32), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org"], ["identity_organisation.org"], name=op.f("fk_identity_fugo_org_identity_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["person_key"],
            ["identity_person.person_key"],
            name=op.f("fk_identity_fugo_person_key_identity_person"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_fugo")),
        sa.UniqueConstraint("org", "generation", "fugo", name=op.f("uq_identity_fugo_org_generation_fugo")),
        sa.UniqueConstraint(
            "person_key", "org", "generation", name=op.f("uq_identity_fugo_person_key_org_generation")
        ),
        comment="符号 (機関別符号) per person, organisation and generation",
    )
    op.create_table(
        "identity_local_id",
        sa.Column("org", sa.String(length=64), nullable=False),
        sa.Column("atena_number", sa.String(length=32), nullable=False),
        sa.Column("person_key", sa.String(length=KEY), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org"],
            ["identity_organisation.org"],
            name=op.f("fk_identity_local_id_org_identity_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["person_key"],
            ["identity_person.person_key"],
            name=op.f("fk_identity_local_id_person_key_identity_person"),
        ),
        sa.PrimaryKeyConstraint("org", "atena_number", name=op.f("pk_identity_local_id")),
        sa.UniqueConstraint("org", "person_key", name=op.f("uq_identity_local_id_org_person_key")),
        comment="宛名番号 of each organisation, linked to the internal person key",
    )
    op.create_table(
        "identity_card",
        sa.Column("serial", sa.String(length=32), nullable=False),
        sa.Column("person_key", sa.String(length=KEY), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pin_failures", sa.Integer(), nullable=False),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_key"],
            ["identity_person.person_key"],
            name=op.f("fk_identity_card_person_key_identity_person"),
        ),
        sa.PrimaryKeyConstraint("serial", name=op.f("pk_identity_card")),
        comment="Simulated IC cards: holder and PIN retry state",
    )
    op.create_index(op.f("ix_identity_card_person_key"), "identity_card", ["person_key"], unique=False)
    op.create_table(
        "identity_login_nonce",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_identity_login_nonce")),
        comment="Card login challenges: single use, with expiry",
    )


def downgrade() -> None:
    op.drop_table("identity_login_nonce")
    op.drop_index(op.f("ix_identity_card_person_key"), table_name="identity_card")
    op.drop_table("identity_card")
    op.drop_table("identity_local_id")
    op.drop_table("identity_fugo")
    op.drop_table("identity_organisation")
    op.drop_table("identity_basic_info")
    op.drop_index(op.f("ix_identity_number_person_key"), table_name="identity_number")
    op.drop_table("identity_number")
    op.drop_table("identity_person")
    op.drop_table("identity_sequence")
