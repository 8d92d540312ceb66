"""segments: computed traits (definitions, and each customer's values)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_AGGREGATES = "count, sum, average, min, max, most_frequent, first, last, unique"


def upgrade() -> None:
    aggregates = ", ".join(f"'{a.strip()}'" for a in _AGGREGATES.split(","))
    op.create_table(
        "computed_traits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("event", sa.String(length=200), nullable=False),
        sa.Column("where", _JSON, nullable=False),
        sa.Column("aggregate", sa.String(length=16), nullable=False),
        sa.Column("property", sa.String(length=64), nullable=True),
        sa.Column("window_days", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            f"aggregate IN ({aggregates})", name=op.f("ck_computed_traits_aggregate")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_computed_traits")),
        sa.UniqueConstraint("name", name=op.f("uq_computed_traits_name")),
    )
    op.create_table(
        "customer_traits",
        sa.Column("trait_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("value", _JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["trait_id"],
            ["computed_traits.id"],
            name=op.f("fk_customer_traits_trait_id_computed_traits"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_traits_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trait_id", "customer_id", name=op.f("pk_customer_traits")),
    )
    op.create_index(op.f("ix_customer_traits_customer_id"), "customer_traits", ["customer_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_customer_traits_customer_id"), table_name="customer_traits")
    op.drop_table("customer_traits")
    op.drop_table("computed_traits")
