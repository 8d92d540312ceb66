"""KPI, funnel and cohort definitions on a hand-computed history (``fixtures.py``), run on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from clientvault.analytics import cohorts, funnels, kpis
from clientvault.errors import InvalidInput
from clientvault.ingest.models import Event
from clientvault.store.context import Store
from support.analytics_history import A, C, anonymous_event, at, load

UTC_ZONE = ZoneInfo("UTC")
MARCH = kpis.Filters(at("03-01 00:00"), at("04-01 00:00"))


@pytest.fixture
def history(db: Store) -> Store:
    load(db)
    return db


def test_kpis_of_march(history: Store) -> None:
    with history.sessions() as session:
        result = kpis.compute(session, MARCH)
    assert (result.visitors, result.converted) == (5, 2)  # A B C D X; A and C ordered
    assert result.conversion_rate == pytest.approx(0.4)
    assert (result.orders, result.revenue) == (3, pytest.approx(180.0))  # 80 + 70 + 30
    assert result.aov == pytest.approx(60.0)
    assert (result.buyers, result.repeat_buyers, result.repeat_rate) == (2, 1, 0.5)
    # February's buyers: A and B; A bought again in March.
    assert (result.previous_buyers, result.retained) == (2, 1)
    assert (result.retention, result.churn) == (0.5, 0.5)
    assert (result.csat_answers, result.csat_satisfied) == (3, 2)  # the 7 is not a score
    assert result.csat == pytest.approx(2 / 3)
    assert (result.refunded_orders, result.refund_rate) == (1, pytest.approx(1 / 3))


def test_kpis_filtered_by_source_and_customers(history: Store) -> None:
    with history.sessions() as session:
        web = kpis.compute(session, kpis.Filters(MARCH.start, MARCH.end, source="web"))
        only_c = kpis.compute(session, kpis.Filters(MARCH.start, MARCH.end, customer_ids=[C]))
        empty = kpis.compute(session, kpis.Filters(at("06-01 00:00"), at("07-01 00:00")))
    assert (web.visitors, web.converted, web.csat) == (4, 1, None)  # C's order came from the app
    assert (only_c.visitors, only_c.orders, only_c.revenue) == (1, 1, 70.0)
    assert (empty.visitors, empty.conversion_rate, empty.aov, empty.retention) == (
        0,
        None,
        None,
        None,
    )


def test_weekly_series_and_zone_buckets(history: Store) -> None:
    with history.sessions() as session:
        points = kpis.series(session, MARCH, "week", UTC_ZONE)
    # 1 March 2026 is a Sunday: a one-day first bucket, then Monday weeks.
    assert [p.start.day for p in points] == [1, 2, 9, 16, 23, 30]
    assert [p.orders for p in points] == [0, 1, 0, 1, 1, 0]
    assert [p.revenue for p in points] == [0, 80, 0, 70, 30, 0]
    assert [p.visitors for p in points] == [0, 4, 3, 1, 0, 0]  # A B D in the 2nd week
    assert sum(p.csat_answers for p in points) == 3
    paris = ZoneInfo("Europe/Paris")
    days = kpis.buckets(at("03-28 23:00"), at("03-31 22:00"), "day", paris)
    # 29 March 2026 (from 23:00 UTC the day before): clocks go forward, a 23-hour day.
    lengths = [b.astimezone(UTC) - a.astimezone(UTC) for a, b in pairwise(days)]
    assert lengths[:2] == [
        timedelta(hours=23),
        timedelta(hours=24),
    ]
    with pytest.raises(InvalidInput):
        kpis.buckets(MARCH.start, MARCH.end, "fortnight", UTC_ZONE)


@pytest.mark.parametrize(
    ("mode", "exclusions", "expected"),
    [
        ("ordered", (), [4, 3, 1, 1]),
        ("strict", (), [4, 2, 1, 1]),  # B's ticket comes between view and add
        ("ordered", ("Support Ticket Opened",), [4, 2, 1, 1]),
        ("unordered", (), [4, 4, 1, 1]),  # C added before viewing
    ],
)
def test_funnel_modes(
    history: Store, mode: str, exclusions: tuple[str, ...], expected: list[int]
) -> None:
    spec = funnels.FunnelSpec(mode=mode, exclusions=exclusions)
    with history.sessions() as session:
        result = funnels.compute(session, spec, MARCH)
    assert [s.people for s in result.steps] == expected
    assert result.median_seconds == 1200  # A: 20 minutes from view to order
    assert result.steps[0].drop_off == expected[0] - expected[1]


def test_funnel_window_and_breakdown(history: Store) -> None:
    spec = funnels.FunnelSpec(window=timedelta(days=10), breakdown="context.device.type")
    with history.sessions() as session:
        result = funnels.compute(session, spec, MARCH)
    # B's checkout, nine days after the view, now counts.
    assert [s.people for s in result.steps] == [4, 3, 2, 1]
    assert result.breakdown == {"desktop": [2, 2, 1, 1], "mobile": [2, 1, 1, 0]}
    with pytest.raises(InvalidInput):
        funnels.FunnelSpec(steps=("Only one",))
    with pytest.raises(InvalidInput):
        funnels.FunnelSpec(mode="sideways")


@pytest.mark.parametrize(
    ("mode", "attribution", "desktop", "mobile"),
    [
        ("ordered", "first", [3, 3, 1, 1], [2, 1, 1, 0]),  # Y viewed on a desktop
        ("ordered", "last", [2, 2, 1, 1], [3, 2, 1, 0]),  # … and added on a phone
        ("unordered", "last", [2, 2, 1, 1], [3, 3, 1, 0]),  # C: added, then viewed
        ("strict", "last", [2, 2, 1, 1], [3, 1, 0, 0]),  # B's ticket, C's order between
    ],
)
def test_funnel_attribution(
    history: Store, mode: str, attribution: str, desktop: list[int], mobile: list[int]
) -> None:
    y = b"y" * 32
    with history.sessions.begin() as session:
        for n, (name, when, device) in enumerate(
            [
                ("Product Viewed", "03-07 10:00", "desktop"),
                ("Product Added", "03-07 10:05", "mobile"),
            ]
        ):
            row = anonymous_event(f"y{n}", y, name, at(when), {})
            session.execute(insert(Event).values({**row, "context": {"device": {"type": device}}}))
    spec = funnels.FunnelSpec(
        window=timedelta(days=10),
        mode=mode,
        breakdown="context.device.type",
        attribution=attribution,
    )
    with history.sessions() as session:
        result = funnels.compute(session, spec, MARCH)
    assert result.breakdown == {"desktop": desktop, "mobile": mobile}


@pytest.mark.parametrize(("cumulative", "february"), [(False, [2, 1, 1]), (True, [2, 2, 1])])
def test_monthly_order_cohorts(history: Store, cumulative: bool, february: list[int]) -> None:
    spec = cohorts.CohortSpec(grain="month", activity="ordered", cumulative=cumulative)
    with history.sessions() as session:
        matrix = cohorts.compute(session, spec, at("02-01 00:00"), at("05-01 00:00"), UTC_ZONE)
    assert [(c.start.month, c.size) for c in matrix] == [(2, 2), (3, 1)]  # A B; C
    assert matrix[0].active == february  # B skipped March, came back in April
    assert matrix[1].active == [1, 0]
    assert matrix[0].revenue == [90.0, 110.0, 10.0]
    assert matrix[0].cumulative_revenue_per_customer == [45.0, 100.0, 105.0]


def test_any_event_cohorts_and_customer_filter(history: Store) -> None:
    spec = cohorts.CohortSpec(activity="any")
    with history.sessions() as session:
        matrix = cohorts.compute(session, spec, at("02-01 00:00"), at("04-01 00:00"), UTC_ZONE)
        only_a = cohorts.compute(
            session,
            cohorts.CohortSpec(),
            at("02-01 00:00"),
            at("04-01 00:00"),
            UTC_ZONE,
            customer_ids=[A],
        )
    # A's first event is in February; B, C and D start in March (X is anonymous).
    assert [(c.start.month, c.size, c.active) for c in matrix] == [(2, 1, [1, 1]), (3, 3, [3])]
    assert [(c.size, c.retention) for c in only_a] == [(1, [1.0, 1.0])]
