"""Accounts, sign-in, MFA, sessions, CSRF and API tokens over HTTP on the real database."""

from __future__ import annotations

import statistics
import time
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from clientvault.app import create_app
from clientvault.security.accounts import define_role
from clientvault.security.models import ApiToken, AuditEntry, User
from clientvault.security.passwords import verify_password
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from support.staff import add_staff, api_sign_in, api_sign_in_with_mfa, create_staff, enrol_totp

STRONG = "violet-harbour-tangent-quarry-47"
OTHER_STRONG = "amber-lantern-glacier-minnow-93"


def _user(db: Store, settings: Settings, email: str, role: str, password: str = STRONG) -> User:
    return add_staff(
        db, settings, email=email, role=role, password=password, display_name="Test Person"
    ).user


def _login(client: TestClient, email: str, password: str = STRONG) -> Any:
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def _signed_in(
    client: TestClient, db: Store, settings: Settings, role: str = "analyst"
) -> dict[str, str]:
    _user(db, settings, f"{role}@example.com", role)
    return api_sign_in(client, f"{role}@example.com")


def test_cookie_is_host_prefixed_secure_httponly_strict(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    _user(db, db_settings, "a@example.com", "analyst")
    response = _login(client, "a@example.com")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-cv_session=")
    for flag in ("Secure", "HttpOnly", "SameSite=strict", "Path=/"):
        assert flag.lower() in cookie.lower()
    assert "domain" not in cookie.lower()


def test_unknown_user_and_wrong_password_get_the_same_answer(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    _user(db, db_settings, "known@example.com", "analyst")
    unknown = _login(client, "nobody@example.com", "whatever-password-1")
    wrong = _login(client, "known@example.com", "whatever-password-1")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


#: OWASP's smallest recommended argon2id cost: ~30 ms a hash here, enough to stand out of the
#: request's own work (the suite's FAST_HASHING is ~5 ms), small enough for a quick test.
TIMED_HASHING = {"argon2_time_cost": 2, "argon2_memory_kib": 19456, "argon2_parallelism": 1}
TIMED_ATTEMPTS = 15


def test_an_unknown_account_takes_as_long_to_refuse_as_a_wrong_password(
    db: Store, db_settings: Settings
) -> None:
    """Medians of interleaved attempts: an unknown account that paid a second hash (2x) fails."""
    security = db_settings.security.model_copy(
        update={
            **TIMED_HASHING,
            "account_failures_before_lockout": 1000,
            "account_failures_before_backoff": 1000,
            "network_failures_before_block": 1000,
            "intrusion_prevention": False,
        }
    )
    settings = db_settings.model_copy(update={"security": security})
    _user(db, settings, "known@example.com", "analyst")
    timings: dict[str, list[float]] = {"known@example.com": [], "nobody@example.com": []}
    with TestClient(create_app(settings, store=db), base_url="https://testserver") as client:
        _login(client, "nobody@example.com", "warm-up-password")  # the dummy hash, made once
        for _ in range(TIMED_ATTEMPTS):
            for email, times in timings.items():  # interleaved: load changes hit both alike
                start = time.perf_counter()
                assert _login(client, email, "whatever-password-2").status_code == 401
                times.append(time.perf_counter() - start)
    known, unknown = (statistics.median(times) for times in timings.values())
    assert 1 / 1.4 < unknown / known < 1.4, (known, unknown)


def test_the_dummy_hash_for_unknown_accounts_is_made_once() -> None:
    class CountingHasher(PasswordHasher):
        hashed = 0

        def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
            CountingHasher.hashed += 1
            return super().hash(password, salt=salt)

    ph = CountingHasher(time_cost=1, memory_cost=8192, parallelism=2)  # a cost of its own
    for _ in range(3):
        assert verify_password(None, "any-password", ph) is False
    assert CountingHasher.hashed == 1


def test_repeated_failures_lock_the_account_with_429(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    _user(db, db_settings, "victim@example.com", "analyst")
    limit = db_settings.security.account_failures_before_lockout
    for _ in range(limit):
        assert _login(client, "victim@example.com", "not-the-password").status_code == 401
    locked = _login(client, "victim@example.com")  # even the right password is refused now
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    with db.sessions() as session:
        failures = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "login.failed")
        ).all()
    assert len(failures) == limit


def test_no_truncation_73rd_character_counts(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    password = "correct-horse-battery-staple-" * 2 + "x" * 14 + "Z"
    assert len(password) == 73
    _user(db, db_settings, "long@example.com", "analyst", password=password)
    assert _login(client, "long@example.com", password[:72]).status_code == 401
    assert _login(client, "long@example.com", password).status_code == 200


def test_one_time_password_must_be_changed_first_and_policy_applies(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    with db.sessions.begin() as session:
        created = create_staff(
            session,
            db_settings,
            email="new@example.com",
            role="analyst",
            password=None,
            display_name="New",
        )
    otp = created.one_time_password
    assert otp
    state = _login(client, "new@example.com", otp).json()
    assert state["must_change_password"] is True
    csrf = {"x-csrf-token": state["csrf_token"]}
    assert client.get("/api/v1/me").status_code == 403
    weak = client.post(
        "/api/v1/auth/password", json={"current": otp, "new": "password1234"}, headers=csrf
    )
    assert weak.status_code == 422
    assert "easy to guess" in weak.json()["error"]["message"]
    changed = client.post(
        "/api/v1/auth/password", json={"current": otp, "new": STRONG}, headers=csrf
    )
    assert changed.status_code == 200
    assert changed.json()["must_change_password"] is False
    assert client.get("/api/v1/me").json()["email"] == "new@example.com"


def test_sessions_end_on_logout_password_change_and_disable(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    csrf = _signed_in(client, db, db_settings, "analyst")
    old_cookie = client.cookies.get("__Host-cv_session")
    assert client.post("/api/v1/auth/logout", headers=csrf).status_code == 204
    assert _me_with(client, old_cookie) == 401

    csrf = {"x-csrf-token": _login(client, "analyst@example.com").json()["csrf_token"]}
    before = client.cookies.get("__Host-cv_session")
    response = client.post(
        "/api/v1/auth/password", json={"current": STRONG, "new": OTHER_STRONG}, headers=csrf
    )
    assert response.status_code == 200
    fresh = client.cookies.get("__Host-cv_session")
    assert _me_with(client, fresh) == 200  # this browser got a fresh session
    assert _me_with(client, before) == 401

    _login(client, "analyst@example.com", OTHER_STRONG)
    current = client.cookies.get("__Host-cv_session")
    assert _me_with(client, current) == 200
    with db.sessions.begin() as session:
        session.execute(
            update(User).where(User.email == "analyst@example.com").values(is_active=False)
        )
    assert _me_with(client, current) == 401


def _me_with(client: TestClient, cookie: str | None) -> int:
    client.cookies.clear()
    return client.get("/api/v1/me", headers={"cookie": f"__Host-cv_session={cookie}"}).status_code


def test_csrf_token_is_required_for_state_changes(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    _user(db, db_settings, "analyst@example.com", "analyst")
    csrf = api_sign_in_with_mfa(client, db, "analyst@example.com")
    body = {"name": "t", "scopes": ["analytics:read"], "days": 1}
    assert client.post("/api/v1/me/tokens", json=body).status_code == 403
    assert (
        client.post("/api/v1/me/tokens", json=body, headers={"x-csrf-token": "wrong"}).status_code
        == 403
    )
    assert client.post("/api/v1/me/tokens", json=body, headers=csrf).status_code == 201


def test_token_scopes_narrow_the_role_and_expire(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    with db.sessions.begin() as session:  # a role that may manage users and read the audit log
        define_role(
            session,
            name="ops",
            permissions={"audit:read", "users:manage"},
            description="operations",
            by=Principal.system("test"),
        )
    _user(db, db_settings, "ops@example.com", "ops")
    csrf = api_sign_in_with_mfa(client, db, "ops@example.com")
    assert client.get("/api/v1/users").status_code == 200
    response = client.post(
        "/api/v1/me/tokens", json={"name": "ci", "scopes": ["audit:read"], "days": 7}, headers=csrf
    )
    assert response.status_code == 201
    secret = response.json()["token"]
    client.cookies.clear()
    bearer = {"authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/audit", headers=bearer).status_code == 200
    assert client.get("/api/v1/users", headers=bearer).status_code == 403
    with db.sessions() as session:
        assert secret not in repr(session.scalars(select(ApiToken.token_hash)).all())
    with db.sessions.begin() as session:
        session.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert client.get("/api/v1/audit", headers=bearer).status_code == 401


def test_admin_must_enrol_mfa_then_totp_is_single_use(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    _user(db, db_settings, "boss@example.com", "admin")
    state = _login(client, "boss@example.com").json()
    assert state["mfa_required"]
    assert not state["mfa_enrolled"]
    csrf = {"x-csrf-token": state["csrf_token"]}
    assert client.get("/api/v1/users").status_code == 401  # not usable before the 2nd factor
    enrolment = client.post("/api/v1/auth/mfa/enrol", headers=csrf).json()
    assert enrolment["qr_svg"].startswith("<svg")
    totp = pyotp.TOTP(enrolment["secret"])
    codes = client.post("/api/v1/auth/mfa/confirm", json={"code": totp.now()}, headers=csrf).json()
    assert len(codes["recovery_codes"]) == 10
    assert client.get("/api/v1/users").status_code == 200

    code = totp.at(time.time() + 30)  # the next step: not used yet
    state = _login(client, "boss@example.com").json()
    csrf = {"x-csrf-token": state["csrf_token"]}
    assert client.post("/api/v1/auth/mfa", json={"code": code}, headers=csrf).status_code == 200
    state = _login(client, "boss@example.com").json()
    csrf = {"x-csrf-token": state["csrf_token"]}
    replay = client.post("/api/v1/auth/mfa", json={"code": code}, headers=csrf)
    assert replay.status_code == 401
    with db.sessions() as session:
        assert session.scalars(
            select(AuditEntry.action).where(AuditEntry.action == "mfa.replay_refused")
        ).all()

    recovery = codes["recovery_codes"][0]
    assert (
        client.post("/api/v1/auth/mfa", json={"recovery_code": recovery}, headers=csrf).status_code
        == 200
    )
    state = _login(client, "boss@example.com").json()
    csrf = {"x-csrf-token": state["csrf_token"]}
    again = client.post("/api/v1/auth/mfa", json={"recovery_code": recovery}, headers=csrf)
    assert again.status_code == 401


def test_permission_denials_are_audited(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    _signed_in(client, db, db_settings, "marketer")
    assert client.get("/api/v1/audit").status_code == 403
    with db.sessions() as session:
        denied = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "access.denied")
        ).all()
    assert [(e.target_id, e.details["needed"]) for e in denied] == [("/api/v1/audit", "audit:read")]


@pytest.mark.parametrize("role", ["dpo", "admin"])
def test_admin_and_dpo_cannot_skip_mfa(
    client: TestClient, db: Store, db_settings: Settings, role: str
) -> None:
    _user(db, db_settings, f"{role}@example.com", role)
    assert _login(client, f"{role}@example.com").json()["mfa_required"] is True
    assert client.get("/api/v1/me").status_code == 401


def test_passing_the_second_factor_gives_the_session_a_new_id(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    """Session fixation: the id held before the second factor is worth nothing after it."""
    user = _user(db, db_settings, "fix@example.com", "dpo")
    with db.sessions.begin() as session:
        secret = enrol_totp(session, db.keystore, session.merge(user))
    pending_csrf = api_sign_in(client, "fix@example.com")
    pending = client.cookies.get("__Host-cv_session")
    passed = client.post(
        "/api/v1/auth/mfa", json={"code": pyotp.TOTP(secret).now()}, headers=pending_csrf
    )
    assert passed.status_code == 200
    full = client.cookies.get("__Host-cv_session")
    assert full != pending
    assert passed.json()["csrf_token"] != pending_csrf["x-csrf-token"]
    assert _me_with(client, full) == 200
    assert _me_with(client, pending) == 401  # the pre-MFA id was ended, not upgraded
