"""Who is calling, and may they: the one permission check every API route and console page
goes through (``Authorize``), never an ad-hoc test in a route.

A caller is a staff session (the ``__Host-`` cookie) or an API token (``Authorization:
Bearer``). A cookie-authenticated request that changes state must carry the session's CSRF
token (``X-CSRF-Token`` header or ``csrf_token`` form field). A session whose user must use
MFA counts only once the second factor was checked; a user who must change their password
may do only that. Refusals are audited in their own transaction so they persist.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from clientvault.errors import PermissionDenied, Unauthenticated
from clientvault.security import audit
from clientvault.security.accounts import principal_for
from clientvault.security.models import StaffSession, User
from clientvault.security.principal import Principal
from clientvault.security.sessions import COOKIE_NAME, csrf_valid, resolve_session
from clientvault.security.signin import mfa_required
from clientvault.security.tokens import principal_for_token
from clientvault.settings import Settings
from clientvault.store.context import Store

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of a request and how they authenticated."""

    principal: Principal
    user: User | None
    staff_session: StaffSession | None


def session_token(request: Request) -> str | None:
    """The session token from the request's cookie, if any."""
    return request.cookies.get(COOKIE_NAME)


def identify_caller(request: Request, session: Session, settings: Settings) -> Caller | None:
    """The caller of a request, or ``None`` when no valid credential is presented.

    ``None`` also covers a session still waiting for its second factor: only the sign-in
    steps (which resolve the session themselves) may use such a session.
    """
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        principal = principal_for_token(session, secret=header[7:].strip())
        return Caller(principal, None, None) if principal else None
    token = session_token(request)
    if token is None:
        return None
    found = resolve_session(session, token=token, policy=settings.security)
    if found is None:
        return None
    staff_session, user = found
    if mfa_required(user, settings) and not staff_session.mfa_passed:
        return None
    return Caller(principal_for(session, user), user, staff_session)


class Authorize:
    """Dependency that lets a request through only with ``permission``; returns the caller.

    Routes declare it as ``Depends(Authorize("customers:read"))``; the authorisation-matrix
    test reads ``permission`` off every route, so a route without one is caught.
    """

    def __init__(self, permission: str, *, allow_password_change: bool = False) -> None:
        self.permission = permission
        self.allow_password_change = allow_password_change

    async def __call__(self, request: Request) -> Caller:
        submitted = request.headers.get(CSRF_HEADER)
        if submitted is None and request.method not in SAFE_METHODS:
            content_type = request.headers.get("content-type", "")
            # Only URL-encoded console forms are read here; a multipart upload streams to its
            # route untouched, so cookie-authenticated uploads send the X-CSRF-Token header.
            if content_type.startswith("application/x-www-form-urlencoded"):
                value = (await request.form()).get(CSRF_FIELD)  # cached for the route too
                submitted = value if isinstance(value, str) else None
        return await run_in_threadpool(self._check, request, submitted)

    def _check(self, request: Request, submitted_csrf: str | None) -> Caller:
        store: Store = request.app.state.store
        settings: Settings = request.app.state.settings
        with store.sessions.begin() as session:
            caller = identify_caller(request, session, settings)
            if caller is None:
                _audit_refusal(session, request, None, "unauthenticated")
                refusal: Exception = Unauthenticated("sign in first")
            elif caller.staff_session is not None and not _csrf_ok(
                request, caller.staff_session, submitted_csrf
            ):
                _audit_refusal(session, request, caller.principal, "csrf")
                refusal = PermissionDenied("missing or wrong CSRF token")
            elif (
                caller.user is not None
                and caller.user.must_change_password
                and not self.allow_password_change
            ):
                refusal = PermissionDenied("change your one-time password first")
            elif self.permission != "authenticated" and not caller.principal.can(self.permission):
                _audit_refusal(session, request, caller.principal, self.permission)
                refusal = PermissionDenied(f"this needs the {self.permission} permission")
            else:
                request.state.caller = caller
                return caller
        raise refusal


def api_routes(routes: Iterable[object]) -> Iterator[APIRoute]:
    """Every FastAPI route, including those of included routers (which FastAPI >= 0.160
    keeps as one entry holding the router, rather than copying its routes)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from api_routes(inner.routes)


def authorize_permission(dependant: Dependant) -> str | None:
    """The permission of the ``Authorize`` dependency among a route's dependencies, if any:
    what the console's navigation hides pages by and the OpenAPI document's security reads."""
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Authorize):
            return dependency.call.permission
        found = authorize_permission(dependency)
        if found is not None:
            return found
    return None


def _csrf_ok(request: Request, staff_session: StaffSession, submitted: str | None) -> bool:
    return request.method in SAFE_METHODS or csrf_valid(staff_session, submitted)


def _audit_refusal(
    session: Session, request: Request, principal: Principal | None, needed: str
) -> None:
    actor = principal or Principal(kind="user", id="anonymous")
    audit.record(
        session,
        principal=actor,
        action="access.denied",
        target_type="route",
        target_ids=[request.url.path[:64]],
        details={
            "needed": needed,
            "method": request.method,
            "network": request.client.host if request.client else "unknown",
        },
    )
