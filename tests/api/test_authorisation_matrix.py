"""Every route x every role (and anonymous): zero unauthorised successes.

The route table is read from the app itself, so a route added without a permission — no
``Authorize`` dependency and not on the short public list below — fails this test.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from clientvault.api.app import create_app
from clientvault.security.permissions import BUILTIN_ROLES, PERMISSIONS
from clientvault.settings import Settings
from clientvault.store.context import Store
from clientvault.web.auth import Authorize
from support.routes import api_routes
from support.staff import bearer_token, create_staff

#: Routes anyone may call, each with the reason it needs no permission.
PUBLIC = {
    "/healthz": "liveness probe",
    "/api/openapi.json": "the API's description",
    "/api/docs": "the API's documentation page",
    "/t.js": "the website snippet",
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
