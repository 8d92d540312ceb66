"""The console's journey editor: a journey definition as plain form fields and back, so a
marketer edits the trigger and each step in forms, without writing JSON.

Fields are flat (``trigger_event``, ``step-3-type``…); empty fields are left out of the
definition, which ``automation.journeys.definition.parse`` then checks, naming the faulty
step. The form shows every field of a step; those its type does not use are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Fields of a step row, in the order the editor shows them.
STEP_FIELDS = (
    "id",
    "type",
    "label",
    "minutes",
    "until_event",
    "timeout_go_to",
    "template",
    "url",
    "trait",
    "value",
    "points",
    "segment",
    "then_go_to",
    "else_go_to",
    "event_since_entry",
    "filter_field",
    "filter_op",
    "filter_value",
    "branches",
)
#: Step fields copied as they are from a stored definition into the editor.
_PLAIN_STEP_FIELDS = tuple(
    name for name in STEP_FIELDS if name != "value" and not name.startswith(("filter_", "branches"))
)
STEP_TYPES = (
    "wait",
    "condition",
    "split",
    "send_email",
    "webhook",
    "update_trait",
    "points",
    "add_to_segment",
    "remove_from_segment",
    "exit",
)
TRIGGER_KINDS = ("event", "event_not_followed", "date", "consent_granted")
#: A date trigger's dates, with the editor's words for them.
DATE_ATTRIBUTES = (("birthday", "Birthday"), ("last_order", "Last order"))
OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "exists", "contains")
BLANK_STEPS = 2


def _number(text: str) -> int | float | str:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _scalar(text: str) -> Any:
    """A form value as the definition wants it: numbers and booleans typed, else text."""
    if text in ("true", "false"):
        return text == "true"
    value = _number(text)
    return value


def _filters(prefix: str, form: Mapping[str, str]) -> list[dict[str, Any]]:
    field = form.get(f"{prefix}filter_field", "").strip()
    if not field:
        return []
    entry: dict[str, Any] = {"field": field, "op": form.get(f"{prefix}filter_op", "eq") or "eq"}
    value = form.get(f"{prefix}filter_value", "").strip()
    if value:
        entry["value"] = _scalar(value)
    return [entry]


def definition_from_form(form: Mapping[str, str]) -> dict[str, Any]:
    """The definition document the editor's fields describe (not yet validated)."""
    kind = form.get("trigger_kind", "event")
    trigger: dict[str, Any] = {"kind": kind}
    if kind in ("event", "event_not_followed"):
        trigger["event"] = form.get("trigger_event", "").strip()
        trigger["filters"] = _filters("trigger_", form)
    if kind == "event_not_followed":
        trigger["unless"] = form.get("trigger_unless", "").strip()
        trigger["within_minutes"] = _number(form.get("trigger_within_minutes", "").strip() or "0")
    if kind == "date":
        trigger["attribute"] = form.get("trigger_attribute", "birthday") or "birthday"
        trigger["offset_days"] = _number(form.get("trigger_offset_days", "0") or "0")
        trigger["at_hour"] = _number(form.get("trigger_at_hour", "9") or "9")
    if kind == "consent_granted":
        trigger["purpose"] = form.get("trigger_purpose", "").strip()
    steps = []
    count = int(_number(form.get("step_count", "0") or "0")) if form.get("step_count") else 0
    for n in range(min(count, 100)):
        steps.append(_step(form, f"step-{n}-"))
    document: dict[str, Any] = {
        "purpose": form.get("purpose", "marketing_email").strip() or "marketing_email",
        "trigger": trigger,
        "steps": [s for s in steps if s],
        "reentry": {"mode": form.get("reentry_mode", "once") or "once"},
        "holdout_percent": _number(form.get("holdout_percent", "0") or "0"),
    }
    if form.get("reentry_days", "").strip():
        document["reentry"]["days"] = _number(form["reentry_days"].strip())
    if form.get("goal_event", "").strip():
        document["goal"] = {
            "event": form["goal_event"].strip(),
            "within_days": _number(form.get("goal_within_days", "7") or "7"),
        }
    return document


def _step(form: Mapping[str, str], prefix: str) -> dict[str, Any]:
    def get(name: str) -> str:
        return form.get(f"{prefix}{name}", "").strip()

    step_id, kind = get("id"), get("type")
    if not step_id:
        return {}
    step: dict[str, Any] = {"id": step_id, "type": kind}
    if get("label"):
        step["label"] = get("label")
    if kind == "wait":
        step["minutes"] = _number(get("minutes") or "0")
        if get("until_event"):
            step["until_event"] = get("until_event")
        if get("timeout_go_to"):
            step["timeout_go_to"] = get("timeout_go_to")
    elif kind == "condition":
        step["attributes"] = _filters(prefix, form)
        if get("event_since_entry"):
            step["event_since_entry"] = get("event_since_entry")
        step["then_go_to"] = get("then_go_to")
        step["else_go_to"] = get("else_go_to")
    elif kind == "split":
        # "A:50:send-a, B:50:send-b": name, percent, where it goes.
        branches = []
        for part in get("branches").split(","):
            pieces = [p.strip() for p in part.split(":")]
            if len(pieces) == 3:
                branches.append(
                    {"name": pieces[0], "percent": _number(pieces[1]), "go_to": pieces[2]}
                )
        step["branches"] = branches
    elif kind == "send_email":
        step["template"] = get("template")
    elif kind == "webhook":
        step["url"] = get("url")
    elif kind == "update_trait":
        step["trait"] = get("trait")
        step["value"] = _scalar(get("value")) if get("value") else None
    elif kind == "points":
        step["points"] = _number(get("points") or "0")
    elif kind in ("add_to_segment", "remove_from_segment"):
        step["segment"] = get("segment")
    return step


def form_from_definition(document: Mapping[str, Any]) -> dict[str, str]:
    """The editor's fields for a stored definition (the inverse of ``definition_from_form``)."""
    form: dict[str, str] = {"purpose": str(document.get("purpose", "marketing_email"))}
    trigger = document.get("trigger", {})
    form["trigger_kind"] = str(trigger.get("kind", "event"))
    for name in (
        "event",
        "unless",
        "within_minutes",
        "attribute",
        "offset_days",
        "at_hour",
        "purpose",
    ):
        if name in trigger:
            form[f"trigger_{name}"] = str(trigger[name])
    for entry in trigger.get("filters", [])[:1]:
        _put_filter(form, "trigger_", entry)
    steps = document.get("steps", [])
    for n, step in enumerate(steps):
        prefix = f"step-{n}-"
        for name in _PLAIN_STEP_FIELDS:
            if step.get(name) is not None:
                form[prefix + name] = _text(step[name])
        if "value" in step and step["value"] is not None:
            form[prefix + "value"] = _text(step["value"])
        for entry in step.get("attributes", [])[:1]:
            _put_filter(form, prefix, entry)
        if step.get("branches"):
            form[prefix + "branches"] = ", ".join(
                f"{b['name']}:{b['percent']}:{b['go_to']}" for b in step["branches"]
            )
    form["step_count"] = str(len(steps))
    reentry = document.get("reentry", {})
    form["reentry_mode"] = str(reentry.get("mode", "once"))
    if "days" in reentry:
        form["reentry_days"] = str(reentry["days"])
    form["holdout_percent"] = str(document.get("holdout_percent", 0))
    goal = document.get("goal")
    if goal:
        form["goal_event"] = str(goal["event"])
        form["goal_within_days"] = str(goal.get("within_days", 7))
    return form


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _put_filter(form: dict[str, str], prefix: str, entry: Mapping[str, Any]) -> None:
    form[f"{prefix}filter_field"] = str(entry.get("field", ""))
    form[f"{prefix}filter_op"] = str(entry.get("op", "eq"))
    if entry.get("value") is not None:
        form[f"{prefix}filter_value"] = _text(entry["value"])
