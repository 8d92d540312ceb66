"""support: the ticket-category classifier and the suggestion it makes on each ticket; the
index routing counts each agent's open tickets through

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Routing counts each agent's load over their assigned open tickets only.
_ASSIGNED_OPEN = sa.text("status IN ('open', 'pending') AND assigned_agent_id IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "support_category_models",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tickets", sa.Integer(), nullable=False),
        sa.Column(
            "categories",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.Column("weights", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_category_models")),
    )
    with op.batch_alter_table("support_tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("suggested_category", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("suggestion_confidence", sa.Float(), nullable=True))
        batch_op.create_index(
            "ix_support_tickets_open_by_agent",
            ["assigned_agent_id"],
            unique=False,
            postgresql_where=_ASSIGNED_OPEN,
            sqlite_where=_ASSIGNED_OPEN,
        )


def downgrade() -> None:
    with op.batch_alter_table("support_tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_support_tickets_open_by_agent")
        batch_op.drop_column("suggestion_confidence")
        batch_op.drop_column("suggested_category")
    op.drop_table("support_category_models")
