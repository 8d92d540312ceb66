"""Support's scheduled jobs: hand out queued tickets (and take back stale ones) every minute,
raise SLA warnings and breaches in the alerts inbox, purge the chatbot's question log, and
retrain the ticket category classifier daily."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.security.models import Alert
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from clientvault.store.schedule import ScheduledJob
from clientvault.support import categories, tickets
from clientvault.support.chat_stats import purge_chat_log
from clientvault.support.models import OPEN_STATUSES, Ticket
from clientvault.support.sla import Calendar, SlaState, target_state

SLA_JOB = "support.sla"


def _assign(store: Store, settings: Settings) -> None:
    now = utcnow()
    with store.sessions.begin() as session:
        tickets.reassign_stale(session, settings=settings.support, zone=settings.zone, now=now)
        tickets.assign_queued(session, zone=settings.zone, now=now)


def ticket_sla(settings: Settings, ticket: Ticket, now: datetime | None = None) -> list[SlaState]:
    """The first-response and resolution targets of a ticket as of ``now``."""
    moment = now or utcnow()
    calendar = Calendar.of(settings.support, settings.zone)
    support = settings.support
    return [
        target_state(
            calendar,
            target=target,
            created_at=ticket.created_at,
            hours=hours[ticket.priority],
            done_at=done,
            now=moment,
            warn_share=support.warn_before_share,
        )
        for target, hours, done in (
            ("first_response", support.first_response_hours, ticket.first_response_at),
            ("resolution", support.resolution_hours, ticket.resolved_at),
        )
    ]


def check_sla(session: Session, settings: Settings) -> int:
    """Raise one alert per open ticket and target that reaches "warning" or "breached"
    (deduplicated); returns how many alerts are new."""
    now = utcnow()
    raised = 0
    for ticket in session.scalars(select(Ticket).where(Ticket.status.in_(OPEN_STATUSES))):
        for state in ticket_sla(settings, ticket, now):
            if state.state not in ("warning", "breached"):
                continue
            key = f"sla:{ticket.id}:{state.target}:{state.state}"
            if session.scalar(select(func.count()).where(Alert.dedup_key == key)):
                continue
            session.add(
                Alert(
                    dedup_key=key,
                    kind=f"sla_{state.state}",
                    severity="high" if state.state == "breached" else "medium",
                    subject=f"ticket:{ticket.id}",
                    actor_kind="system",
                    actor_id=SLA_JOB,
                    window_start=ticket.created_at,
                    window_end=now,
                    summary=(
                        f"{ticket.priority} ticket: {state.target.replace('_', ' ')} "
                        f"{'target breached' if state.state == 'breached' else 'due soon'} "
                        f"(due {state.due:%Y-%m-%d %H:%M} UTC)"
                    ),
                    evidence={"ticket_id": str(ticket.id), "target": state.target},
                )
            )
            raised += 1
    session.flush()
    return raised


def _sla(store: Store, settings: Settings) -> None:
    with store.sessions.begin() as session:
        check_sla(session, settings)


def _chat_log(store: Store, settings: Settings) -> None:
    with store.sessions.begin() as session:
        purge_chat_log(session, days=settings.support.chat_log_days)


def _categories(store: Store, settings: Settings) -> None:
    with store.sessions.begin() as session:
        categories.train(session, store)


ASSIGN = ScheduledJob(
    name="support.assign",
    description="Give queued support tickets to free agents; take back stale assignments.",
    schedule=lambda settings: "every 1 minute",
    run=_assign,
    lease=timedelta(minutes=5),
)
SLA = ScheduledJob(
    name=SLA_JOB,
    description="Raise alerts for support tickets nearing or past their SLA targets.",
    schedule=lambda settings: "every 15 minutes",
    run=_sla,
    lease=timedelta(minutes=10),
)
CHAT_LOG = ScheduledJob(
    name="support.chat-log-retention",
    description="Delete the chatbot's question log past its retention.",
    schedule=lambda settings: "daily at 03:30",
    run=_chat_log,
    lease=timedelta(minutes=10),
)
CATEGORIES = ScheduledJob(
    name="support.categories",
    description="Retrain the ticket category suggestions on the closed, categorised tickets.",
    schedule=lambda settings: "daily at 04:15",
    run=_categories,
    lease=timedelta(minutes=30),
)
