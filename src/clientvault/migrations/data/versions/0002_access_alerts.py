"""access alerts: alerts raised from the audit log, and the audit-log consumer cursors

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 06:58:54.105197
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "access_alerts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("dedup_key", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.String(length=200), nullable=False),
        sa.Column(
            "evidence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_alerts")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_access_alerts_dedup_key")),
    )
    with op.batch_alter_table("access_alerts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_access_alerts_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_access_alerts_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_access_alerts_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_access_alerts_subject"), ["subject"], unique=False)

    op.create_table(
        "audit_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_audit_cursors")),
    )


def downgrade() -> None:
    op.drop_table("audit_cursors")
    with op.batch_alter_table("access_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_alerts_subject"))
        batch_op.drop_index(batch_op.f("ix_access_alerts_status"))
        batch_op.drop_index(batch_op.f("ix_access_alerts_kind"))
        batch_op.drop_index(batch_op.f("ix_access_alerts_created_at"))

    op.drop_table("access_alerts")
