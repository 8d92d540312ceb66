"""Customers and settings for privacy tests (synthetic data, example.com addresses)."""

from __future__ import annotations

import uuid

from clientvault.identity.profiles import create_customers
from clientvault.identity.schemas import CustomerCreate
from clientvault.privacy.purposes import ensure_default_purposes
from clientvault.settings import Settings, SmtpSettings
from clientvault.store.context import Store


def add_customer(store: Store, *, email: str | None = "ada@example.com") -> uuid.UUID:
    """One customer (with the default purposes registered), committed."""
    with store.sessions.begin() as session:
        ensure_default_purposes(session)
        return create_customers(
            session,
            store,
            profiles=[CustomerCreate(email=email, first_name="Ada", country="FR")],
            source="test",
            default_region="FR",
        )[0]


def smtp_to(settings: Settings, host: str, port: int) -> SmtpSettings:
    """SMTP settings delivering to a test server."""
    return settings.smtp.model_copy(update={"enabled": True, "host": host, "port": port})
