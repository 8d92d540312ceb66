"""tracking sources, consumer cursors, scrub counts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 06:26:13.296008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consumer_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_consumer_cursors")),
    )
    op.create_table(
        "scrub_counts",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("source", "kind", name=op.f("pk_scrub_counts")),
    )
    op.create_table(
        "tracking_sources",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("write_key_hash", sa.String(length=64), nullable=False),
        sa.Column("key_prefix", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_sources")),
        sa.UniqueConstraint("name", name=op.f("uq_tracking_sources_name")),
        sa.UniqueConstraint("write_key_hash", name=op.f("uq_tracking_sources_write_key_hash")),
    )


def downgrade() -> None:
    op.drop_table("tracking_sources")
    op.drop_table("scrub_counts")
    op.drop_table("consumer_cursors")
