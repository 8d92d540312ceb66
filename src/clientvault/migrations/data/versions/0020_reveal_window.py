"""security: a console session's reveal window (the reason given and until when it holds)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_sessions") as batch:
        batch.add_column(sa.Column("reveal_reason", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("reveal_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_sessions") as batch:
        batch.drop_column("reveal_until")
        batch.drop_column("reveal_reason")
