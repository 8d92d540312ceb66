"""analytics: fitted CLV models and A/B experiments

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "analytics_clv_fits",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("calibration_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("observation_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("bgnbd", _JSON, nullable=False),
        sa.Column("gamma_gamma", _JSON, nullable=True),
        sa.Column("calibration", _JSON, nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_clv_fits")),
    )
    op.create_index(op.f("ix_analytics_clv_fits_fitted_at"), "analytics_clv_fits", ["fitted_at"])
    op.create_table(
        "analytics_experiments",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("variants", _JSON, nullable=False),
        sa.Column("goal", _JSON, nullable=False),
        sa.Column("guardrails", _JSON, nullable=False),
        sa.Column("holdout", sa.Float(), nullable=False),
        sa.Column("planned_users", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_experiments")),
        sa.UniqueConstraint("key", name=op.f("uq_analytics_experiments_key")),
    )


def downgrade() -> None:
    op.drop_table("analytics_experiments")
    op.drop_index(op.f("ix_analytics_clv_fits_fitted_at"), table_name="analytics_clv_fits")
    op.drop_table("analytics_clv_fits")
