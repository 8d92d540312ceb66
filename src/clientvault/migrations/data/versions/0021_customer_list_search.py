"""customers: the list's e-mail hint, name blind indexes and (created_at, id) index

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = ("first_name_index", "last_name_index")


def upgrade() -> None:
    # Existing rows get their values from `clientvault identity reindex` (it opens the sealed
    # fields through the audited reveal path, which a migration has no principal for).
    with op.batch_alter_table("customers") as batch_op:
        batch_op.add_column(sa.Column("email_hint", sa.String(length=80), nullable=True))
        for column in _INDEXES:
            batch_op.add_column(sa.Column(column, sa.LargeBinary(length=32), nullable=True))
    with op.batch_alter_table("customers") as batch_op:
        for column in _INDEXES:
            batch_op.create_index(batch_op.f(f"ix_customers_{column}"), [column], unique=False)
        batch_op.create_index("ix_customers_created_at_id", ["created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch_op:
        batch_op.drop_index("ix_customers_created_at_id")
        for column in _INDEXES:
            batch_op.drop_index(batch_op.f(f"ix_customers_{column}"))
        batch_op.drop_column("email_hint")
        for column in _INDEXES:
            batch_op.drop_column(column)
