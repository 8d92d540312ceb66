"""Every integer in a path or a query string is bounded to the database's 64-bit integers.

A number above 2**63 - 1 reached the driver, which raised ``OverflowError`` (a 500). The test
finds every integer parameter of every API and console route from the app itself, and checks
that a value of 1 is not refused as invalid while 2**63 is (422), so a new route taking a bare
``int`` is caught.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, get_args

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from clientvault.app import create_app
from clientvault.security.permissions import BUILTIN_ROLES
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.routes import api_routes
from support.staff import bearer_token, create_staff

TOO_BIG = [str(2**63), str(2**64 + 7), "9" * 40]


def _integer_parameters(dependant: Dependant) -> Iterator[tuple[str, str]]:
    for location, fields in (("path", dependant.path_params), ("query", dependant.query_params)):
        for field in fields:
            annotation = field.field_info.annotation
            if annotation is int or int in get_args(annotation):
                yield location, field.alias
    for sub in dependant.dependencies:
        yield from _integer_parameters(sub)


def _cases() -> list[tuple[str, str, str, str]]:
    app = create_app(Settings(env="test"))
    cases = []
    for route in api_routes(app.routes):
        route_: APIRoute = route
        for location, name in _integer_parameters(route_.dependant):
            for method in sorted(route_.methods - {"HEAD"}):
                cases.append((method, route_.path, location, name))
    return cases


CASES = _cases()


def test_the_walk_finds_the_known_integer_parameters() -> None:
    found = {(path, name) for _, path, _, name in CASES}
    assert {
        ("/api/v1/alerts/{alert_id}", "alert_id"),
        ("/api/v1/audit", "before"),
        ("/api/v1/identity/candidates", "offset"),
        ("/api/v1/identity/candidates/{candidate_id}/merge", "candidate_id"),
        ("/console/security/audit", "after"),
        ("/console/identity/candidates/{candidate_id}/merge", "candidate_id"),
    } <= found


#: Path parameters that take one of a few names (the filler "marketing" is not one of them).
_SAMPLES = {"table": "kpis"}


def _url(path: str, location: str, name: str, value: str) -> str:
    def fill(match: re.Match[str]) -> str:
        found = match.group(1)
        return value if found == name else _SAMPLES.get(found, "marketing")

    url = re.sub(r"\{([^}:]+)(?::[^}]*)?\}", fill, path)
    return f"{url}?{name}={value}" if location == "query" else url


def _send(client: TestClient, method: str, url: str, token: str) -> Any:
    headers = {"authorization": f"Bearer {token}"}
    # What the routes' forms commonly need (a reason to reveal, a reviewer's verdict).
    body = {"reason": "checking the ids", "label": "legitimate"}
    if url.startswith("/console"):
        return client.request(method, url, headers=headers, data=body, follow_redirects=False)
    return client.request(method, url, headers=headers, json=body, follow_redirects=False)


@pytest.fixture
def admin_token(db: Store, db_settings: Settings) -> str:
    with db.sessions.begin() as session:
        user = create_staff(session, db_settings, email="ints@example.com", role="admin").user
        user.must_change_password = False
        return bearer_token(session, db_settings, user, scopes=set(BUILTIN_ROLES["admin"]))


@pytest.mark.parametrize(("method", "path", "location", "name"), CASES)
def test_integers_beyond_64_bits_are_refused_with_422(
    db: Store,
    db_settings: Settings,
    admin_token: str,
    method: str,
    path: str,
    location: str,
    name: str,
) -> None:
    no_blocking = db_settings.security.model_copy(update={"intrusion_prevention": False})
    settings = db_settings.model_copy(update={"security": no_blocking})
    app = create_app(settings, store=db)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        plain = _send(client, method, _url(path, location, name, "1"), admin_token)
        assert plain.status_code != 500, plain.text
        # A route may refuse this generic request for other reasons (a body it needs); the
        # integer itself must never be what is refused.
        assert not _refuses(plain, name), plain.text
        for value in TOO_BIG:
            response = _send(client, method, _url(path, location, name, value), admin_token)
            assert response.status_code == 422, (value, response.status_code)
            assert _refuses(response, name), response.text


def _refuses(response: Any, name: str) -> bool:
    """Whether the answer refuses the parameter ``name``: a 422 whose JSON problems name it,
    or any 422 console page (those name the problem in words, not by parameter)."""
    if response.status_code != 422:
        return False
    if not response.headers.get("content-type", "").startswith("application/json"):
        return True
    problems = response.json()["error"]["details"]["problems"]
    return name in {str(problem["loc"][-1]) for problem in problems}
