"""A journey's definition: its trigger, its steps and its rules, as versioned JSON.

The pydantic models below are the one description of the format: the API and the console
validate with them, ``json_schema()`` publishes them as JSON Schema, and ``parse`` turns
pydantic's errors into ``InvalidInput`` whose message names the faulty step (by its id and
position) so a marketer sees which step to fix. Steps run in list order unless a step jumps
(``condition``, ``split``); ``exit`` or the end of the list ends the journey.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from clientvault.errors import InvalidInput
from clientvault.segments.rules import SLUG_PATTERN

#: The definition format's version (bumped when the format changes incompatibly).
FORMAT_VERSION = 1
#: Where a jump may go besides a step id: the journey's end.
EXIT = "exit"
STEP_ID = r"^[a-z][a-z0-9_-]{0,39}$"

Scalar = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PropertyFilter(_Strict):
    """A test on an event property or a customer attribute (``traits.plan``, ``country``)."""

    field: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.$-]+$")
    op: Literal["eq", "ne", "gt", "gte", "lt", "lte", "exists", "contains"] = "eq"
    value: Scalar | None = None

    def matches(self, document: dict[str, Any]) -> bool:
        """Whether ``document`` (properties or attributes, nested by dots) passes the test."""
        found: Any = document
        for part in self.field.split("."):
            if not isinstance(found, dict) or part not in found:
                return False if self.op != "ne" else self.value is not None
            found = found[part]
        return _compare(self.op, found, self.value)


def _compare(op: str, found: Any, value: Any) -> bool:
    if op == "exists":
        return found is not None
    if op == "eq":
        return bool(found == value)
    if op == "ne":
        return bool(found != value)
    if op == "contains":
        return isinstance(found, str | list) and value in found
    try:
        if op == "gt":
            return bool(found > value)
        if op == "gte":
            return bool(found >= value)
        if op == "lt":
            return bool(found < value)
        return bool(found <= value)
    except TypeError:  # a string compared with a number: no match rather than an error
        return False


EventName = Annotated[str, Field(min_length=1, max_length=200)]


class EventTrigger(_Strict):
    """Start when the customer does ``event`` (its properties passing every filter)."""

    kind: Literal["event"] = "event"
    event: EventName
    filters: list[PropertyFilter] = Field(default_factory=list, max_length=20)


class AbsenceTrigger(_Strict):
    """Start when the customer does ``event`` and not ``unless`` within ``within_minutes``
    (``Product Added`` without ``Order Completed`` within 120 minutes: a cart abandoned)."""

    kind: Literal["event_not_followed"] = "event_not_followed"
    event: EventName
    filters: list[PropertyFilter] = Field(default_factory=list, max_length=20)
    unless: EventName
    within_minutes: float = Field(gt=0, le=60 * 24 * 90)


class DateTrigger(_Strict):
    """Start on a date attribute, evaluated daily at ``at_hour`` in the customer's time zone
    (their ``timezone`` trait, else the installation's), ``offset_days`` after that date:
    ``birthday`` (month and day; negative: before), or ``last_order`` (the day of the
    person's latest order, their merged profiles' orders counted, fully refunded ones not;
    at least 1 day after). A person enters once per qualifying date (the re-entry rule
    applies on top). Evaluated by ``dates.start_date_runs``."""

    kind: Literal["date"] = "date"
    attribute: Literal["birthday", "last_order"] = "birthday"
    offset_days: int = Field(default=0, ge=-365, le=365)
    at_hour: int = Field(default=9, ge=0, le=23)

    @field_validator("offset_days")
    @classmethod
    def _after_the_order(cls, value: int, info: ValidationInfo) -> int:
        if info.data.get("attribute") == "last_order" and value < 1:
            raise ValueError("days after the last order must be 1 or more")
        return value


class ConsentTrigger(_Strict):
    """Start when the customer grants consent to ``purpose``."""

    kind: Literal["consent_granted"] = "consent_granted"
    purpose: str = Field(min_length=1, max_length=64)


Trigger = Annotated[
    EventTrigger | AbsenceTrigger | DateTrigger | ConsentTrigger, Field(discriminator="kind")
]


class _Step(_Strict):
    id: str = Field(pattern=STEP_ID, description="Unique within the journey.")
    label: str = Field(default="", max_length=120)


class WaitStep(_Step):
    """Wait ``minutes``; or, with ``until_event``, until the customer does it (then go on)
    or ``minutes`` have passed (then go to ``timeout_go_to``, default: the next step)."""

    type: Literal["wait"] = "wait"
    minutes: float = Field(ge=0, le=60 * 24 * 365)
    until_event: EventName | None = None
    timeout_go_to: str | None = None


class ConditionStep(_Step):
    """Go to ``then_go_to`` if the customer passes every attribute filter and (if set) did
    ``event_since_entry`` since entering, else to ``else_go_to``."""

    type: Literal["condition"] = "condition"
    attributes: list[PropertyFilter] = Field(default_factory=list, max_length=20)
    event_since_entry: EventName | None = None
    then_go_to: str
    else_go_to: str


class SplitBranch(_Strict):
    """One arm of an A/B split: its share (percent) and where it goes."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,20}$")
    percent: int = Field(ge=0, le=100)
    go_to: str


class SplitStep(_Step):
    """Send each customer down one branch, by a stable hash of journey, step and customer;
    or, with ``experiment``, by that analytics experiment's assignment (its variant keys are
    the branch names, its weights replace the percents), so the experiment's results page
    compares the branches on its goal with its statistics."""

    type: Literal["split"] = "split"
    branches: list[SplitBranch] = Field(min_length=2, max_length=5)
    experiment: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")


class SendEmailStep(_Step):
    """Send the e-mail template named ``template`` (if the audience, the do-not-contact list,
    the frequency cap and quiet hours allow)."""

    type: Literal["send_email"] = "send_email"
    template: str = Field(min_length=1, max_length=64)


class WebhookStep(_Step):
    """POST the run's facts (journey, step, customer id) to ``url``, signed with HMAC-SHA256,
    retried with back-off; the receiver deduplicates on the idempotency key header."""

    type: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=500)


class UpdateTraitStep(_Step):
    """Set a custom trait on the customer's profile (``traits.<trait>``)."""

    type: Literal["update_trait"] = "update_trait"
    trait: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
    value: Scalar | None


class PointsStep(_Step):
    """Add (or, negative, remove) lead-scoring points: the customer's ``lead_points`` score."""

    type: Literal["points"] = "points"
    points: int = Field(ge=-10_000, le=10_000)


class SegmentStep(_Step):
    """Add the customer to the static segment ``segment`` (its slug), or remove them from
    it: the segment's members, history and ``Segment Entered`` / ``Exited`` events change as
    the segments domain records them (``segments.membership.change_static_members``)."""

    type: Literal["add_to_segment", "remove_from_segment"]
    segment: str = Field(pattern=SLUG_PATTERN, description="The static segment's slug.")


class ExitStep(_Step):
    """End the journey here."""

    type: Literal["exit"] = "exit"


Step = Annotated[
    WaitStep
    | ConditionStep
    | SplitStep
    | SendEmailStep
    | WebhookStep
    | UpdateTraitStep
    | PointsStep
    | SegmentStep
    | ExitStep,
    Field(discriminator="type"),
]


class Reentry(_Strict):
    """Whether a customer may enter again: ``once`` ever, ``every_time`` (never twice at
    once), or ``once_per_days`` (at most once in ``days``)."""

    mode: Literal["once", "every_time", "once_per_days"] = "once"
    days: int = Field(default=30, ge=1, le=3650)


class Goal(_Strict):
    """The event that counts as the journey's conversion, within ``within_days`` of entry;
    it ends the run as converted."""

    event: EventName
    within_days: int = Field(default=7, ge=1, le=365)


class JourneyDefinition(_Strict):
    """A journey: what starts it, what it does, and its rules."""

    format: Literal[1] = 1
    purpose: str = Field(
        default="marketing_email",
        min_length=1,
        max_length=64,
        description="The processing purpose every send is checked against (privacy.audiences).",
    )
    trigger: Trigger
    steps: list[Step] = Field(min_length=1, max_length=100)
    reentry: Reentry = Reentry()
    holdout_percent: int = Field(
        default=0, ge=0, le=50, description="Share of entrants who get nothing (control group)."
    )
    goal: Goal | None = None

    @model_validator(mode="after")
    def _jumps_land(self) -> JourneyDefinition:
        ids: dict[str, int] = {}
        for position, step in enumerate(self.steps):
            if step.id == EXIT:
                raise _step_error(position, step.id, "'exit' is reserved for the journey's end")
            if step.id in ids:
                raise _step_error(position, step.id, "this id is used by an earlier step")
            ids[step.id] = position
        for position, step in enumerate(self.steps):
            for target in jumps_of(step):
                if target != EXIT and target not in ids:
                    raise _step_error(position, step.id, f"goes to {target!r}, which is no step")
                if target == step.id:
                    raise _step_error(position, step.id, "goes to itself")
            if (
                isinstance(step, SplitStep)
                and step.experiment is None
                and sum(b.percent for b in step.branches) != 100
            ):
                raise _step_error(position, step.id, "the branches' percents must add up to 100")
        return self

    def step(self, step_id: str) -> tuple[int, Step]:
        """The step called ``step_id`` and its position (``KeyError`` if none)."""
        for position, step in enumerate(self.steps):
            if step.id == step_id:
                return position, step
        raise KeyError(step_id)

    def after(self, step_id: str) -> str:
        """The id of the step following ``step_id`` in the list, or ``EXIT``."""
        position, _ = self.step(step_id)
        return self.steps[position + 1].id if position + 1 < len(self.steps) else EXIT


class _StepError(ValueError):
    pass


def _step_error(position: int, step_id: str, message: str) -> _StepError:
    return _StepError(f"step {position + 1} ({step_id!r}): {message}")


def jumps_of(step: Step) -> list[str]:
    """The step ids (or ``EXIT``) a step may jump to, besides the next one."""
    if isinstance(step, ConditionStep):
        return [step.then_go_to, step.else_go_to]
    if isinstance(step, SplitStep):
        return [branch.go_to for branch in step.branches]
    if isinstance(step, WaitStep) and step.timeout_go_to:
        return [step.timeout_go_to]
    return []


_ADAPTER: TypeAdapter[JourneyDefinition] = TypeAdapter(JourneyDefinition)


def parse(document: object) -> JourneyDefinition:
    """A definition from its JSON form, or ``InvalidInput`` naming the faulty step."""
    try:
        return _ADAPTER.validate_python(document)
    except ValidationError as exc:
        raise InvalidInput(_describe(exc, document), details={"field": "definition"}) from None


def _describe(exc: ValidationError, document: object) -> str:
    messages = []
    for error in exc.errors()[:5]:
        location = [str(part) for part in error["loc"]]
        text = str(error["msg"]).removeprefix("Value error, ")
        if len(location) >= 2 and location[0] == "steps" and location[1].isdigit():
            position = int(location[1])
            messages.append(
                f"step {position + 1}{_step_name(document, position)}: "
                f"{'.'.join(location[3:] or location[2:]) or 'step'}: {text}"
            )
        else:
            if location[:1] == ["trigger"] and len(location) > 2:
                del location[1]  # the trigger's kind, which pydantic puts in the path
            messages.append(f"{'.'.join(location) or 'definition'}: {text}")
    return "; ".join(messages)


def _step_name(document: object, position: int) -> str:
    steps = document.get("steps") if isinstance(document, dict) else None
    if isinstance(steps, list) and position < len(steps) and isinstance(steps[position], dict):
        step_id = steps[position].get("id")
        if isinstance(step_id, str) and re.fullmatch(STEP_ID, step_id):
            return f" ({step_id!r})"
    return ""


def json_schema() -> dict[str, Any]:
    """The definition format as JSON Schema (published by the API)."""
    return _ADAPTER.json_schema()


def bucket(*parts: str) -> int:
    """A stable number in [0, 100) from ``parts``: holdout and split assignment.

    A hash rather than a random draw, so a replayed step or a second worker assigns the same
    customer to the same arm. (A split step naming an analytics experiment is assigned by
    that experiment instead.)"""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100
