"""Every route x every role (and anonymous): zero unauthorised successes.

The route table is read from the app itself, so a route added without a permission — no
``Authorize`` dependency and not on the short public list below — fails this test.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from clientvault.app import create_app
from clientvault.http.auth import Authorize
from clientvault.security.accounts import assign_role
from clientvault.security.models import ApiToken, StaffSession, User
from clientvault.security.permissions import BUILTIN_ROLES, PERMISSIONS
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from support.routes import api_routes
from support.staff import api_sign_in, api_sign_in_with_mfa, bearer_token, create_staff

#: Routes anyone may call, each with the reason it needs no permission.
PUBLIC = {
    "/healthz": "liveness probe",
    "/api/openapi.json": "the API's description",
    "/api/docs": "the API's documentation page",
    "/t.js": "the website snippet",
    "/chat.js": "the support chat widget",
    "/": "redirects to the console",
    "/favicon.ico": "an icon",
    "/api/v1/auth/login": "signing in",
    "/api/v1/auth/mfa": "second factor of a pending sign-in (checks the session itself)",
    "/api/v1/auth/mfa/enrol": "MFA enrolment of a pending sign-in (checks the session itself)",
    "/api/v1/auth/mfa/confirm": "MFA enrolment of a pending sign-in (checks the session itself)",
    "/console/account/mfa": "MFA enrolment page of a pending sign-in (checks the session itself)",
    "/console/account/mfa/start": "MFA enrolment of a pending sign-in (checks the session itself)",
    "/console/account/mfa/confirm": "MFA enrolment of a pending sign-in (checks the session)",
    "/console/logout": "ends whatever session the cookie holds (checks its CSRF token itself)",
    "/api/v1/privacy/erasure-certificates/public-key": "the public key verifying erasure "
    "certificates, published so anyone can check one",
    "/privacy-notice": "the public privacy notice (records of processing, no personal data)",
    "/support/csat": "a customer's answer to a satisfaction survey (checks its signed link)",
    "/api/v1/experiments/{key}/assignment": "A/B assignment for websites and apps, "
    "authenticated by a tracking source's write key like the tracking API",
    "/console/analytics/plotly.min.js": "the charting library (public code)",
    "/console/analytics/plotly.css": "the charting library's styles (public code)",
}
#: Route prefixes authenticated otherwise: the tracking API by write key, the sign-in pages,
#: the data subject's preference centre by the signed link e-mailed to them (privacy.links).
PUBLIC_PREFIXES = ("/v1/", "/console/login", "/preferences")


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    permission: str | None


def _permission(route: APIRoute) -> str | None:
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        if isinstance(dependant.call, Authorize):
            return dependant.call.permission
        pending.extend(dependant.dependencies)
    return None


def _endpoints() -> list[Endpoint]:
    app = create_app(Settings(env="test"))
    found = []
    for route in api_routes(app.routes):
        for method in sorted(route.methods - {"HEAD"}):
            found.append(Endpoint(method, route.path, _permission(route)))
    return found


ENDPOINTS = _endpoints()


def _is_public(path: str) -> bool:
    return path in PUBLIC or path.startswith(PUBLIC_PREFIXES)


def test_every_route_is_public_by_decision_or_needs_a_permission() -> None:
    unguarded = [
        f"{e.method} {e.path}" for e in ENDPOINTS if e.permission is None and not _is_public(e.path)
    ]
    assert unguarded == [], "routes without a permission (add Authorize or justify in PUBLIC)"
    assert [e for e in ENDPOINTS if e.permission and _is_public(e.path)] == []
    unknown = (
        {e.permission for e in ENDPOINTS if e.permission} - set(PERMISSIONS) - {"authenticated"}
    )
    assert unknown == set()
    assert len([e for e in ENDPOINTS if e.permission]) >= 10  # the walk really found routes


def _refused_console_sign_in(response: Any) -> bool:
    location = response.headers.get("location", "")
    return response.status_code == 303 and location.split("?")[0] == "/console/login"


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


@pytest.fixture
def role_tokens(db: Store, db_settings: Settings) -> dict[str, str]:
    tokens = {}
    with db.sessions.begin() as session:
        for role in BUILTIN_ROLES:
            user = create_staff(
                session,
                db_settings,
                email=f"{role}@example.com",
                role=role,
                password="matrix-violet-harbour-47",
                display_name=role,
            ).user
            user.must_change_password = False
            tokens[role] = bearer_token(session, db_settings, user, name="matrix")
    return tokens


def test_no_role_reaches_a_route_it_lacks_the_permission_for(
    db: Store, db_settings: Settings, role_tokens: dict[str, str]
) -> None:
    guarded = [e for e in ENDPOINTS if e.permission]
    unauthorised_successes = []
    checked = 0
    # The matrix sends hundreds of refusals from one address: the edge would block it.
    no_blocking = db_settings.security.model_copy(update={"intrusion_prevention": False})
    settings = db_settings.model_copy(update={"security": no_blocking})
    with TestClient(create_app(settings, store=db), base_url="https://testserver") as client:
        for endpoint in guarded:
            path = _concrete(endpoint.path)
            for role in [None, *BUILTIN_ROLES]:
                headers = {"authorization": f"Bearer {role_tokens[role]}"} if role else {}
                response = client.request(
                    endpoint.method, path, headers=headers, json={}, follow_redirects=False
                )
                allowed = role is not None and (
                    endpoint.permission == "authenticated"
                    or endpoint.permission in BUILTIN_ROLES[role]
                )
                checked += 1
                if allowed:
                    assert response.status_code not in (401, 403), (endpoint, role, response.text)
                elif _refused_console_sign_in(response):
                    pass  # a console page answers "not signed in" with a redirect to sign in
                elif response.status_code < 400 or response.status_code not in (401, 403):
                    unauthorised_successes.append(
                        (endpoint.method, endpoint.path, role, response.status_code)
                    )
    assert unauthorised_successes == []
    assert checked == len(guarded) * (len(BUILTIN_ROLES) + 1)


# ---- API tokens: minting, role changes, MFA resets -------------------------------------------

ALL_ADMIN = sorted(BUILTIN_ROLES["admin"])


def _token_client(db: Store, settings: Settings) -> TestClient:
    no_blocking = settings.security.model_copy(update={"intrusion_prevention": False})
    app = create_app(settings.model_copy(update={"security": no_blocking}), store=db)
    return TestClient(app, base_url="https://testserver")


def _staff_with_token(
    db: Store, settings: Settings, role: str, scopes: set[str] | None
) -> tuple[User, str]:
    with db.sessions.begin() as session:
        user = create_staff(session, settings, email=f"{role}-t@example.com", role=role).user
        user.must_change_password = False
        return user, bearer_token(session, settings, user, scopes=scopes)


def _mint(client: TestClient, token: str, scopes: list[str], days: int = 1) -> Any:
    return client.post(
        "/api/v1/me/tokens",
        json={"name": "minted", "scopes": scopes, "days": days},
        headers={"authorization": f"Bearer {token}"},
    )


def _token_count(db: Store) -> int:
    with db.sessions() as session:
        return len(session.scalars(select(ApiToken.id)).all())


@pytest.mark.parametrize("role", list(BUILTIN_ROLES))
def test_a_narrowed_token_never_mints_a_wider_one(
    db: Store, db_settings: Settings, role: str
) -> None:
    narrow = {sorted(BUILTIN_ROLES[role])[0]}
    _, token = _staff_with_token(db, db_settings, role, narrow)
    with _token_client(db, db_settings) as client:
        wide = _mint(client, token, sorted(BUILTIN_ROLES[role]), days=90)
        same = _mint(client, token, sorted(narrow))  # no tokens:create: not even its own scope
        console = client.post(
            "/console/account/tokens",
            data={"name": "x", "scopes": ALL_ADMIN, "days": "90"},
            headers={"authorization": f"Bearer {token}"},
        )
    assert wide.status_code == same.status_code == console.status_code == 403
    assert _token_count(db) == 1


def test_tokens_create_scope_mints_only_narrower_tokens_expiring_no_later(
    db: Store, db_settings: Settings
) -> None:
    _, token = _staff_with_token(db, db_settings, "admin", {"tokens:create", "audit:read"})
    with _token_client(db, db_settings) as client:
        wider = _mint(client, token, ["audit:read", "users:manage"])
        narrower = _mint(client, token, ["audit:read"], days=90)  # the maker expires in a day
        child = {"authorization": f"Bearer {narrower.json()['token']}"}
        assert client.get("/api/v1/audit", headers=child).status_code == 200
        assert client.get("/api/v1/users", headers=child).status_code == 403
        grandchild = _mint(client, narrower.json()["token"], ["audit:read"])
    assert wider.status_code == grandchild.status_code == 403  # the child has no tokens:create
    assert "users:manage" in wider.json()["error"]["message"]
    assert narrower.status_code == 201
    with db.sessions() as session:
        expiries = session.scalars(select(ApiToken.expires_at).order_by(ApiToken.created_at))
        maker_expiry, child_expiry = expiries.all()
    assert child_expiry == maker_expiry  # capped: a token cannot renew itself


def test_a_session_mints_tokens_only_fresh_from_its_second_factor(
    db: Store, db_settings: Settings
) -> None:
    body = {"name": "ci", "scopes": ["analytics:read"], "days": 7}
    with db.sessions.begin() as session:
        create_staff(session, db_settings, email="a@example.com", role="analyst")
    with _token_client(db, db_settings) as client:
        csrf = api_sign_in(client, "a@example.com")  # no second factor set up
        without_mfa = client.post("/api/v1/me/tokens", json=body, headers=csrf)
        csrf = api_sign_in_with_mfa(client, db, "a@example.com")
        beyond_role = client.post(
            "/api/v1/me/tokens", json={**body, "scopes": ["users:manage"]}, headers=csrf
        )
        fresh = client.post("/api/v1/me/tokens", json=body, headers=csrf)
        with db.sessions.begin() as session:  # the second factor was passed 20 minutes ago
            session.execute(
                update(StaffSession).values(created_at=utcnow() - timedelta(minutes=20))
            )
        stale = client.post("/api/v1/me/tokens", json=body, headers=csrf)
    assert without_mfa.status_code == beyond_role.status_code == stale.status_code == 403
    assert "second factor" in without_mfa.json()["error"]["message"]
    assert "sign in again" in stale.json()["error"]["message"]
    assert fresh.status_code == 201
    assert _token_count(db) == 1


def test_a_role_change_narrows_the_owners_tokens_for_good(db: Store, db_settings: Settings) -> None:
    user, wide = _staff_with_token(db, db_settings, "admin", None)
    with db.sessions.begin() as session:  # a second token of the admin, with no analyst scope
        owner = session.get(User, user.id)
        assert owner is not None
        admin_only = bearer_token(session, db_settings, owner, scopes={"users:manage"})
    with _token_client(db, db_settings) as client:
        headers = {"authorization": f"Bearer {wide}"}
        assert client.get("/api/v1/users", headers=headers).status_code == 200
        with db.sessions.begin() as session:
            assign_role(session, user_id=str(user.id), role="analyst", by=Principal.system("t"))
        assert client.get("/api/v1/users", headers=headers).status_code == 403
        with db.sessions.begin() as session:  # back to admin: the token stays narrowed
            assign_role(session, user_id=str(user.id), role="admin", by=Principal.system("t"))
        assert client.get("/api/v1/users", headers=headers).status_code == 403
        assert client.get("/api/v1/me", headers=headers).status_code == 200
        revoked = client.get("/api/v1/me", headers={"authorization": f"Bearer {admin_only}"})
    assert revoked.status_code == 401
    with db.sessions() as session:
        scopes = session.scalars(
            select(ApiToken.scopes).where(
                ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)
            )
        ).all()
    assert [set(s) for s in scopes] == [set(BUILTIN_ROLES["analyst"]) & set(ALL_ADMIN)]


def test_an_mfa_reset_revokes_the_owners_tokens(db: Store, db_settings: Settings) -> None:
    user, token = _staff_with_token(db, db_settings, "support", None)
    _, admin = _staff_with_token(db, db_settings, "admin", None)
    with _token_client(db, db_settings) as client:
        headers = {"authorization": f"Bearer {token}"}
        assert client.get("/api/v1/me", headers=headers).status_code == 200
        reset = client.post(
            f"/api/v1/users/{user.id}/mfa-reset", headers={"authorization": f"Bearer {admin}"}
        )
        assert reset.status_code == 200
        assert client.get("/api/v1/me", headers=headers).status_code == 401
