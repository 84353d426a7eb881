"""Audit log: access records (one Merkle leaf per row), complete-subtree hashes, signed tree heads.

Revision ID: audit_0001
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "audit_0001"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = ("audit",)
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "audit_record",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("record_id", sa.String(length=256), nullable=False),
        sa.Column("subject", sa.String(length=256), nullable=True),
        sa.Column("withheld", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_audit_record")),
        sa.UniqueConstraint("record_id", name=op.f("uq_audit_record_record_id")),
        comment="情報提供等記録: one Merkle leaf per row, position = leaf index (append-only)",
    )
    op.create_index("ix_audit_record_subject_position", "audit_record", ["subject", "position"], unique=False)
    op.create_table(
        "audit_node",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "position", name=op.f("pk_audit_node")),
        comment="Hashes of complete Merkle subtrees (level >= 1), for proofs in one look-up",
    )
    op.create_table(
        "audit_head",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("key_id", sa.LargeBinary(length=32), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_audit_head")),
        comment="Signed tree heads (STH) of the audit log",
    )


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_table("audit_node")
    op.drop_index("ix_audit_record_subject_position", table_name="audit_record")
    op.drop_table("audit_record")
