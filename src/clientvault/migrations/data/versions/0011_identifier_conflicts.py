"""identity: identifiers kept in conflict (a value another profile holds at its kind's limit)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identifier_conflicts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("value_index", sa.LargeBinary(length=32), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_identifier_conflicts_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["customers.id"],
            name=op.f("fk_identifier_conflicts_owner_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identifier_conflicts")),
        sa.UniqueConstraint(
            "customer_id",
            "kind",
            "value_index",
            name=op.f("uq_identifier_conflicts_customer_id"),
        ),
    )
    with op.batch_alter_table("identifier_conflicts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identifier_conflicts_owner_id"), ["owner_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("identifier_conflicts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identifier_conflicts_owner_id"))
    op.drop_table("identifier_conflicts")
