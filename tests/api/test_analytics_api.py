"""The analytics API: the dashboard's numbers for ``analytics:read``, experiments, the public
assignment call (write key) and the console page and CSV exports."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from clientvault.settings import Settings
from clientvault.store.context import Store
from support.analytics_history import A, C, load, load_browsers, make_segment
from support.staff import bearer_headers

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


def test_dashboard_numbers_for_analysts_only(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    load(db)
    analyst = bearer_headers(db, db_settings, "analyst")
    tiles = client.get("/api/v1/analytics/kpis", params=MARCH, headers=analyst)
    assert tiles.status_code == 200, tiles.text
    by_kpi = {t["kpi"]: t for t in tiles.json()["tiles"]}
    assert (by_kpi["visitors"]["value"], by_kpi["orders"]["value"]) == (5, 3)
    assert by_kpi["revenue"]["value"] == 180.0
    assert by_kpi["orders"]["previous"] == 2  # A and B in February's 31 days before
    assert by_kpi["orders"]["change"] == 0.5
    assert "net of refunds" in by_kpi["revenue"]["definition"]
    series = client.get(
        "/api/v1/analytics/series", params={**MARCH, "grain": "week"}, headers=analyst
    )
    assert [p["orders"] for p in series.json()["points"]] == [0, 1, 0, 1, 1, 0]
    funnel = client.get(
        "/api/v1/analytics/funnel",
        headers=analyst,
        params={**MARCH, "breakdown": "context.device.type"},
    )
    body = funnel.json()
    assert [s["people"] for s in body["steps"]] == [4, 3, 1, 1]
    # Breakdown groups of 2 people are under the minimum group size (5): withheld.
    assert all(b["suppressed"] and b["people"] is None for b in body["breakdown"])
    cohorts = client.get(
        "/api/v1/analytics/cohorts",
        headers=analyst,
        params={"from": "2026-02-01", "to": "2026-04-30"},
    )
    assert [(c["cohort"], c["size"], c["suppressed"]) for c in cohorts.json()["cohorts"]] == [
        ("2026-02-01", None, True),
        ("2026-03-01", None, True),
    ]
    paths = client.get(
        "/api/v1/analytics/paths", params={**MARCH, "steps": 2}, headers=analyst
    ).json()
    # Four viewers, five distinct moves over two steps: all groups under 5 people, withheld.
    assert (paths["people"], paths["edges"], paths["withheld"]) == (None, [], 5)
    lifecycle = client.get(
        "/api/v1/analytics/lifecycle", params={**MARCH, "grain": "week"}, headers=analyst
    ).json()
    weeks = lifecycle["periods"]
    assert [p["start"] for p in weeks] == [f"2026-03-{d:02d}" for d in (1, 2, 9, 16, 23, 30)]
    assert weeks[0] == {"start": "2026-03-01", "new": 0, "returning": 0, "resurrecting": 0,
                        "dormant": 0}  # fmt: skip
    assert weeks[1]["new"] is None  # three new people: fewer than 5
    for params in ({"steps": 0}, {"direction": "sideways"}):
        refused = client.get("/api/v1/analytics/paths", params=params, headers=analyst)
        assert refused.status_code == 422
    assert client.get("/api/v1/analytics/clv", headers=analyst).json() == {"fit": None}
    heat = client.get("/api/v1/analytics/heatmap", params=MARCH, headers=analyst)
    assert heat.json() == {"pages": [], "path": None}  # the history has no clicks
    support = bearer_headers(db, db_settings, "support")
    assert client.get("/api/v1/analytics/kpis", headers=support).status_code == 403
    bad = client.get(
        "/api/v1/analytics/kpis", params={"from": "2026-04-01", "to": "2026-03-01"}, headers=analyst
    )
    assert bad.status_code == 422
    assert (
        client.get("/api/v1/analytics/funnel", params={"steps": "one"}, headers=analyst).status_code
        == 422
    )


def test_experiments_and_public_assignment(
    client: TestClient, db: Store, db_settings: Settings, write_key: str
) -> None:
    marketer = bearer_headers(db, db_settings, "marketer")
    created = client.post(
        "/api/v1/analytics/experiments",
        headers=marketer,
        json={
            "key": "hero",
            "name": "Hero image",
            "variants": [{"key": "control", "weight": 1}, {"key": "photo", "weight": 1}],
            "goal": {"kind": "event", "event": "Signed Up"},
        },
    )
    assert created.status_code == 201, created.text
    again = client.post(
        "/api/v1/analytics/experiments",
        headers=marketer,
        json={
            "key": "hero",
            "name": "Again",
            "variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
            "goal": {"kind": "revenue"},
        },
    )
    assert again.status_code == 409
    analyst = bearer_headers(db, db_settings, "analyst")
    assert client.post("/api/v1/analytics/experiments", headers=analyst, json={}).status_code in (
        403,
        422,
    )
    url = "/api/v1/experiments/hero/assignment"
    first = client.get(url, params={"anonymous_id": "a-1", "writeKey": write_key})
    assert first.status_code == 200, first.text
    assert first.json()["variation_id"] in ("control", "photo")
    assert (
        client.get(url, params={"anonymous_id": "a-1", "writeKey": write_key}).json()
        == first.json()
    )
    assert client.get(url, params={"anonymous_id": "a-1"}).status_code == 401
    from_site = client.get(
        url,
        params={"anonymous_id": "a-1", "writeKey": write_key},
        headers={"Origin": "https://shop.example"},
    )
    assert from_site.headers["access-control-allow-origin"] == "https://shop.example"
    assert client.get(url, params={"anonymous_id": "a-1", "writeKey": "wk_nope"}).status_code == 401
    assert (
        client.get(
            "/api/v1/experiments/nope/assignment",
            params={"anonymous_id": "a", "writeKey": write_key},
        ).status_code
        == 404
    )
    results = client.get("/api/v1/analytics/experiments/hero/results", headers=analyst)
    assert results.status_code == 200, results.text
    assert results.json()["exposures"] == {"control": 0, "photo": 0}
    assert results.json()["srm"]["mismatch"] is False
    # The console's form: marketers only; a bad weight is refused with nothing written.
    new = "/console/analytics/experiments/new"
    assert 'data-form="experiment"' in client.get(new, headers=marketer).text
    assert client.get(new, headers=analyst).status_code == 403
    form = {"key": "menu", "name": "Menu", "variants": "a:x, b", "goal_kind": "event",
            "goal_event": "Signed Up", "guardrails": "Support Ticket Opened",
            "holdout_percent": "10", "planned_users": "500"}  # fmt: skip
    refused = client.post(new, headers=marketer, data=form, follow_redirects=False)
    assert refused.status_code == 422
    assert "is not a number" in refused.text
    made = client.post(
        new, headers=marketer, data={**form, "variants": "a:2, b"}, follow_redirects=False
    )
    assert made.status_code == 303, made.text
    assert made.headers["location"] == "/console/analytics/experiments/menu"
    listed = client.get("/api/v1/analytics/experiments", headers=analyst).json()["experiments"]
    menu = next(e for e in listed if e["key"] == "menu")
    assert [(v["key"], round(v["weight"], 3)) for v in menu["variants"]] == [
        ("a", 0.667),
        ("b", 0.333),
    ]
    assert len(listed) == 2
    shown = client.get("/console/analytics/experiments/menu", headers=analyst)
    assert "Support Ticket Opened" in shown.text


def test_console_page_and_csv(client: TestClient, db: Store, db_settings: Settings) -> None:
    load(db)
    analyst = bearer_headers(db, db_settings, "analyst")
    page = client.get("/console/analytics", params=MARCH, headers=analyst)
    assert page.status_code == 200, page.text
    assert 'data-kpi="visitors"' in page.text
    assert "/console/analytics/plotly.min.js" in page.text
    exported = client.get(
        "/console/analytics/export/series.csv", params={**MARCH, "grain": "week"}, headers=analyst
    )
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == ["start", "visitors", "conversion_rate", "orders", "revenue", "csat"]
    assert [r[3] for r in rows[1:]] == ["0", "1", "0", "1", "1", "0"]
    lifecycle = client.get(
        "/console/analytics/export/lifecycle.csv",
        params={**MARCH, "grain": "week"},
        headers=analyst,
    )
    assert lifecycle.text.splitlines()[:2] == [
        "start,new,returning,resurrecting,dormant",
        "2026-03-01,0,0,0,0",
    ]
    script = client.get("/console/analytics/plotly.min.js")
    assert script.status_code == 200
    assert b"plotly" in script.content[:2000].lower()


def test_segment_filter_on_paths_lifecycle_and_kpis(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    """``segment=`` restricts every dashboard number to the segment's members, on the API
    and the console (page, headings and CSV); unknown or too small segments are refused."""
    load(db)
    load_browsers(db)
    make_segment(db, "a-and-c", "A and C", [A, C])
    analyst = bearer_headers(db, db_settings, "analyst")
    browsers = {**MARCH, "segment": "browsers"}

    def get(path: str, params: dict[str, object]) -> dict[str, object]:
        response = client.get(f"/api/v1/analytics/{path}", params=params, headers=analyst)
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body

    everyone = get("paths", {**MARCH, "steps": 1})
    members = get("paths", {**browsers, "steps": 1})
    # Everyone: A, B, C, X and the five browsers viewed; A, X and the browsers then added.
    assert (everyone["people"], everyone["edges"]) == (
        9,
        [{"step": 1, "source": "Product Viewed", "target": "Product Added", "people": 7}],
    )
    assert (members["people"], members["edges"]) == (
        5,
        [{"step": 1, "source": "Product Viewed", "target": "Product Added", "people": 5}],
    )
    weeks = get("lifecycle", {**browsers, "grain": "week"})["periods"]
    assert isinstance(weeks, list)
    assert [(w["start"], w["new"]) for w in weeks if w["new"]] == [("2026-03-09", 5)]
    tiles = get("kpis", browsers)["tiles"]
    assert isinstance(tiles, list)
    assert {t["kpi"]: t["value"] for t in tiles}["visitors"] == 5
    funnel = get("funnel", browsers)["steps"]
    assert isinstance(funnel, list)
    assert [s["people"] for s in funnel] == [5, 5, 0, 0]
    unknown = client.get("/api/v1/analytics/paths", params={"segment": "nobody"}, headers=analyst)
    assert unknown.status_code == 404
    small = client.get(
        "/api/v1/analytics/lifecycle", params={"segment": "a-and-c"}, headers=analyst
    )
    assert small.status_code == 422
    assert "fewer than 5 members" in small.text
    page = client.get("/console/analytics", params=browsers, headers=analyst)
    assert page.status_code == 200, page.text
    assert '<option value="browsers" selected>Browsers</option>' in page.text
    assert "Lifecycle by day · Browsers" in page.text
    exported = client.get("/console/analytics/export/paths.csv", params=browsers, headers=analyst)
    assert exported.text.splitlines() == ["step,from,to,people", "1,Product Viewed,Product Added,5"]
