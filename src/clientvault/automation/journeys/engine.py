"""The journeys' engine: runs started by the event log (``handle_events``, a consumer), by
dates and consents (``start_run``, from the jobs), and advanced when due (``advance_due``).

A run is one customer on one version of a journey. Each step is done in one transaction
with the run's new state and the step's log row ``(run id, seq)``, its idempotency key, and
every effect of the step (the queued e-mail, the queued webhook call, the trait, the points):
a worker killed at any moment leaves the step done with all its effects, or not done at all,
and the next worker does it then. External effects leave through queues delivered after the
commit (the outbox, the webhook queue), keyed by the run's step, so they are not repeated.

A wait is a due time in the future (and maybe an event that ends it early); a run of a paused
journey is not advanced until the journey resumes; a run keeps the version it entered on.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.analytics import experiments
from clientvault.automation.journeys import mail
from clientvault.automation.journeys.allowed import may_process
from clientvault.automation.journeys.definition import (
    EXIT,
    AbsenceTrigger,
    ConditionStep,
    EventTrigger,
    ExitStep,
    JourneyDefinition,
    PointsStep,
    SegmentStep,
    SendEmailStep,
    SplitStep,
    Step,
    UpdateTraitStep,
    WaitStep,
    WebhookStep,
    bucket,
    parse,
)
from clientvault.automation.journeys.events import record_event
from clientvault.automation.journeys.models import (
    DoNotContact,
    EmailTemplate,
    Journey,
    JourneyEmail,
    JourneyRun,
    JourneyStepLog,
    JourneyVersion,
    JourneyWebhook,
)
from clientvault.customers.scores import CustomerScore, Score, put_scores
from clientvault.errors import InvalidInput, NotFound
from clientvault.identity.models import Customer
from clientvault.ingest.consumers import Consumer
from clientvault.ingest.models import Event
from clientvault.privacy.audiences import audience
from clientvault.segments import membership
from clientvault.settings import AutomationSettings, Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store

logger = logging.getLogger(__name__)

#: Most steps one run does in one go (a loop of conditions without a wait stops here).
MAX_STEPS_AT_ONCE = 50
#: Runs advanced in one transaction (commits are what a step costs most on SQLite).
RUNS_PER_TRANSACTION = 20
#: The lead-scoring score kind (``customers.scores``), usable in segments.
POINTS_KIND = "lead_points"

#: The longest attribution window a goal may have (``definition.Goal.within_days``).
GOAL_HORIZON = timedelta(days=365)
#: A trigger event older than this when read starts no run (imported or late history).
STALE_TRIGGER = timedelta(days=1)

_DEFINITIONS: dict[tuple[uuid.UUID, int], JourneyDefinition] = {}


def definition_of(session: Session, journey_id: uuid.UUID, version: int) -> JourneyDefinition:
    """A journey version's definition (versions never change, so they are cached)."""
    key = (journey_id, version)
    found = _DEFINITIONS.get(key)
    if found is None:
        row = session.get(JourneyVersion, key)
        if row is None:
            raise NotFound(f"journey {journey_id} has no version {version}")
        found = _DEFINITIONS[key] = parse(row.definition)
    return found


def active_journeys(session: Session) -> list[tuple[Journey, JourneyDefinition]]:
    """The journeys taking entrants, with their current definitions."""
    journeys = session.scalars(select(Journey).where(Journey.status == "active")).all()
    return [(j, definition_of(session, j.id, j.current_version)) for j in journeys]


def start_run(
    session: Session,
    journey: Journey,
    definition: JourneyDefinition,
    *,
    customer_id: uuid.UUID,
    entry_key: str,
    now: datetime,
    first_due: datetime | None = None,
    waiting_for: str | None = None,
    event_go_to: str | None = None,
    history: list[tuple[str, str, datetime]] | None = None,
    allowed: bool | None = None,
) -> JourneyRun | None:
    """Start ``customer_id`` on the journey's current version, unless its re-entry rule, a
    run already started by the same trigger, or the audience (its purpose) says no; holdout
    entrants are recorded as such and get nothing. Returns the run, or None.
    ``history`` (the journey's runs of this customer) and ``allowed`` (the audience's answer)
    may be given by a caller that read them for a whole batch in this transaction."""
    runs = (
        history
        if history is not None
        else [
            (key, status, entered)
            for key, status, entered in session.execute(
                select(JourneyRun.entry_key, JourneyRun.status, JourneyRun.entered_at).where(
                    JourneyRun.journey_id == journey.id, JourneyRun.customer_id == customer_id
                )
            )
        ]
    )
    if any(key == entry_key for key, _, _ in runs):
        return None  # this trigger started a run already (a replayed batch)
    if any(status == "active" for _, status, _ in runs):
        return None  # never twice at once
    rule = definition.reentry
    if runs and rule.mode == "once":
        return None
    if rule.mode == "once_per_days" and any(
        entered > now - timedelta(days=rule.days) for _, _, entered in runs
    ):
        return None
    if not (
        allowed if allowed is not None else may_process(session, definition.purpose, customer_id)
    ):
        return None
    held_out = bucket("holdout", str(journey.id), str(customer_id)) < definition.holdout_percent
    run = JourneyRun(
        journey_id=journey.id,
        version=journey.current_version,
        customer_id=customer_id,
        entry_key=entry_key[:200],
        status="holdout" if held_out else "active",
        step_id=EXIT if held_out else definition.steps[0].id,
        due_at=None if held_out else (first_due or now),
        waiting_for=None if held_out else waiting_for,
        event_go_to=None if held_out else event_go_to,
        entered_at=now,
        finished_at=now if held_out else None,
        outcome="holdout" if held_out else None,
    )
    session.add(run)
    session.flush()
    if history is not None:
        history.append((run.entry_key, run.status, run.entered_at))
    return run


def _histories(
    session: Session, journey_ids: list[uuid.UUID], customers: list[uuid.UUID]
) -> dict[tuple[uuid.UUID, uuid.UUID], list[tuple[str, str, datetime]]]:
    """Every run of these journeys for these customers, for ``start_run``'s re-entry rule
    (one query for a batch of events rather than one per trigger match)."""
    found: dict[tuple[uuid.UUID, uuid.UUID], list[tuple[str, str, datetime]]] = {}
    if not journey_ids:
        return found
    for journey_id, customer_id, key, status, entered in session.execute(
        select(
            JourneyRun.journey_id,
            JourneyRun.customer_id,
            JourneyRun.entry_key,
            JourneyRun.status,
            JourneyRun.entered_at,
        ).where(JourneyRun.journey_id.in_(journey_ids), JourneyRun.customer_id.in_(customers))
    ):
        found.setdefault((journey_id, customer_id), []).append((key, status, entered))
    return found


# --- the consumer ----------------------------------------------------------------------


def handle_events(session: Session, store: Store, events: Sequence[Event]) -> None:
    """Start runs on trigger events, end waits on awaited events, record goals (the
    consumer's handler: idempotent, a replayed batch starts and moves nothing twice)."""
    journeys = active_journeys(session)
    mine = [e for e in events if e.customer_id is not None and e.name]
    if not mine:
        return
    customers = list({e.customer_id for e in mine if e.customer_id is not None})
    open_runs = _open_runs(session, customers)
    history = _histories(session, [j.id for j, _ in journeys], customers)
    # Who may be processed, per purpose, for the whole batch at once (one audience query
    # each, in this transaction) rather than one query per trigger match.
    among = select(Customer.id).where(Customer.id.in_(customers))
    audiences = {
        purpose: set(session.scalars(audience(session, purpose=purpose, customers=among)))
        for purpose in {definition.purpose for _, definition in journeys}
    }
    for event in mine:
        assert event.customer_id is not None
        assert event.name is not None
        _resolve_waits(session, open_runs.get(event.customer_id, []), event)
        for journey, definition in journeys:
            trigger = definition.trigger
            if not isinstance(trigger, EventTrigger | AbsenceTrigger):
                continue
            if trigger.event != event.name:
                continue
            if not all(f.matches(event.properties or {}) for f in trigger.filters):
                continue
            if event.occurred_at < utcnow() - STALE_TRIGGER:
                continue  # history (an import, a late batch) starts nothing
            extra: dict[str, Any] = {"first_due": utcnow()}
            if isinstance(trigger, AbsenceTrigger):
                extra = {
                    "first_due": event.occurred_at + timedelta(minutes=trigger.within_minutes),
                    "waiting_for": trigger.unless,
                    "event_go_to": EXIT,
                }
            run = start_run(
                session,
                journey,
                definition,
                customer_id=event.customer_id,
                entry_key=f"event:{event.message_id}",
                now=event.occurred_at,
                history=history.setdefault((journey.id, event.customer_id), []),
                allowed=event.customer_id in audiences[definition.purpose],
                **extra,
            )
            if run is not None:
                open_runs.setdefault(event.customer_id, []).append(run)


def _open_runs(session: Session, customers: list[uuid.UUID]) -> dict[uuid.UUID, list[JourneyRun]]:
    # Finished runs too, while their goal may still come (a purchase after the last e-mail).
    query = select(JourneyRun).where(
        JourneyRun.customer_id.in_(customers),
        (JourneyRun.status == "active")
        | (
            JourneyRun.status.in_(("holdout", "completed"))
            & JourneyRun.converted_at.is_(None)
            & (JourneyRun.entered_at > utcnow() - GOAL_HORIZON)
        ),
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    found: dict[uuid.UUID, list[JourneyRun]] = {}
    for run in session.scalars(query):
        found.setdefault(run.customer_id, []).append(run)
    return found


def _resolve_waits(session: Session, runs: list[JourneyRun], event: Event) -> None:
    for run in runs:
        if event.occurred_at < run.entered_at:
            continue
        if run.status == "active" and run.steps_done == 0 and run.waiting_for == event.name:
            # The trigger's own cancelling event (an order before the cart delay): the person
            # never really entered, so it is no conversion either.
            _finish(run, "exited", f"event: {event.name}", utcnow())
            continue
        definition = definition_of(session, run.journey_id, run.version)
        goal = definition.goal
        if (
            goal is not None
            and goal.event == event.name
            and run.converted_at is None
            and event.occurred_at <= run.entered_at + timedelta(days=goal.within_days)
        ):
            run.converted_at = event.occurred_at
            if run.status == "active":
                _finish(run, "converted", f"goal: {goal.event}", event.occurred_at)
            continue
        if run.status == "active" and run.waiting_for == event.name:
            target = run.event_go_to or EXIT
            run.waiting_for = None
            run.event_go_to = None
            if target == EXIT:
                _finish(run, "exited", f"event: {event.name}", utcnow())
            else:
                run.step_id = target
                run.due_at = utcnow()


def _finish(run: JourneyRun, status: str, outcome: str, at: datetime) -> None:
    run.status = status
    run.outcome = outcome[:64]
    run.step_id = EXIT
    run.due_at = None
    run.waiting_for = None
    run.event_go_to = None
    run.finished_at = at


JOURNEY_CONSUMER = Consumer(
    name="automation.journeys", handle=handle_events, event_types=frozenset({"track"})
)


# --- advancing runs --------------------------------------------------------------------


def advance_due(store: Store, settings: Settings, *, now: datetime | None = None) -> int:
    """Advance every run whose next step is due (journeys paused or archived hold theirs);
    returns how many runs moved. Runs move a few per transaction (each step with its effects
    and its log row, so a kill loses or keeps them together)."""
    moment = now or utcnow()
    with store.read_sessions() as session, session.begin():
        due = list(
            session.scalars(
                select(JourneyRun.id)
                .join(Journey, Journey.id == JourneyRun.journey_id)
                .where(
                    JourneyRun.status == "active",
                    JourneyRun.due_at <= moment,
                    Journey.status == "active",
                )
                .order_by(JourneyRun.due_at)
                .limit(settings.automation.batch_size)
            )
        )
    moved = 0
    for start in range(0, len(due), RUNS_PER_TRANSACTION):
        chunk = due[start : start + RUNS_PER_TRANSACTION]
        try:
            moved += _advance_runs(store, settings, chunk, moment)
        except Exception:
            # One run failing must not hold the others: each alone, a failing one marked so.
            logger.exception("advancing journey runs failed; retrying them one by one")
            for run_id in chunk:
                try:
                    moved += _advance_runs(store, settings, [run_id], moment)
                except Exception as exc:
                    logger.exception("journey run %s failed: %s", run_id, type(exc).__name__)
                    _mark_failed(store, run_id, f"error: {type(exc).__name__}", moment)
    return moved


def _advance_runs(store: Store, settings: Settings, run_ids: list[int], now: datetime) -> int:
    """Advance these runs (those still due) in one transaction; how many moved."""
    with store.sessions.begin() as session:
        query = select(JourneyRun).where(
            JourneyRun.id.in_(run_ids), JourneyRun.status == "active", JourneyRun.due_at <= now
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        runs = list(session.scalars(query))  # moved meanwhile (another worker, an event): gone
        for run in runs:
            _advance(session, store, settings, run, now)
        return len(runs)


def _mark_failed(store: Store, run_id: int, outcome: str, now: datetime) -> None:
    with store.sessions.begin() as session:
        run = session.get(JourneyRun, run_id)
        if run is not None and run.status == "active":
            _finish(run, "failed", outcome, now)


def _advance(
    session: Session, store: Store, settings: Settings, run: JourneyRun, now: datetime
) -> None:
    definition = definition_of(session, run.journey_id, run.version)
    run.waiting_for = None
    run.event_go_to = None
    for _ in range(MAX_STEPS_AT_ONCE):
        if run.step_id == EXIT:
            _finish(run, "completed", "end", now)
            return
        _, step = definition.step(run.step_id)
        result = _do_step(session, store, settings, run, definition, step, now)
        if result.defer_until is not None:  # quiet hours: the same step, later, not logged
            run.due_at = result.defer_until
            return
        run.steps_done += 1
        session.add(
            JourneyStepLog(
                run_id=run.id,
                seq=run.steps_done,
                journey_id=run.journey_id,
                step_id=step.id,
                outcome=result.outcome[:64],
                at=now,
            )
        )
        if result.finish is not None:
            _finish(run, result.finish, result.outcome, now)
            return
        run.step_id = result.go_to if result.go_to is not None else definition.after(step.id)
        if result.wait_until is not None and result.wait_until > now:
            run.due_at = result.wait_until
            run.waiting_for = result.waiting_for
            run.event_go_to = result.event_go_to
            return
        run.due_at = now
    logger.warning(
        "journey run %s did %d steps at once; continuing later", run.id, MAX_STEPS_AT_ONCE
    )


class _Result:
    __slots__ = (
        "defer_until",
        "event_go_to",
        "finish",
        "go_to",
        "outcome",
        "wait_until",
        "waiting_for",
    )

    def __init__(
        self,
        outcome: str,
        *,
        go_to: str | None = None,
        finish: str | None = None,
        wait_until: datetime | None = None,
        waiting_for: str | None = None,
        event_go_to: str | None = None,
        defer_until: datetime | None = None,
    ) -> None:
        self.outcome = outcome
        self.go_to = go_to
        self.finish = finish
        self.wait_until = wait_until
        self.waiting_for = waiting_for
        self.event_go_to = event_go_to
        self.defer_until = defer_until


def _do_step(
    session: Session,
    store: Store,
    settings: Settings,
    run: JourneyRun,
    definition: JourneyDefinition,
    step: Step,
    now: datetime,
) -> _Result:
    if isinstance(step, WaitStep):
        after = definition.after(step.id)
        return _Result(
            "waiting" if step.minutes else "waited",
            go_to=step.timeout_go_to or after if step.until_event else after,
            wait_until=now + timedelta(minutes=step.minutes),
            waiting_for=step.until_event,
            event_go_to=after,
        )
    if isinstance(step, ConditionStep):
        passed = _condition(session, run, step)
        return _Result(f"condition: {passed}", go_to=step.then_go_to if passed else step.else_go_to)
    if isinstance(step, SplitStep) and step.experiment is not None:
        return _experiment_branch(session, run, step, now)
    if isinstance(step, SplitStep):
        draw = bucket("split", str(run.journey_id), step.id, str(run.customer_id))
        edge = 0
        for branch in step.branches:
            edge += branch.percent
            if draw < edge:
                return _Result(f"branch: {branch.name}", go_to=branch.go_to)
        return _Result(f"branch: {step.branches[-1].name}", go_to=step.branches[-1].go_to)
    if isinstance(step, SendEmailStep):
        return _send(session, store, settings, run, definition, step, now)
    if isinstance(step, WebhookStep):
        session.add(
            JourneyWebhook(
                idempotency_key=f"run-{run.id}-{run.steps_done + 1}",
                customer_id=run.customer_id,
                url=step.url,
                payload={
                    "journey_id": str(run.journey_id),
                    "version": run.version,
                    "step": step.id,
                    "customer_id": str(run.customer_id),
                    "run_id": run.id,
                },
                next_attempt_at=now,
            )
        )
        return _Result("webhook queued")
    if isinstance(step, UpdateTraitStep):
        customer = session.get(Customer, run.customer_id)
        if customer is None:
            return _Result("no customer", finish="exited")
        customer.traits = {**(customer.traits or {}), step.trait: step.value}
        return _Result("trait set")
    if isinstance(step, PointsStep):
        current = session.scalar(
            select(CustomerScore.value).where(
                CustomerScore.customer_id == run.customer_id, CustomerScore.kind == POINTS_KIND
            )
        )
        total = (current or 0.0) + step.points
        put_scores(session, POINTS_KIND, [Score(run.customer_id, total)], model_version="journeys")
        return _Result(f"points: {step.points:+d}")
    if isinstance(step, SegmentStep):
        return _segment_step(session, run, step, now)
    assert isinstance(step, ExitStep)
    return _Result("exit", finish="exited")


def _segment_step(session: Session, run: JourneyRun, step: SegmentStep, now: datetime) -> _Result:
    """Add the customer to (or remove them from) a static segment, through the segments
    domain; a segment deleted or made dynamic since the journey was saved fails the run, as
    a deleted template does."""
    adding = step.type == "add_to_segment"
    try:
        changes = membership.change_static_members(
            session, step.segment, [run.customer_id], add=adding, now=now
        )
    except (NotFound, InvalidInput):
        return _Result("no such static segment", finish="failed")
    if changes.entered or changes.exited:
        return _Result("added to segment" if adding else "removed from segment")
    return _Result("segment unchanged")  # already in (or out), or a profile merged away


def _condition(session: Session, run: JourneyRun, step: ConditionStep) -> bool:
    if step.attributes:
        customer = session.get(Customer, run.customer_id)
        if customer is None:
            return False
        attributes = mail.attributes_of(customer)
        if not all(f.matches(attributes) for f in step.attributes):
            return False
    if step.event_since_entry:
        done = session.scalar(
            select(Event.id)
            .where(
                Event.customer_id == run.customer_id,
                Event.name == step.event_since_entry,
                Event.occurred_at >= run.entered_at,
            )
            .limit(1)
        )
        if done is None:
            return False
    return True


def _experiment_branch(
    session: Session, run: JourneyRun, step: SplitStep, now: datetime
) -> _Result:
    """The branch the step's experiment assigns the customer, with the exposure put on the
    log as Segment's ``Experiment Viewed`` so the experiment's results count it."""
    experiment = experiments.get(session, str(step.experiment))
    assigned = experiments.assign(experiment, str(run.customer_id))
    branch = next(b for b in step.branches if b.name == assigned.variant)
    if assigned.in_experiment:
        record_event(
            session,
            customer_id=run.customer_id,
            name=experiments.EXPOSURE_EVENT,
            message_id=f"journey-exposure:{run.id}:{step.id}",
            properties={"experiment_id": experiment.key, "variation_id": branch.name},
            at=now,
        )
    return _Result(f"branch: {branch.name} (experiment {experiment.key})", go_to=branch.go_to)


def _send(
    session: Session,
    store: Store,
    settings: Settings,
    run: JourneyRun,
    definition: JourneyDefinition,
    step: SendEmailStep,
    now: datetime,
) -> _Result:
    blocked = blocked_send(session, settings, definition.purpose, run.customer_id, now)
    if blocked == NOT_IN_AUDIENCE:
        return _Result(blocked, finish="exited")  # consent withdrawn, erased…
    if blocked is not None:
        return _Result(blocked)
    quiet_end = quiet_until(settings.automation, settings, now)
    if quiet_end is not None:
        return _Result("quiet hours", defer_until=quiet_end)
    template = session.scalar(select(EmailTemplate).where(EmailTemplate.name == step.template))
    customer = session.get(Customer, run.customer_id)
    if template is None:
        return _Result("no such template", finish="failed")
    if customer is None:
        return _Result("no customer", finish="exited")
    try:
        mail.queue_email(
            session,
            store,
            settings,
            customer=customer,
            template=template,
            journey_id=run.journey_id,
            run_id=run.id,
            step_id=step.id,
        )
    except mail.TemplateFailed:
        return _Result("template failed", finish="failed")
    except NotFound:
        return _Result("no customer", finish="exited")
    return _Result("email queued")


NOT_IN_AUDIENCE = "not in audience"


def blocked_send(
    session: Session, settings: Settings, purpose: str, customer_id: uuid.UUID, now: datetime
) -> str | None:
    """Why a marketing e-mail to the customer may not be queued now (out of the purpose's
    audience, on the do-not-contact list, over the weekly cap), or None if it may."""
    if not may_process(session, purpose, customer_id):
        return NOT_IN_AUDIENCE
    if session.get(DoNotContact, customer_id) is not None:
        return "do not contact"
    if emails_this_week(session, customer_id, now) >= settings.automation.emails_per_week:
        return "frequency cap"
    return None


def emails_this_week(session: Session, customer_id: uuid.UUID, now: datetime) -> int:
    """Marketing e-mails queued for the customer in the last 7 days, every journey counted."""
    return (
        session.scalar(
            select(func.count()).where(
                JourneyEmail.customer_id == customer_id,
                JourneyEmail.created_at > now - timedelta(days=7),
            )
        )
        or 0
    )


def quiet_until(policy: AutomationSettings, settings: Settings, now: datetime) -> datetime | None:
    """When quiet hours (installation time zone) end, if ``now`` falls in them; else None."""
    start, end = policy.quiet_hours_start, policy.quiet_hours_end
    if start == end:
        return None
    local = now.astimezone(settings.zone)
    hour = local.hour
    inside = start <= hour < end if start < end else (hour >= start or hour < end)
    if not inside:
        return None
    resume = local.replace(hour=end, minute=0, second=0, microsecond=0)
    if resume <= local:
        resume += timedelta(days=1)
    return resume.astimezone(now.tzinfo)
