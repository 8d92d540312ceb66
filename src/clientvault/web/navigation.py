"""The console's navigation: every domain's entry, in one place.

Entries are declared once here with the path their page will have. An entry whose page does
not exist yet is rendered *unavailable* (greyed, ``aria-disabled``, not focusable, not
clickable) rather than linking to a stub: availability is read from the app's own routes, so a
page becomes reachable from the navigation the moment its route is registered, with no change
here. Likewise a signed-in user is not offered pages their role may not open: the permission a
page needs is read off its ``Authorize`` dependency, the same one that refuses the request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from starlette.routing import BaseRoute, Match

from clientvault.http.auth import api_routes, authorize_permission

CONSOLE_PREFIX = "/console"


@dataclass(frozen=True)
class NavEntry:
    """One link of the navigation: its label, its page's path and the icon drawn beside it."""

    label: str
    path: str
    icon: str = ""
    children: tuple[NavEntry, ...] = ()
    #: Left out, rather than shown unavailable, while its page does not exist (a page that
    #: only some installations have, like the development mailbox).
    hidden_unless_available: bool = False


@dataclass(frozen=True)
class NavLink:
    """A navigation entry as rendered for one request."""

    label: str
    path: str
    icon: str
    available: bool
    current: bool
    children: tuple[NavLink, ...]

    @property
    def open(self) -> bool:
        """Whether this entry or one of its children is the page being shown."""
        return self.current or any(child.open for child in self.children)


#: The console's sections, in display order. Paths are those the future pages will use.
NAVIGATION: tuple[NavEntry, ...] = (
    NavEntry("Overview", CONSOLE_PREFIX, "overview"),
    NavEntry(
        "Customers",
        f"{CONSOLE_PREFIX}/customers",
        "customers",
        (NavEntry("Import customers", f"{CONSOLE_PREFIX}/imports"),),
    ),
    NavEntry("Identity review", f"{CONSOLE_PREFIX}/identity/review", "identity"),
    NavEntry("Segments", f"{CONSOLE_PREFIX}/segments", "segments"),
    NavEntry(
        "Campaigns & workflows",
        f"{CONSOLE_PREFIX}/campaigns",
        "campaigns",
        (NavEntry("Personalisation", f"{CONSOLE_PREFIX}/personalize"),),
    ),
    NavEntry("Analytics", f"{CONSOLE_PREFIX}/analytics", "analytics"),
    NavEntry(
        "Predictions",
        f"{CONSOLE_PREFIX}/predict/models",
        "activity",
        (
            NavEntry("Models", f"{CONSOLE_PREFIX}/predict/models"),
            NavEntry("Fraud review", f"{CONSOLE_PREFIX}/predict/fraud"),
        ),
    ),
    NavEntry(
        "Support",
        f"{CONSOLE_PREFIX}/support",
        "support",
        (
            NavEntry("Knowledge base", f"{CONSOLE_PREFIX}/support/knowledge"),
            NavEntry("Agents", f"{CONSOLE_PREFIX}/support/agents"),
        ),
    ),
    NavEntry(
        "Privacy",
        f"{CONSOLE_PREFIX}/privacy",
        "privacy",
        (
            NavEntry("Consents", f"{CONSOLE_PREFIX}/privacy/consents"),
            NavEntry("Data-subject requests", f"{CONSOLE_PREFIX}/privacy/requests"),
            NavEntry("Records of processing", f"{CONSOLE_PREFIX}/privacy/records"),
            NavEntry("Breaches", f"{CONSOLE_PREFIX}/privacy/breaches"),
        ),
    ),
    NavEntry(
        "Security",
        f"{CONSOLE_PREFIX}/security",
        "security",
        (
            NavEntry("Users & roles", f"{CONSOLE_PREFIX}/security/users"),
            NavEntry("Audit log", f"{CONSOLE_PREFIX}/security/audit"),
            NavEntry("Alerts", f"{CONSOLE_PREFIX}/security/alerts"),
            NavEntry("Scheduled jobs", f"{CONSOLE_PREFIX}/security/jobs"),
            NavEntry("Backups", f"{CONSOLE_PREFIX}/security/backups"),
        ),
    ),
    NavEntry("Settings", f"{CONSOLE_PREFIX}/settings", "settings"),
    # The development mail catcher's mailbox: served only in env=dev (messaging.catcher).
    NavEntry("Dev mailbox", f"{CONSOLE_PREFIX}/dev/mailbox", "mail", hidden_unless_available=True),
)


def page_exists(routes: Iterable[BaseRoute], path: str) -> bool:
    """Whether a GET of ``path`` would reach one of ``routes`` (rather than a 404).

    Asks each route the same question Starlette's router does, so included routers, mounts
    and path parameters are all taken into account.
    """
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}
    return any(route.matches(scope)[0] is Match.FULL for route in routes)


def page_permission(routes: Iterable[BaseRoute], path: str) -> str | None:
    """The permission the page at ``path`` needs (its ``Authorize`` dependency's), if any.

    ``None`` when no route serves a GET of ``path`` or the route declares no ``Authorize``.
    """
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}
    for route in api_routes(routes):
        if route.matches(scope)[0] is Match.FULL:
            return authorize_permission(route.dependant)
    return None


def build_navigation(
    current_path: str,
    exists: Callable[[str], bool],
    entries: tuple[NavEntry, ...] = NAVIGATION,
    allowed: Callable[[str], bool] | None = None,
) -> tuple[NavLink, ...]:
    """Resolve the navigation for one request: which entries exist and which one is shown.

    Each entry, group or child, is available only when its own page exists, so a domain can
    ship its sub-pages before its landing page (the DPO dashboard, say) without a dead link.
    With ``allowed`` (for a signed-in user), an existing page the user may not open is left
    out, and so is a group left with nothing to show.
    """
    links = []
    for entry in entries:
        children = build_navigation(current_path, exists, entry.children, allowed)
        available = exists(entry.path)
        if not available and entry.hidden_unless_available and not children:
            continue
        if available and allowed is not None and not allowed(entry.path):
            if not children:
                continue
            available = False
        links.append(
            NavLink(
                label=entry.label,
                path=entry.path,
                icon=entry.icon,
                available=available,
                current=current_path.rstrip("/") == entry.path,
                children=children,
            )
        )
    return tuple(links)
