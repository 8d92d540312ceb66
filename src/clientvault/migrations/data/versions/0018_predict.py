"""predict: the model registry, order risks and product flags

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-07 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "predict_models",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("task", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("algorithm", sa.String(length=64), nullable=False),
        sa.Column("trained_at", _WHEN, nullable=False),
        sa.Column("train_cutoff", _WHEN, nullable=True),
        sa.Column("holdout_cutoff", _WHEN, nullable=True),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("training_rows", sa.Integer(), nullable=False),
        sa.Column("holdout_rows", sa.Integer(), nullable=False),
        sa.Column("features", _JSON, nullable=False),
        sa.Column("metrics", _JSON, nullable=False),
        sa.Column("importances", _JSON, nullable=False),
        sa.Column("reliability", _JSON, nullable=False),
        sa.Column("training_seconds", sa.Float(), nullable=False),
        sa.Column("code_version", sa.String(length=64), nullable=False),
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("promoted_at", _WHEN, nullable=True),
        sa.Column("artifact", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predict_models")),
        sa.UniqueConstraint("version", name=op.f("uq_predict_models_version")),
    )
    op.create_index(op.f("ix_predict_models_task"), "predict_models", ["task"])
    op.create_index(op.f("ix_predict_models_status"), "predict_models", ["status"])
    op.create_table(
        "predict_order_risks",
        sa.Column("order_id", _ID, nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("rule_score", sa.Float(), nullable=False),
        sa.Column("anomaly", sa.Float(), nullable=False),
        sa.Column("reasons", _JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=16), nullable=True),
        sa.Column("reviewed_by", sa.String(length=64), nullable=True),
        sa.Column("reviewed_at", _WHEN, nullable=True),
        sa.Column("scored_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_predict_order_risks_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_predict_order_risks_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_predict_order_risks")),
    )
    op.create_index(
        op.f("ix_predict_order_risks_customer_id"), "predict_order_risks", ["customer_id"]
    )
    op.create_index(op.f("ix_predict_order_risks_score"), "predict_order_risks", ["score"])
    op.create_index(op.f("ix_predict_order_risks_status"), "predict_order_risks", ["status"])
    op.create_table(
        "predict_product_flags",
        sa.Column("product_id", _ID, nullable=False),
        sa.Column("in_stock", sa.Boolean(), nullable=False),
        sa.Column("consumable", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_predict_product_flags_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_predict_product_flags")),
    )


def downgrade() -> None:
    op.drop_table("predict_product_flags")
    for name in ("status", "score", "customer_id"):
        op.drop_index(op.f(f"ix_predict_order_risks_{name}"), table_name="predict_order_risks")
    op.drop_table("predict_order_risks")
    op.drop_index(op.f("ix_predict_models_status"), table_name="predict_models")
    op.drop_index(op.f("ix_predict_models_task"), table_name="predict_models")
    op.drop_table("predict_models")
