"""automation: campaigns that send the winning variant to the rest, newsletter double opt-in

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("test_percent", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("winner_metric", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("winner_goal", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("winner_after_hours", sa.Float(), nullable=True))
        batch.add_column(sa.Column("winner_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("winner_variant", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("winner_decision", _JSON, nullable=True))
    with op.batch_alter_table("campaign_recipients") as batch:
        batch.add_column(sa.Column("email_id", _ID, nullable=True))
    op.create_table(
        "newsletter_signups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("entry_key", sa.String(length=200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consent_record_id", _ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_newsletter_signups")),
        sa.UniqueConstraint("entry_key", name=op.f("uq_newsletter_signups_entry_key")),
    )
    op.create_index(
        op.f("ix_newsletter_signups_customer_id"), "newsletter_signups", ["customer_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_newsletter_signups_customer_id"), table_name="newsletter_signups")
    op.drop_table("newsletter_signups")
    with op.batch_alter_table("campaign_recipients") as batch:
        batch.drop_column("email_id")
    with op.batch_alter_table("campaigns") as batch:
        for column in (
            "winner_decision",
            "winner_variant",
            "winner_at",
            "winner_after_hours",
            "winner_goal",
            "winner_metric",
            "test_percent",
        ):
            batch.drop_column(column)
