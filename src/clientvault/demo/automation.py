"""The demo's journeys: the four a marketer asks for first (welcome series, cart abandoned,
happy birthday, win back), their e-mail templates, all active, so the Campaigns & workflows
pages have something in them and new demo events flow through them."""

from __future__ import annotations

from typing import Any

from clientvault.automation.journeys import catalogue
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.context import Store

DEMO_MARKETER = Principal.system("demo", "campaigns:manage")

TEMPLATES = {
    "welcome": ("Welcome to the shop", "Hello {{ customer.first_name }}, welcome aboard!"),
    "welcome-tips": ("Three tips to start", "{{ customer.first_name }}, here is how to start."),
    "cart": ("You left something behind", "{{ customer.first_name }}, your cart is waiting."),
    "birthday": ("Happy birthday!", "Happy birthday {{ customer.first_name }}: 10% off today."),
    "win-back": ("We miss you", "{{ customer.first_name }}, come back for a treat."),
}

JOURNEYS: dict[str, dict[str, Any]] = {
    "Welcome series": {
        "trigger": {"kind": "event", "event": "Signed Up"},
        "steps": [
            {"id": "welcome", "type": "send_email", "template": "welcome"},
            {"id": "pause", "type": "wait", "minutes": 60 * 24 * 3},
            {"id": "tips", "type": "send_email", "template": "welcome-tips"},
        ],
        "holdout_percent": 10,
        "goal": {"event": "Order Completed", "within_days": 14},
    },
    "Cart abandoned": {
        "trigger": {
            "kind": "event_not_followed",
            "event": "Product Added",
            "unless": "Order Completed",
            "within_minutes": 120,
        },
        "steps": [{"id": "remind", "type": "send_email", "template": "cart"}],
        "reentry": {"mode": "once_per_days", "days": 7},
        "goal": {"event": "Order Completed", "within_days": 3},
    },
    "Happy birthday": {
        "trigger": {"kind": "date", "attribute": "birthday", "at_hour": 9},
        "steps": [{"id": "card", "type": "send_email", "template": "birthday"}],
        "reentry": {"mode": "once_per_days", "days": 300},
    },
    "Win back customers at risk": {
        "trigger": {
            "kind": "event",
            "event": "Segment Entered",
            "filters": [{"field": "segment", "value": "at-risk"}],
        },
        "steps": [
            {"id": "offer", "type": "send_email", "template": "win-back"},
            {"id": "score", "type": "points", "points": -5},
        ],
        "reentry": {"mode": "once_per_days", "days": 90},
        "goal": {"event": "Order Completed", "within_days": 30},
    },
}


def showcase_journeys(store: Store, settings: Settings) -> str:
    """Create and activate the demo journeys and their templates; the line the demo prints."""
    with store.sessions.begin() as session:
        for name, (subject, text) in TEMPLATES.items():
            catalogue.save_template(
                session,
                name=name,
                subject=subject,
                html=f"<p>{text}</p>",
                text=text,
                by=DEMO_MARKETER,
            )
        for name, definition in JOURNEYS.items():
            made = catalogue.create_journey(
                session, name=name, description="", definition=definition, by=DEMO_MARKETER
            )
            catalogue.change_status(session, made.id, "activate", by=DEMO_MARKETER)
    return f"journeys: {len(JOURNEYS)} active ({', '.join(JOURNEYS)}), {len(TEMPLATES)} templates"
