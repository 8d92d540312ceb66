"""customers: one score per customer and kind (RFM, persona, predictions)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_scores",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("label", sa.String(length=64), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_scores_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", "kind", name=op.f("pk_customer_scores")),
    )
    op.create_index("ix_customer_scores_kind_value", "customer_scores", ["kind", "value"])


def downgrade() -> None:
    op.drop_index("ix_customer_scores_kind_value", table_name="customer_scores")
    op.drop_table("customer_scores")
