"""Browser steps shared by Playwright tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pyotp
from playwright.sync_api import expect

from support.staff import STRONG, create_staff, enrol_totp


def sign_in_as_dpo(page: Any, live_server: Any, email: str = "dpo@example.com") -> None:
    """Create a DPO with TOTP and sign them in to the console through its pages."""
    sign_in_with_totp(page, live_server, email=email, role="dpo", display_name="Dana Dpo")


def sign_in_as_marketer(page: Any, live_server: Any, email: str = "mia@example.com") -> None:
    """Create a marketer (no second factor: their role does not require one) and sign them
    in to the console through its pages."""
    with live_server.store.sessions.begin() as session:
        create_staff(
            session,
            live_server.settings,
            email=email,
            role="marketer",
            display_name="Mia Marketer",
        ).user.must_change_password = False
    page.goto("/console/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(STRONG)
    page.wait_for_load_state("networkidle")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")


def sign_in_with_totp(
    page: Any, live_server: Any, *, email: str, role: str, display_name: str
) -> None:
    """Create a member of staff of ``role`` with TOTP and sign them in through the pages."""
    with live_server.store.sessions.begin() as session:
        user = create_staff(
            session,
            live_server.settings,
            email=email,
            role=role,
            password=STRONG,
            display_name=display_name,
        ).user
        user.must_change_password = False
        secret = enrol_totp(session, live_server.store.keystore, user)
    page.goto("/console/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(STRONG)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Code", exact=True).fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")


def html_app(html: str) -> Callable[[dict[str, Any], Any, Any], Awaitable[None]]:
    """An ASGI app answering every request with ``html``: a customer's web page (a shop with
    a snippet) served by ``serve_app`` from another loopback origin."""
    body = html.encode()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app
