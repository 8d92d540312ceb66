"""The journeys' personal-data holders: runs (with the steps they did), the journey e-mails
and webhook calls queued for a customer, and the do-not-contact list."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select

from clientvault.automation.journeys.models import (
    CampaignRecipient,
    DoNotContact,
    JourneyEmail,
    JourneyRun,
    JourneyStepLog,
    JourneyWebhook,
    NewsletterSignup,
)
from clientvault.privacy.holders.registry import (
    Holder,
    HolderContext,
    HolderErasure,
    Rows,
    delete_rows,
    plain_table,
    register_holder,
    rows_of,
)


def _export_runs(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> Rows:
    rows = rows_of(ctx.session, JourneyRun, customer_ids=customer_ids)
    run_ids = [row["id"] for row in rows]
    steps = ctx.session.scalars(
        select(JourneyStepLog).where(JourneyStepLog.run_id.in_(run_ids))
    ).all()
    for row in rows:
        row["steps"] = [
            {"seq": s.seq, "step": s.step_id, "outcome": s.outcome, "at": s.at.isoformat()}
            for s in steps
            if s.run_id == row["id"]
        ]
    return rows


def _erase_runs(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> HolderErasure:
    run_ids = select(JourneyRun.id).where(JourneyRun.customer_id.in_(list(customer_ids)))
    ctx.session.execute(delete(JourneyStepLog).where(JourneyStepLog.run_id.in_(run_ids)))
    return delete_rows(ctx.session, JourneyRun, customer_ids=customer_ids)


_MAIL_MODELS = (JourneyEmail, JourneyWebhook, CampaignRecipient)


def _export_mail(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> Rows:
    return [
        row
        for model in _MAIL_MODELS
        for row in rows_of(ctx.session, model, customer_ids=customer_ids)
    ]


def _erase_mail(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> HolderErasure:
    erased = [delete_rows(ctx.session, m, customer_ids=customer_ids) for m in _MAIL_MODELS]
    return HolderErasure("deleted", sum(e.rows for e in erased))


_export_dnc, _erase_dnc = plain_table(DoNotContact)

_export_signups, _erase_signups = plain_table(NewsletterSignup)


RUNS = register_holder(
    Holder(
        name="automation.journey_runs",
        domain="automation",
        description="Which marketing journeys a customer entered, the steps done and when.",
        tables=("journey_runs", "journey_steps"),
        categories=("marketing activity",),
        purposes=("marketing_email",),
        retention="deleted with the profile",
        sources=("the customer's events, consents and birthday",),
        recipients=("marketers (journey funnels, aggregates)",),
        export=_export_runs,
        erase=_erase_runs,
    )
)
MAIL = register_holder(
    Holder(
        name="automation.journey_messages",
        domain="automation",
        description="Marketing e-mails and webhook calls queued for a customer by journeys "
        "and campaigns.",
        tables=("journey_emails", "journey_webhooks", "campaign_recipients"),
        categories=("marketing activity",),
        purposes=("marketing_email",),
        retention="deleted with the profile",
        sources=("journeys",),
        recipients=("the SMTP relay", "the webhook receivers a journey names"),
        export=_export_mail,
        erase=_erase_mail,
    )
)
DO_NOT_CONTACT = register_holder(
    Holder(
        name="automation.do_not_contact",
        domain="automation",
        description="Customers who get no marketing e-mail (bounced, unsubscribed, set by hand).",
        tables=("do_not_contact",),
        categories=("contact preferences",),
        purposes=("marketing_email",),
        retention="deleted with the profile",
        sources=("SMTP bounces", "the DPO"),
        recipients=(),
        export=_export_dnc,
        erase=_erase_dnc,
    )
)
NEWSLETTER_SIGNUPS = register_holder(
    Holder(
        name="automation.newsletter_signups",
        domain="automation",
        description="Newsletter sign-ups awaiting or given their confirmation (double opt-in): "
        "when asked, when confirmed, and the consent record it made.",
        tables=("newsletter_signups",),
        categories=("contact preferences",),
        purposes=("marketing_email",),
        retention="deleted with the profile",
        sources=("the website's sign-up form (an event)", "the customer's confirmation"),
        recipients=(),
        export=_export_signups,
        erase=_erase_signups,
    )
)
