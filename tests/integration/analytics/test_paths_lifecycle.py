"""Paths and lifecycle on the hand-computed history (``support/analytics_history.py``), on
SQLite and PostgreSQL."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from clientvault.analytics import kpis, lifecycle, paths
from clientvault.errors import InvalidInput
from clientvault.segments.export import members_of
from clientvault.segments.service import get_segment
from clientvault.store.context import Store
from support.analytics_history import A, C, at, load, make_segment

MARCH = kpis.Filters(at("03-01 00:00"), at("04-01 00:00"))


@pytest.fixture
def history(db: Store) -> Store:
    load(db)
    return db


def _edges(result: paths.PathResult) -> list[tuple[int, str, str, int]]:
    return [(e.step, e.source, e.target, e.people) for e in result.edges]


def test_paths_after_and_before(history: Store) -> None:
    with history.sessions() as session:
        after = paths.compute(session, paths.PathSpec("Product Viewed", "after", 3), MARCH)
        before = paths.compute(session, paths.PathSpec("Order Completed", "before", 2), MARCH)
        web = paths.compute(
            session,
            paths.PathSpec("Order Completed", "after", 1),
            kpis.Filters(MARCH.start, MARCH.end, source="web"),
        )
        ordered = paths.compute(session, paths.PathSpec("Order Completed", "after", 2), MARCH)
    # A: PV PA CS OC CSAT; B: PV ticket PA CS; C: PA PV OC; X: PV PA (A's February view is
    # out of range; the anchor is each person's first view).
    assert after.people == 4
    assert _edges(after) == [
        (1, "Product Viewed", "Product Added", 2),  # A, X
        (1, "Product Viewed", "Order Completed", 1),  # C
        (1, "Product Viewed", "Support Ticket Opened", 1),  # B
        (2, "Product Added", "Checkout Started", 1),
        (2, "Support Ticket Opened", "Product Added", 1),
        (3, "Checkout Started", "Order Completed", 1),
        (3, "Product Added", "Checkout Started", 1),
    ]
    assert before.people == 2  # A and C ordered in March
    assert _edges(before) == [
        (1, "Checkout Started", "Order Completed", 1),
        (1, "Product Viewed", "Order Completed", 1),
        (2, "Product Added", "Checkout Started", 1),
        (2, "Product Added", "Product Viewed", 1),
    ]
    # On the web source, A's survey answer (helpdesk) is not a next step; C's order came
    # from the app.
    assert (web.people, web.edges) == (1, [])
    # A: OC then CSAT, and nothing after; D's three answers would be one step (D never
    # ordered).
    assert (ordered.people, _edges(ordered)) == (
        2,
        [(1, "Order Completed", "CSAT Survey Answered", 1)],
    )
    with pytest.raises(InvalidInput):
        paths.PathSpec(direction="sideways")


def test_weekly_lifecycle(history: Store) -> None:
    with history.sessions() as session:
        weeks = lifecycle.compute(session, MARCH, "week", ZoneInfo("UTC"))
        viewers = lifecycle.compute(session, MARCH, "month", ZoneInfo("UTC"), "Product Viewed")
    table = [(p.start.day, p.new, p.returning, p.resurrecting, p.dormant) for p in weeks]
    # Weeks of March 2026 (the 1st is a Sunday). A was active on 20 February (before the
    # week preceding the range): resurrecting in the week of the 2nd. B, C and X are new
    # there; A and B return the next week where D is new and C, X go dormant; C resurrects
    # on the 20th while A, B and D go dormant; C is dormant from the 23rd.
    assert table == [
        (1, 0, 0, 0, 0),
        (2, 3, 0, 1, 0),
        (9, 1, 2, 0, 2),
        (16, 0, 0, 1, 3),
        (23, 0, 0, 0, 1),
        (30, 0, 0, 0, 0),
    ]
    # Product views by month: A viewed in February too (returning), B, C and X are new.
    assert [(p.new, p.returning, p.resurrecting, p.dormant) for p in viewers] == [(3, 1, 0, 0)]


def test_paths_and_lifecycle_of_a_segment(history: Store) -> None:
    """A segment's members (its query, read by the database) restrict both: A and C only."""
    make_segment(history, "a-and-c", "A and C", [A, C])
    with history.sessions() as session:
        members = members_of(get_segment(session, "a-and-c"))
        segment = kpis.Filters(MARCH.start, MARCH.end, customer_ids=members)
        after = paths.compute(session, paths.PathSpec("Product Viewed", "after", 3), segment)
        weeks = lifecycle.compute(session, segment, "week", ZoneInfo("UTC"))
    # A: PV PA CS OC CSAT; C: PA PV OC (B and X are not members).
    assert after.people == 2
    assert _edges(after) == [
        (1, "Product Viewed", "Order Completed", 1),
        (1, "Product Viewed", "Product Added", 1),
        (2, "Product Added", "Checkout Started", 1),
        (3, "Checkout Started", "Order Completed", 1),
    ]
    # A resurrects in the week of the 2nd (C is new), returns on the 15th (C dormant); C
    # resurrects on the 20th (A dormant) and is dormant from the 23rd.
    assert [(p.start.day, p.new, p.returning, p.resurrecting, p.dormant) for p in weeks] == [
        (1, 0, 0, 0, 0),
        (2, 1, 0, 1, 0),
        (9, 0, 1, 0, 1),
        (16, 0, 0, 1, 1),
        (23, 0, 0, 0, 1),
        (30, 0, 0, 0, 0),
    ]
