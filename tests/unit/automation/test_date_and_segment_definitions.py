"""The last-order date trigger and the segment steps in a journey's definition: validation
errors naming the path, the editor's form fields and back, the words a marketer reads."""

from __future__ import annotations

from typing import Any

import pytest

from clientvault.automation.journeys.definition import DateTrigger, json_schema, parse
from clientvault.automation.journeys.describe import describe_steps, describe_trigger
from clientvault.errors import InvalidInput
from clientvault.web.journey_form import definition_from_form, form_from_definition

WIN_BACK: dict[str, Any] = {
    "purpose": "marketing_email",
    "trigger": {"kind": "date", "attribute": "last_order", "offset_days": 30, "at_hour": 10},
    "steps": [
        {"id": "tag", "type": "add_to_segment", "segment": "lapsed"},
        {"id": "mail", "type": "send_email", "template": "win-back"},
        {"id": "untag", "type": "remove_from_segment", "segment": "active-buyers"},
    ],
    "reentry": {"mode": "every_time"},
    "holdout_percent": 10,
}


def _broken(**trigger: Any) -> str:
    with pytest.raises(InvalidInput) as caught:
        parse({**WIN_BACK, "trigger": {**WIN_BACK["trigger"], **trigger}})
    return caught.value.message


def test_the_last_order_trigger_is_days_after_the_order() -> None:
    trigger = parse(WIN_BACK).trigger
    assert isinstance(trigger, DateTrigger)
    assert (trigger.attribute, trigger.offset_days, trigger.at_hour) == ("last_order", 30, 10)
    assert _broken(offset_days=0) == (
        "trigger.offset_days: days after the last order must be 1 or more"
    )
    assert _broken(offset_days=-3).startswith("trigger.offset_days:")
    assert _broken(offset_days=400).startswith("trigger.offset_days:")
    assert _broken(attribute="first_order").startswith("trigger.attribute: Input should be")
    # A birthday may still be celebrated before the day.
    assert parse({**WIN_BACK, "trigger": {"kind": "date", "offset_days": -2}}).trigger


def test_the_schema_publishes_the_new_date_and_steps() -> None:
    schema = json_schema()["$defs"]
    assert schema["DateTrigger"]["properties"]["attribute"]["enum"] == ["birthday", "last_order"]
    assert set(schema["SegmentStep"]["properties"]["type"]["enum"]) == {
        "add_to_segment",
        "remove_from_segment",
    }


def test_a_segment_step_names_a_slug() -> None:
    steps = [{"id": "tag", "type": "add_to_segment", "segment": "Big Spenders"}]
    with pytest.raises(InvalidInput, match=r"step 1 \('tag'\): segment: String should match"):
        parse({**WIN_BACK, "steps": steps})
    with pytest.raises(InvalidInput, match=r"step 1 \('tag'\): segment: Field required"):
        parse({**WIN_BACK, "steps": [{"id": "tag", "type": "remove_from_segment"}]})


def test_the_editor_form_round_trips_the_trigger_and_the_segment_steps() -> None:
    form = form_from_definition(WIN_BACK)
    assert form["trigger_attribute"] == "last_order"
    assert form["trigger_offset_days"] == "30"
    assert (form["step-0-type"], form["step-0-segment"]) == ("add_to_segment", "lapsed")
    assert (form["step-2-type"], form["step-2-segment"]) == ("remove_from_segment", "active-buyers")
    assert parse(definition_from_form(form)) == parse(WIN_BACK)
    # A date trigger whose form names no date is a birthday, as before.
    form.pop("trigger_attribute")
    trigger = parse(definition_from_form(form)).trigger
    assert isinstance(trigger, DateTrigger)
    assert trigger.attribute == "birthday"


def test_the_trigger_and_the_steps_in_words() -> None:
    definition = parse(WIN_BACK)
    assert describe_trigger(definition.trigger) == (
        "30 days after the customer's last order, at 10:00 in the customer's time zone; "
        "once per last-order date"
    )
    assert describe_steps(definition) == {
        "tag": "Add to the static segment lapsed",
        "mail": "Send the e-mail 'win-back'",
        "untag": "Remove from the static segment active-buyers",
    }
    birthday = parse({**WIN_BACK, "trigger": {"kind": "date", "offset_days": -2, "at_hour": 8}})
    assert describe_trigger(birthday.trigger) == (
        "2 days before the customer's birthday, at 08:00 in the customer's time zone"
    )
