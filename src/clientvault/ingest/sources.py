"""Tracking sources and their write keys: created, listed, revoked, and checked per request,
with the website origins each accepts browser calls from (``ingest.origins``).

Creating a source, revoking it and changing its origins are audited when the caller names
who acts (``principal``: the console's and the API's user, the CLI's system principal);
``source_stats`` gives each source's event count, last event and scrub counts for the
Settings page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clientvault.errors import Conflict, InvalidInput, NotFound
from clientvault.ingest.models import Event, ScrubCount, TrackingSource
from clientvault.ingest.origins import normalise_origins, origin_allowed
from clientvault.security import audit
from clientvault.security.credentials import hash_secret, new_secret
from clientvault.security.principal import Principal
from clientvault.store.base import utcnow
from clientvault.store.driver_sql import first_row

_KEY_PREFIX = "cvwk_"


@dataclass(frozen=True)
class NewSource:
    """A created source with its write key, which is shown this once and never stored."""

    name: str
    write_key: str
    origins: list[str]


@dataclass(frozen=True)
class ActiveSource:
    """The source a write key belongs to, as a tracking call needs it."""

    name: str
    #: Website origins whose pages may use the key; empty: any origin.
    origins: tuple[str, ...]

    def allows(self, origin: str | None) -> bool:
        """Whether a call with this ``Origin`` header (``None``: not a browser) may use it."""
        return origin_allowed(self.origins, origin)


def _audit(
    session: Session, principal: Principal | None, action: str, name: str, **details: Any
) -> None:
    if principal is not None:
        audit.record(
            session,
            principal=principal,
            action=action,
            target_type="source",
            target_ids=[name],
            details=details,
        )


def create_source(
    session: Session,
    *,
    name: str,
    origins: Sequence[str] = (),
    principal: Principal | None = None,
) -> NewSource:
    """Create a source with a fresh write key (one key per source), accepting browser calls
    from ``origins`` only (none given: from any origin); audited when ``principal`` acts."""
    name = name.strip()
    if not name or len(name) > 64:
        raise InvalidInput("a source name is 1 to 64 characters", details={"field": "name"})
    allowed = normalise_origins(origins)
    write_key = new_secret(_KEY_PREFIX)
    session.add(
        TrackingSource(
            name=name,
            write_key_hash=hash_secret(write_key),
            key_prefix=write_key[:12],
            allowed_origins=allowed,
        )
    )
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"a source named {name!r} exists already") from None
    _audit(session, principal, "source.created", name, key_prefix=write_key[:12])
    return NewSource(name=name, write_key=write_key, origins=allowed)


def _named(session: Session, name: str) -> TrackingSource:
    source = session.scalar(select(TrackingSource).where(TrackingSource.name == name))
    if source is None:
        raise NotFound(f"no source named {name!r}")
    return source


def revoke_source(session: Session, *, name: str, principal: Principal | None = None) -> None:
    """Revoke a source's write key at once; calls with it are refused from now on (audited
    when ``principal`` acts and the key was live)."""
    source = _named(session, name)
    if source.revoked_at is None:
        source.revoked_at = utcnow()
        _audit(session, principal, "source.revoked", name)


def change_origins(
    session: Session,
    *,
    name: str,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    any_origin: bool = False,
    principal: Principal | None = None,
) -> list[str]:
    """Change the origins a source accepts browser calls from and return the new list:
    ``any_origin`` clears it first (any origin), then ``remove`` and ``add`` apply. Takes
    effect on the next call (each call reads the list with its write key)."""
    source = _named(session, name)
    dropped = set(normalise_origins(remove))
    current = [] if any_origin else list(source.allowed_origins)
    unknown = dropped - set(current)
    if unknown and not any_origin:
        raise NotFound(f"{sorted(unknown)[0]} is not an origin of source {name!r}")
    source.allowed_origins = normalise_origins(
        [origin for origin in current if origin not in dropped] + list(add)
    )
    _audit(session, principal, "source.origins_changed", name, origins=source.allowed_origins)
    return list(source.allowed_origins)


def list_sources(session: Session) -> list[TrackingSource]:
    """Every source, revoked ones included, oldest first."""
    return list(session.scalars(select(TrackingSource).order_by(TrackingSource.id)))


@dataclass(frozen=True)
class SourceStats:
    """A source as the Settings page shows it: its events, its last one, what was scrubbed."""

    source: TrackingSource
    events: int = 0
    last_event_at: datetime | None = None
    scrubbed: dict[str, int] = field(default_factory=dict)


def source_stats(session: Session) -> list[SourceStats]:
    """Every source (oldest first) with its event count, its latest event's arrival and how
    many values of each kind of personal data were scrubbed from its events.

    One grouped read of the event log (no index on ``events.source``: an index there would
    slow every tracked event for the sake of an admin page read now and then)."""
    counts = {
        name: (events, last)
        for name, events, last in session.execute(
            select(Event.source, func.count(), func.max(Event.received_at)).group_by(Event.source)
        )
    }
    scrubbed: dict[str, dict[str, int]] = {}
    for name, kind, count in session.execute(
        select(ScrubCount.source, ScrubCount.kind, ScrubCount.count)
    ):
        scrubbed.setdefault(name, {})[kind] = count
    return [
        SourceStats(
            source=source,
            events=counts.get(source.name, (0, None))[0],
            last_event_at=counts.get(source.name, (0, None))[1],
            scrubbed=scrubbed.get(source.name, {}),
        )
        for source in list_sources(session)
    ]


def authenticate(engine: Engine, *, write_key: str) -> ActiveSource | None:
    """The active source this write key belongs to, with its allowed origins, or ``None``.

    Checked on every tracking call, in the database (a revocation or an origin change, by
    the CLI or another server process, takes effect at once), as one driver-level read
    (``first_row``): a session cost ~150 µs a call on SQLite, 5-10 % of the server's CPU at
    full batch load. The origins come in the same read."""
    if not write_key.startswith(_KEY_PREFIX):
        return None
    found = first_row(
        engine,
        "SELECT name, revoked_at, allowed_origins FROM tracking_sources WHERE write_key_hash = {p}",
        (hash_secret(write_key),),
    )
    if found is None or found[1] is not None:
        return None
    return ActiveSource(name=str(found[0]), origins=_origins(found[2]))


def preflight_allowed(engine: Engine, origin: str) -> bool:
    """Whether some active source accepts browser calls from ``origin``.

    A CORS preflight carries no write key (browsers never send credentials with it), so it
    can only be checked against every source's list together: refused when no source allows
    the origin; the actual call, which carries the key, is then checked against its own
    source's list (``ActiveSource.allows``). Browsers cache the answer (``Max-Age``), so this
    read is rare and goes through SQLAlchemy."""
    with engine.connect() as connection:
        lists = connection.execute(
            select(TrackingSource.allowed_origins).where(TrackingSource.revoked_at.is_(None))
        ).scalars()
        return any(origin_allowed(allowed, origin) for allowed in lists)


def _origins(stored: Any) -> tuple[str, ...]:
    """An origin list as the driver returns it: JSON text on SQLite, a list on PostgreSQL."""
    if isinstance(stored, str | bytes):
        stored = orjson.loads(stored)
    return tuple(stored or ())
