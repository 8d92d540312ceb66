"""privacy: data-subject requests, signed links, mail outbox, records of processing, breaches

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 09:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _big_id() -> sa.Column[int]:
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "breach_register",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data_categories", _json(), nullable=False),
        sa.Column("approx_subjects", sa.Integer(), nullable=True),
        sa.Column("risk", sa.String(length=16), nullable=False),
        sa.Column("measures", sa.Text(), nullable=True),
        sa.Column("authority_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("authority_reference", sa.String(length=100), nullable=True),
        sa.Column("subjects_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("no_notification_reason", sa.String(length=500), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "risk IN ('unlikely', 'risk', 'high')", name=op.f("ck_breach_register_risk")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breach_register")),
    )
    op.create_table(
        "dsr_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("regime", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("original_due_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("extended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("extension_reason", sa.String(length=500), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verification_method", sa.String(length=32), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=500), nullable=True),
        sa.Column("details", _json(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('access', 'portability', 'rectification', 'erasure', 'restriction', "
            "'objection', 'opt_out')",
            name=op.f("ck_dsr_requests_kind"),
        ),
        sa.CheckConstraint("regime IN ('gdpr', 'ccpa')", name=op.f("ck_dsr_requests_regime")),
        sa.CheckConstraint(
            "status IN ('received', 'verified', 'in_progress', 'completed', 'refused')",
            name=op.f("ck_dsr_requests_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dsr_requests")),
    )
    with op.batch_alter_table("dsr_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dsr_requests_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index("ix_dsr_requests_status_due", ["status", "due_on"], unique=False)

    op.create_table(
        "mail_outbox",
        _big_id(),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("template", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
    )
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mail_outbox_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            "ix_mail_outbox_pending", ["sent_at", "next_attempt_at"], unique=False
        )

    op.create_table(
        "privacy_link_tokens",
        _big_id(),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "purpose IN ('dsr_verify', 'preferences')",
            name=op.f("ck_privacy_link_tokens_purpose"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_link_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_privacy_link_tokens_token_hash")),
    )
    with op.batch_alter_table("privacy_link_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_privacy_link_tokens_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "processing_records",
        _big_id(),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=1000), nullable=False),
        sa.Column("legal_basis", sa.String(length=200), nullable=False),
        sa.Column("data_categories", _json(), nullable=False),
        sa.Column("subject_categories", _json(), nullable=False),
        sa.Column("recipients", _json(), nullable=False),
        sa.Column("transfers", _json(), nullable=False),
        sa.Column("retention", sa.String(length=500), nullable=False),
        sa.Column("security_measures", _json(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processing_records")),
        sa.UniqueConstraint("key", name=op.f("uq_processing_records_key")),
    )


def downgrade() -> None:
    op.drop_table("processing_records")
    with op.batch_alter_table("privacy_link_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_link_tokens_customer_id"))
    op.drop_table("privacy_link_tokens")
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_mail_outbox_pending")
        batch_op.drop_index(batch_op.f("ix_mail_outbox_customer_id"))
    op.drop_table("mail_outbox")
    with op.batch_alter_table("dsr_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_dsr_requests_status_due")
        batch_op.drop_index(batch_op.f("ix_dsr_requests_customer_id"))
    op.drop_table("dsr_requests")
    op.drop_table("breach_register")
