"""The console's navigation: every domain's entry, in one place.

Entries are declared once here with the path their page will have. An entry whose page does
not exist yet is rendered *unavailable* (greyed, ``aria-disabled``, not focusable, not
clickable) rather than linking to a stub: availability is read from the app's own routes, so a
page becomes reachable from the navigation the moment its route is registered, with no change
here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from starlette.routing import BaseRoute, Route

CONSOLE_PREFIX = "/console"


@dataclass(frozen=True)
class NavEntry:
    """One link of the navigation: its label, its page's path and the icon drawn beside it."""

    label: str
    path: str
    icon: str = ""
    children: tuple[NavEntry, ...] = ()


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
    NavEntry("Customers", f"{CONSOLE_PREFIX}/customers", "customers"),
    NavEntry("Identity review", f"{CONSOLE_PREFIX}/identity/review", "identity"),
    NavEntry("Segments", f"{CONSOLE_PREFIX}/segments", "segments"),
    NavEntry("Campaigns & workflows", f"{CONSOLE_PREFIX}/campaigns", "campaigns"),
    NavEntry("Analytics", f"{CONSOLE_PREFIX}/analytics", "analytics"),
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
        ),
    ),
    NavEntry("Settings", f"{CONSOLE_PREFIX}/settings", "settings"),
)


def page_paths(routes: Iterable[BaseRoute]) -> frozenset[str]:
    """The paths of the plain (parameter-free) GET routes among ``routes``.

    Only such routes can back a navigation entry; they are what decides whether an entry is
    available.
    """
    return frozenset(
        route.path
        for route in routes
        if isinstance(route, Route) and "{" not in route.path and "GET" in (route.methods or ())
    )


def build_navigation(
    current_path: str,
    available_paths: frozenset[str],
    entries: tuple[NavEntry, ...] = NAVIGATION,
) -> tuple[NavLink, ...]:
    """Resolve the navigation for one request: which entries exist and which one is shown.

    Each entry, group or child, is available only when its own page exists, so a domain can
    ship its sub-pages before its landing page (the DPO dashboard, say) without a dead link.
    """
    links = []
    for entry in entries:
        children = build_navigation(current_path, available_paths, entry.children)
        links.append(
            NavLink(
                label=entry.label,
                path=entry.path,
                icon=entry.icon,
                available=entry.path in available_paths,
                current=current_path.rstrip("/") == entry.path,
                children=children,
            )
        )
    return tuple(links)
