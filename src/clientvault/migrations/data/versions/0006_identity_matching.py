"""identity: probabilistic matching, blocking keys and trained model (filled by issue 6)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "match_models",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "settings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("auto_merge_probability", sa.Float(), nullable=False),
        sa.Column("review_probability", sa.Float(), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_models")),
        sa.UniqueConstraint("version", name=op.f("uq_match_models_version")),
    )
    op.create_table(
        "match_blocking_keys",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_match_blocking_keys_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_blocking_keys")),
    )
    with op.batch_alter_table("match_blocking_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_match_blocking_keys_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index("ix_match_blocking_keys_key", ["key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("match_blocking_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_match_blocking_keys_key")
        batch_op.drop_index(batch_op.f("ix_match_blocking_keys_customer_id"))
    op.drop_table("match_blocking_keys")
    op.drop_table("match_models")
