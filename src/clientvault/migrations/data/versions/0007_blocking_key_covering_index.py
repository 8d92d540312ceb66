"""identity: the blocking-key index covers the customer id (candidate look-ups read the index only)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 14:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("match_blocking_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_match_blocking_keys_key")
        batch_op.create_index(
            "ix_match_blocking_keys_key_customer_id", ["key", "customer_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("match_blocking_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_match_blocking_keys_key_customer_id")
        batch_op.create_index("ix_match_blocking_keys_key", ["key"], unique=False)
