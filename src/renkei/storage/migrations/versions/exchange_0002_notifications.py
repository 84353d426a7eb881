"""The exchange: change notifications — subscriptions, the event outbox and its deliveries.

Revision ID: exchange_0002
Revises: exchange_0001
Create Date: 2026-12-02

Types are spelled out here rather than imported from ``storage/sql/notifications.py``, so that a later
change of the tables never rewrites history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "exchange_0002"
down_revision: str | None = "exchange_0001"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "exchange_subscription",
        sa.Column("subscriber", sa.String(length=128), nullable=False, comment="member system id"),
        sa.Column("topic", sa.String(length=64), nullable=False, comment="notification topic (service id)"),
        sa.Column("mode", sa.String(length=16), nullable=False, comment="'webhook' or 'poll'"),
        sa.Column("url", sa.String(length=2048), nullable=True, comment="webhook URL (mode webhook)"),
        sa.Column(
            "purpose", sa.String(length=128), nullable=True, comment="事務 the events are received for"
        ),
        sa.Column("source", sa.String(length=128), nullable=True, comment="only events of this org / member"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subscriber", "topic", name=op.f("pk_exchange_subscription")),
        comment="購読: member systems subscribed to notification topics",
    )
    op.create_table(
        "exchange_event",
        sa.Column(
            "sequence", sa.BigInteger(), autoincrement=False, nullable=False, comment="acceptance order"
        ),
        sa.Column("id", sa.String(length=36), nullable=False, comment="the hub's event id (ev-…)"),
        sa.Column("publisher", sa.String(length=128), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("information", sa.String(length=64), nullable=False),
        sa.Column("publisher_event_id", sa.String(length=128), nullable=True, comment="the publisher's id"),
        sa.Column(
            "fingerprint", sa.String(length=64), nullable=False, comment="SHA-256 of the event as published"
        ),
        sa.Column("event_type", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "person_key", sa.String(length=64), nullable=True, comment="linkage base key; never a 個人番号"
        ),
        sa.Column(
            "state_key", sa.String(length=64), nullable=False, comment="what the snapshot keeps the latest of"
        ),
        sa.Column("data", sa.Text(), nullable=False, comment="the topic's items as published (JSON)"),
        sa.PrimaryKeyConstraint("sequence", name=op.f("pk_exchange_event")),
        sa.UniqueConstraint("id", name=op.f("uq_exchange_event_id")),
        sa.UniqueConstraint(
            "publisher",
            "topic",
            "publisher_event_id",
            name=op.f("uq_exchange_event_publisher_topic_publisher_event_id"),
        ),
        comment="異動通知: accepted change notifications (the outbox)",
    )
    op.create_index(
        "ix_exchange_event_publisher_topic_sequence",
        "exchange_event",
        ["publisher", "topic", "sequence"],
        unique=False,
    )
    op.create_index(
        "ix_exchange_event_publisher_topic_state_key_sequence",
        "exchange_event",
        ["publisher", "topic", "state_key", "sequence"],
        unique=False,
    )
    op.create_table(
        "exchange_delivery",
        sa.Column("id", sa.String(length=36), nullable=False, comment="delivery id (dl-…)"),
        sa.Column("event_sequence", sa.BigInteger(), nullable=False),
        sa.Column("subscriber", sa.String(length=128), nullable=False),
        sa.Column(
            "order_key",
            sa.String(length=64),
            nullable=False,
            comment="deliveries of one key go in sequence order",
        ),
        sa.Column("state", sa.String(length=16), nullable=False, comment="pending, delivered or dead"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="due time, or the end of a lease",
        ),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=2000), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_sequence"],
            ["exchange_event.sequence"],
            name=op.f("fk_exchange_delivery_event_sequence_exchange_event"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_delivery")),
        sa.UniqueConstraint(
            "event_sequence", "subscriber", name=op.f("uq_exchange_delivery_event_sequence_subscriber")
        ),
        comment="配信: one row per event and webhook subscriber",
    )
    op.create_index(
        "ix_exchange_delivery_state_next_attempt_at",
        "exchange_delivery",
        ["state", "next_attempt_at"],
        unique=False,
    )
    # Only undelivered rows: the ordering rule looks for an earlier undelivered delivery of the same
    # subscriber and person, and delivered rows (the vast majority, over time) never answer it.
    op.create_index(
        "ix_exchange_delivery_undelivered",
        "exchange_delivery",
        ["subscriber", "order_key", "event_sequence"],
        unique=False,
        sqlite_where=sa.text("state <> 'delivered'"),
        postgresql_where=sa.text("state <> 'delivered'"),
    )


def downgrade() -> None:
    op.drop_index("ix_exchange_delivery_undelivered", table_name="exchange_delivery")
    op.drop_index("ix_exchange_delivery_state_next_attempt_at", table_name="exchange_delivery")
    op.drop_table("exchange_delivery")
    op.drop_index("ix_exchange_event_publisher_topic_state_key_sequence", table_name="exchange_event")
    op.drop_index("ix_exchange_event_publisher_topic_sequence", table_name="exchange_event")
    op.drop_table("exchange_event")
    op.drop_table("exchange_subscription")
