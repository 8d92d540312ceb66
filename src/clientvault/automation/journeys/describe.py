"""A journey's trigger and steps in words, for the journey page and ``clientvault journey
show``: what a marketer reads to check that the journey does what they meant."""

from __future__ import annotations

from clientvault.automation.journeys.definition import (
    EXIT,
    AbsenceTrigger,
    ConditionStep,
    ConsentTrigger,
    DateTrigger,
    EventTrigger,
    JourneyDefinition,
    PointsStep,
    SegmentStep,
    SendEmailStep,
    SplitStep,
    Step,
    Trigger,
    UpdateTraitStep,
    WaitStep,
    WebhookStep,
)


def _days(count: int) -> str:
    return f"{count} day{'' if abs(count) == 1 else 's'}"


def _minutes(minutes: float) -> str:
    if minutes and minutes % (60 * 24) == 0:
        return _days(int(minutes // (60 * 24)))
    if minutes and minutes % 60 == 0:
        hours = int(minutes // 60)
        return f"{hours} hour{'' if hours == 1 else 's'}"
    return f"{minutes:g} minute{'' if minutes == 1 else 's'}"


def _date_trigger(trigger: DateTrigger) -> str:
    hour = f"at {trigger.at_hour:02d}:00 in the customer's time zone"
    if trigger.attribute == "last_order":
        return (
            f"{_days(trigger.offset_days)} after the customer's last order, {hour}; "
            "once per last-order date"
        )
    if trigger.offset_days == 0:
        return f"On the customer's birthday, {hour}"
    side = "after" if trigger.offset_days > 0 else "before"
    return f"{_days(abs(trigger.offset_days))} {side} the customer's birthday, {hour}"


def describe_trigger(trigger: Trigger) -> str:
    """What starts the journey, in one sentence."""
    if isinstance(trigger, DateTrigger):
        return _date_trigger(trigger)
    if isinstance(trigger, ConsentTrigger):
        return f"When the customer consents to {trigger.purpose}"
    filtered = " (filtered)" if trigger.filters else ""
    if isinstance(trigger, AbsenceTrigger):
        return (
            f"When the customer does {trigger.event}{filtered} and not {trigger.unless} "
            f"within {_minutes(trigger.within_minutes)}"
        )
    assert isinstance(trigger, EventTrigger)
    return f"When the customer does {trigger.event}{filtered}"


def _target(step_id: str) -> str:
    return "the end" if step_id == EXIT else step_id


def describe_step(step: Step) -> str:
    """What one step does, in a few words."""
    if isinstance(step, WaitStep):
        if step.until_event:
            return f"Wait for {step.until_event}, at most {_minutes(step.minutes)}" + (
                f" (then {_target(step.timeout_go_to)})" if step.timeout_go_to else ""
            )
        return f"Wait {_minutes(step.minutes)}"
    if isinstance(step, ConditionStep):
        return f"If the conditions hold, go to {_target(step.then_go_to)}; else to " + _target(
            step.else_go_to
        )
    if isinstance(step, SplitStep):
        arms = ", ".join(f"{b.name} → {_target(b.go_to)}" for b in step.branches)
        by = f"experiment {step.experiment}" if step.experiment else "a stable draw"
        return f"Split by {by}: {arms}"
    if isinstance(step, SendEmailStep):
        return f"Send the e-mail {step.template!r}"
    if isinstance(step, WebhookStep):
        return f"Call the webhook {step.url}"
    if isinstance(step, UpdateTraitStep):
        return f"Set the trait {step.trait} to {step.value!r}"
    if isinstance(step, PointsStep):
        return f"{'Add' if step.points >= 0 else 'Remove'} {abs(step.points)} lead points"
    if isinstance(step, SegmentStep):
        if step.type == "add_to_segment":
            return f"Add to the static segment {step.segment}"
        return f"Remove from the static segment {step.segment}"
    return "Exit the journey"


def describe_steps(definition: JourneyDefinition) -> dict[str, str]:
    """Each step's sentence, by step id."""
    return {step.id: describe_step(step) for step in definition.steps}
