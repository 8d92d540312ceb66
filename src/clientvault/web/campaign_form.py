"""The console's campaign scheduler: a campaign as plain form fields (name, purpose, one
attribute filter, up to three variants, when, and the winner rule), turned into the document
``automation.journeys.campaigns.schedule_campaign`` checks. Empty fields are left out, so
the service's own validation names what is missing or wrong."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from clientvault.errors import InvalidInput

#: Variant rows the form offers (the API takes up to five).
VARIANT_ROWS = 3
WINNER_METRICS = ("clicks", "opens", "goal")


def _number(form: Mapping[str, str], name: str) -> int | float | None:
    text = form.get(name, "").strip()
    if not text:
        return None
    try:
        return int(text) if text.isdigit() else float(text)
    except ValueError as exc:
        raise InvalidInput(f"{name}: not a number", details={"field": name}) from exc


def campaign_from_form(form: Mapping[str, str], zone: ZoneInfo) -> dict[str, Any]:
    """The campaign document a scheduler form describes; ``send_at`` is read in the
    installation's time zone (a ``datetime-local`` field has none)."""
    document: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "purpose": form.get("purpose", "").strip() or "marketing_email",
        "variants": [
            {
                "name": form[f"v{n}_name"].strip(),
                "template": form.get(f"v{n}_template", "").strip(),
                "percent": _number(form, f"v{n}_percent"),
            }
            for n in range(VARIANT_ROWS)
            if form.get(f"v{n}_name", "").strip()
        ],
    }
    if form.get("filter_field", "").strip():
        document["filters"] = [
            {"field": form["filter_field"].strip(), "value": form.get("filter_value", "").strip()}
        ]
    if form.get("send_at", "").strip():
        try:
            local = datetime.fromisoformat(form["send_at"].strip())
        except ValueError as exc:
            raise InvalidInput(
                "send at: not a date and time", details={"field": "send_at"}
            ) from exc
        document["send_at"] = (local if local.tzinfo else local.replace(tzinfo=zone)).isoformat()
    test_percent = _number(form, "test_percent")
    if test_percent is not None:
        document["test_percent"] = test_percent
        document["winner_metric"] = form.get("winner_metric", "clicks")
        hours = _number(form, "winner_after_hours")
        if hours is not None:
            document["winner_after_hours"] = hours
        if form.get("winner_goal", "").strip():
            document["winner_goal"] = form["winner_goal"].strip()
    return document
