"""automation: journeys and runs, e-mail templates, webhooks, do-not-contact, campaigns

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "do_not_contact",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_do_not_contact")),
    )
    op.create_table(
        "email_templates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_templates")),
        sa.UniqueConstraint("name", name=op.f("uq_email_templates_name")),
    )
    op.create_table(
        "journey_emails",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("outbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("journey_id", sa.Uuid(), nullable=True),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("step_id", sa.String(length=40), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_emails")),
        sa.UniqueConstraint("outbox_id", name=op.f("uq_journey_emails_outbox_id")),
    )
    op.create_index(
        "ix_journey_emails_customer", "journey_emails", ["customer_id", "created_at"], unique=False
    )
    op.create_index(
        op.f("ix_journey_emails_journey_id"), "journey_emails", ["journey_id"], unique=False
    )
    op.create_index(
        op.f("ix_journey_emails_reported_at"), "journey_emails", ["reported_at"], unique=False
    )
    op.create_table(
        "journey_webhooks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_webhooks")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_journey_webhooks_idempotency_key")),
    )
    op.create_index(
        op.f("ix_journey_webhooks_customer_id"), "journey_webhooks", ["customer_id"], unique=False
    )
    op.create_index(
        "ix_journey_webhooks_pending",
        "journey_webhooks",
        ["delivered_at", "next_attempt_at"],
        unique=False,
    )
    op.create_table(
        "journeys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("trigger_kind", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journeys")),
        sa.UniqueConstraint("name", name=op.f("uq_journeys_name")),
    )
    op.create_table(
        "journey_runs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("journey_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("entry_key", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("step_id", sa.String(length=40), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("waiting_for", sa.String(length=200), nullable=True),
        sa.Column("event_go_to", sa.String(length=40), nullable=True),
        sa.Column("steps_done", sa.Integer(), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("converted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["journey_id"],
            ["journeys.id"],
            name=op.f("fk_journey_runs_journey_id_journeys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_runs")),
        sa.UniqueConstraint("journey_id", "entry_key", "customer_id", name="uq_journey_runs_entry"),
    )
    op.create_index(
        "ix_journey_runs_customer", "journey_runs", ["customer_id", "journey_id"], unique=False
    )
    op.create_index("ix_journey_runs_due", "journey_runs", ["status", "due_at"], unique=False)
    op.create_table(
        "journey_versions",
        sa.Column("journey_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "definition",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["journey_id"],
            ["journeys.id"],
            name=op.f("fk_journey_versions_journey_id_journeys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("journey_id", "version", name=op.f("pk_journey_versions")),
    )
    op.create_table(
        "journey_steps",
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Uuid(), nullable=False),
        sa.Column("step_id", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["journey_runs.id"],
            name=op.f("fk_journey_steps_run_id_journey_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "seq", name=op.f("pk_journey_steps")),
    )
    op.create_index(
        op.f("ix_journey_steps_journey_id"), "journey_steps", ["journey_id"], unique=False
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column(
            "filters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "variants",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("name", name=op.f("uq_campaigns_name")),
    )
    op.create_table(
        "campaign_recipients",
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("variant", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_recipients_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "customer_id", name=op.f("pk_campaign_recipients")),
    )
    op.create_index(
        op.f("ix_campaign_recipients_customer_id"),
        "campaign_recipients",
        ["customer_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_campaign_recipients_customer_id"), table_name="campaign_recipients")
    op.drop_table("campaign_recipients")
    op.drop_table("campaigns")
    op.drop_index(op.f("ix_journey_steps_journey_id"), table_name="journey_steps")
    op.drop_table("journey_steps")
    op.drop_index("ix_journey_runs_customer", table_name="journey_runs")
    op.drop_index("ix_journey_runs_due", table_name="journey_runs")
    op.drop_table("journey_runs")
    op.drop_table("journey_versions")
    op.drop_table("journeys")
    op.drop_index(op.f("ix_journey_webhooks_customer_id"), table_name="journey_webhooks")
    op.drop_index("ix_journey_webhooks_pending", table_name="journey_webhooks")
    op.drop_table("journey_webhooks")
    op.drop_index("ix_journey_emails_customer", table_name="journey_emails")
    op.drop_index(op.f("ix_journey_emails_journey_id"), table_name="journey_emails")
    op.drop_index(op.f("ix_journey_emails_reported_at"), table_name="journey_emails")
    op.drop_table("journey_emails")
    op.drop_table("email_templates")
    op.drop_table("do_not_contact")
