"""Segments over the API: rule errors as 422 with the node's path, CRUD, preview, explain,
members and k-anonymous counts, export audited, and a track call putting a customer in
with the worker running (1-2 s when the machine is not overloaded; the issue asks for 5)."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from clientvault.automation.scheduler import Scheduler
from clientvault.domains import JOBS, build_worker
from clientvault.ingest.models import Event
from clientvault.security.models import AuditEntry
from clientvault.segments.membership import ENTERED
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.privacy_core import decide, make_customers, person, prepare
from support.staff import bearer_token, create_staff


def _bearer(db: Store, settings: Settings, role: str) -> dict[str, str]:
    with db.sessions.begin() as session:
        user = create_staff(
            session,
            settings,
            email=f"{role}@example.com",
            role=role,
            password="segments-violet-harbour-47",
            display_name=role,
        ).user
        secret = bearer_token(session, settings, user)
    return {"authorization": f"Bearer {secret}"}


FR = {"type": "attribute", "field": "country", "values": ["FR"]}
#: How long the worker may take to put a tracked customer in their segments (see below).
DEADLINE = 30


def _segment(slug: str, rules: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"slug": slug, "name": slug.title(), "rules": rules, **extra}


def test_rule_errors_are_422_naming_the_path(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    marketer = _bearer(db, db_settings, "marketer")
    bad = _segment(
        "bad",
        {"all": [FR, FR, {"type": "event", "event": {"name": "x"}, "window": {"last_days": -1}}]},
    )
    answer = client.post("/api/v1/segments", json=bad, headers=marketer)
    assert answer.status_code == 422
    assert "rules.all[2].window.last_days" in answer.text
    # Written as text: the client's own JSON encoder would not go 1,000 levels deep.
    deep = '{"not": ' * 1000 + json.dumps(FR) + "}" * 1000
    body = '{"slug": "deep", "name": "Deep", "rules": ' + deep + "}"
    answer = client.post(
        "/api/v1/segments",
        content=body,
        headers={**marketer, "content-type": "application/json"},
    )
    assert answer.status_code == 422
    assert "rule_too_deep" in answer.text
    wide = {"any": [FR] * 10_000}
    answer = client.post("/api/v1/segments/preview", json={"rules": wide}, headers=marketer)
    assert answer.status_code == 422
    assert "rule_too_large" in answer.text
    assert client.get("/api/v1/segments/schema", headers=marketer).json()["title"]


def test_preview_estimates_from_a_sample_then_counts_exactly(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    prepare(db)
    make_customers(db, *(person(n) for n in range(1, 61)))
    admin = _bearer(db, db_settings, "admin")

    def preview(body: dict[str, Any]) -> Any:
        return client.post("/api/v1/segments/preview", json=body, headers=admin)

    everyone: dict[str, Any] = {"all": []}
    # 60 profiles, fewer than twice the sample: the "estimate" is the exact count.
    found = preview({"rules": everyone, "estimate": True}).json()
    assert (found["size"], found["estimated"], found["sample"]) == ("60", False, None)
    db_settings.segments.estimate_sample = 20  # about a third of them
    found = preview({"rules": everyone, "estimate": True}).json()
    assert found["estimated"] is True
    assert found["size"] == found["total"]  # everyone: the live profiles in the sample, scaled
    assert 5 <= found["sample"] < 60
    assert int(found["low"]) <= int(found["size"]) <= int(found["high"])
    exact = preview({"rules": everyone}).json()
    assert (exact["size"], exact["estimated"], exact["low"]) == ("60", False, None)
    answer = preview({"rules": everyone, "estimate": "yes"})
    assert answer.status_code == 422
    assert "'estimate' is true or false" in answer.text


def test_crud_preview_explain_members_export(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    prepare(db)
    ids = make_customers(db, *(person(n) for n in range(1, 4)))
    decide(db, ids[0], "marketing_email", "granted")
    marketer = _bearer(db, db_settings, "marketer")
    admin = _bearer(db, db_settings, "admin")
    created = client.post("/api/v1/segments", json=_segment("french", FR), headers=marketer)
    assert created.status_code == 201, created.text
    assert created.json()["size"] == "< 10"  # 3 customers: hidden from a marketer
    assert client.get("/api/v1/segments/french", headers=admin).json()["size"] == "3"
    assert (
        client.post("/api/v1/segments", json=_segment("french", FR), headers=marketer).status_code
        == 409
    )
    preview = client.post(
        "/api/v1/segments/preview",
        json={"rules": {"all": [FR, {"type": "consent", "purpose": "marketing_email"}]}},
        headers=admin,
    ).json()
    assert preview["size"] == "1"
    assert [s["cumulative"] for s in preview["steps"]] == ["3", "1"]
    why = client.get(f"/api/v1/segments/french/explain/{ids[1]}", headers=marketer).json()
    assert why["holds"] is True
    assert why["label"] == "country in FR"
    # A small segment's members are listed only to roles that may reveal.
    assert client.get("/api/v1/segments/french/members", headers=marketer).status_code == 403
    page = client.get("/api/v1/segments/french/members?limit=2", headers=admin).json()
    assert page["total"] == "3"
    assert len(page["members"]) == 2
    assert set(page["members"][0]) == {"customer_id", "country", "city", "language", "entered_at"}
    mine = client.get(f"/api/v1/customers/{ids[0]}/segments", headers=marketer).json()
    assert [s["slug"] for s in mine] == ["french"]
    export = client.get("/api/v1/segments/french/export.csv?purpose=marketing_email", headers=admin)
    assert export.status_code == 200
    assert export.text.splitlines()[1].startswith(str(ids[0]))
    assert len(export.text.splitlines()) == 2
    with db.sessions() as session:
        assert session.scalars(
            select(AuditEntry.action).where(AuditEntry.action == "export.segment")
        ).all() == ["export.segment"]
    assert (
        client.get(
            "/api/v1/segments/french/export.csv?purpose=marketing_email", headers=marketer
        ).status_code
        == 403
    )
    history = client.get("/api/v1/segments/french/history", headers=admin).json()
    assert history["sizes"][-1][1] == "3"
    assert history["changes"][0]["change"] == "entered"
    changed = client.put(
        "/api/v1/segments/french",
        json={"name": "Nobody", "rules": {"any": []}},
        headers=marketer,
    )
    assert changed.json()["size"] == "0"
    assert client.delete("/api/v1/segments/french", headers=marketer).status_code == 204
    assert client.get("/api/v1/segments/french", headers=marketer).status_code == 404


def test_a_track_call_enters_the_customer_with_the_worker_running(
    client: TestClient, db: Store, db_settings: Settings, write_key: str
) -> None:
    marketer = _bearer(db, db_settings, "marketer")
    rule = {"type": "event", "event": {"name": "Product Added"}, "window": {"last_days": 1}}
    assert (
        client.post("/api/v1/segments", json=_segment("adders", rule), headers=marketer).status_code
        == 201
    )
    # A computed trait, and a segment testing it: the traits consumer runs before membership.
    trait = {"name": "adds_7d", "event": {"name": "Product Added"}, "aggregate": "count"}
    bad = client.post("/api/v1/segments/traits", json={**trait, "window_days": 0}, headers=marketer)
    assert bad.status_code == 422
    assert "trait.window_days" in bad.text
    defined = client.post(
        "/api/v1/segments/traits", json={**trait, "window_days": 7}, headers=marketer
    )
    assert defined.status_code == 201, defined.text
    assert [t["name"] for t in client.get("/api/v1/segments/traits", headers=marketer).json()] == [
        "adds_7d"
    ]
    busy = {"type": "computed_trait", "name": "adds_7d", "op": "gte", "value": 1}
    unknown = {**busy, "name": "nope"}
    answer = client.post("/api/v1/segments", json=_segment("x", unknown), headers=marketer)
    assert answer.status_code == 422
    assert "no computed trait 'nope'" in answer.text
    answer = client.post("/api/v1/segments", json=_segment("busy", busy), headers=marketer)
    assert answer.status_code == 201
    # A worker running already: the scheduled jobs a new installation finds due (scores,
    # predictions…) are run first, not timed with the track call below.
    Scheduler(db, db_settings, JOBS).run_due()
    worker = build_worker(db, db_settings, poll_seconds=0.05)
    worker.start()
    try:
        sent = time.monotonic()
        answer = client.post(
            "/v1/track",
            json={"userId": "u-9", "event": "Product Added", "messageId": "m-9"},
            auth=(write_key, ""),
        )
        assert answer.status_code == 200
        # The issue asks for 5 s, which this takes 0.1-2 s for; the deadline here is looser,
        # because the full suite runs beside it on two shared cores and speed is measured in
        # bench/, not timed in tests. (Its earlier failures, one segment of two entered
        # forever, were a race between the two consumers, not load: see
        # test_membership_never_handles_an_event_before_the_traits_consumer.)
        entered: list[Event] = []
        while time.monotonic() - sent < DEADLINE and len(entered) < 2:
            time.sleep(0.05)
            with db.sessions() as session:
                entered = list(session.scalars(select(Event).where(Event.name == ENTERED)))
        assert len(entered) == 2, f"not in both segments within {DEADLINE} s"
        assert {e.properties["segment"] for e in entered} == {"adders", "busy"}
    finally:
        worker.stop()
    customer = entered[0].customer_id
    traits = client.get(f"/api/v1/customers/{customer}/traits", headers=marketer).json()
    assert [(t["name"], t["value"]) for t in traits] == [("adds_7d", 1)]
    assert client.delete("/api/v1/segments/traits/adds_7d", headers=marketer).status_code == 409
