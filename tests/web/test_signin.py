"""Signing in to the console in Debian's chromium: password, MFA enrolment and challenge, the
audit log, and a page the role may not see."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from clientvault.security.models import User
from support.staff import create_staff, enrol_totp

pytestmark = pytest.mark.web

STRONG = "violet-harbour-tangent-quarry-47"


def _idle(page: Any) -> None:
    """Let the page finish loading (icons, favicon) before leaving it.

    A request still in flight when the page navigates is aborted, and the ``page`` fixture
    reports every aborted request as a problem.
    """
    page.wait_for_load_state("networkidle")


def _user(live_server: Any, email: str, role: str, password: str | None = STRONG) -> str | None:
    """Create an account in the server's store; returns its one-time password, if any."""
    with live_server.store.sessions.begin() as session:
        return create_staff(
            session, live_server.settings, email=email, role=role, password=password
        ).one_time_password


def _enrolled(live_server: Any, email: str) -> str:
    """Set up a user's TOTP through the services; returns the secret (no code used yet)."""
    with live_server.store.sessions.begin() as session:
        user = session.scalars(select(User).where(User.email == email)).one()
        return enrol_totp(session, live_server.store.keystore, user)


def _submit_password(page: Any, email: str, password: str = STRONG) -> None:
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    _idle(page)
    page.get_by_role("button", name="Sign in").click()


def test_admin_signs_in_with_mfa_reads_the_audit_log_and_a_marketer_is_refused(
    page: Any, live_server: Any, page_problems: Any
) -> None:
    _user(live_server, "admin@example.com", "admin")
    _user(live_server, "marketer@example.com", "marketer")

    # Not signed in: the audit log sends the browser to the sign-in page, and back afterwards.
    _idle(page)
    page.goto("/console/security/audit")
    expect(page).to_have_url(re.compile(r"/console/login\?next=/console/security/audit$"))
    expect(page).to_have_title("Sign in · clientvault")
    _submit_password(page, "admin@example.com")

    # An administrator must use MFA and has none yet: enrolment comes first.
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up two-factor authentication")
    expect(page.locator(".lead")).to_contain_text("Your role (admin) must use a second factor")
    _idle(page)
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Scan the QR code")
    expect(page.locator("figure.qr svg")).to_be_visible()
    secret = page.locator("[data-secret]").inner_text()
    page.get_by_text("Show the setup link").click()
    expect(page.locator("#otpauth-uri")).to_contain_text(f"secret={secret}")
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    _idle(page)
    page.get_by_role("button", name="Turn on two-factor authentication").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Two-factor authentication is on")
    codes = page.locator("#recovery-codes li")
    expect(codes).to_have_count(10)
    expect(codes.first).to_have_text(re.compile(r"^[0-9a-f]{6}-[0-9a-f]{6}$"))
    expect(page.get_by_role("button", name="Copy codes")).to_be_visible()  # console.js ran
    _idle(page)
    page.get_by_role("link", name="I have saved them, continue").click()

    # Back where the admin was going: the audit log, with the sign-in just made.
    expect(page).to_have_url(re.compile(r"/console/security/audit$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    expect(page.locator("header .user")).to_contain_text("Admin")
    for action in ("login.succeeded", "mfa.enrolment_started", "mfa.enrolled"):
        expect(page.locator(f'tbody tr[data-action="{action}"]')).to_have_count(1)
    expect(page.locator('tbody tr[data-action="access.denied"]')).to_have_count(1)
    page.get_by_label("Action").select_option("login.succeeded")
    _idle(page)
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    _idle(page)
    page.get_by_role("button", name="Verify chain").click()
    expect(page.locator('[data-verify="ok"]')).to_contain_text("The chain is intact.")
    expect(page.locator("[data-head]")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))

    _idle(page)
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/console/login$"))

    # A marketer signs in (no MFA needed) and may not read the audit log.
    _submit_password(page, "marketer@example.com")
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    nav = page.get_by_role("navigation", name="Console")
    expect(nav.get_by_role("link", name="Audit log")).to_have_count(0)  # not offered
    page_problems.expect_status(403, "/console/security/audit")
    _idle(page)
    response = page.goto("/console/security/audit")

    assert response is not None
    assert response.status == 403
    expect(page).to_have_title("Not allowed · clientvault")
    expect(page.get_by_role("heading", level=1)).to_have_text("You cannot do this here")
    expect(page.locator(".empty-state")).to_contain_text("This needs the audit:read permission.")
    expect(page.locator("header .user")).to_contain_text("Marketer")
    _idle(page)
    page.get_by_role("link", name="Back to the Overview").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")


def test_enrolled_user_types_a_code_at_the_challenge(page: Any, live_server: Any) -> None:
    _user(live_server, "dpo@example.com", "dpo")
    secret = _enrolled(live_server, "dpo@example.com")

    _idle(page)
    page.goto("/console/login")
    _submit_password(page, "dpo@example.com")
    expect(page).to_have_url(re.compile(r"/console/login/mfa$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-factor authentication")
    page.get_by_label("Code", exact=True).fill(pyotp.TOTP(secret).now())
    _idle(page)
    page.get_by_role("button", name="Verify").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    expect(page.locator("header .role-badge")).to_have_text("dpo")


def test_wrong_password_and_wrong_code_are_explained(
    page: Any, live_server: Any, page_problems: Any
) -> None:
    _user(live_server, "dpo@example.com", "dpo")
    _enrolled(live_server, "dpo@example.com")
    page_problems.expect_status(401, "/console/login")
    page_problems.expect_status(401, "/console/login/mfa")

    _idle(page)
    page.goto("/console/login")
    _submit_password(page, "dpo@example.com", "not-the-password")
    expect(page.get_by_role("alert")).to_have_text("The e-mail or password is not right.")
    expect(page.get_by_label("E-mail")).to_have_value("dpo@example.com")
    _submit_password(page, "dpo@example.com")
    page.get_by_label("Code", exact=True).fill("000000")
    _idle(page)
    page.get_by_role("button", name="Verify").click()

    expect(page.get_by_role("alert")).to_contain_text("That code is not right.")
    _idle(page)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")


def test_one_time_password_must_be_replaced_at_first_sign_in(page: Any, live_server: Any) -> None:
    one_time = _user(live_server, "new@example.com", "analyst", password=None)
    assert one_time

    _idle(page)
    page.goto("/console/login")
    _submit_password(page, "new@example.com", one_time)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose your password")
    _idle(page)
    page.goto("/console")  # nothing else opens until the password is changed
    expect(page).to_have_url(re.compile(r"/console/account/password\?next=/console$"))
    page.get_by_label("One-time password").fill(one_time)
    page.get_by_label("New password", exact=True).fill(STRONG)
    page.get_by_label("New password again").fill(STRONG)
    _idle(page)
    page.get_by_role("button", name="Change password").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    expect(page.locator("header .user")).to_contain_text("New")
