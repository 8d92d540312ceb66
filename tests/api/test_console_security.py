"""The console's sign-in and security pages over HTTP: redirects, CSRF, refusals, forms.

Browser-level behaviour (MFA in chromium, the audit log, a refused page) is in
``tests/web/test_signin.py``; here every answer's status, location and body is checked
directly, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from clientvault.security import mfa
from clientvault.security.accounts import set_active
from clientvault.security.models import ApiToken, AuditEntry, User
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.context import Store
from clientvault.web.signin_flow import safe_next
from support.staff import add_staff

STRONG = "violet-harbour-tangent-quarry-47"
OTHER_STRONG = "amber-lantern-glacier-minnow-93"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _user(
    db: Store, settings: Settings, email: str, role: str, password: str | None = STRONG
) -> str | None:
    """Create an account; returns its one-time password when none was given."""
    return add_staff(
        db, settings, email=email, role=role, password=password, display_name="Test Person"
    ).one_time_password


def _csrf(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


def _login(client: TestClient, email: str, password: str = STRONG, next_path: str = "") -> Any:
    form = client.get("/console/login", follow_redirects=False)
    assert form.status_code == 200, form.text
    return client.post(
        "/console/login",
        data={
            "email": email,
            "password": password,
            "csrf_token": _csrf(form.text),
            "next": next_path,
        },
        follow_redirects=False,
    )


def _signed_in(client: TestClient, db: Store, settings: Settings, role: str) -> str:
    """Sign a user of ``role`` in through the console form; returns the session's CSRF token."""
    _user(db, settings, f"{role}@example.com", role)
    response = _login(client, f"{role}@example.com")
    assert response.status_code == 303
    assert response.headers["location"] == "/console"
    return _csrf(client.get("/console/account").text)


def _admin_signed_in(client: TestClient, db: Store, settings: Settings) -> str:
    """An administrator with MFA set up, signed in with password and code; returns CSRF."""
    return _signed_in_with_mfa(client, db, settings, "admin")


def _signed_in_with_mfa(client: TestClient, db: Store, settings: Settings, role: str) -> str:
    """A user of ``role`` with MFA set up, signed in with password and code; returns CSRF."""
    email = f"{role}@example.com"
    _user(db, settings, email, role)
    with db.sessions.begin() as session:
        user = session.scalars(select(User).where(User.email == email)).one()
        secret = mfa.begin_enrolment(session, db.keystore, user=user).secret
        mfa.confirm_enrolment(session, db.keystore, user=user, code=pyotp.TOTP(secret).now())
        user.totp_last_step = None  # let the test's sign-in use the current code once more
    response = _login(client, email)
    assert response.headers["location"] == "/console/login/mfa"
    page = client.get("/console/login/mfa")
    passed = client.post(
        "/console/login/mfa",
        data={"code": pyotp.TOTP(secret).now(), "csrf_token": _csrf(page.text)},
        follow_redirects=False,
    )
    assert passed.status_code == 303, passed.text
    return _csrf(client.get("/console/account").text)


# ---- redirects and next ----------------------------------------------------------------------


def test_unauthenticated_console_page_redirects_to_login_with_next(client: TestClient) -> None:
    response = client.get("/console/security/audit?action=login.failed", follow_redirects=False)

    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/console/login"
    assert parse_qs(location.query) == {"next": ["/console/security/audit?action=login.failed"]}
    form = client.get(response.headers["location"])
    assert 'name="next" value="/console/security/audit?action=login.failed"' in form.text


def test_api_paths_keep_their_json_errors(client: TestClient) -> None:
    response = client.get("/api/v1/audit", follow_redirects=False)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_sign_in_returns_to_the_page_asked_for(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    _user(db, db_settings, "m@example.com", "marketer")

    response = _login(client, "m@example.com", next_path="/console/account?done=password")

    assert response.status_code == 303
    assert response.headers["location"] == "/console/account?done=password"


@pytest.mark.parametrize(
    "evil",
    [
        "https://evil.example",
        "//evil.example/console",
        "/\\evil.example",
        "https://evil.example/console",
        "javascript:alert(1)",
        "/console/../api/v1/users",
        "/console@evil.example",
        "/consolex",
        "/console/\nSet-Cookie:x=1",
        "/console/login",
    ],
)
def test_open_redirect_attempts_are_ignored(
    client: TestClient, db: Store, db_settings: Settings, evil: str
) -> None:
    _user(db, db_settings, "m@example.com", "marketer")
    form = client.get("/console/login", params={"next": evil})
    assert 'name="next" value=""' in form.text

    response = client.post(
        "/console/login",
        data={
            "email": "m@example.com",
            "password": STRONG,
            "csrf_token": _csrf(form.text),
            "next": evil,
        },
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/console"


def test_safe_next_accepts_only_local_console_pages() -> None:
    assert safe_next("/console") == "/console"
    assert safe_next("/console/security/audit?before=10") == "/console/security/audit?before=10"
    for bad in (None, "", "/", "/api/v1/users", "https://evil.example/console", "//x/console"):
        assert safe_next(bad) is None
    assert safe_next("/console/login/mfa") is None  # never back into the sign-in


# ---- sign-in answers -------------------------------------------------------------------------


def test_failed_sign_in_does_not_reveal_whether_the_account_exists(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    _user(db, db_settings, "known@example.com", "analyst")
    _user(db, db_settings, "gone@example.com", "analyst")
    with db.sessions.begin() as session:
        gone = session.scalars(select(User).where(User.email == "gone@example.com")).one()
        set_active(session, user_id=str(gone.id), active=False, by=Principal.system("test"))

    def answer(email: str, password: str) -> tuple[int, str]:
        response = _login(client, email, password)
        body = _CSRF.sub("", response.text).replace(email, "EMAIL")
        return response.status_code, body

    unknown = answer("nobody@example.com", "whatever-password-1")
    wrong = answer("known@example.com", "whatever-password-1")
    disabled = answer("gone@example.com", STRONG)
    assert unknown[0] == wrong[0] == disabled[0] == 401
    assert unknown[1] == wrong[1] == disabled[1]
    assert "The e-mail or password is not right." in unknown[1]


def test_too_many_failures_say_when_to_try_again(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    _user(db, db_settings, "victim@example.com", "analyst")
    for _ in range(db_settings.security.account_failures_before_lockout):
        assert _login(client, "victim@example.com", "not-the-password").status_code == 401

    locked = _login(client, "victim@example.com")

    assert locked.status_code == 429
    minutes = db_settings.security.lockout_minutes
    assert f"Too many attempts. Try again in {minutes} minutes." in locked.text


def test_sign_in_form_needs_its_csrf_cookie(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    _user(db, db_settings, "m@example.com", "marketer")
    form = client.get("/console/login")
    client.cookies.clear()  # another site's form: no SameSite=Strict cookie comes along

    response = client.post(
        "/console/login",
        data={"email": "m@example.com", "password": STRONG, "csrf_token": _csrf(form.text)},
        follow_redirects=False,
    )

    assert response.status_code == 403
    assert "__Host-cv_session" not in response.headers.get("set-cookie", "")


# ---- CSRF and refusals on console forms ------------------------------------------------------


def test_console_form_without_or_with_a_wrong_csrf_token_is_refused(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    csrf = _signed_in_with_mfa(client, db, db_settings, "analyst")
    form = {"name": "ci", "scopes": ["analytics:read"], "days": "7"}

    missing = client.post("/console/account/tokens", data=form, follow_redirects=False)
    wrong = client.post(
        "/console/account/tokens", data={**form, "csrf_token": "forged"}, follow_redirects=False
    )
    logout = client.post("/console/logout", data={"csrf_token": "forged"})

    for refused in (missing, wrong, logout):
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("text/html")
        assert "CSRF" in refused.text
    with db.sessions() as session:
        assert session.scalars(select(ApiToken)).all() == []
    created = client.post("/console/account/tokens", data={**form, "csrf_token": csrf})
    assert created.status_code == 200
    assert re.search(r"data-new-token>cvat_[\w-]+<", created.text)


def test_page_the_role_may_not_open_is_a_styled_403(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    _signed_in(client, db, db_settings, "marketer")

    response = client.get("/console/security/audit")

    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "You cannot do this here" in response.text
    assert "audit:read" in response.text
    assert 'aria-label="Console"' in response.text  # the navigation, to carry on
    assert 'href="/console/security/audit"' not in response.text  # not offered to this role
    with db.sessions() as session:
        denied = session.scalars(
            select(AuditEntry.target_id).where(AuditEntry.action == "access.denied")
        ).all()
    assert denied == ["/console/security/audit"]


def test_console_pages_are_not_cached_and_have_no_inline_code(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    _admin_signed_in(client, db, db_settings)
    for path in (
        "/console",
        "/console/account",
        "/console/account/password",
        "/console/account/mfa",
        "/console/security/users",
        "/console/security/audit?verify=1",
        "/console/login",  # signed in: sent on
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-store", path
        html = response.text
        assert "<script>" not in html
        assert "<script " not in html.replace('<script src="/static/', "")
        assert "style=" not in html
        assert "<style" not in html


# ---- one-time passwords, MFA, sign-out -------------------------------------------------------


def test_one_time_password_forces_the_password_page(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    otp = _user(db, db_settings, "new@example.com", "analyst", password=None)
    assert otp

    signed_in = _login(client, "new@example.com", otp, next_path="/console/account")
    assert signed_in.headers["location"] == "/console/account/password?next=/console/account"
    for path in ("/console", "/console/account"):
        elsewhere = client.get(path, follow_redirects=False)
        assert elsewhere.status_code == 303
        assert elsewhere.headers["location"] == f"/console/account/password?next={path}"
    page = client.get("/console/account/password?next=/console/account")
    assert "Choose your password" in page.text
    csrf = _csrf(page.text)
    old_cookie = client.cookies.get("__Host-cv_session")

    def change(new: str, confirm: str) -> Any:
        return client.post(
            "/console/account/password",
            data={
                "current": otp,
                "new": new,
                "confirm": confirm,
                "csrf_token": csrf,
                "next": "/console/account",
            },
            follow_redirects=False,
        )

    weak = change("password1234", "password1234")
    assert weak.status_code == 422
    assert "too easy to guess" in weak.text
    assert change(STRONG, OTHER_STRONG).status_code == 422
    done = change(STRONG, STRONG)
    assert done.status_code == 303
    assert done.headers["location"] == "/console/account"
    assert client.get("/console/account", follow_redirects=False).status_code == 200
    client.cookies.clear()
    stale = client.get(
        "/console/account",
        headers={"cookie": f"__Host-cv_session={old_cookie}"},
        follow_redirects=False,
    )
    assert stale.status_code == 303  # the one-time session ended with the change


def test_admin_without_mfa_is_sent_to_enrolment_then_shown_codes_once(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    _user(db, db_settings, "boss@example.com", "admin")

    signed_in = _login(client, "boss@example.com", next_path="/console/security/users")
    assert signed_in.headers["location"] == "/console/account/mfa?next=/console/security/users"
    refused = client.get("/console/security/users", follow_redirects=False)
    assert refused.status_code == 303  # not usable before the second factor
    assert refused.headers["location"].startswith("/console/login?")
    assert client.get(refused.headers["location"], follow_redirects=False).headers["location"] == (
        "/console/account/mfa?next=/console/security/users"
    )
    intro = client.get("/console/account/mfa?next=/console/security/users")
    csrf = _csrf(intro.text)
    scan = client.post(
        "/console/account/mfa/start", data={"csrf_token": csrf, "next": "/console/security/users"}
    )
    secret = re.search(r'name="secret" value="([A-Z2-7]+)"', scan.text)
    assert secret
    assert "<svg" in scan.text
    assert f"secret={secret.group(1)}" in scan.text  # the otpauth URI, for manual entry

    confirm = {"csrf_token": csrf, "next": "/console/security/users", "secret": secret.group(1)}
    wrong = client.post("/console/account/mfa/confirm", data={**confirm, "code": "000000"})
    assert wrong.status_code == 422
    assert secret.group(1) in wrong.text  # the same secret again: no need to rescan
    done = client.post(
        "/console/account/mfa/confirm",
        data={**confirm, "code": pyotp.TOTP(secret.group(1)).now()},
    )
    codes = re.findall(r"<li><code>([0-9a-f]{6}-[0-9a-f]{6})</code></li>", done.text)
    assert len(codes) == 10
    assert 'href="/console/security/users"' in done.text
    assert client.get("/console/security/users").status_code == 200
    assert not any(code in client.get("/console/account/mfa").text for code in codes)
    with db.sessions() as session:
        actions = set(session.scalars(select(AuditEntry.action)))
    assert {"login.succeeded", "mfa.failed", "mfa.enrolled"} <= actions


def test_wrong_mfa_codes_are_throttled(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    _admin_signed_in(client, db, db_settings)
    client.post("/console/logout", data={"csrf_token": _csrf(client.get("/console").text)})
    _login(client, "admin@example.com")
    csrf = _csrf(client.get("/console/login/mfa").text)
    limit = db_settings.security.account_failures_before_lockout

    answers = [
        client.post("/console/login/mfa", data={"code": "000000", "csrf_token": csrf}).status_code
        for _ in range(limit + 1)
    ]

    assert answers == [401] * limit + [429]


def test_recovery_code_passes_the_challenge_once(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    _user(db, db_settings, "dpo@example.com", "dpo")
    with db.sessions.begin() as session:
        user = session.scalars(select(User).where(User.email == "dpo@example.com")).one()
        secret = mfa.begin_enrolment(session, db.keystore, user=user).secret
        codes = mfa.confirm_enrolment(
            session, db.keystore, user=user, code=pyotp.TOTP(secret).now()
        )

    def use(code: str) -> int:
        client.cookies.clear()
        _login(client, "dpo@example.com")
        page = client.get("/console/login/mfa")
        assert "Use a recovery code instead" in page.text
        return client.post(
            "/console/login/mfa",
            data={"recovery_code": code, "csrf_token": _csrf(page.text)},
            follow_redirects=False,
        ).status_code

    assert use(codes[0]) == 303
    assert use(codes[0]) == 401


def test_sign_out_ends_the_session(client: TestClient, db: Store, db_settings: Settings) -> None:
    csrf = _signed_in(client, db, db_settings, "support")
    cookie = client.cookies.get("__Host-cv_session")

    response = client.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/console/login"
    client.cookies.clear()
    again = client.get(
        "/console", headers={"cookie": f"__Host-cv_session={cookie}"}, follow_redirects=False
    )
    assert again.status_code == 303


# ---- account, users and roles, audit ---------------------------------------------------------


def test_my_account_lists_sessions_and_revokes_tokens(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    csrf = _signed_in_with_mfa(client, db, db_settings, "analyst")
    page = client.get("/console/account")
    assert "analyst@example.com" in page.text
    assert "This browser" in page.text
    assert 'value="dp:query"' in page.text  # scopes offered: the role's permissions
    assert 'value="users:manage"' not in page.text
    client.post(
        "/console/account/tokens",
        data={"name": "ci", "scopes": ["analytics:read"], "days": "7", "csrf_token": csrf},
    )
    too_wide = client.post(
        "/console/account/tokens",
        data={"name": "x", "scopes": ["no:such"], "days": "7", "csrf_token": csrf},
    )
    assert too_wide.status_code == 422
    assert "Unknown scopes: no:such." in too_wide.text
    with db.sessions() as session:
        token_id = session.scalars(select(ApiToken.id)).one()

    revoked = client.post(
        f"/console/account/tokens/{token_id}/revoke",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )

    assert revoked.headers["location"] == "/console/account?done=revoked"
    assert "The token was revoked." in client.get(revoked.headers["location"]).text
    with db.sessions() as session:
        assert session.scalars(select(ApiToken.revoked_at)).one() is not None


def test_users_page_creates_disables_and_changes_roles(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    csrf = _admin_signed_in(client, db, db_settings)

    created = client.post(
        "/console/security/users",
        data={
            "email": "Jo@Example.com",
            "display_name": "Jo",
            "role": "support",
            "csrf_token": csrf,
        },
    )
    assert created.status_code == 200
    otp = re.search(r"data-one-time-password>([^<]+)<", created.text)
    assert otp
    assert otp.group(1) not in client.get("/console/security/users").text  # shown once
    duplicate = client.post(
        "/console/security/users",
        data={"email": "jo@example.com", "role": "support", "csrf_token": csrf},
    )
    assert duplicate.status_code == 409
    with db.sessions() as session:
        jo = session.scalars(select(User).where(User.email == "jo@example.com")).one()

    for path, done in (
        (f"/console/security/users/{jo.id}/disable", "disabled"),
        (f"/console/security/users/{jo.id}/enable", "enabled"),
    ):
        response = client.post(path, data={"csrf_token": csrf}, follow_redirects=False)
        assert response.headers["location"] == f"/console/security/users?done={done}"
    role = client.post(
        f"/console/security/users/{jo.id}/role",
        data={"role": "marketer", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert role.status_code == 303
    custom = client.post(
        "/console/security/roles",
        data={
            "name": "auditor",
            "description": "reads the audit log",
            "permissions": ["audit:read", "alerts:read"],
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert custom.headers["location"] == "/console/security/users?done=role-defined"
    bad = client.post(
        "/console/security/roles",
        data={"name": "x" * 40, "permissions": ["audit:read"], "csrf_token": csrf},
    )
    assert bad.status_code == 422
    missing = client.post(
        "/console/security/users/not-a-user/disable",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert missing.status_code == 404
    assert "Page not found" in missing.text
    with db.sessions() as session:
        jo = session.scalars(select(User).where(User.email == "jo@example.com")).one()
        assert (jo.role, jo.is_active) == ("marketer", True)
        actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    for action in ("user.created", "user.disabled", "user.enabled", "user.role_changed"):
        assert action in actions
    assert "role.defined" in actions
    page = client.get("/console/security/users")
    assert 'data-role="auditor"' in page.text


def test_audit_page_filters_pages_and_verifies(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    _admin_signed_in(client, db, db_settings)
    for n in range(60):
        _user(db, db_settings, f"u{n}@example.com", "analyst")

    newest = client.get("/console/security/audit")
    assert newest.text.count("<tr data-action=") == 50
    older = re.search(r'href="/console/security/audit\?before=(\d+)"', newest.text)
    assert older
    second = client.get(f"/console/security/audit?before={older.group(1)}")
    assert 'rel="prev"' in second.text
    only = client.get("/console/security/audit", params={"action": "login.succeeded"})
    assert set(re.findall(r'<tr data-action="([^"]+)"', only.text)) == {"login.succeeded"}
    head = re.search(r"data-head>([0-9a-f]{64})<", newest.text)
    assert head

    verified = client.get("/console/security/audit", params={"verify": 1})
    assert 'data-verify="ok"' in verified.text
    assert "The chain is intact." in verified.text
    against = client.get("/console/security/audit", params={"verify": 1, "expected_head": "f" * 64})
    assert 'data-verify="broken"' in against.text
    assert "the exported head is no longer in the chain" in against.text
    invalid = client.get("/console/security/audit", params={"before": "x"})
    assert invalid.status_code == 422
    assert invalid.headers["content-type"].startswith("text/html")
