"""What browser SDKs need from the tracking API: Segment's short paths, CORS with a
per-source origin list, and ``group`` calls shown on the member's 360° view."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from clientvault.automation.worker import run_until_idle
from clientvault.domains import CONSUMERS
from clientvault.identity.models import CustomerIdentity
from clientvault.ingest.models import Event
from clientvault.ingest.sources import change_origins, create_source
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.staff import bearer_token, create_staff

SHOP = "https://shop.example.com"
ELSEWHERE = "https://attacker.invalid"
SHORT = {"t": "track", "p": "page", "i": "identify", "s": "screen", "g": "group", "a": "alias"}


def _message(kind: str, n: int) -> dict[str, Any]:
    base: dict[str, Any] = {"type": kind, "userId": "short-user", "messageId": f"{kind}-{n}"}
    extra: dict[str, dict[str, Any]] = {
        "track": {"event": "Clicked"},
        "page": {"name": "Home"},
        "screen": {"name": "Main"},
        "group": {"groupId": "acme", "traits": {"employees": 60}},
        "alias": {"previousId": "old-user"},
        "identify": {"traits": {"plan": "pro"}},
    }
    return {**base, **extra[kind]}


def _count(db: Store) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Event)) or 0)


def _shop_key(db: Store, name: str = "shop") -> str:
    with db.sessions.begin() as session:
        return create_source(session, name=name, origins=[SHOP + "/"]).write_key


def test_short_paths_are_aliases_of_the_long_ones(
    client: TestClient, write_key: str, db: Store
) -> None:
    """The browser SDK posts text/plain JSON to one-letter paths, with the key in the body too."""
    for n, (short, kind) in enumerate(SHORT.items()):
        body = {**_message(kind, n), "writeKey": write_key, "sentAt": "2026-03-01T10:00:00Z"}
        response = client.post(
            f"/v1/{short}",
            content=orjson.dumps(body),
            headers={"content-type": "text/plain"},
            auth=(write_key, ""),
        )
        assert response.status_code == 200, (short, response.text)
    batch = {"writeKey": write_key, "batch": [_message("track", 99)], "sentAt": None}
    assert client.post("/v1/b", json=batch).json()["accepted"] == 1  # key in the body only
    with db.sessions() as session:
        stored = session.execute(select(Event.type, Event.message_id).order_by(Event.id)).all()
    assert stored == [(kind, f"{kind}-{n}") for n, kind in enumerate(SHORT.values())] + [
        ("track", "track-99")
    ]
    # Same validation and limits as the long paths.
    wrong = client.post("/v1/t", json={"userId": "x"}, auth=(write_key, ""))
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "invalid_event"
    other_type = client.post("/v1/t", json=_message("page", 1), auth=(write_key, ""))
    assert "sent to the /v1/track endpoint" in other_type.json()["message"]
    large = {**_message("track", 7), "properties": {"blob": "x" * 40_000}}
    assert client.post("/v1/t", json=large, auth=(write_key, "")).status_code == 413
    assert client.post("/v1/t", json=_message("track", 8), auth=("nope", "")).status_code == 401


@pytest.mark.parametrize("path", ["batch", "b", "track", "t", "g", "identify"])
def test_a_preflight_is_answered_for_an_origin_some_source_accepts(
    client: TestClient, db: Store, path: str
) -> None:
    _shop_key(db)
    response = client.options(
        f"/v1/{path}",
        headers={
            "origin": SHOP,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization,content-type",
        },
    )
    assert response.status_code == 204, response.text
    assert response.headers["access-control-allow-origin"] == SHOP
    allowed = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert {"authorization", "content-type", "x-retry-count"} <= allowed
    assert "POST" in response.headers["access-control-allow-methods"]
    assert int(response.headers["access-control-max-age"]) >= 600
    assert "origin" in response.headers["vary"].lower()
    assert "access-control-allow-credentials" not in response.headers


def test_a_preflight_from_an_origin_no_source_accepts_is_refused(
    client: TestClient, db: Store
) -> None:
    _shop_key(db)
    refused = client.options(
        "/v1/t", headers={"origin": ELSEWHERE, "access-control-request-method": "POST"}
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in refused.headers
    # A source without a list accepts every origin: the preflight passes (the call is then
    # checked against its own source's list).
    with db.sessions.begin() as session:
        change_origins(session, name="shop", any_origin=True)
    opened = client.options(
        "/v1/t", headers={"origin": ELSEWHERE, "access-control-request-method": "POST"}
    )
    assert opened.status_code == 204
    assert opened.headers["access-control-allow-origin"] == ELSEWHERE


def test_a_call_from_an_origin_off_its_sources_list_is_refused_and_stores_nothing(
    client: TestClient, write_key: str, db: Store
) -> None:
    """Another source accepting every origin lets the preflight through: the call, which
    carries the key, is what the source's own list refuses."""
    shop_key = _shop_key(db)
    body = _message("track", 1)
    refused = client.post("/v1/t", json=body, auth=(shop_key, ""), headers={"origin": ELSEWHERE})
    assert refused.status_code == 403
    assert refused.json()["code"] == "origin_not_allowed"
    # Readable by the SDK, which then drops the call instead of retrying it.
    assert refused.headers["access-control-allow-origin"] == ELSEWHERE
    beacon = {"writeKey": shop_key, "batch": [body]}  # sendBeacon: no headers but Origin
    assert client.post("/v1/b", json=beacon, headers={"origin": ELSEWHERE}).status_code == 403
    assert _count(db) == 0

    accepted = client.post("/v1/t", json=body, auth=(shop_key, ""), headers={"origin": SHOP})
    assert accepted.status_code == 200, accepted.text
    assert accepted.headers["access-control-allow-origin"] == SHOP
    # A server SDK sends no Origin: not a browser call, not checked.
    assert client.post("/v1/track", json=_message("track", 2), auth=(shop_key, "")).is_success
    # The source without a list takes calls from anywhere, and its answers are readable there.
    anywhere = client.post(
        "/v1/t", json=_message("track", 3), auth=(write_key, ""), headers={"origin": ELSEWHERE}
    )
    assert anywhere.status_code == 200
    assert anywhere.headers["access-control-allow-origin"] == ELSEWHERE
    assert _count(db) == 3

    # An origin list change applies to the next call.
    with db.sessions.begin() as session:
        assert change_origins(session, name="shop", remove=[SHOP], add=[ELSEWHERE]) == [ELSEWHERE]
    again = client.post(
        "/v1/t", json=_message("track", 4), auth=(shop_key, ""), headers={"origin": SHOP}
    )
    assert again.status_code == 403


def test_errors_are_readable_cross_origin_but_the_rest_of_the_app_has_no_cors(
    client: TestClient, write_key: str
) -> None:
    invalid = client.post(
        "/v1/t", json={"userId": "x"}, auth=(write_key, ""), headers={"origin": SHOP}
    )
    assert invalid.status_code == 400
    assert invalid.headers["access-control-allow-origin"] == SHOP
    for path in ("/api/v1/customers", "/console/login", "/preferences/", "/healthz"):
        answer = client.options(
            path, headers={"origin": SHOP, "access-control-request-method": "POST"}
        )
        assert "access-control-allow-origin" not in answer.headers, path
        got = client.get(path, headers={"origin": SHOP}, follow_redirects=False)
        assert "access-control-allow-origin" not in got.headers, path


def test_a_group_call_shows_on_the_members_360_view(
    client: TestClient, write_key: str, db: Store, db_settings: Settings
) -> None:
    calls = [
        {"type": "identify", "userId": "member-1", "traits": {"plan": "pro"}, "messageId": "m1"},
        {
            "type": "group",
            "userId": "member-1",
            "groupId": "acme-42",
            "traits": {"name": "Acme", "employees": 75, "plan": "enterprise"},
            "messageId": "m2",
        },
    ]
    response = client.post("/v1/b", json={"batch": calls}, auth=(write_key, ""))
    assert response.json()["accepted"] == 2
    run_until_idle(db, CONSUMERS)
    with db.sessions.begin() as session:
        customer_id = session.scalar(
            select(CustomerIdentity.customer_id).where(
                CustomerIdentity.value_index == db.index("user_id", "member-1")
            )
        )
        user = create_staff(
            session, db_settings, email="support@example.com", role="support", display_name="S"
        ).user
        user.must_change_password = False
        headers = {"authorization": f"Bearer {bearer_token(session, db_settings, user)}"}
    view = client.get(f"/api/v1/customers/{customer_id}/360", headers=headers)
    assert view.status_code == 200, view.text
    [group] = view.json()["groups"]
    assert group["group_id"] == "acme-42"
    assert group["traits"] == {"name": "Acme", "employees": 75, "plan": "enterprise"}
    page = client.get(f"/console/customers/{customer_id}", headers=headers)
    assert page.status_code == 200, page.text
    assert "acme-42" in page.text
    assert "enterprise" in page.text
