"""The exchange: the message log, and replies kept for idempotency keys and asynchronous results.

Revision ID: exchange_0001
Revises: 0001
Create Date: 2026-12-01

Types are spelled out here rather than imported from ``storage/sql/exchange.py``, so that a later change of
the tables never rewrites history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "exchange_0001"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = ("exchange",)
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "exchange_message",
        sa.Column("id", sa.String(length=36), nullable=False, comment="row id (UUID)"),
        sa.Column("message_id", sa.String(length=128), nullable=False, comment="X-Road-Id"),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client", sa.String(length=128), nullable=False),
        sa.Column("service", sa.String(length=128), nullable=False),
        sa.Column("provider", sa.String(length=128), nullable=False),
        sa.Column("purpose", sa.String(length=128), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column(
            "code",
            sa.String(length=128),
            nullable=True,
            comment="error code of a refused or failed exchange",
        ),
        sa.Column("request_hash", sa.String(length=128), nullable=False),
        sa.Column("response_hash", sa.String(length=128), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_message")),
        comment="交換記録: one row per exchange through the hub, metadata and hashes only (no bodies)",
    )
    op.create_index(op.f("ix_exchange_message_message_id"), "exchange_message", ["message_id"], unique=False)
    op.create_index(op.f("ix_exchange_message_at"), "exchange_message", ["at"], unique=False)
    op.create_index(op.f("ix_exchange_message_client"), "exchange_message", ["client"], unique=False)
    op.create_table(
        "exchange_reply",
        sa.Column(
            "kind",
            sa.String(length=8),
            nullable=False,
            comment="'idem' (Idempotency-Key) or 'async' (処理通番)",
        ),
        sa.Column("client", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=128), nullable=False),
        sa.Column("message_id", sa.String(length=128), nullable=False),
        sa.Column("request_hash", sa.String(length=128), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False, comment="HTTP status; 0 while an async query runs"),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("problem", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "client", "key", name=op.f("pk_exchange_reply")),
        comment="Replies kept for Idempotency-Key retries and asynchronous results, until they expire",
    )
    op.create_index(op.f("ix_exchange_reply_expires_at"), "exchange_reply", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_exchange_reply_expires_at"), table_name="exchange_reply")
    op.drop_table("exchange_reply")
    op.drop_index(op.f("ix_exchange_message_client"), table_name="exchange_message")
    op.drop_index(op.f("ix_exchange_message_at"), table_name="exchange_message")
    op.drop_index(op.f("ix_exchange_message_message_id"), table_name="exchange_message")
    op.drop_table("exchange_message")
