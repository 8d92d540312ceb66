"""Journeys and templates as the faces manage them: create, new versions, pause and resume,
list and show with each step's funnel; e-mail templates checked in the sandbox on save.
Every change is audited."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.analytics import experiments
from clientvault.automation.journeys import mail
from clientvault.automation.journeys.definition import (
    JourneyDefinition,
    SegmentStep,
    SplitStep,
    WebhookStep,
    parse,
)
from clientvault.automation.journeys.jobs import add_do_not_contact
from clientvault.automation.journeys.models import (
    DoNotContact,
    EmailTemplate,
    Journey,
    JourneyRun,
    JourneyStepLog,
    JourneyVersion,
)
from clientvault.automation.journeys.ssrf import Network, RefusedDestination, check_saved_url
from clientvault.errors import Conflict, InvalidInput, NotFound
from clientvault.privacy.purposes import get_purpose
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.segments.service import static_segment

#: Which status changes are allowed: from → to.
TRANSITIONS = {
    "activate": ({"draft", "paused"}, "active"),
    "pause": ({"active"}, "paused"),
    "resume": ({"paused"}, "active"),
    "archive": ({"draft", "active", "paused"}, "archived"),
}


def _check_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not 1 <= len(cleaned) <= 100:
        raise InvalidInput("a name has 1 to 100 characters", details={"field": "name"})
    return cleaned


def _checked(
    session: Session, document: object, webhook_networks: Sequence[Network]
) -> JourneyDefinition:
    """The definition parsed, and checked against what it names: its purpose, each split's
    experiment, each segment step's static segment, each webhook's destination (the
    networks are ``automation.webhook_allowed_networks``)."""
    definition = parse(document)
    get_purpose(session, definition.purpose)  # NotFound for an unregistered purpose
    for position, step in enumerate(definition.steps):
        where = f"step {position + 1} ({step.id!r})"
        if isinstance(step, SegmentStep):
            try:
                static_segment(session, step.segment)
            except (NotFound, InvalidInput) as exc:
                raise InvalidInput(
                    f"{where}: segment: {exc.message}", details={"field": "definition"}
                ) from None
        if isinstance(step, WebhookStep):
            try:
                check_saved_url(step.url, webhook_networks)
            except RefusedDestination as exc:
                raise InvalidInput(
                    f"{where}: url: refused ({exc}); webhooks call public addresses only, "
                    "unless automation.webhook_allowed_networks lists the network",
                    details={"field": "definition"},
                ) from None
        if isinstance(step, SplitStep) and step.experiment is not None:
            variants = {str(v["key"]) for v in experiments.get(session, step.experiment).variants}
            if variants != {b.name for b in step.branches}:
                raise InvalidInput(
                    f"step {step.id}: the branches must be named after experiment "
                    f"{step.experiment!r}'s variants ({', '.join(sorted(variants))})",
                    details={"field": "definition"},
                )
    return definition


def create_journey(
    session: Session,
    *,
    name: str,
    description: str,
    definition: object,
    by: Principal,
    webhook_networks: Sequence[Network] = (),
) -> Journey:
    """A new journey in ``draft`` with its version 1; ``Conflict`` if the name is taken.
    ``webhook_networks``: the private networks webhooks may call anyway (none by default)."""
    checked = _checked(session, definition, webhook_networks)
    name = _check_name(name)
    if session.scalar(select(Journey.id).where(Journey.name == name)) is not None:
        raise Conflict(f"a journey is already called {name!r}")
    journey = Journey(
        name=name,
        description=description[:500],
        status="draft",
        current_version=1,
        trigger_kind=checked.trigger.kind,
    )
    session.add(journey)
    session.flush()
    session.add(
        JourneyVersion(
            journey_id=journey.id,
            version=1,
            definition=checked.model_dump(mode="json"),
            created_by=principal_name(by),
        )
    )
    _audit(session, by, "journey.created", journey)
    return journey


def new_version(
    session: Session,
    journey_id: uuid.UUID,
    *,
    definition: object,
    by: Principal,
    webhook_networks: Sequence[Network] = (),
) -> Journey:
    """Save a new definition as the journey's next version: new entrants get it, people in
    flight finish on the version they entered on. ``webhook_networks`` as for
    ``create_journey``."""
    checked = _checked(session, definition, webhook_networks)
    journey = get_journey(session, journey_id)
    if journey.status == "archived":
        raise Conflict("an archived journey cannot change")
    journey.current_version += 1
    journey.trigger_kind = checked.trigger.kind
    session.add(
        JourneyVersion(
            journey_id=journey.id,
            version=journey.current_version,
            definition=checked.model_dump(mode="json"),
            created_by=principal_name(by),
        )
    )
    session.flush()
    _audit(session, by, "journey.versioned", journey)
    return journey


def change_status(
    session: Session, journey_id: uuid.UUID, action: str, *, by: Principal
) -> Journey:
    """Activate, pause, resume or archive a journey (``Conflict`` if its status forbids)."""
    if action not in TRANSITIONS:
        raise InvalidInput(f"unknown action {action!r}", details={"field": "action"})
    allowed, target = TRANSITIONS[action]
    journey = get_journey(session, journey_id)
    if journey.status not in allowed:
        raise Conflict(f"a {journey.status} journey cannot be {action}d")
    journey.status = target
    session.flush()
    _audit(session, by, f"journey.{action}d", journey)
    return journey


def get_journey(session: Session, journey_id: uuid.UUID) -> Journey:
    """One journey, or ``NotFound``."""
    journey = session.get(Journey, journey_id)
    if journey is None:
        raise NotFound("no such journey")
    return journey


def find_journey(session: Session, key: str) -> Journey:
    """A journey by id or by name (the CLI's argument), or ``NotFound``."""
    try:
        return get_journey(session, uuid.UUID(key))
    except ValueError:
        journey = session.scalar(select(Journey).where(Journey.name == key))
        if journey is None:
            raise NotFound(f"no journey is called {key!r}") from None
        return journey


def list_journeys(session: Session) -> list[Journey]:
    """Every journey, by name."""
    return list(session.scalars(select(Journey).order_by(Journey.name)))


def definition_document(
    session: Session, journey: Journey, version: int | None = None
) -> dict[str, Any]:
    """The JSON form of a journey's (current) definition."""
    row = session.get(JourneyVersion, (journey.id, version or journey.current_version))
    if row is None:
        raise NotFound("no such version")
    return dict(row.definition)


@dataclass
class StepCount:
    """How many runs went through a step, by outcome."""

    step_id: str
    total: int
    outcomes: dict[str, int] = field(default_factory=dict)


@dataclass
class JourneyStats:
    """A journey's funnel: runs by status, each step's counts, conversions with and
    without the journey (its holdout group), so its lift is measured."""

    runs: dict[str, int]
    steps: list[StepCount]
    entrants: int
    converted: int
    holdout: int
    holdout_converted: int
    #: Per split branch (``"step: branch"``): runs that took it and how many converted.
    branches: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def conversion(self) -> float | None:
        """Share of treated entrants who converted."""
        treated = self.entrants - self.holdout
        return (self.converted / treated) if treated else None

    @property
    def holdout_conversion(self) -> float | None:
        """Share of the holdout group who converted."""
        return (self.holdout_converted / self.holdout) if self.holdout else None


def journey_stats(session: Session, journey: Journey) -> JourneyStats:
    """The journey's funnel over every version, steps in the current definition's order."""
    runs = dict(
        session.execute(
            select(JourneyRun.status, func.count())
            .where(JourneyRun.journey_id == journey.id)
            .group_by(JourneyRun.status)
        ).all()
    )
    counts: dict[str, StepCount] = {}
    for step_id, outcome, total in session.execute(
        select(JourneyStepLog.step_id, JourneyStepLog.outcome, func.count())
        .where(JourneyStepLog.journey_id == journey.id)
        .group_by(JourneyStepLog.step_id, JourneyStepLog.outcome)
    ):
        entry = counts.setdefault(step_id, StepCount(step_id, 0))
        entry.total += total
        entry.outcomes[outcome] = total
    order = [step["id"] for step in definition_document(session, journey).get("steps", [])]
    steps = [counts.pop(s, StepCount(s, 0)) for s in order] + list(counts.values())
    by_status = dict(
        session.execute(
            select(JourneyRun.status, func.count())
            .where(JourneyRun.journey_id == journey.id, JourneyRun.converted_at.is_not(None))
            .group_by(JourneyRun.status)
        ).all()
    )
    held_converted = by_status.pop("holdout", 0)
    return JourneyStats(
        runs=runs,
        steps=steps,
        entrants=sum(runs.values()),
        converted=sum(by_status.values()),
        holdout=runs.get("holdout", 0),
        holdout_converted=held_converted,
        branches=_branch_conversions(session, journey),
    )


def _branch_conversions(session: Session, journey: Journey) -> dict[str, tuple[int, int]]:
    """Each split branch's runs and conversions: the conversion per variant of an A/B split
    (a branch's outcome reads ``branch: NAME``, with the experiment after it if any)."""
    found: dict[str, tuple[int, int]] = {}
    for step_id, outcome, total, converted in session.execute(
        select(
            JourneyStepLog.step_id,
            JourneyStepLog.outcome,
            func.count(),
            func.count(JourneyRun.converted_at),
        )
        .join(JourneyRun, JourneyRun.id == JourneyStepLog.run_id)
        .where(JourneyStepLog.journey_id == journey.id, JourneyStepLog.outcome.like("branch: %"))
        .group_by(JourneyStepLog.step_id, JourneyStepLog.outcome)
    ):
        name = str(outcome).removeprefix("branch: ").split(" ", 1)[0]
        key = f"{step_id}: {name}"
        runs, conversions = found.get(key, (0, 0))
        found[key] = (runs + int(total), conversions + int(converted))
    return dict(sorted(found.items()))


# --- templates --------------------------------------------------------------------------


def save_template(
    session: Session, *, name: str, subject: str, html: str, text: str, by: Principal
) -> EmailTemplate:
    """Create or replace the template ``name``, after rendering it in the sandbox with a
    sample customer (``InvalidInput`` names the failing part)."""
    if not 1 <= len(name) <= 64 or not name.replace("-", "").replace("_", "").isalnum():
        raise InvalidInput(
            "a template name has 1 to 64 letters, digits, - and _", details={"field": "name"}
        )
    if not subject.strip() or len(subject) > 200:
        raise InvalidInput("a subject has 1 to 200 characters", details={"field": "subject"})
    if not text.strip():
        raise InvalidInput("the plain-text part is required", details={"field": "text"})
    if len(html) > 200_000 or len(text) > 100_000:
        raise InvalidInput("the template is too long", details={"field": "html"})
    mail.check_template(subject, html, text)
    template = session.scalar(select(EmailTemplate).where(EmailTemplate.name == name))
    if template is None:
        template = EmailTemplate(name=name, subject=subject, html=html, text=text)
        session.add(template)
    else:
        template.subject, template.html, template.text = subject, html, text
    session.flush()
    audit.record(
        session,
        principal=by,
        action="email_template.saved",
        target_type="email_template",
        target_ids=[name],
    )
    return template


def get_template(session: Session, name: str) -> EmailTemplate:
    """One template by name, or ``NotFound``."""
    template = session.scalar(select(EmailTemplate).where(EmailTemplate.name == name))
    if template is None:
        raise NotFound(f"no template is called {name!r}")
    return template


def list_templates(session: Session) -> list[EmailTemplate]:
    """Every template, by name."""
    return list(session.scalars(select(EmailTemplate).order_by(EmailTemplate.name)))


def delete_template(session: Session, name: str, *, by: Principal) -> None:
    """Delete a template (sends naming it afterwards fail their run, visibly)."""
    session.delete(get_template(session, name))
    audit.record(
        session,
        principal=by,
        action="email_template.deleted",
        target_type="email_template",
        target_ids=[name],
    )


def preview_template(subject: str, html: str, text: str) -> mail.Rendered:
    """The template rendered for the sample customer (the editor's live preview)."""
    return mail.check_template(subject, html, text)


# --- do not contact ---------------------------------------------------------------------


def do_not_contact_list(session: Session) -> list[DoNotContact]:
    """The do-not-contact list, newest first (for the DPO)."""
    return list(session.scalars(select(DoNotContact).order_by(DoNotContact.created_at.desc())))


def add_to_do_not_contact(
    session: Session, customer_id: uuid.UUID, *, note: str, by: Principal
) -> DoNotContact:
    """Put a customer on the list by hand (the DPO's decision, audited); an entry already
    there is kept as it is and returned."""
    add_do_not_contact(session, customer_id, reason="manual", note=note)
    _audit_list(session, by, "do_not_contact.added", customer_id)
    row = session.get(DoNotContact, customer_id)
    assert row is not None
    return row


def remove_from_do_not_contact(session: Session, customer_id: uuid.UUID, *, by: Principal) -> None:
    """Take a customer off the list (audited); ``NotFound`` when they are not on it."""
    row = session.get(DoNotContact, customer_id)
    if row is None:
        raise NotFound("this customer is not on the list")
    session.delete(row)
    _audit_list(session, by, "do_not_contact.removed", customer_id)


def _audit_list(session: Session, by: Principal, action: str, customer_id: uuid.UUID) -> None:
    audit.record(
        session,
        principal=by,
        action=action,
        target_type="customer",
        target_ids=[str(customer_id)],
    )


def principal_name(principal: Principal) -> str:
    """Who made a version, as stored with it."""
    return f"{principal.kind}:{principal.id}"[:128]


def _audit(session: Session, by: Principal, action: str, journey: Journey) -> None:
    audit.record(
        session,
        principal=by,
        action=action,
        target_type="journey",
        target_ids=[str(journey.id)],
        details={"name": journey.name, "version": journey.current_version},
    )
