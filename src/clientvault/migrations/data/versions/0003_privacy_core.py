"""privacy: purposes, consent ledger, restriction, erasure tombstones, retention (filled by issue 5)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 09:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from clientvault.privacy.purposes import default_purpose_rows

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "erasures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "certificate",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasures")),
    )
    with op.batch_alter_table("erasures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_erasures_erased_at"), ["erased_at"], unique=False)

    op.create_table(
        "purposes",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.String(length=32), nullable=False),
        sa.Column("direct_marketing", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "legal_basis IN ('consent', 'contract', 'legal_obligation', 'vital_interest', "
            "'public_task', 'legitimate_interest')",
            name=op.f("ck_purposes_legal_basis"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_purposes")),
    )
    op.create_table(
        "erased_customers",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("erasure_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["erasure_id"],
            ["erasures.id"],
            name=op.f("fk_erased_customers_erasure_id_erasures"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_erased_customers")),
    )
    with op.batch_alter_table("erased_customers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_erased_customers_erasure_id"), ["erasure_id"], unique=False
        )

    op.create_table(
        "erasure_tombstones",
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("erasure_id", sa.Uuid(), nullable=False),
        sa.Column(
            "suppressed", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("last_suppressed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["erasure_id"],
            ["erasures.id"],
            name=op.f("fk_erasure_tombstones_erasure_id_erasures"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_erasure_tombstones")),
    )
    with op.batch_alter_table("erasure_tombstones", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_erasure_tombstones_erasure_id"), ["erasure_id"], unique=False
        )

    op.create_table(
        "processing_limits",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("proof_ref", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "kind IN ('objection', 'restriction')", name=op.f("ck_processing_limits_kind")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_processing_limits_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processing_limits")),
    )
    with op.batch_alter_table("processing_limits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_processing_limits_customer_kind",
            ["customer_id", "kind", "recorded_at"],
            unique=False,
        )
    purposes = sa.table(
        "purposes",
        sa.column("code", sa.String()),
        sa.column("title", sa.String()),
        sa.column("description", sa.Text()),
        sa.column("legal_basis", sa.String()),
        sa.column("direct_marketing", sa.Boolean()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    op.bulk_insert(purposes, [{**row, "created_at": now} for row in default_purpose_rows()])


def downgrade() -> None:

    with op.batch_alter_table("processing_limits", schema=None) as batch_op:
        batch_op.drop_index("ix_processing_limits_customer_kind")

    op.drop_table("processing_limits")
    with op.batch_alter_table("erasure_tombstones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erasure_tombstones_erasure_id"))

    op.drop_table("erasure_tombstones")
    with op.batch_alter_table("erased_customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erased_customers_erasure_id"))

    op.drop_table("erased_customers")
    op.drop_table("purposes")
    with op.batch_alter_table("erasures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erasures_erased_at"))

    op.drop_table("erasures")
