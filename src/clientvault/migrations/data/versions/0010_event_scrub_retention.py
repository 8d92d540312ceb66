"""ingest: events indexed by receipt (retention counts from it); identity: sealed username

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 21:00:00

The event retention period now counts from ``received_at`` (``ingest.holders``): history
imported today is kept for the whole period instead of being purged at the next run. The
purge deletes by that column, hence its index. Segment's ``username`` trait names a person
as surely as their e-mail: it is sealed with the customer's key like the other identifiers
instead of kept in the clear among the traits.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch_op:
        batch_op.create_index(batch_op.f("ix_events_received_at"), ["received_at"], unique=False)
    with op.batch_alter_table("customers") as batch_op:
        batch_op.add_column(sa.Column("username_sealed", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch_op:
        batch_op.drop_column("username_sealed")
    with op.batch_alter_table("events") as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_received_at"))
