"""Campaigns: a one-off or scheduled send of a template, or of A/B variants, to the customers
who pass the campaign's attribute filters and its purpose's audience (``privacy.audiences``),
checked again for each customer when their e-mail is queued.

The job sends due campaigns in batches, one transaction each; ``campaign_recipients`` is the
idempotency key (campaign and customer), so a worker killed mid-campaign resumes where it was
and sends nobody twice. Do-not-contact and the weekly frequency cap apply as for journeys.
(Sending the winning variant to the rest after N hours is left for a later change.)
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.automation.journeys import mail
from clientvault.automation.journeys.definition import PropertyFilter, bucket
from clientvault.automation.journeys.engine import blocked_send
from clientvault.automation.journeys.models import (
    Campaign,
    CampaignRecipient,
    EmailTemplate,
)
from clientvault.errors import Conflict, InvalidInput, NotFound
from clientvault.identity.models import Customer
from clientvault.privacy.audiences import audience
from clientvault.privacy.purposes import get_purpose
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store

BATCH = 100


class Variant(BaseModel):
    """One arm of a campaign: a template and its share of the recipients."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,20}$")
    template: str = Field(min_length=1, max_length=64)
    percent: int = Field(default=100, ge=0, le=100)


class CampaignSpec(BaseModel):
    """A campaign as the API takes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    purpose: str = Field(default="marketing_email", min_length=1, max_length=64)
    filters: list[PropertyFilter] = Field(default_factory=list, max_length=20)
    variants: list[Variant] = Field(min_length=1, max_length=5)
    send_at: datetime | None = None

    @model_validator(mode="after")
    def _shares(self) -> CampaignSpec:
        if sum(v.percent for v in self.variants) != 100:
            raise ValueError("the variants' percents must add up to 100")
        if len({v.name for v in self.variants}) != len(self.variants):
            raise ValueError("variant names must differ")
        return self


def schedule_campaign(session: Session, spec: dict[str, Any], *, by: Principal) -> Campaign:
    """Schedule a campaign (now if ``send_at`` is empty); its templates and purpose must exist."""
    try:
        checked = CampaignSpec.model_validate(spec)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "campaign"
        raise InvalidInput(f"{where}: {first['msg']}", details={"field": where}) from None
    get_purpose(session, checked.purpose)
    for variant in checked.variants:
        if (
            session.scalar(select(EmailTemplate.id).where(EmailTemplate.name == variant.template))
            is None
        ):
            raise NotFound(f"variant {variant.name}: no template is called {variant.template!r}")
    if session.scalar(select(Campaign.id).where(Campaign.name == checked.name)) is not None:
        raise Conflict(f"a campaign is already called {checked.name!r}")
    campaign = Campaign(
        name=checked.name,
        purpose=checked.purpose,
        filters=[f.model_dump(mode="json") for f in checked.filters],
        variants=[v.model_dump(mode="json") for v in checked.variants],
        status="scheduled",
        send_at=checked.send_at or utcnow(),
    )
    session.add(campaign)
    session.flush()
    audit.record(
        session,
        principal=by,
        action="campaign.scheduled",
        target_type="campaign",
        target_ids=[str(campaign.id)],
        details={"name": campaign.name},
    )
    return campaign


def cancel_campaign(session: Session, campaign_id: uuid.UUID, *, by: Principal) -> Campaign:
    """Cancel a campaign not yet sent (those already handled keep their e-mail)."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound("no such campaign")
    if campaign.status not in ("scheduled", "sending"):
        raise Conflict(f"a {campaign.status} campaign cannot be cancelled")
    campaign.status = "cancelled"
    audit.record(
        session,
        principal=by,
        action="campaign.cancelled",
        target_type="campaign",
        target_ids=[str(campaign.id)],
    )
    return campaign


def list_campaigns(session: Session) -> list[tuple[Campaign, dict[str, int]]]:
    """Every campaign, newest first, with its recipients counted by outcome."""
    campaigns = list(session.scalars(select(Campaign).order_by(Campaign.created_at.desc())))
    counts: dict[uuid.UUID, dict[str, int]] = {}
    for campaign_id, outcome in session.execute(
        select(CampaignRecipient.campaign_id, CampaignRecipient.outcome)
    ):
        entry = counts.setdefault(campaign_id, {})
        entry[outcome] = entry.get(outcome, 0) + 1
    return [(c, counts.get(c.id, {})) for c in campaigns]


def send_due_campaigns(store: Store, settings: Settings) -> int:
    """Send the due campaigns (batch by batch); returns how many customers were handled."""
    with store.read_sessions() as session, session.begin():
        due = list(
            session.scalars(
                select(Campaign.id).where(
                    Campaign.status.in_(("scheduled", "sending")), Campaign.send_at <= utcnow()
                )
            )
        )
    handled = 0
    for campaign_id in due:
        while (count := _send_batch(store, settings, campaign_id)) > 0:
            handled += count
    return handled


def _send_batch(store: Store, settings: Settings, campaign_id: uuid.UUID) -> int:
    with store.sessions.begin() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None or campaign.status not in ("scheduled", "sending"):
            return 0
        campaign.status = "sending"
        done = select(CampaignRecipient.customer_id).where(
            CampaignRecipient.campaign_id == campaign.id
        )
        candidates = audience(
            session,
            purpose=campaign.purpose,
            customers=select(Customer.id).where(~Customer.id.in_(done)),
        )
        batch = list(session.scalars(candidates.order_by(None).limit(BATCH)))
        if not batch:
            campaign.status = "sent"
            campaign.finished_at = utcnow()
            return 0
        filters = [PropertyFilter.model_validate(f) for f in campaign.filters]
        for customer in session.scalars(select(Customer).where(Customer.id.in_(batch))):
            variant, outcome = _send_one(session, store, settings, campaign, customer, filters)
            session.add(
                CampaignRecipient(
                    campaign_id=campaign.id,
                    customer_id=customer.id,
                    variant=variant,
                    outcome=outcome,
                )
            )
        return len(batch)


def _variant(campaign: Campaign, customer_id: uuid.UUID) -> dict[str, Any]:
    draw = bucket("campaign", str(campaign.id), str(customer_id))
    edge = 0
    for variant in campaign.variants:
        edge += int(variant["percent"])
        if draw < edge:
            return variant
    return campaign.variants[-1]


def _send_one(
    session: Session,
    store: Store,
    settings: Settings,
    campaign: Campaign,
    customer: Customer,
    filters: list[PropertyFilter],
) -> tuple[str, str]:
    variant = _variant(campaign, customer.id)
    if not all(f.matches(mail.attributes_of(customer)) for f in filters):
        return variant["name"], "filtered out"
    blocked = blocked_send(session, settings, campaign.purpose, customer.id, utcnow())
    if blocked is not None:
        return variant["name"], blocked
    template = session.scalar(
        select(EmailTemplate).where(EmailTemplate.name == variant["template"])
    )
    if template is None:
        return variant["name"], "no such template"
    try:
        mail.queue_email(
            session,
            store,
            settings,
            customer=customer,
            template=template,
            journey_id=None,
            run_id=None,
            step_id=f"campaign-{variant['name']}"[:40],
        )
    except (mail.TemplateFailed, NotFound):
        return variant["name"], "failed"
    return variant["name"], "email queued"
