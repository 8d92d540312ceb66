"""Mounting the console: static assets, the favicon, its pages, and its error pages.

The console answers a refused or failed request with a page, not JSON: ``console_error_page``
is what the app's one error mapping (``http/errors.py``) calls for every path under
``/console`` (the app hands it ``CONSOLE_ERROR_PAGES``), and the "not found" handler below
does the same for unknown console paths.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from clientvault.domains import for_domains
from clientvault.errors import (
    ClientVaultError,
    Erased,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
)
from clientvault.http.auth import SAFE_METHODS, Caller, identify_caller, session_token
from clientvault.http.errors import ErrorPages
from clientvault.settings import Settings
from clientvault.store.context import Store
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.routes import (
    account,
    alerts,
    analytics,
    audit,
    backup,
    campaigns,
    customer360,
    customers,
    dev_mailbox,
    identity,
    imports,
    jobs,
    overview,
    personalize,
    predict,
    preferences,
    privacy,
    segments,
    signin,
    staff,
    support,
)
from clientvault.web.routes import settings as settings_page
from clientvault.web.signin_flow import PASSWORD_PATH, login_url, retry_minutes, with_next
from clientvault.web.templating import STATIC_DIR, render, templates

#: Each domain's console pages, keyed by its name in ``clientvault.domains`` and mounted in
#: this order; a domain with pages adds one line here for its ``web/routes/<domain>.py`` (and
#: its entry in ``web/navigation.py``'s ``NAVIGATION``, unless one is planned there already).
ROUTERS: dict[str, tuple[APIRouter, ...]] = {
    "security": (
        signin.router,
        account.router,
        staff.router,
        audit.router,
        alerts.router,
        settings_page.router,
    ),
    "automation": (jobs.router, campaigns.router, campaigns.public_router, personalize.router),
    "privacy": (privacy.router, preferences.router),
    "identity": (identity.router,),
    "support": (support.router, support.public_router),
    # Fixed paths under /customers/… (the import pages, the list's) come before the 360°
    # page's /customers/{customer_id}: routes match in mounting order.
    "ingest": (imports.router,),
    "customers": (customers.router, customer360.router),
    "segments": (segments.router,),
    "analytics": (analytics.router,),
    "backup": (backup.router,),
    "predict": (predict.router,),
}


def is_console_path(path: str) -> bool:
    """Whether a request path belongs to the console (and so gets HTML error pages)."""
    return path == CONSOLE_PREFIX or path.startswith(f"{CONSOLE_PREFIX}/")


def is_public_page(path: str) -> bool:
    """Whether a request path is one of the public pages (the preference centre), which
    answer every error with their own page too: never JSON to a member of the public."""
    return path == preferences.PREFERENCES or path.startswith(f"{preferences.PREFERENCES}/")


def install_console(app: FastAPI) -> None:
    """Serve the console under ``/console``, its assets under ``/static`` and the favicon.

    A 404 under ``/console`` renders the console's own "page not found" page (with the
    navigation, so the user can carry on); any other 404 keeps FastAPI's JSON body, which is
    what API clients expect.
    """
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(CONSOLE_PREFIX, status_code=307)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        # Browsers ask for /favicon.ico on pages that declare no icon (JSON, the API docs).
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")

    app.include_router(overview.router)  # the console's home, no domain's
    for routers in for_domains(ROUTERS):
        for router in routers:
            app.include_router(router)
    settings: Settings | None = getattr(app.state, "settings", None)
    if settings is not None and settings.env == "dev":
        app.include_router(dev_mailbox.router)  # the dev mail catcher's (messaging.catcher)

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, HTTPException):  # pragma: no cover - Starlette passes these only
            raise exc
        if not is_console_path(request.url.path):
            return await http_exception_handler(request, exc)
        await _show_signed_in_user(request)
        return templates.TemplateResponse(
            request,
            "not_found.html",
            {"title": "Page not found", "path": request.url.path},
            status_code=404,
        )


async def console_error_page(request: Request, error: ClientVaultError, status: int) -> Response:
    """The console's answer to a clientvault error raised while serving a console path.

    - not signed in (or the session expired, or its second factor is pending): a 303 to the
      sign-in page, which brings the user back to the page they asked for (``next``; a page
      load only, and only a local console path: see ``signin_flow.safe_next``);
    - signed in with a one-time password still to change: a 303 to the password page;
    - anything else: a styled page with the status the API's mapping gives the error (403
      "not allowed", 404, 429 "try again in N minutes"...), with the navigation, so the user
      can carry on. Messages come from the services, which never put personal data in them.

    On the public pages (``is_public_page``) every error gets their own problem page, which
    offers a new link by e-mail when the link was the problem.
    """
    if is_public_page(request.url.path):
        return preferences.problem_page(request, error)
    if isinstance(error, Unauthenticated):
        return RedirectResponse(login_url(_page_asked_for(request)), status_code=303)
    caller = await _show_signed_in_user(request)
    user = caller.user if caller is not None else None
    if (
        isinstance(error, PermissionDenied)
        and request.method in SAFE_METHODS
        and user is not None
        and user.must_change_password
    ):
        return RedirectResponse(with_next(PASSWORD_PATH, _page_asked_for(request)), status_code=303)
    if isinstance(error, NotFound):
        return render(
            request,
            "not_found.html",
            {"title": "Page not found", "path": request.url.path},
            status_code=404,
        )
    if isinstance(error, PermissionDenied):
        title, heading = "Not allowed", "You cannot do this here"
    elif isinstance(error, RateLimited):
        title = heading = "Too many attempts"
    elif isinstance(error, Erased):
        title = heading = "This customer was erased"
    else:
        title = heading = "Something went wrong" if status >= 500 else "This did not work"
    response = render(
        request,
        "error.html",
        {
            "title": title,
            "heading": heading,
            "status": status,
            "message": error.message,
            "retry_minutes": retry_minutes(error) if isinstance(error, RateLimited) else None,
            "path": request.url.path,
        },
        status_code=status,
    )
    if isinstance(error, RateLimited) and "retry_after" in error.details:
        response.headers["Retry-After"] = str(int(error.details["retry_after"]))
    return response


#: The console's pages for the app's one error mapping (``http.errors.install_error_handlers``).
CONSOLE_ERROR_PAGES = ErrorPages(
    owns=lambda path: is_console_path(path) or is_public_page(path), render=console_error_page
)


def _page_asked_for(request: Request) -> str | None:
    """The page to come back to after signing in: the one a GET asked for (with its query)."""
    if request.method not in SAFE_METHODS:
        return None
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


async def _show_signed_in_user(request: Request) -> Caller | None:
    """Identify the caller of an error page, so the layout shows who is signed in.

    ``Authorize`` puts the caller on ``request.state`` only when it lets a request through;
    an error page identifies it again (read-only use: nothing is allowed on this basis).
    """
    caller: Caller | None = getattr(request.state, "caller", None)
    if caller is None:
        caller = await run_in_threadpool(_identify, request)
        if caller is not None:
            request.state.caller = caller
    return caller


def _identify(request: Request) -> Caller | None:
    store: Store | None = getattr(request.app.state, "store", None)
    settings: Settings = request.app.state.settings
    if store is None or not (session_token(request) or "authorization" in request.headers):
        return None  # nobody to look up: no transaction for anonymous visitors
    with store.sessions.begin() as session:
        return identify_caller(request, session, settings)
