"""Helpers for the journeys' tests: people signed up through the tracking API's ingestion,
consents, journeys and templates made through the services."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from clientvault.automation.journeys import catalogue
from clientvault.automation.journeys.models import Journey
from clientvault.automation.journeys.ssrf import Network
from clientvault.identity.models import Customer
from clientvault.identity.profiles import find_by_email
from clientvault.ingest.tracking import ingest
from clientvault.privacy.consent import record_decision
from clientvault.privacy.purposes import ensure_default_purposes
from clientvault.security.principal import Principal
from clientvault.settings import AutomationSettings, Settings
from clientvault.store.context import Store

MARKETER = Principal.system("test-marketer", "journeys:manage")
#: No quiet hours (the tests run at any hour).
ALWAYS = AutomationSettings(quiet_hours_start=0, quiet_hours_end=0)

WELCOME_TEXT = "Hello {{ customer.first_name }}, welcome!"
WELCOME_HTML = (
    "<p>Hello {{ customer.first_name }}</p>"
    "<a href=\"{{ link('https://shop.example.com/new') }}\">New</a>"
)


def track(
    store: Store,
    user_id: str,
    event: str,
    properties: dict[str, Any] | None = None,
    *,
    at: datetime | None = None,
    message_id: str | None = None,
) -> None:
    """One track call of ``user_id`` on the log, as the tracking API stores it."""
    message: dict[str, Any] = {
        "type": "track",
        "userId": user_id,
        "event": event,
        "properties": properties or {},
        "messageId": message_id or f"m-{uuid.uuid4().hex}",
    }
    if at is not None:
        message["timestamp"] = at.isoformat()
    with store.sessions.begin() as session:
        result = ingest(session, store, source="test", messages=[message], default_region="FR")
    assert result.accepted == 1, result


def sign_up(
    store: Store,
    n: int,
    *,
    first_name: str = "Ada",
    consent: bool = True,
    birthday: str | None = None,
    traits: dict[str, Any] | None = None,
) -> uuid.UUID:
    """Person ``n`` identified (e-mail, first name, other ``traits``), with marketing consent
    if asked."""
    traits = {"email": f"person.{n}@example.com", "firstName": first_name, **(traits or {})}
    if birthday:
        traits["birthday"] = birthday
    with store.sessions.begin() as session:
        ensure_default_purposes(session)
        result = ingest(
            session,
            store,
            source="test",
            default_region="FR",
            messages=[
                {
                    "type": "identify",
                    "userId": f"user-{n}",
                    "traits": traits,
                    "messageId": f"identify-{n}-{uuid.uuid4().hex}",
                }
            ],
        )
        assert result.accepted == 1, result
        (customer_id,) = find_by_email(session, store, email=f"person.{n}@example.com")
    if consent:
        decide(store, customer_id, "granted")
    return customer_id


def decide(
    store: Store, customer_id: uuid.UUID, decision: str, purpose: str = "marketing_email"
) -> None:
    """A consent decision about marketing e-mail."""
    with store.sessions.begin() as session:
        record_decision(
            session,
            customer_id=customer_id,
            purpose=purpose,
            decision=decision,  # type: ignore[arg-type]
            policy_version="1",
            channel="web",
        )


def template(
    store: Store,
    name: str,
    *,
    text: str = WELCOME_TEXT,
    html: str = WELCOME_HTML,
    subject: str = "Welcome",
) -> None:
    """Save an e-mail template through the service."""
    with store.sessions.begin() as session:
        catalogue.save_template(
            session, name=name, subject=subject, html=html, text=text, by=MARKETER
        )


def journey(
    store: Store,
    name: str,
    definition: dict[str, Any],
    *,
    active: bool = True,
    webhook_networks: Sequence[Network] = (),
) -> uuid.UUID:
    """Create (and activate) a journey through the service."""
    with store.sessions.begin() as session:
        made: Journey = catalogue.create_journey(
            session,
            name=name,
            description="",
            definition=definition,
            by=MARKETER,
            webhook_networks=webhook_networks,
        )
        if active:
            catalogue.change_status(session, made.id, "activate", by=MARKETER)
        return made.id


def winner_campaign(
    name: str, templates: tuple[str, str], metric: str, hours: float, **extra: Any
) -> dict[str, Any]:
    """A campaign testing variants A and B (two templates, half each) on half the audience,
    the winner by ``metric`` sent to the rest after ``hours``."""
    return {
        "name": name,
        "variants": [
            {"name": "A", "template": templates[0], "percent": 50},
            {"name": "B", "template": templates[1], "percent": 50},
        ],
        "test_percent": 50,
        "winner_metric": metric,
        "winner_after_hours": hours,
        **extra,
    }


def with_mail(settings: Settings, host: str, port: int, **automation: Any) -> Settings:
    """Settings delivering to a test SMTP server, without quiet hours."""
    return settings.model_copy(
        update={
            "smtp": settings.smtp.model_copy(update={"enabled": True, "host": host, "port": port}),
            "automation": ALWAYS.model_copy(update=automation),
        }
    )


def ingest_in_chunks(store: Store, messages: list[dict[str, Any]], *, chunk: int = 500) -> None:
    """Store tracking messages as the API would, ``chunk`` per transaction."""
    for start in range(0, len(messages), chunk):
        with store.sessions.begin() as session:
            ingest(
                session,
                store,
                source="test",
                default_region="FR",
                messages=messages[start : start + chunk],
            )


def sign_up_many(store: Store, count: int, *, event: str | None = "Signed Up") -> None:
    """People ``0..count-1`` identified (``user-N``, ``person.N@example.com``) and consenting to
    marketing e-mail, then (if ``event``) each doing ``event``."""
    with store.sessions.begin() as session:
        ensure_default_purposes(session)
    ingest_in_chunks(
        store,
        [
            {
                "type": "identify",
                "userId": f"user-{n}",
                "messageId": f"id-{n}",
                "traits": {"email": f"person.{n}@example.com", "firstName": f"P{n}"},
            }
            for n in range(count)
        ],
    )
    with store.sessions.begin() as session:
        for customer_id in session.scalars(select(Customer.id)):
            record_decision(
                session,
                customer_id=customer_id,
                purpose="marketing_email",
                decision="granted",
                policy_version="1",
                channel="web",
            )
    if event is not None:
        ingest_in_chunks(
            store,
            [
                {"type": "track", "userId": f"user-{n}", "event": event, "messageId": f"ev-{n}"}
                for n in range(count)
            ],
        )
