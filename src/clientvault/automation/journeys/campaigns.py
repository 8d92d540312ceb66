"""Campaigns: a one-off or scheduled send of a template, or of A/B variants, to the customers
who pass the campaign's attribute filters and its purpose's audience (``privacy.audiences``),
checked again for each customer when their e-mail is queued.

The job sends due campaigns in batches, one transaction each; ``campaign_recipients`` is the
idempotency key (campaign and customer), so a worker killed mid-campaign resumes where it was
and sends nobody twice. Do-not-contact and the weekly frequency cap apply as for journeys.

"Send the winner to the rest": with ``test_percent`` set, the variants are sent to that share
of the audience only; the others are recorded as ``held for winner``. ``winner_after_hours``
after the test sends, the job measures each variant on the event log (the share of its
recipients who opened, clicked, or did the goal event since their e-mail), records the
decision on the campaign (and in the audit log), then sends the winner to the held customers
(checked against the audience again, each once: their row is updated in the transaction
that queues their e-mail) and to anyone who joined the audience since.

The test share is a quota, not a hash: the i-th customer handled is in the test when
``i * 37 mod 100 < test_percent`` (37 is prime to 100, so every hundred customers in a row
hold exactly ``test_percent`` testers, well spread), and the j-th tester gets the variant
whose share covers ``j * 37 mod 100``. Customers are taken in id order (about the order they
were created in), so the test is a systematic sample spread evenly over old and new
customers, and a small campaign still tests every variant.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.automation.journeys import mail
from clientvault.automation.journeys.definition import PropertyFilter, bucket
from clientvault.automation.journeys.engine import blocked_send
from clientvault.automation.journeys.models import (
    Campaign,
    CampaignRecipient,
    EmailTemplate,
)
from clientvault.errors import Conflict, NotFound, validated
from clientvault.identity.models import Customer
from clientvault.ingest.models import Event
from clientvault.privacy.audiences import audience
from clientvault.privacy.purposes import get_purpose
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store

BATCH = 100
#: The outcome of an audience member kept out of the test, for the winner.
HELD = "held for winner"
#: What "opens" and "clicks" count on the event log.
METRIC_EVENTS = {"opens": "Email Opened", "clicks": "Email Link Clicked"}
#: The quota's stride (prime to 100).
STRIDE = 37


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
    #: Send the winner to the rest: the share tested (the variants' percents split it)...
    test_percent: int | None = Field(default=None, ge=1, le=99)
    #: ...how the winner is chosen, and after how long.
    winner_metric: Literal["opens", "clicks", "goal"] = "clicks"
    winner_goal: str | None = Field(default=None, min_length=1, max_length=200)
    winner_after_hours: float = Field(default=4.0, gt=0, le=24 * 30)

    @model_validator(mode="after")
    def _shares(self) -> CampaignSpec:
        if sum(v.percent for v in self.variants) != 100:
            raise ValueError("the variants' percents must add up to 100")
        if len({v.name for v in self.variants}) != len(self.variants):
            raise ValueError("variant names must differ")
        if self.test_percent is not None and len(self.variants) < 2:
            raise ValueError("a winner needs at least two variants to test")
        if (self.winner_metric == "goal") != (self.winner_goal is not None):
            raise ValueError("winner_goal names the goal event, with winner_metric 'goal' only")
        return self


def schedule_campaign(session: Session, spec: dict[str, Any], *, by: Principal) -> Campaign:
    """Schedule a campaign (now if ``send_at`` is empty); its templates and purpose must exist."""
    checked = validated(CampaignSpec, spec, what="campaign")
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
    if checked.test_percent is not None:
        campaign.test_percent = checked.test_percent
        campaign.winner_metric = checked.winner_metric
        campaign.winner_goal = checked.winner_goal
        campaign.winner_after_hours = checked.winner_after_hours
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
    if campaign.status not in ("scheduled", "sending", "testing"):
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
    counts = _recipient_counts(session)
    return [(c, counts.get(c.id, {})) for c in campaigns]


def find_campaign(session: Session, key: str) -> tuple[Campaign, dict[str, int]]:
    """A campaign by id or by name (the CLI's argument), with its recipients counted by
    outcome; ``NotFound`` otherwise."""
    try:
        campaign = session.get(Campaign, uuid.UUID(key))
    except ValueError:
        campaign = session.scalar(select(Campaign).where(Campaign.name == key))
    if campaign is None:
        raise NotFound(f"no campaign is called {key!r}")
    return campaign, _recipient_counts(session, campaign.id).get(campaign.id, {})


def _recipient_counts(
    session: Session, campaign_id: uuid.UUID | None = None
) -> dict[uuid.UUID, dict[str, int]]:
    query = select(CampaignRecipient.campaign_id, CampaignRecipient.outcome, func.count()).group_by(
        CampaignRecipient.campaign_id, CampaignRecipient.outcome
    )
    if campaign_id is not None:
        query = query.where(CampaignRecipient.campaign_id == campaign_id)
    counts: dict[uuid.UUID, dict[str, int]] = {}
    for found, outcome, total in session.execute(query):
        counts.setdefault(found, {})[outcome] = int(total)
    return counts


def send_due_campaigns(store: Store, settings: Settings, *, now: datetime | None = None) -> int:
    """Choose the winners whose time has come, then send the due campaigns (batch by
    batch); returns how many customers were handled."""
    moment = now or utcnow()
    decide_winners(store, moment)
    with store.read_sessions() as session, session.begin():
        due = list(
            session.scalars(
                select(Campaign.id).where(
                    Campaign.status.in_(("scheduled", "sending")), Campaign.send_at <= moment
                )
            )
        )
    handled = 0
    for campaign_id in due:
        while (count := _send_batch(store, settings, campaign_id, moment)) > 0:
            handled += count
    return handled


def _send_batch(store: Store, settings: Settings, campaign_id: uuid.UUID, moment: datetime) -> int:
    with store.sessions.begin() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None or campaign.status not in ("scheduled", "sending"):
            return 0
        campaign.status = "sending"
        filters = [PropertyFilter.model_validate(f) for f in campaign.filters]
        if campaign.winner_variant is not None:
            held = list(
                session.scalars(
                    select(CampaignRecipient)
                    .where(
                        CampaignRecipient.campaign_id == campaign.id,
                        CampaignRecipient.outcome == HELD,
                    )
                    .order_by(CampaignRecipient.customer_id)
                    .limit(BATCH)
                )
            )
            if held:
                winner = _named_variant(campaign, campaign.winner_variant)
                customers = _customers(session, [r.customer_id for r in held])
                for row in held:
                    customer = customers.get(row.customer_id)
                    row.variant, row.at = winner["name"], utcnow()
                    if customer is None:
                        row.outcome = "not in audience"
                        continue
                    row.outcome, row.email_id = _send_one(
                        session, store, settings, campaign, customer, filters, winner
                    )
                return len(held)
        done = select(CampaignRecipient.customer_id).where(
            CampaignRecipient.campaign_id == campaign.id
        )
        candidates = audience(
            session,
            purpose=campaign.purpose,
            customers=select(Customer.id).where(~Customer.id.in_(done)),
        )
        batch = list(
            session.scalars(
                candidates.order_by(None).order_by(candidates.selected_columns[0]).limit(BATCH)
            )
        )
        if not batch:
            _phase_done(session, campaign, moment)
            return 0
        handled = _handled(session, campaign)
        customers = _customers(session, batch)
        for customer_id in batch:
            variant = _assign(campaign, customer_id, handled)
            handled = (handled[0] + 1, handled[1] + (variant is not None))
            if variant is None:
                session.add(
                    CampaignRecipient(
                        campaign_id=campaign.id, customer_id=customer_id, variant="", outcome=HELD
                    )
                )
                continue
            outcome, email_id = _send_one(
                session, store, settings, campaign, customers[customer_id], filters, variant
            )
            session.add(
                CampaignRecipient(
                    campaign_id=campaign.id,
                    customer_id=customer_id,
                    variant=variant["name"],
                    outcome=outcome,
                    email_id=email_id,
                )
            )
        return len(batch)


def _phase_done(session: Session, campaign: Campaign, moment: datetime) -> None:
    """Everyone handled: a test waits for its winner, anything else is sent."""
    if campaign.test_percent is not None and campaign.winner_variant is None:
        campaign.status = "testing"
        campaign.winner_at = moment + timedelta(hours=campaign.winner_after_hours or 0)
        return
    campaign.status = "sent"
    campaign.finished_at = utcnow()


def _customers(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, Customer]:
    """These customers, still in the database and not erased, by id."""
    return {
        c.id: c
        for c in session.scalars(select(Customer).where(Customer.id.in_(ids)))
        if c.status != "erased"
    }


def _handled(session: Session, campaign: Campaign) -> tuple[int, int]:
    """How many customers the campaign has handled so far, and how many were testers (the
    quota's counters: recorded rows, so a resumed campaign goes on where it stopped)."""
    rows = session.execute(
        select(CampaignRecipient.outcome, func.count())
        .where(CampaignRecipient.campaign_id == campaign.id)
        .group_by(CampaignRecipient.outcome)
    ).all()
    total = sum(int(count) for _, count in rows)
    held = sum(int(count) for outcome, count in rows if outcome == HELD)
    return total, total - held


def _assign(
    campaign: Campaign, customer_id: uuid.UUID, handled: tuple[int, int]
) -> dict[str, Any] | None:
    """The variant a newly handled customer gets, or None (kept for the winner)."""
    if campaign.winner_variant is not None:
        return _named_variant(campaign, campaign.winner_variant)
    if campaign.test_percent is None:
        return _variant(campaign, bucket("campaign", str(campaign.id), str(customer_id)))
    total, testers = handled
    if total * STRIDE % 100 >= campaign.test_percent:
        return None
    return _variant(campaign, testers * STRIDE % 100)


def _variant(campaign: Campaign, draw: int) -> dict[str, Any]:
    edge = 0
    for variant in campaign.variants:
        edge += int(variant["percent"])
        if draw < edge:
            return variant
    return campaign.variants[-1]


def _named_variant(campaign: Campaign, name: str) -> dict[str, Any]:
    return next(v for v in campaign.variants if v["name"] == name)


def _send_one(
    session: Session,
    store: Store,
    settings: Settings,
    campaign: Campaign,
    customer: Customer,
    filters: list[PropertyFilter],
    variant: dict[str, Any],
) -> tuple[str, int | None]:
    """Queue the variant's e-mail for the customer if they may get it: the outcome, and the
    e-mail's id when one was queued."""
    if not all(f.matches(mail.attributes_of(customer)) for f in filters):
        return "filtered out", None
    blocked = blocked_send(session, settings, campaign.purpose, customer.id, utcnow())
    if blocked is not None:
        return blocked, None
    template = session.scalar(
        select(EmailTemplate).where(EmailTemplate.name == variant["template"])
    )
    if template is None:
        return "no such template", None
    try:
        sent = mail.queue_email(
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
        return "failed", None
    return "email queued", sent.id


# --- the winner --------------------------------------------------------------------------


def decide_winners(store: Store, now: datetime) -> int:
    """Choose the winner of every test whose time has come (recorded on the campaign and in
    the audit log), so the next batches send it to the rest; returns how many were chosen."""
    with store.sessions.begin() as session:
        testing = list(
            session.scalars(
                select(Campaign)
                .where(Campaign.status == "testing", Campaign.winner_at <= now)
                .with_for_update(skip_locked=True)
            )
        )
        for campaign in testing:
            figures = variant_figures(session, campaign, until=now)
            winner = max(
                campaign.variants,
                key=lambda v: (figures[v["name"]]["rate"], figures[v["name"]]["sent"]),
            )["name"]
            campaign.winner_variant = winner
            campaign.winner_decision = {
                "metric": campaign.winner_metric,
                "goal": campaign.winner_goal,
                "decided_at": now.isoformat(),
                "variants": figures,
            }
            campaign.status = "sending"
            audit.record(
                session,
                principal=CAMPAIGNS,
                action="campaign.winner_chosen",
                target_type="campaign",
                target_ids=[str(campaign.id)],
                details={"winner": winner, "metric": campaign.winner_metric or ""},
            )
        return len(testing)


#: Who chooses winners (audited as such).
CAMPAIGNS = Principal.system("campaigns", "campaigns:manage")


def variant_figures(
    session: Session, campaign: Campaign, *, until: datetime
) -> dict[str, dict[str, float]]:
    """Per variant: e-mails sent in the test, recipients who converted (opened, clicked one
    of its links, or did the goal event after their e-mail, until ``until``) and the rate."""
    sent = session.execute(
        select(
            CampaignRecipient.variant, CampaignRecipient.customer_id, CampaignRecipient.email_id
        ).where(
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.email_id.is_not(None),
        )
    ).all()
    by_email = {email_id: (variant, customer) for variant, customer, email_id in sent}
    by_customer = {customer: variant for variant, customer, _ in sent}
    converted: dict[str, set[uuid.UUID]] = {v["name"]: set() for v in campaign.variants}
    goal = campaign.winner_metric == "goal"
    name = campaign.winner_goal if goal else METRIC_EVENTS.get(campaign.winner_metric or "")
    events = session.execute(
        select(Event.customer_id, Event.properties)
        .join(CampaignRecipient, CampaignRecipient.customer_id == Event.customer_id)
        .where(
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.email_id.is_not(None),
            Event.name == name,
            Event.occurred_at >= CampaignRecipient.at,
            Event.occurred_at <= until,
        )
    ).all()
    for customer_id, properties in events:
        if goal:
            converted[by_customer[customer_id]].add(customer_id)
        elif (found := by_email.get((properties or {}).get("email_id"))) is not None:
            converted[found[0]].add(found[1])
    figures: dict[str, dict[str, float]] = {}
    for variant in campaign.variants:
        count = sum(1 for v, _, _ in sent if v == variant["name"])
        hits = len(converted[variant["name"]])
        figures[variant["name"]] = {
            "sent": count,
            "converted": hits,
            "rate": round(hits / count, 4) if count else 0.0,
        }
    return figures
