"""Tracking sources and their write keys: created, listed, revoked, and checked per request,
with the website origins each accepts browser calls from (``ingest.origins``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clientvault.errors import Conflict, InvalidInput, NotFound
from clientvault.ingest.models import TrackingSource
from clientvault.ingest.origins import normalise_origins, origin_allowed
from clientvault.security.credentials import hash_secret, new_secret
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


def create_source(session: Session, *, name: str, origins: Sequence[str] = ()) -> NewSource:
    """Create a source with a fresh write key (one key per source), accepting browser calls
    from ``origins`` only (none given: from any origin)."""
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
    return NewSource(name=name, write_key=write_key, origins=allowed)


def _named(session: Session, name: str) -> TrackingSource:
    source = session.scalar(select(TrackingSource).where(TrackingSource.name == name))
    if source is None:
        raise NotFound(f"no source named {name!r}")
    return source


def revoke_source(session: Session, *, name: str) -> None:
    """Revoke a source's write key at once; calls with it are refused from now on."""
    source = _named(session, name)
    if source.revoked_at is None:
        source.revoked_at = utcnow()


def change_origins(
    session: Session,
    *,
    name: str,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    any_origin: bool = False,
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
    return list(source.allowed_origins)


def list_sources(session: Session) -> list[TrackingSource]:
    """Every source, revoked ones included, oldest first."""
    return list(session.scalars(select(TrackingSource).order_by(TrackingSource.id)))


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
