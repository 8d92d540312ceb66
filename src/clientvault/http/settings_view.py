"""The installation's settings as the Settings page and ``GET /api/v1/settings`` show them.

What lives in the database is changed there at runtime (tracking sources, API tokens,
processing purposes). What lives in the settings file or environment (``clientvault.settings``:
SMTP, retention, identity thresholds, sessions...) is shown read-only, each value with the
variable that sets it. Why not editable at runtime: every process (server, its ingest
writer, the worker, the CLI) reads its ``Settings`` once at start, and several of them
(retention, SMTP credentials, matching thresholds) are safety or secret matters that an
operator changes under change control; a runtime override would need a settings table read by
every process, with precedence rules over the environment: not simple, not obviously safe.
Secrets are never shown, only whether they are set.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic import BaseModel, SecretStr
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from clientvault.messaging.models import OutboxMessage
from clientvault.settings import Settings

#: The sections shown, in order, with a title; each is a section of ``Settings``.
SECTIONS: dict[str, str] = {
    "smtp": "E-mail (SMTP)",
    "retention": "Retention rules",
    "identity": "Identity resolution",
    "privacy": "Privacy",
    "security": "Security and sessions",
}
#: Fields left out: long lists better read in the file itself.
_LEFT_OUT = {("privacy", "url_parameters"), ("identity", "survivorship")}


class SettingValue(BaseModel):
    """One setting: its name, its value as text, and the environment variable that sets it."""

    name: str
    value: str
    variable: str
    description: str | None = None


class SettingsSection(BaseModel):
    """A section of the settings (read-only here)."""

    key: str
    title: str
    values: list[SettingValue]


class InstallationInfo(BaseModel):
    """What is installed and where it keeps its data."""

    version: str
    environment: str
    data_dir: str
    database: str
    schema_revision: str | None
    timezone: str
    public_url: str


class OutboxState(BaseModel):
    """The customer e-mail outbox: queued, sent and given-up messages."""

    delivery_enabled: bool
    queued: int
    sent: int
    failed: int


class SettingsOverview(BaseModel):
    """Everything the Settings page shows that is not a database object."""

    installation: InstallationInfo
    outbox: OutboxState
    sections: list[SettingsSection]


def shown(value: Any) -> str:
    """A setting's value as text: secrets as set / not set, lists and mappings spelt out."""
    if isinstance(value, SecretStr):
        return "set (hidden)"
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(shown(item) for item in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{key}: {shown(item)}" for key, item in value.items()) or "none"
    return str(value)


def _section(settings: Settings, key: str) -> SettingsSection:
    model: BaseModel = getattr(settings, key)
    values = [
        SettingValue(
            name=name,
            value=shown(getattr(model, name)),
            variable=f"CLIENTVAULT_{key.upper()}__{name.upper()}",
            description=field.description,
        )
        for name, field in type(model).model_fields.items()
        if (key, name) not in _LEFT_OUT
    ]
    return SettingsSection(key=key, title=SECTIONS[key], values=values)


def _version() -> str:
    try:
        return version("clientvault")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree without install
        return "unknown"


def settings_overview(session: Session, settings: Settings) -> SettingsOverview:
    """The installation, the outbox and the file/environment settings, secrets hidden."""
    bind = session.get_bind()
    revision = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    counts = session.execute(
        select(
            func.count().filter(OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None)),
            func.count(OutboxMessage.sent_at),
            func.count(OutboxMessage.failed_at),
        )
    ).one()
    return SettingsOverview(
        installation=InstallationInfo(
            version=_version(),
            environment=settings.env,
            data_dir=str(settings.data_dir),
            database=bind.dialect.name,
            schema_revision=revision,
            timezone=settings.timezone,
            public_url=settings.privacy.public_url,
        ),
        outbox=OutboxState(
            delivery_enabled=settings.smtp.enabled,
            queued=counts[0],
            sent=counts[1],
            failed=counts[2],
        ),
        sections=[_section(settings, key) for key in SECTIONS],
    )
