"""segments: profiles indexed by the last four hex digits of their id (the estimate's sample)

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_customers_id_tail",
        "customers",
        [sa.text("substr(replace(CAST(id AS TEXT), '-', ''), 29, 4)")],
    )


def downgrade() -> None:
    op.drop_index("ix_customers_id_tail", table_name="customers")
