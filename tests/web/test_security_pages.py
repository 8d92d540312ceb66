"""The security console pages in Debian's chromium: users and roles, my account and tokens.

Confirmation dialogs, copy buttons and one-time secrets are the browser-side parts checked
here; the pages' rules (CSRF, refusals, redirects) are checked over HTTP in
``tests/api/test_console_security.py``.
"""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from clientvault.security.models import ApiToken, User
from support.staff import create_staff, enrol_totp

pytestmark = pytest.mark.web

STRONG = "violet-harbour-tangent-quarry-47"


def _idle(page: Any) -> None:
    """Let the page finish loading (icons, favicon) before leaving it.

    A request still in flight when the page navigates is aborted, and the ``page`` fixture
    reports every aborted request as a problem.
    """
    page.wait_for_load_state("networkidle")


def _sign_in(page: Any, live_server: Any, email: str, role: str) -> None:
    """Create a user of ``role`` (with TOTP set up) and sign them in through the pages."""
    with live_server.store.sessions.begin() as session:
        user = create_staff(
            session, live_server.settings, email=email, role=role, password=STRONG
        ).user
        secret = enrol_totp(session, live_server.store.keystore, user)
    _idle(page)
    page.goto("/console/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(STRONG)
    _idle(page)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Code", exact=True).fill(pyotp.TOTP(secret).now())
    _idle(page)
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")


def test_admin_creates_disables_and_re_roles_a_user(page: Any, live_server: Any) -> None:
    _sign_in(page, live_server, "admin@example.com", "admin")
    _idle(page)
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Users & roles").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Users & roles")

    new_user = page.get_by_role("form", name="Add a user")
    new_user.get_by_label("E-mail").fill("jo@example.com")
    new_user.get_by_label("Name").fill("Jo Example")
    new_user.get_by_label("Role").select_option("support")
    _idle(page)
    new_user.get_by_role("button", name="Create account").click()

    created = page.locator("[data-one-time-password]")
    expect(created).to_have_text(re.compile(r"^[\w-]{20,}$"))
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    row = page.locator('tr[data-user="jo@example.com"]')
    expect(row).to_contain_text("password to set")

    dialogs: list[str] = []

    def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    _idle(page)
    row.get_by_role("button", name="Disable").click()
    expect(row).to_contain_text("password to set")  # dismissed: nothing happened
    page.once("dialog", lambda dialog: dialog.accept())
    _idle(page)
    row.get_by_role("button", name="Disable").click()
    expect(page.get_by_role("status").first).to_contain_text("The account was disabled")
    expect(page.locator('tr[data-user="jo@example.com"]')).to_contain_text("disabled")
    assert dialogs == [
        "Disable Jo Example? Their sessions and API tokens end at once.",
    ]

    row = page.locator('tr[data-user="jo@example.com"]')
    row.get_by_label("Role of Jo Example").select_option("analyst")
    _idle(page)
    row.get_by_role("button", name="Change").click()
    expect(page.get_by_role("status").first).to_contain_text("The role was changed")
    expect(page.locator('tr[data-user="jo@example.com"] select')).to_have_value("analyst")
    expect(page.locator('tr[data-user="admin@example.com"]')).to_contain_text("you")

    new_role = page.get_by_role("form", name="Define a custom role")
    new_role.get_by_label("Name").fill("auditor")
    new_role.get_by_label("Description").fill("reads the audit log")
    new_role.get_by_role("checkbox", name=re.compile(r"^audit:read")).check()
    _idle(page)
    new_role.get_by_role("button", name="Save role").click()
    expect(page.locator('tr[data-role="auditor"]')).to_contain_text("audit:read")


def test_my_account_issues_a_token_once_and_revokes_it(page: Any, live_server: Any) -> None:
    _sign_in(page, live_server, "dpo@example.com", "dpo")
    _idle(page)
    page.locator("header .user-name").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My account")
    expect(page.locator('[data-field="email"]')).to_have_text("dpo@example.com")
    expect(page.locator('[data-field="mfa"]')).to_contain_text("On")
    expect(page.locator("tbody .badge", has_text="This browser")).to_be_visible()

    page.get_by_label("Name", exact=True).fill("nightly export")
    page.get_by_role("checkbox", name=re.compile(r"^audit:read")).check()
    _idle(page)
    page.get_by_role("button", name="Create token").click()

    secret = page.locator("[data-new-token]").inner_text()
    assert secret.startswith("cvat_")
    row = page.locator('tr[data-token="nightly export"]')
    expect(row).to_contain_text("active")
    _idle(page)
    page.goto("/console/account")
    expect(page.locator("[data-new-token]")).to_have_count(0)  # shown once
    with live_server.store.sessions() as session:
        assert secret not in repr(session.scalars(select(ApiToken.token_hash)).all())
        assert session.scalars(select(User.email)).all() == ["dpo@example.com"]

    page.once("dialog", lambda dialog: dialog.accept())
    _idle(page)
    page.locator('tr[data-token="nightly export"]').get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status").first).to_contain_text("The token was revoked.")
    expect(page.locator('tr[data-token="nightly export"]')).to_contain_text("revoked")
