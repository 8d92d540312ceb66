"""The breach register (GDPR Art. 33(5)) and its 72-hour notification clock.

Every personal-data breach is recorded, whether or not it is notified. The supervisory
authority must be told within 72 hours of ``detected_at`` unless the breach is unlikely to
result in a risk to people, in which case the register keeps why it was not notified.
``clock`` says how much time is left, or by how much the deadline was missed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.errors import Conflict, InvalidInput, NotFound
from clientvault.privacy import deadlines
from clientvault.privacy.requests.models import BREACH_RISKS, Breach
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.store.base import utcnow

#: Breach times before this are typing mistakes (and far-off years overflow time zones).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class BreachReport:
    """What the DPO records when a breach is found (validated by the caller's schema)."""

    title: str
    description: str
    detected_at: datetime
    risk: str
    occurred_at: datetime | None = None
    data_categories: tuple[str, ...] = ()
    approx_subjects: int | None = None
    measures: str | None = None


@dataclass(frozen=True)
class Clock:
    """Where a breach stands against its 72-hour deadline."""

    deadline: datetime
    state: str  # "notified", "not_required", "open", "overdue"
    remaining: timedelta  # negative once overdue; time to spare when notified

    @property
    def hours(self) -> float:
        """``remaining`` in hours (negative: overdue by that much)."""
        return self.remaining.total_seconds() / 3600


def clock(breach: Breach, *, now: datetime) -> Clock:
    """The breach's notification clock as of ``now``."""
    deadline = deadlines.breach_deadline(breach.detected_at)
    if breach.authority_notified_at is not None:
        return Clock(deadline, "notified", deadline - breach.authority_notified_at)
    if breach.risk == "unlikely":
        return Clock(deadline, "not_required", deadline - now)
    remaining = deadline - now
    return Clock(deadline, "overdue" if remaining < timedelta(0) else "open", remaining)


def register(session: Session, *, report: BreachReport, principal: Principal) -> Breach:
    """Record a breach; one unlikely to be a risk needs its reason in ``measures``."""
    if report.risk not in BREACH_RISKS:
        raise InvalidInput("unknown risk level", details={"field": "risk"})
    if report.risk == "unlikely" and not (report.measures and report.measures.strip()):
        raise InvalidInput("say why it needs no notification", details={"field": "measures"})
    if not EARLIEST <= report.detected_at <= utcnow() + timedelta(minutes=5):
        raise InvalidInput(
            "detection is after 2000 and not in the future", details={"field": "detected_at"}
        )
    if report.occurred_at is not None and report.occurred_at > report.detected_at:
        raise InvalidInput(
            "a breach occurs before it is detected", details={"field": "occurred_at"}
        )
    breach = Breach(
        title=report.title,
        description=report.description,
        detected_at=report.detected_at,
        occurred_at=report.occurred_at,
        data_categories=list(report.data_categories),
        approx_subjects=report.approx_subjects,
        risk=report.risk,
        measures=report.measures,
        no_notification_reason=report.measures if report.risk == "unlikely" else None,
        created_by=principal.id[:64],
    )
    session.add(breach)
    session.flush()
    _audit(session, principal, "breach.recorded", breach)
    return breach


def notify_authority(
    session: Session,
    *,
    breach_id: uuid.UUID,
    reference: str,
    principal: Principal,
    at: datetime | None = None,
) -> Breach:
    """Record that the supervisory authority was notified (with its case reference)."""
    breach = get_breach(session, breach_id)
    if breach.authority_notified_at is not None:
        raise Conflict("the authority was notified already")
    now = utcnow()
    when = at or now
    if when < breach.detected_at or when > now + timedelta(minutes=5):
        raise InvalidInput("notified between detection and now", details={"field": "at"})
    breach.authority_notified_at = when
    breach.authority_reference = reference
    _audit(session, principal, "breach.authority_notified", breach)
    return breach


def get_breach(session: Session, breach_id: uuid.UUID) -> Breach:
    """One breach, or ``NotFound``."""
    breach = session.get(Breach, breach_id)
    if breach is None:
        raise NotFound("no such breach")
    return breach


def list_breaches(session: Session) -> list[Breach]:
    """The register, newest detection first."""
    return list(session.scalars(select(Breach).order_by(Breach.detected_at.desc())))


def _audit(session: Session, principal: Principal, action: str, breach: Breach) -> None:
    audit.record(
        session,
        principal=principal,
        action=action,
        target_type="breach",
        target_ids=[str(breach.id)],
        details={"risk": breach.risk},
    )
