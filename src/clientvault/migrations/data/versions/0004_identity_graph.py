"""identity: identity graph, match candidates, merges, golden record (filled by issue 6)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merged_into_id", sa.Uuid(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_customers_merged_into_id"), ["merged_into_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_customers_merged_into_id_customers"),
            "customers",
            ["merged_into_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_customers_merged_into_id_customers"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_customers_merged_into_id"))
        batch_op.drop_column("merged_into_id")
