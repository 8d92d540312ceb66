"""The Settings page (``/console/settings``, ``settings:manage``): tracking sources and write
keys, API tokens, e-mail (SMTP) with a test message, processing purposes, and the settings
set by file or environment, read-only with the variable that sets each (see
``http.settings_view`` for why those are not editable here).

Changes go through the same audited services as the API and the CLI: a new write key is
shown on the page that answers its creation, once (only its hash is kept); API tokens are
made on My account (``/console/account``: fresh second factor required, secret shown once),
which this page links to, and any token can be revoked here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from clientvault.errors import Conflict, InvalidInput, NotFound
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, StoreDep
from clientvault.http.settings_view import settings_overview
from clientvault.ingest.sources import NewSource, create_source, revoke_source, source_stats
from clientvault.messaging.test_mail import send_test_message
from clientvault.privacy.models import LEGAL_BASES
from clientvault.privacy.purposes import PurposeInfo, create_purpose, list_purposes
from clientvault.security.tokens import list_tokens, revoke_any_token
from clientvault.settings import Settings
from clientvault.store.context import Store
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/settings", include_in_schema=False)
ManageSettings = Annotated[Caller, Depends(Authorize("settings:manage"))]
SETTINGS_PATH = f"{CONSOLE_PREFIX}/settings"
#: Tokens listed (newest first); the API pages through all of them.
TOKENS_SHOWN = 100
NOTICES = {
    "revoked": "The write key was revoked: calls with it are refused from now on.",
    "token_revoked": "The token was revoked. It no longer works.",
    "purpose": "The purpose was added.",
}


def _page(
    request: Request,
    caller: Caller,
    store: Store,
    settings: Settings,
    *,
    extra: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    principal = caller.principal
    with store.read_sessions() as session, session.begin():
        context: dict[str, Any] = {
            "title": "Settings",
            "overview": settings_overview(session, settings),
            "sources": source_stats(session),
            "tokens": list_tokens(session, limit=TOKENS_SHOWN)
            if principal.can("users:manage")
            else None,
            "purposes": list_purposes(session),
            "legal_bases": LEGAL_BASES,
            "may_sources": principal.can("sources:manage"),
            "may_purposes": principal.can("privacy:manage"),
            "csrf_token": caller.staff_session.csrf_token if caller.staff_session else "",
            "new_source": None,
            "mail_result": None,
            "error": None,
            "notice": None,
        }
    context.update(extra or {})
    return render(request, "settings/settings.html", context, status_code=status_code)


def _acting(
    request: Request,
    caller: Caller,
    store: Store,
    settings: Settings,
    change: Callable[[Session], dict[str, Any]],
) -> Response:
    """Run a change; the page shows what it returns, or why the change was refused."""
    try:
        with store.sessions.begin() as session:
            extra = change(session)
    except (InvalidInput, Conflict, NotFound) as exc:
        status = 409 if isinstance(exc, Conflict) else 404 if isinstance(exc, NotFound) else 422
        return _page(
            request, caller, store, settings, extra={"error": exc.message}, status_code=status
        )
    return _page(request, caller, store, settings, extra=extra)


@router.get("", response_class=HTMLResponse, name="console_settings")
def settings_page(
    request: Request,
    caller: ManageSettings,
    store: StoreDep,
    settings: SettingsDep,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """Sources, tokens, e-mail, purposes, and the file/environment settings."""
    return _page(request, caller, store, settings, extra={"notice": NOTICES.get(done or "")})


@router.post("/sources", response_class=HTMLResponse, name="console_source_create")
def new_source(
    request: Request,
    caller: Annotated[Caller, Depends(Authorize("sources:manage"))],
    store: StoreDep,
    settings: SettingsDep,
    name: Annotated[str, Form(max_length=64)],
    origins: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Create a source; its write key is on the page this answers with, once."""

    def create(session: Session) -> dict[str, Any]:
        created: NewSource = create_source(
            session, name=name, origins=origins.split(), principal=caller.principal
        )
        return {"new_source": created}

    return _acting(request, caller, store, settings, create)


@router.post("/sources/{name}/revoke", name="console_source_revoke")
def revoke(
    name: str,
    caller: Annotated[Caller, Depends(Authorize("sources:manage"))],
    store: StoreDep,
) -> RedirectResponse:
    """Revoke a source's write key at once."""
    with store.sessions.begin() as session:
        revoke_source(session, name=name[:64], principal=caller.principal)
    return RedirectResponse(f"{SETTINGS_PATH}?done=revoked", status_code=303)


@router.post("/tokens/{token_id}/revoke", name="console_token_revoke")
def revoke_token(
    token_id: uuid.UUID,
    caller: Annotated[Caller, Depends(Authorize("users:manage"))],
    store: StoreDep,
) -> RedirectResponse:
    """Revoke anyone's API token at once."""
    with store.sessions.begin() as session:
        revoke_any_token(session, token_id=token_id, principal=caller.principal)
    return RedirectResponse(f"{SETTINGS_PATH}?done=token_revoked", status_code=303)


@router.post("/smtp/test", response_class=HTMLResponse, name="console_smtp_test")
def test_mail(
    request: Request,
    caller: ManageSettings,
    store: StoreDep,
    settings: SettingsDep,
    to: Annotated[str, Form(max_length=254)],
) -> Response:
    """Send a test e-mail over the configured relay now; the page says whether it went."""

    def send(session: Session) -> dict[str, Any]:
        problem = send_test_message(session, settings.smtp, to=to, principal=caller.principal)
        return {"mail_result": {"delivered": problem is None, "problem": problem}}

    return _acting(request, caller, store, settings, send)


@router.post("/purposes", response_class=HTMLResponse, name="console_purpose_create")
def new_purpose(
    request: Request,
    caller: Annotated[Caller, Depends(Authorize("privacy:manage"))],
    store: StoreDep,
    settings: SettingsDep,
    code: Annotated[str, Form(max_length=64)],
    title: Annotated[str, Form(max_length=120)],
    description: Annotated[str, Form(max_length=500)],
    legal_basis: Annotated[str, Form(max_length=32)],
    direct_marketing: Annotated[bool, Form()] = False,
) -> Response:
    """Register a processing purpose."""

    def create(session: Session) -> dict[str, Any]:
        create_purpose(
            session,
            info=PurposeInfo(code, title, description, legal_basis, direct_marketing),
            principal=caller.principal,
        )
        return {"notice": NOTICES["purpose"]}

    return _acting(request, caller, store, settings, create)
