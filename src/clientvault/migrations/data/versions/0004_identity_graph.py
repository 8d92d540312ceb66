"""identity: identity graph, match candidates, merges, golden record (filled by issue 6)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merged_into_id", sa.Uuid(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_customers_merged_into_id"), ["merged_into_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_customers_merged_into_id_customers"),
            "customers",
            ["merged_into_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "match_candidates",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("left_id", sa.Uuid(), nullable=False),
        sa.Column("right_id", sa.Uuid(), nullable=False),
        sa.Column("match_probability", sa.Float(), nullable=False),
        sa.Column("match_weight", sa.Float(), nullable=False),
        sa.Column(
            "explanation",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("model_version", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'merged', 'rejected', 'auto_merged')",
            name=op.f("ck_match_candidates_status"),
        ),
        sa.CheckConstraint("left_id < right_id", name=op.f("ck_match_candidates_ordered_pair")),
        sa.ForeignKeyConstraint(
            ["left_id"],
            ["customers.id"],
            name=op.f("fk_match_candidates_left_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["right_id"],
            ["customers.id"],
            name=op.f("fk_match_candidates_right_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_candidates")),
        sa.UniqueConstraint("left_id", "right_id", name=op.f("uq_match_candidates_left_id")),
    )
    with op.batch_alter_table("match_candidates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_match_candidates_right_id"), ["right_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_match_candidates_status"), ["status"], unique=False)

    op.create_table(
        "customer_merges",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("survivor_id", sa.Uuid(), nullable=False),
        sa.Column("absorbed_id", sa.Uuid(), nullable=False),
        sa.Column(
            "candidate_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "absorbed_prior",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("merged_by", sa.String(length=64), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("undone_by", sa.String(length=64), nullable=True),
        sa.Column("undo_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["absorbed_id"],
            ["customers.id"],
            name=op.f("fk_customer_merges_absorbed_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["match_candidates.id"],
            name=op.f("fk_customer_merges_candidate_id_match_candidates"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["survivor_id"],
            ["customers.id"],
            name=op.f("fk_customer_merges_survivor_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_merges")),
    )
    with op.batch_alter_table("customer_merges", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_merges_absorbed_id"), ["absorbed_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_customer_merges_survivor_id"), ["survivor_id"], unique=False
        )

    op.create_table(
        "customer_merge_moves",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("merge_id", sa.Uuid(), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("column", sa.String(length=64), nullable=False),
        sa.Column("row_id", sa.String(length=40), nullable=False),
        sa.Column("from_customer_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merge_id"],
            ["customer_merges.id"],
            name=op.f("fk_customer_merge_moves_merge_id_customer_merges"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_merge_moves")),
    )
    with op.batch_alter_table("customer_merge_moves", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_merge_moves_merge_id"), ["merge_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("customer_merge_moves", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_merge_moves_merge_id"))

    op.drop_table("customer_merge_moves")
    with op.batch_alter_table("customer_merges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_merges_survivor_id"))
        batch_op.drop_index(batch_op.f("ix_customer_merges_absorbed_id"))

    op.drop_table("customer_merges")

    with op.batch_alter_table("match_candidates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_match_candidates_status"))
        batch_op.drop_index(batch_op.f("ix_match_candidates_right_id"))

    op.drop_table("match_candidates")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_customers_merged_into_id_customers"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_customers_merged_into_id"))
        batch_op.drop_column("merged_into_id")
