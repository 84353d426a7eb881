"""identity: 住民票コード per person — a keyed digest to look the person up by, and a sealed copy.

Revision ID: identity_0002
Revises: identity_0001
Create Date: 2026-12-10

Types are spelled out here rather than imported from ``storage/sql/identity.py`` (history never changes).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "identity_0002"
down_revision: str | None = "identity_0001"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "identity_resident_code",
        sa.Column("person_key", sa.String(length=32), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("code_sealed", sa.String(length=96), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_key"],
            ["identity_person.person_key"],
            name=op.f("fk_identity_resident_code_person_key_identity_person"),
        ),
        sa.PrimaryKeyConstraint("person_key", name=op.f("pk_identity_resident_code")),
        sa.UniqueConstraint("code_digest", name=op.f("uq_identity_resident_code_code_digest")),
        comment="住民票コード per person: HMAC digest (lookup) and AES-GCM sealed copy, never in clear",
    )


def downgrade() -> None:
    op.drop_table("identity_resident_code")
