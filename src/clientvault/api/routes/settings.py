"""Settings over the API: the installation's settings (read-only, ``settings:manage``), a test
e-mail, tracking sources and their write keys (``sources:manage``) and every API token of
the installation (``users:manage``). Each change is audited by its service.

Lists are paged the API's one way: ``limit`` and a keyset cursor ``before`` (the last id of
the page before); when more rows follow, the ``Link`` header names the next page
(``rel="next"``), as ``http.paging`` builds it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, get_store
from clientvault.http.paging import link_next
from clientvault.http.settings_view import SettingsOverview, settings_overview
from clientvault.ingest.sources import (
    SourceStats,
    create_source,
    revoke_source,
    source_stats,
)
from clientvault.messaging.test_mail import send_test_message
from clientvault.security.tokens import TokenListing, list_tokens, revoke_any_token

router = APIRouter(prefix="/api/v1", tags=["settings"])
ManageSettings = Annotated[Caller, Depends(Authorize("settings:manage"))]
ManageSources = Annotated[Caller, Depends(Authorize("sources:manage"))]
ManageUsers = Annotated[Caller, Depends(Authorize("users:manage"))]
SourceName = Annotated[str, Path(min_length=1, max_length=64)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TestMailIn(_In):
    """Where to send the test e-mail."""

    to: str = Field(min_length=3, max_length=254)


class TestMailRead(BaseModel):
    """Whether the relay took the message, and if not, the kind of failure."""

    delivered: bool
    problem: str | None


class SourceCreate(_In):
    """A new tracking source."""

    name: str = Field(min_length=1, max_length=64)
    origins: list[str] = Field(default_factory=list, max_length=50)


class SourceRead(BaseModel):
    """A source, its key's prefix (never the key), its events and scrub counts."""

    name: str
    key_prefix: str
    state: str
    created_at: datetime
    revoked_at: datetime | None
    origins: list[str]
    events: int
    last_event_at: datetime | None
    scrubbed: dict[str, int]

    @classmethod
    def of(cls, stats: SourceStats) -> SourceRead:
        """A source's API view from its statistics."""
        source = stats.source
        return cls(
            name=source.name,
            key_prefix=source.key_prefix,
            state="revoked" if source.revoked_at else "active",
            created_at=source.created_at,
            revoked_at=source.revoked_at,
            origins=list(source.allowed_origins),
            events=stats.events,
            last_event_at=stats.last_event_at,
            scrubbed=stats.scrubbed,
        )


class SourceCreated(BaseModel):
    """A created source with its write key: in this answer only, never stored."""

    name: str
    write_key: str
    origins: list[str]


class TokenRead(BaseModel):
    """An API token as an administrator sees it (its secret is not kept anywhere)."""

    id: uuid.UUID
    name: str
    owner: str
    scopes: list[str]
    state: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, listing: TokenListing) -> TokenRead:
        """A token's API view."""
        token = listing.token
        return cls(
            id=token.id,
            name=token.name,
            owner=listing.owner_email,
            scopes=list(token.scopes),
            state=listing.state,
            created_at=token.created_at,
            expires_at=token.expires_at,
            last_used_at=token.last_used_at,
        )


@router.get("/settings", response_model=SettingsOverview)
def read_settings(
    request: Request, caller: ManageSettings, settings: SettingsDep
) -> SettingsOverview:
    """The installation, the e-mail outbox and the settings set by file or environment (each
    with the variable that sets it; secrets only as set / not set)."""
    with get_store(request).read_sessions() as session, session.begin():
        return settings_overview(session, settings)


@router.post("/settings/smtp/test", response_model=TestMailRead)
def test_mail(
    body: TestMailIn, request: Request, caller: ManageSettings, settings: SettingsDep
) -> TestMailRead:
    """Send a test e-mail over the configured relay now (even before delivery is enabled)."""
    with get_store(request).sessions.begin() as session:
        problem = send_test_message(session, settings.smtp, to=body.to, principal=caller.principal)
    return TestMailRead(delivered=problem is None, problem=problem)


@router.get("/sources", response_model=list[SourceRead])
def sources(request: Request, caller: ManageSources) -> list[SourceRead]:
    """Every tracking source, oldest first, with its events and scrub counts (a short list:
    one per website, app or server, so not paged)."""
    with get_store(request).read_sessions() as session, session.begin():
        return [SourceRead.of(stats) for stats in source_stats(session)]


@router.post("/sources", response_model=SourceCreated, status_code=201)
def new_source(body: SourceCreate, request: Request, caller: ManageSources) -> SourceCreated:
    """Create a source; its write key is in this answer only (only its hash is kept)."""
    with get_store(request).sessions.begin() as session:
        created = create_source(
            session, name=body.name, origins=body.origins, principal=caller.principal
        )
    return SourceCreated(name=created.name, write_key=created.write_key, origins=created.origins)


@router.post("/sources/{name}/revoke", status_code=204)
def revoke(name: SourceName, request: Request, caller: ManageSources) -> None:
    """Revoke a source's write key: its calls are refused from now on."""
    with get_store(request).sessions.begin() as session:
        revoke_source(session, name=name, principal=caller.principal)


@router.get("/tokens", response_model=list[TokenRead])
def tokens(
    request: Request,
    response: Response,
    caller: ManageUsers,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[uuid.UUID | None, Query()] = None,
) -> list[TokenRead]:
    """Every API token of the installation, newest first, paged."""
    with get_store(request).read_sessions() as session, session.begin():
        found = list_tokens(session, limit=limit + 1, before=before)
    page = [TokenRead.of(listing) for listing in found[:limit]]
    if len(found) > limit:
        link_next(request, response, before=str(page[-1].id))
    return page


@router.post("/tokens/{token_id}/revoke", status_code=204)
def revoke_token(token_id: uuid.UUID, request: Request, caller: ManageUsers) -> None:
    """Revoke anyone's token at once (a leaked one, say); audited."""
    with get_store(request).sessions.begin() as session:
        revoke_any_token(session, token_id=token_id, principal=caller.principal)
