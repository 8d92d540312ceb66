"""The Segment-compatible tracking API over HTTP on the real database."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from clientvault.app import create_app
from clientvault.identity.models import Customer, CustomerIdentity
from clientvault.ingest.models import Event, ScrubCount
from clientvault.ingest.sources import revoke_source
from clientvault.privacy.consent import current_consents
from clientvault.privacy.models import ConsentRecord
from clientvault.settings import Settings
from clientvault.store.context import Store


def _post(client: TestClient, path: str, key: str, body: Any) -> Any:
    return client.post(f"/v1/{path}", json=body, auth=(key, ""))


def _events(db: Store) -> list[Event]:
    with db.sessions() as session:
        return list(session.scalars(select(Event).order_by(Event.id)))


def test_identify_then_track_creates_one_sealed_customer(
    client: TestClient, write_key: str, db: Store
) -> None:
    traits = {
        "email": "Jane.Doe@Example.com",
        "phone": "+33 6 12 34 56 78",
        "firstName": "Jane",
        "plan": "pro",
        "address": {"city": "Lyon", "country": "France", "postalCode": "69001"},
    }
    response = _post(
        client, "identify", write_key, {"userId": "u-1", "traits": traits, "messageId": "m1"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    response = _post(
        client, "track", write_key, {"userId": "u-1", "event": "Signed Up", "messageId": "m2"}
    )
    assert response.status_code == 200

    with db.sessions() as session:
        [customer] = session.scalars(select(Customer)).all()
        assert customer.country == "FR"
        assert customer.city == "Lyon"
        assert customer.postal_prefix == "69"
        assert customer.traits == {"plan": "pro"}
        assert customer.email_sealed
        assert b"jane" not in customer.email_sealed.lower()
        assert customer.email_index == db.index("email", "jane.doe@example.com")
        kinds = session.scalars(
            select(CustomerIdentity.kind).where(CustomerIdentity.customer_id == customer.id)
        ).all()
        assert sorted(kinds) == ["email", "phone", "user_id"]
    events = _events(db)
    assert [e.customer_id for e in events] == [customer.id, customer.id]
    assert events[0].properties == {"traits": ["address", "email", "firstName", "phone", "plan"]}
    assert "jane" not in repr([e.properties for e in events] + [e.context for e in events]).lower()


def test_anonymous_events_are_attached_once_the_visitor_identifies(
    client: TestClient, write_key: str, db: Store
) -> None:
    _post(client, "page", write_key, {"anonymousId": "anon-7", "name": "Home", "messageId": "p1"})
    assert _events(db)[0].customer_id is None
    _post(
        client,
        "identify",
        write_key,
        {
            "anonymousId": "anon-7",
            "userId": "u-7",
            "traits": {"email": "seven@example.com"},
            "messageId": "i1",
        },
    )
    _post(
        client, "track", write_key, {"anonymousId": "anon-7", "event": "Clicked", "messageId": "t1"}
    )
    events = _events(db)
    assert len({e.customer_id for e in events}) == 1
    assert events[0].customer_id is not None


def test_alias_links_previous_identity(client: TestClient, write_key: str, db: Store) -> None:
    _post(client, "identify", write_key, {"anonymousId": "anon-9", "traits": {}, "messageId": "a"})
    _post(client, "alias", write_key, {"previousId": "anon-9", "userId": "u-9", "messageId": "b"})
    _post(client, "track", write_key, {"userId": "u-9", "event": "Bought", "messageId": "c"})
    assert len({e.customer_id for e in _events(db)}) == 1
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 1


def test_batch_stores_valid_events_and_reports_each_rejected_one(
    client: TestClient, write_key: str, db: Store
) -> None:
    batch = [
        {"type": "track", "userId": "u1", "event": "A", "messageId": "ok-1"},
        {"type": "track", "userId": "u1", "messageId": "no-event-name"},
        {"type": "launch", "userId": "u1", "messageId": "bad-type"},
        {
            "type": "identify",
            "userId": "u2",
            "traits": {"email": "not-an-email"},
            "messageId": "bad-mail",
        },
        {"type": "identify", "userId": "u3", "traits": {"phone": "12"}, "messageId": "bad-phone"},
        {"type": "track", "userId": {"nested": 1}, "event": "A", "messageId": "bad-id"},
        {"type": "track", "event": "A", "messageId": "nobody"},
        "not an object",
        {"type": "page", "anonymousId": "x", "messageId": "ok-2"},
        {"type": "track", "userId": "u1", "event": "A", "messageId": "ok-1"},
    ]
    response = _post(client, "batch", write_key, {"batch": batch})
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2
    assert body["duplicates"] == 1
    reasons = {r["index"]: r["reason"] for r in body["rejected"]}
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6, 7]
    assert "event" in reasons[1]
    assert "unknown or missing message type" in reasons[2]
    assert "traits.email" in reasons[3]
    assert "not-an-email" not in reasons[3]
    assert "traits.phone" in reasons[4]
    assert "userId" in reasons[5]
    assert "userId or anonymousId" in reasons[6]
    assert "JSON object" in reasons[7]
    assert [e.message_id for e in _events(db)] == ["ok-1", "ok-2"]


def test_duplicate_message_ids_are_idempotent(
    client: TestClient, write_key: str, db: Store
) -> None:
    body = {"userId": "u1", "event": "A", "messageId": "same"}
    assert _post(client, "track", write_key, body).json()["accepted"] == 1
    again = _post(client, "track", write_key, body).json()
    assert again["accepted"] == 0
    assert again["duplicates"] == 1
    assert len(_events(db)) == 1


@pytest.mark.parametrize(
    ("auth", "status"),
    [(None, 401), (("cvwk_wrong", ""), 401), (("not-even-ours", ""), 401)],
)
def test_missing_or_wrong_write_key_is_refused(
    client: TestClient, auth: tuple[str, str] | None, status: int, db: Store
) -> None:
    response = client.post("/v1/track", json={"userId": "u", "event": "A"}, auth=auth)
    assert response.status_code == status
    assert response.headers["www-authenticate"].startswith("Basic")
    assert _events(db) == []


def test_revoked_write_key_is_refused(client: TestClient, write_key: str, db: Store) -> None:
    with db.sessions.begin() as session:
        revoke_source(session, name="website")
    response = _post(client, "track", write_key, {"userId": "u", "event": "A"})
    assert response.status_code == 401


def test_malformed_json_and_wrong_shapes(client: TestClient, write_key: str) -> None:
    response = client.post(
        "/v1/batch",
        content=b"{not json",
        auth=(write_key, ""),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"
    assert _post(client, "batch", write_key, {"batch": []}).status_code == 400
    assert _post(client, "batch", write_key, [1, 2]).status_code == 400
    response = _post(client, "track", write_key, {"userId": "u", "event": "A", "type": "page"})
    assert response.status_code == 400
    assert "/v1/track" in response.json()["error"]["message"]


def test_size_limits_give_413(client: TestClient, write_key: str, db: Store) -> None:
    big = {"userId": "u", "event": "A", "properties": {"blob": "x" * 33_000}}
    assert _post(client, "track", write_key, big).status_code == 413
    batch = {
        "batch": [
            {
                "type": "track",
                "userId": "u",
                "event": "A",
                "messageId": f"m{i}",
                "properties": {"blob": "x" * 20_000},
            }
            for i in range(30)
        ]
    }
    assert _post(client, "batch", write_key, batch).status_code == 413
    oversize_item = {
        "batch": [
            big | {"type": "track", "messageId": "big"},
            {"type": "track", "userId": "u", "event": "A", "messageId": "small"},
        ]
    }
    response = _post(client, "batch", write_key, oversize_item)
    assert response.status_code == 200
    assert response.json()["rejected"] == [{"index": 0, "reason": "event larger than 32 KB"}]
    assert [e.message_id for e in _events(db)] == ["small"]


def _nested(kind: str, depth: int) -> bytes:
    """A JSON value of ``depth`` nested arrays or objects, written by hand: encoders recurse."""
    if kind == "arrays":
        return b"[" * depth + b"1" + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def _raw_post(client: TestClient, path: str, key: str, body: bytes) -> Any:
    headers = {"content-type": "application/json"}
    return client.post(f"/v1/{path}", content=body, headers=headers, auth=(key, ""))


@pytest.mark.parametrize("kind", ["arrays", "objects"])
def test_documents_nested_too_deep_are_refused_with_the_limit_and_no_traceback(
    client: TestClient, write_key: str, db: Store, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    caplog.set_level(logging.DEBUG)
    # The message is level 1 and ``properties`` level 2: 30 more levels is the limit.
    fits = b'{"userId":"u","event":"A","messageId":"fits","properties":{"x":%s}}'
    assert _raw_post(client, "track", write_key, fits % _nested(kind, 30)).status_code == 200
    for depth in (31, 480, 1000):
        deep = b'{"userId":"u","event":"A","properties":{"x":%s}}' % _nested(kind, depth)
        response = _raw_post(client, "track", write_key, deep)
        assert response.status_code == 400, (depth, response.text)
        assert "32 levels" in response.json()["error"]["message"]
    message = b'{"type":"track","userId":"u","event":"A","messageId":"deep","properties":{"x":%s}}'
    good = b'{"type":"track","userId":"u","event":"B","messageId":"good"}'
    batch = b'{"batch":[%s,%s]}' % (message % _nested(kind, 480), good)
    response = _raw_post(client, "batch", write_key, batch)
    assert response.status_code == 200, response.text
    [rejected] = response.json()["rejected"]
    assert rejected["index"] == 0
    assert "32 levels" in rejected["reason"]
    # Beyond what the JSON parser itself reads (1024 levels): the whole body is refused.
    response = _raw_post(client, "batch", write_key, b'{"batch":[%s]}' % _nested(kind, 5000))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_deep"
    assert [e.message_id for e in _events(db)] == ["fits", "good"]
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("kind", ["arrays", "objects"])
def test_the_staff_api_refuses_deep_bodies_without_a_traceback(
    client: TestClient, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    # Its bodies are typed models (no free JSON walked by our code): a deep one is a 4xx.
    caplog.set_level(logging.DEBUG)
    for depth in (40, 600, 5000):
        body = b'{"email":"a@example.com","password":"x","extra":%s}' % _nested(kind, depth)
        response = client.post(
            "/api/v1/auth/login", content=body, headers={"content-type": "application/json"}
        )
        assert 400 <= response.status_code < 500, (depth, response.status_code)
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_clock_skew_is_corrected_from_sent_at(
    client: TestClient, write_key: str, db: Store
) -> None:
    device_now = datetime.now(UTC) + timedelta(hours=3)  # the device clock runs 3 h ahead
    happened = device_now - timedelta(minutes=10)
    body = {
        "batch": [
            {
                "type": "track",
                "userId": "u",
                "event": "A",
                "messageId": "skew",
                "timestamp": happened.isoformat(),
            }
        ],
        "sentAt": device_now.isoformat(),
    }
    assert _post(client, "batch", write_key, body).status_code == 200
    [event] = _events(db)
    expected = event.received_at - timedelta(minutes=10)
    assert abs((event.occurred_at - expected).total_seconds()) < 1


def test_pii_in_properties_is_scrubbed_and_counted(
    client: TestClient, write_key: str, db: Store
) -> None:
    properties = {
        "note": "write to bob@example.org please",
        "card": "4111 1111 1111 1111",
        "iban": "FR14 2004 1010 0505 0001 3M02 606",
        "tel": "+33 6 12 34 56 78",
        "order": "ORD-2024-000123",
        "amount": 12.5,
    }
    body = {
        "userId": "u",
        "event": "A",
        "properties": properties,
        "messageId": "pii",
        "context": {"ip": "203.0.113.77", "traits": {"email": "bob@example.org", "plan": "x"}},
    }
    response = _post(client, "track", write_key, body)
    assert response.json()["scrubbed"] == {"email": 1, "card": 1, "iban": 1, "phone": 1}
    [event] = _events(db)
    text = repr(event.properties) + repr(event.context)
    for secret in ("bob@example.org", "4111", "2004 1010", "12 34 56", "203.0.113.77"):
        assert secret not in text
    assert event.properties["order"] == "ORD-2024-000123"
    assert event.properties["amount"] == 12.5
    assert event.context["ip_network"] == "203.0.113.0"
    assert event.context["traits"] == {"plan": "x"}
    with db.sessions() as session:
        counts = dict(session.execute(select(ScrubCount.kind, ScrubCount.count)).all())
    assert counts == {"email": 1, "card": 1, "iban": 1, "phone": 1}


def test_identity_traits_urls_and_names_never_reach_events_or_clear_traits(
    client: TestClient, write_key: str, db: Store
) -> None:
    """Issue 16 finding 6: a percent-encoded e-mail in the page URL and search, a token in a
    query, names in properties and ``context.traits``, a username kept in the clear."""
    page = {
        "type": "page",
        "userId": "u-zq",
        "messageId": "p1",
        "context": {
            "page": {
                "url": "https://shop.example.com/p?email=zq%40example.org&token=s3cr3t&utm_source=nl",
                "search": "?email=zq%40example.org&token=s3cr3t&utm_source=nl",
                "referrer": "https://mail.example.net/read?to=zq%2540example.org",
            },
            "traits": {"name": "Zyxwvutsrq Qponmlkjih", "username": "zyxw", "plan": "gold"},
        },
        "properties": {
            "recipient_name": "Zyxwvutsrq Qponmlkjih",
            "url": "https://shop.example.com/welcome?user=zyxw#access_token=s3cr3t",
            "name": "Welcome",
        },
    }
    identify = {
        "type": "identify",
        "userId": "u-zq",
        "messageId": "i1",
        "traits": {"username": "zyxw", "name": "Zyxwvutsrq", "nickname": "Zy the Great"},
    }
    response = _post(client, "batch", write_key, {"batch": [page, identify]})
    assert response.status_code == 200, response.text
    assert response.json()["scrubbed"]["url_parameter"] == 7
    [stored_page, stored_identify] = _events(db)
    assert stored_page.context["page"]["url"] == "https://shop.example.com/p?utm_source=nl"
    assert stored_page.context["page"]["search"] == "?utm_source=nl"
    assert stored_page.context["page"]["referrer"] == "https://mail.example.net/read"
    assert stored_page.context["traits"] == {"plan": "gold"}
    assert stored_page.properties["url"] == "https://shop.example.com/welcome"
    assert stored_page.properties["recipient_name"].startswith("[name:")
    assert stored_page.properties["name"] == "Welcome"
    with db.sessions() as session:
        [customer] = session.scalars(select(Customer)).all()
    assert customer.username_sealed is not None
    assert customer.first_name_sealed is not None
    assert set(customer.traits) == {"nickname"}
    stored = repr(
        [(e.properties, e.context) for e in (stored_page, stored_identify)] + [customer.traits]
    ).lower()
    for secret in ("zq@example.org", "zq%40", "zq%2540", "s3cr3t", "zyxw", "qponmlkjih", "zy the"):
        assert secret not in stored, secret


def test_gzip_bodies_are_accepted_and_bombs_refused(
    client: TestClient, write_key: str, db: Store
) -> None:
    import gzip
    import json

    body = json.dumps(
        {"batch": [{"type": "track", "userId": "u", "event": "Zipped", "messageId": "z"}]}
    )
    headers = {"content-encoding": "gzip", "content-type": "application/json"}
    response = client.post(
        "/v1/batch", content=gzip.compress(body.encode()), headers=headers, auth=(write_key, "")
    )
    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    bomb = gzip.compress(b'{"batch": [' + b" " * 2_000_000 + b"]}")
    response = client.post("/v1/batch", content=bomb, headers=headers, auth=(write_key, ""))
    assert response.status_code == 413
    response = client.post("/v1/batch", content=b"not gzip", headers=headers, auth=(write_key, ""))
    assert response.status_code == 400
    assert [e.name for e in _events(db)] == ["Zipped"]


def test_custom_traits_are_scrubbed_before_landing_on_the_profile(
    client: TestClient, write_key: str, db: Store
) -> None:
    traits = {"email": "keep@example.com", "note": "call me at zed@example.com", "tier": "gold"}
    assert (
        _post(client, "identify", write_key, {"userId": "t1", "traits": traits}).status_code == 200
    )
    with db.sessions() as session:
        [customer] = session.scalars(select(Customer)).all()
    assert customer.traits["tier"] == "gold"
    assert "zed@example.com" not in repr(customer.traits)
    assert customer.traits["note"].startswith("call me at [email:")


def test_global_privacy_control_opts_the_callers_customer_out_of_sale_once(
    client: TestClient, write_key: str, db: Store
) -> None:
    identify = {"userId": "gpc-1", "traits": {"email": "gpc@example.com"}, "messageId": "g1"}
    assert _post(client, "identify", write_key, identify).status_code == 200
    with db.read_sessions() as session:
        [customer_id] = session.scalars(select(Customer.id)).all()
        assert "sale_share" not in current_consents(session, customer_id=customer_id)

    for number in (2, 3):  # a browser sends the signal with every call
        response = client.post(
            "/v1/track",
            json={"userId": "gpc-1", "event": "Viewed", "messageId": f"g{number}"},
            auth=(write_key, ""),
            headers={"Sec-GPC": "1"},
        )
        assert response.status_code == 200
    with db.read_sessions() as session:
        state = current_consents(session, customer_id=customer_id)["sale_share"]
        records = session.scalars(
            select(ConsentRecord).where(ConsentRecord.customer_id == customer_id)
        ).all()
    assert not state.granted
    assert [(r.purpose, r.decision, r.channel) for r in records] == [
        ("sale_share", "withdrawn", "gpc")
    ]


def test_a_server_of_its_own_stores_calls_through_its_writer_process(
    db_settings: Settings, write_key: str, db: Store
) -> None:
    app = create_app(db_settings, run_consumers=False)  # no store handed in: as `serve` runs
    with TestClient(app, base_url="https://testserver") as client:
        writer = app.state.ingest_writer
        assert writer.process_id is not None
        batch = [
            {"type": "track", "userId": "w-1", "event": "Viewed", "messageId": "w1"},
            {"type": "identify", "userId": "w-1", "traits": {"email": "nope"}, "messageId": "w2"},
        ]
        response = _post(client, "batch", write_key, {"batch": batch})
    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    assert [r["index"] for r in response.json()["rejected"]] == [1]
    assert [e.message_id for e in _events(db)] == ["w1"]
    assert writer.process_id is None  # stopped with the app
