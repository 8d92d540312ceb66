"""What the other domains know of a person, for the console pages that show a customer
(the 360° page, the support agent's card): segments, scores, tickets and recommendations,
each read through its own domain. Composed here, in the console face, because those domains
sit side by side and do not import each other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from clientvault.customers.schemas import Customer360
from clientvault.customers.scores import CustomerScore, scores_of
from clientvault.errors import Unavailable
from clientvault.predict.personal import CustomerRecommendations, recommendations_for
from clientvault.segments.models import Segment
from clientvault.segments.service import customer_segments
from clientvault.support.models import Ticket
from clientvault.support.tickets import customer_tickets

#: Score kinds that are probabilities (shown as a percentage) and amounts (two decimals).
PROBABILITY_SCORES = frozenset(
    {"purchase_propensity", "churn_probability", "clv_probability_alive", "fraud_risk"}
)
AMOUNT_SCORES = frozenset({"clv_historical", "clv_predicted"})
#: How many tickets and recommended products the page lists.
TICKETS_SHOWN = 20
RECOMMENDATIONS_SHOWN = 5
NOT_PERSONALISED = (
    "Nothing recommended: the customer has not consented to personalisation, "
    "or restricted processing."
)
NOTHING_RECOMMENDED = "Nothing recommended: nothing in stock that the model would recommend."


@dataclass(frozen=True)
class ShownScore:
    """A score as the page prints it: its label and its value already formatted."""

    kind: str
    label: str | None
    value: str | None
    model_version: str
    computed_at: datetime


@dataclass(frozen=True)
class DomainPanels:
    """What the other domains know of the person, for the lower panels of the page."""

    segments: list[tuple[Segment, datetime]]
    scores: list[ShownScore]
    tickets: list[Ticket]
    recommendations: CustomerRecommendations | None
    #: Why no product is listed, when none is.
    recommendations_note: str | None


def shown_score(score: CustomerScore) -> ShownScore:
    """``score`` with its value formatted for its kind: a percentage, an amount or a number."""
    value = score.value
    if value is None:
        text = None
    elif score.kind in PROBABILITY_SCORES:
        text = f"{value * 100:.1f} %"
    elif score.kind in AMOUNT_SCORES:
        text = f"{value:,.2f}"
    else:
        text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    return ShownScore(score.kind, score.label, text, score.model_version, score.computed_at)


def domain_panels(session: Session, view: Customer360) -> DomainPanels:
    """The person's segments, scores, tickets and recommendations, each read through its
    domain (memberships and scores are the surviving profile's; tickets those of every
    profile merged into it)."""
    person = view.golden.customer_id
    found: CustomerRecommendations | None
    note: str | None
    try:
        found = recommendations_for(session, person, k=RECOMMENDATIONS_SHOWN)
    except Unavailable as missing:  # no recommender trained yet
        found, note = None, f"Nothing recommended: {missing.message}."
    else:
        note = None if found.items else NOTHING_RECOMMENDED
        note = note if found.allowed else NOT_PERSONALISED
    return DomainPanels(
        segments=customer_segments(session, person),
        scores=[shown_score(s) for s in scores_of(session, person)],
        tickets=customer_tickets(session, view.golden.profile_ids, limit=TICKETS_SHOWN),
        recommendations=found,
        recommendations_note=note,
    )
