"""Commons (公共情報コモンズ): alerts, subscribers, deliveries and the Atom feed.

Revision ID: commons_0001
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "commons_0001"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = ("commons",)
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "commons_alert",
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("alert_id", sa.String(length=255), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=255), nullable=False),
        sa.Column("sender_code", sa.String(length=16), nullable=False),
        sa.Column("sent", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("msg_type", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("headline", sa.Text(), nullable=False),
        sa.Column("area_codes", sa.Text(), nullable=False, comment="JSON array of municipality codes"),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raw_xml", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_commons_alert")),
        sa.UniqueConstraint("alert_id", "revision", name=op.f("uq_commons_alert_alert_id_revision")),
        comment="Commons alerts: every received revision (公共情報コモンズ 受信文書)",
    )
    op.create_index(op.f("ix_commons_alert_received_at"), "commons_alert", ["received_at"], unique=False)
    op.create_table(
        "commons_subscriber",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("webhook_url", sa.String(length=2048), nullable=False),
        sa.Column("secret", sa.String(length=255), nullable=False),
        sa.Column("prefectures", sa.Text(), nullable=False, comment="JSON array"),
        sa.Column("municipalities", sa.Text(), nullable=False, comment="JSON array"),
        sa.Column("polygon", sa.Text(), nullable=False, comment="JSON array of [lat, lon]"),
        sa.Column("message_types", sa.Text(), nullable=False, comment="JSON array"),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commons_subscriber")),
        comment="Commons media subscribers (情報伝達者)",
    )
    op.create_table(
        "commons_delivery",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("subscriber_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("alert_id", sa.String(length=255), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("media_type", sa.String(length=128), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("receipt", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["commons_alert.message_id"],
            name=op.f("fk_commons_delivery_message_id_commons_alert"),
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["commons_subscriber.id"],
            name=op.f("fk_commons_delivery_subscriber_id_commons_subscriber"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commons_delivery")),
        sa.UniqueConstraint(
            "subscriber_id", "message_id", name=op.f("uq_commons_delivery_subscriber_id_message_id")
        ),
        comment="Commons deliveries: one push of one revision to one subscriber (outbox)",
    )
    op.create_index(op.f("ix_commons_delivery_alert_id"), "commons_delivery", ["alert_id"], unique=False)
    op.create_index(
        "ix_commons_delivery_state_next_attempt_at",
        "commons_delivery",
        ["state", "next_attempt_at"],
        unique=False,
    )
    op.create_table(
        "commons_feed_entry",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("alert_id", sa.String(length=255), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("msg_type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["commons_alert.message_id"],
            name=op.f("fk_commons_feed_entry_message_id_commons_alert"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_commons_feed_entry")),
        comment="Commons Atom feed entries, append-only (seq = SSE event id)",
    )


def downgrade() -> None:
    op.drop_table("commons_feed_entry")
    op.drop_index("ix_commons_delivery_state_next_attempt_at", table_name="commons_delivery")
    op.drop_index(op.f("ix_commons_delivery_alert_id"), table_name="commons_delivery")
    op.drop_table("commons_delivery")
    op.drop_table("commons_subscriber")
    op.drop_index(op.f("ix_commons_alert_received_at"), table_name="commons_alert")
    op.drop_table("commons_alert")
