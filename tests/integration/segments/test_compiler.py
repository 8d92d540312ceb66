"""The rule compiler: every condition type on a fixed dataset (members named by hand), and a
hypothesis comparison of the compiled query with a plain-Python evaluation over random small
datasets, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from clientvault.demo.segments import SEGMENTS as DEMO_SEGMENTS
from clientvault.errors import InvalidInput
from clientvault.identity.models import Customer
from clientvault.segments import rules as r
from clientvault.segments.compiler import Context, Referenced, members_query
from clientvault.segments.service import context, estimate, explain, preview
from clientvault.store.context import Store
from support.segment_data import (
    NOW,
    Bought,
    Dataset,
    Decided,
    Happened,
    Person,
    Scored,
    evaluate,
    write,
)


def _people() -> list[Person]:
    return [
        Person(  # 0: young Parisian, sporty, bought twice recently
            country="FR",
            city="Paris",
            postal_prefix="750",
            birth_year=1996,
            gender="female",
            language="fr",
            traits={"interests": ["sport", "travel"], "price_sensitivity": "low", "kids": 0},
        ),
        Person(  # 1: Belgian, 45, abandoned a cart
            country="BE",
            city="Bruxelles",
            postal_prefix="100",
            birth_year=1981,
            gender="male",
            language="nl",
            traits={"interests": ["cooking"], "price_sensitivity": "high", "kids": 2},
        ),
        Person(country="DE", birth_year=2006, language="de"),  # 2: nothing else
        Person(status="erased", country="FR", birth_year=1996),  # 3: erased: never
        Person(),  # 4: no attributes at all
    ]


def _dataset() -> Dataset:
    people = _people()
    people.append(Person(status="merged", merged_into=people[0].id, country="FR"))  # 5
    h = timedelta(hours=1)
    return Dataset(
        people=people,
        events=[
            Happened(0, "Product Added", NOW - 50 * h, {"category": "shoes", "price": 80}),
            Happened(0, "Order Completed", NOW - 49 * h, {"total": 80}),
            Happened(1, "Product Added", NOW - 30 * h, {"category": "pans", "price": 25.5}),
            Happened(1, "Page Viewed", NOW - 200 * 24 * h),
            Happened(2, "Product Added", NOW - 30 * 24 * h, {"category": "shoes"}),
            Happened(2, "Order Completed", NOW - 30 * 24 * h + 3 * h),
            Happened(5, "Product Added", NOW - h),
            Happened(3, "Product Added", NOW - 60 * h),
        ],
        orders=[
            Bought(0, NOW - timedelta(days=10), Decimal("80.00"), category="shoes"),
            Bought(0, NOW - timedelta(days=40), Decimal("60.00"), Decimal("20.00"), "sport"),
            Bought(2, NOW - timedelta(days=200), Decimal("300.00"), Decimal("300.00"), "shoes"),
            Bought(3, NOW - timedelta(days=5), Decimal("999.00"), category="shoes"),
        ],
        consents=[
            Decided(0, "newsletter", "granted", NOW - timedelta(days=9)),
            Decided(1, "newsletter", "granted", NOW - timedelta(days=9)),
            Decided(1, "newsletter", "withdrawn", NOW - timedelta(days=1)),
        ],
        scores=[
            Scored(0, "rfm_group", "champions", 5.0),
            Scored(1, "rfm_group", "at_risk", 2.0),
            Scored(2, "churn_probability", None, 0.8),
        ],
    )


def _members(session: Session, data: Dataset, rule: dict[str, Any], **extra: Any) -> set[int]:
    node = r.parse_rules(rule)
    ctx = Context(dialect=session.get_bind().dialect.name, now=NOW, **extra)
    found = set(session.scalars(members_query(node, ctx)))
    # The plain evaluation must agree on every rule of this file.
    assert found == evaluate(data, node, ctx), rule
    # And so must the query narrowed to one customer that explanations run (for a member and
    # non-members of most rules: the first three people differ in nearly everything).
    for person in data.people[:3]:
        one = dataclasses.replace(ctx, only=person.id)
        alone = set(session.scalars(members_query(node, one).where(Customer.id == person.id)))
        assert alone == ({person.id} & found), (rule, person)
    return {i for i, p in enumerate(data.people) if p.id in found}


CASES: list[tuple[dict[str, Any], set[int]]] = [
    ({"all": []}, {0, 1, 2, 4}),
    ({"any": []}, set()),
    ({"type": "age", "min": 25, "max": 40}, {0}),
    ({"type": "age", "max": 20}, {2}),
    ({"type": "attribute", "field": "country", "values": ["FR", "BE"]}, {0, 1}),
    ({"type": "attribute", "field": "country", "op": "not_in", "values": ["FR"]}, {1, 2, 4}),
    ({"type": "attribute", "field": "city", "op": "is_not_set"}, {2, 4}),
    ({"type": "attribute", "field": "postal_prefix", "op": "starts_with", "values": ["75"]}, {0}),
    ({"type": "attribute", "field": "language", "values": ["NL"]}, set()),
    ({"type": "attribute", "field": "gender", "values": ["male"]}, {1}),
    ({"type": "trait", "key": "interests", "op": "contains", "value": "sport"}, {0}),
    ({"type": "trait", "key": "price_sensitivity", "op": "eq", "value": "high"}, {1}),
    ({"type": "trait", "key": "price_sensitivity", "op": "ne", "value": "high"}, {0, 2, 4}),
    ({"type": "trait", "key": "kids", "op": "gte", "value": 1}, {1}),
    ({"type": "trait", "key": "kids", "op": "eq", "value": 0}, {0}),
    ({"type": "trait", "key": "interests", "op": "is_set"}, {0, 1}),
    ({"type": "trait", "key": "price_sensitivity", "op": "in", "value": ["low", "mid"]}, {0}),
    ({"type": "profile_date", "field": "last_seen", "window": {"last_days": 7}}, {0, 1}),
    ({"type": "profile_date", "field": "first_seen", "window": {"last_days": 7}}, {0}),
    ({"type": "profile_date", "field": "created_at", "window": {"last_days": 7}}, set()),
    ({"type": "event", "event": {"name": "Product Added"}, "window": {"last_days": 7}}, {0, 1}),
    (
        {
            "type": "event",
            "event": {
                "name": "Product Added",
                "where": [{"property": "category", "value": "shoes"}],
            },
        },
        {0, 2},
    ),
    (
        {
            "type": "event",
            "event": {
                "name": "Product Added",
                "where": [{"property": "price", "op": "gt", "value": 25}],
            },
        },
        {0, 1},
    ),
    ({"type": "event", "event": {"name": "Order Completed"}, "count": "never"}, {1, 4}),
    (
        {"type": "event", "event": {"name": "Product Added"}, "count": "exactly", "value": 1},
        {0, 1, 2},
    ),
    ({"type": "event", "event": {"name": "Product Added"}, "count": "at_most", "value": 0}, {4}),
    (
        {
            "type": "occurrence",
            "event": {"name": "Product Added"},
            "which": "first",
            "window": {"last_days": 3},
        },
        {0, 1},
    ),
    (
        {
            "type": "sequence",
            "first": {"name": "Product Added"},
            "then_not": {"name": "Order Completed"},
            "within": {"hours": 2},
        },
        {1, 2},
    ),
    (
        {
            "type": "sequence",
            "first": {"name": "Product Added"},
            "then_not": {"name": "Order Completed"},
            "within": {"hours": 4},
            "window": {"last_days": 7},
        },
        {1},
    ),
    ({"type": "orders", "metric": "order_count", "op": "gte", "value": 2}, {0}),
    (
        {
            "type": "orders",
            "metric": "order_count",
            "op": "lt",
            "value": 1,
            "window": {"last_days": 90},
        },
        {1, 2, 4},
    ),
    ({"type": "orders", "metric": "total_spent", "op": "gt", "value": 100}, {0}),
    ({"type": "orders", "metric": "total_spent", "op": "lte", "value": 0}, {1, 2, 4}),
    ({"type": "orders", "metric": "average_basket", "op": "eq", "value": 60}, {0}),
    ({"type": "orders", "metric": "days_since_last_order", "op": "gt", "value": 30}, {2}),
    ({"type": "bought_category", "categories": ["shoes"], "window": {"last_days": 30}}, {0}),
    ({"type": "consent", "purpose": "newsletter"}, {0}),
    ({"type": "consent", "purpose": "newsletter", "state": "withdrawn"}, {1}),
    ({"type": "consent", "purpose": "newsletter", "state": "none"}, {2, 4}),
    ({"type": "score", "kind": "rfm_group", "labels": ["champions", "loyal"]}, {0}),
    ({"type": "score", "kind": "churn_probability", "op": "gt", "value": 0.5}, {2}),
    # FR or BE, aged 25-40, 2+ orders in 90 days, spent over 100 (the demo's first segment).
    (DEMO_SEGMENTS[0]["rules"], {0}),
    # Cart abandonment (the demo's second segment).
    (DEMO_SEGMENTS[1]["rules"], {1}),
    (
        {
            "not": {
                "any": [
                    {"type": "age", "min": 30},
                    {"type": "trait", "key": "kids", "op": "gt", "value": 5},
                ]
            }
        },
        {2, 4},
    ),
    (  # contradictory
        {"all": [{"type": "age", "min": 50}, {"type": "age", "max": 40}]},
        set(),
    ),
]


def test_every_condition_type(db: Store) -> None:
    data = _dataset()
    with db.sessions() as session:
        write(session, data)
        for rule, expected in CASES:
            assert _members(session, data, rule) == expected, rule
        session.rollback()


def test_window_bounds_use_the_time_zone(db: Store) -> None:
    """A date bound is local midnight: 23:30 UTC on the 9th is the 10th in Paris."""
    people = [Person(), Person()]
    late = NOW.replace(day=9, hour=22, minute=30)  # 00:30 on the 10th in Paris (UTC+2)
    data = Dataset(
        people=people,
        events=[Happened(0, "Visit", late), Happened(1, "Visit", late - timedelta(hours=1))],
    )
    rule = {"type": "event", "event": {"name": "Visit"}, "window": {"since": "2026-06-10"}}
    with db.sessions() as session:
        write(session, data)
        assert _members(session, data, rule, zone=ZoneInfo("Europe/Paris")) == {0}
        assert _members(session, data, rule, zone=ZoneInfo("UTC")) == set()
        # An absolute time bound is exclusive at its end.
        until = {"type": "event", "event": {"name": "Visit"}, "window": {"until": late.isoformat()}}
        assert _members(session, data, until) == {1}
        session.rollback()


def test_regularly_stopped_restarted(db: Store) -> None:
    """``regularly`` cuts local calendar periods. NOW is Monday 15 June 2026, 14:00 in Paris:
    this ISO week began at 22:00 UTC on the 14th there, the week of 1 June at 22:00 UTC on 31
    May. Then the spans of ``stopped`` and ``restarted``."""
    paris = ZoneInfo("Europe/Paris")
    at = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731
    people = [Person() for _ in range(5)]
    visits = {
        0: [at(2026, 6, 14, 22, 30), at(2026, 6, 14, 21, 30)],  # this week / last (Paris)
        1: [at(2026, 5, 31, 21, 59), at(2026, 6, 10)],  # one second before the first week
        2: [at(2026, 5, 31, 22, 0), at(2026, 6, 10)],  # the first week's first second
        3: [at(2026, 6, 9), at(2026, 6, 11), at(2026, 6, 2)],  # twice in one week
        4: [at(2026, 4, 30, 22, 0), at(2026, 6, 1)],  # 1 May 00:00 in Paris, and June
    }
    data = Dataset(
        people=people,
        events=[Happened(i, "Visit", t) for i, times in visits.items() for t in times],
    )
    weekly = {"type": "regularly", "event": {"name": "Visit"}, "unit": "week"}
    with db.sessions() as session:
        write(session, data)
        three = {**weekly, "total_periods": 3, "min_periods": 2}
        assert _members(session, data, three, zone=paris) == {0, 2, 3}
        assert _members(session, data, three, zone=ZoneInfo("UTC")) == {3}
        complete = {**three, "total_periods": 2, "include_current": False}
        assert _members(session, data, complete, zone=paris) == {2, 3}
        twice = {**weekly, "total_periods": 3, "min_periods": 1, "min_times": 2}
        assert _members(session, data, twice, zone=paris) == {3}
        months = {**weekly, "unit": "month", "total_periods": 2, "min_periods": 2}
        assert _members(session, data, months, zone=paris) == {1, 4}
        assert _members(session, data, months, zone=ZoneInfo("UTC")) == {1, 2}
        days = {**weekly, "unit": "day", "total_periods": 1, "min_periods": 1}
        assert _members(session, data, days, zone=paris) == {0}
        session.rollback()
    _stopped_and_restarted_windows(db)


def _stopped_and_restarted_windows(db: Store) -> None:
    """Each span is ``[from, until)``: an event at a span's first instant is in it. (Run by
    the test above: one installation for both.)"""
    day = timedelta(days=1)
    people = [Person() for _ in range(10)]
    times = {
        0: [NOW - 7 * day],  # at quiet_from: done since, not stopped
        1: [NOW - 7 * day - timedelta(seconds=1)],  # just before it: stopped
        2: [NOW - 14 * day],  # at active_from: stopped
        3: [NOW - 14 * day - timedelta(minutes=1)],  # before active_from
        4: [NOW - 20 * day, NOW - 2 * day],  # restarted
        5: [NOW - 20 * day, NOW - 10 * day, NOW - 2 * day],  # not quiet in between
        6: [NOW - 2 * day],  # never before
        7: [NOW - 20 * day, NOW - 3 * day],  # again at quiet_until: restarted
        8: [NOW - 20 * day, NOW - 14 * day, NOW - day],  # at quiet_from: not quiet
        9: [datetime(2026, 6, 7, 23, tzinfo=UTC)],  # 8 June 01:00 in Paris
    }
    data = Dataset(
        people=people,
        events=[Happened(i, "Visit", t) for i, moments in times.items() for t in moments]
        + [Happened(0, "Other", NOW - 20 * day)],
    )
    visit = {"name": "Visit"}
    with db.sessions() as session:
        write(session, data)
        stopped = {"type": "stopped", "event": visit, "quiet_from": {"days_ago": 7}}
        assert _members(session, data, stopped) == {1, 2, 3, 9}
        bounded = {**stopped, "active_from": {"days_ago": 14}}
        assert _members(session, data, bounded) == {1, 2, 9}
        # A date is local midnight: 8 June 00:00 in Paris is 7 June 22:00 UTC, before the
        # event of person 9, who is quiet since in UTC but not in Paris.
        local = {**stopped, "quiet_from": {"at": "2026-06-08"}}
        assert _members(session, data, local, zone=ZoneInfo("Europe/Paris")) == {2, 3}
        assert _members(session, data, local, zone=ZoneInfo("UTC")) == {2, 3, 9}
        restarted = {
            "type": "restarted",
            "event": visit,
            "quiet_from": {"days_ago": 14},
            "quiet_until": {"days_ago": 3},
        }
        assert _members(session, data, restarted) == {4, 7}
        recent = {**restarted, "active_from": {"days_ago": 19}}
        assert _members(session, data, recent) == set()
        # Explained condition by condition, for one customer, by the same SQL.
        ctx = Context(dialect=session.get_bind().dialect.name, now=NOW)
        why = explain(session, r.parse_rules({"any": [stopped, restarted]}), ctx, people[4].id)
        assert [(c.label.split(":")[0], c.holds) for c in why.children] == [
            ("stopped 'Visit'", False),
            ("restarted 'Visit'", True),
        ]
        session.rollback()


def test_segment_membership_and_cycles(db: Store) -> None:
    data = _dataset()
    young = r.parse_rules({"type": "age", "max": 40})
    loop = r.parse_rules({"type": "segment", "segment": "b"})
    known = {
        "young": Referenced(uuid.uuid4(), "young", "dynamic", young),
        "a": Referenced(uuid.uuid4(), "a", "dynamic", loop),
        "b": Referenced(
            uuid.uuid4(), "b", "dynamic", r.parse_rules({"type": "segment", "segment": "a"})
        ),
    }
    with db.sessions() as session:
        write(session, data)
        rule = {
            "all": [
                {"type": "segment", "segment": "young"},
                {"type": "attribute", "field": "country", "values": ["FR"]},
            ]
        }
        node = r.parse_rules(rule)
        ctx = Context(dialect=session.get_bind().dialect.name, now=NOW, resolve=known.get)
        assert set(session.scalars(members_query(node, ctx))) == {data.people[0].id}
        inside_a = Context(ctx.dialect, NOW, resolve=known.get, stack=("a",))
        with pytest.raises(InvalidInput, match="cycle: a → b → a"):
            members_query(known["a"].rules, inside_a)
        with pytest.raises(InvalidInput, match="no segment 'nope'"):
            members_query(r.parse_rules({"type": "segment", "segment": "nope"}), ctx)
        session.rollback()


HOSTILE = [
    "'; DROP TABLE customers; --",
    'x") OR 1=1 --',
    "$.a[0]",
    "\\u0000",
    "Robert'); DELETE FROM events;",
    "ü" * 200,
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_values_are_data(db: Store, text: str) -> None:
    people = [Person(city=text[:100], traits={"note": text}), Person(city="Lyon")]
    data = Dataset(people=people, events=[Happened(0, "Visit", NOW, {"ref": text})])
    with db.sessions() as session:
        write(session, data)
        assert _members(
            session, data, {"type": "attribute", "field": "city", "values": [text[:100]]}
        ) == {0}
        assert _members(
            session, data, {"type": "trait", "key": "note", "op": "eq", "value": text}
        ) == {0}
        assert (
            _members(
                session,
                data,
                {
                    "type": "event",
                    "event": {"name": text, "where": [{"property": "ref", "value": text}]},
                },
            )
            == set()
        )
        assert _members(
            session,
            data,
            {
                "type": "event",
                "event": {"name": "Visit", "where": [{"property": "ref", "value": text}]},
            },
        ) == {0}
        session.rollback()


# --- hypothesis: compiled members == plain evaluation ------------------------------------

_NAMES = ["Product Added", "Order Completed", "Page Viewed"]
_WINDOWS = st.one_of(
    st.none(),
    st.builds(lambda d: {"last_days": d}, st.integers(1, 10)),
    st.builds(
        lambda d: {"since": (NOW - timedelta(days=d)).date().isoformat()}, st.integers(0, 10)
    ),
)


def _moment(days: int, as_date: bool) -> dict[str, Any]:
    if as_date:
        return {"at": (NOW - timedelta(days=days)).date().isoformat()}
    return {"days_ago": days}


@st.composite
def _moments(draw: st.DrawFn, count: int) -> list[dict[str, Any] | None]:
    """``count`` moments, oldest first (each as days ago or as a date), and maybe no first."""
    days = sorted(draw(st.lists(st.integers(0, 10), min_size=count, max_size=count, unique=True)))
    found: list[dict[str, Any] | None] = [_moment(d, draw(st.booleans())) for d in reversed(days)]
    if draw(st.booleans()):
        found[0] = None
    return found


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


_FILTERS = st.lists(
    st.one_of(
        st.builds(lambda v: {"property": "category", "value": v}, st.sampled_from(["a", "b"])),
        st.builds(
            lambda op, v: {"property": "price", "op": op, "value": v},
            st.sampled_from(["gt", "lte", "eq", "ne"]),
            st.integers(0, 4),
        ),
    ),
    max_size=1,
)
_SPEC = st.builds(lambda n, w: {"name": n, "where": w}, st.sampled_from(_NAMES), _FILTERS)

_LEAVES = st.one_of(
    st.builds(
        lambda lo, hi: _drop_none({"type": "age", "min": lo, "max": hi}),
        st.sampled_from([None, 20, 30]),
        st.sampled_from([35, 50]),
    ),
    st.builds(
        lambda op, vs: {"type": "attribute", "field": "country", "op": op, "values": vs},
        st.sampled_from(["in", "not_in"]),
        st.lists(st.sampled_from(["FR", "BE", "DE"]), min_size=1, max_size=2),
    ),
    st.builds(
        lambda v: {"type": "trait", "key": "interests", "op": "contains", "value": v},
        st.sampled_from(["sport", "music"]),
    ),
    st.builds(
        lambda op, v: {"type": "trait", "key": "score", "op": op, "value": v},
        st.sampled_from(["gt", "eq", "ne"]),
        st.integers(0, 3),
    ),
    st.builds(
        lambda spec, count, value, window: _drop_none(
            {"type": "event", "event": spec, "count": count, "value": value, "window": window}
        ),
        _SPEC,
        st.sampled_from(["at_least", "at_most", "exactly", "never"]),
        st.integers(0, 3),
        _WINDOWS,
    ),
    st.builds(
        lambda spec, which, days: {
            "type": "occurrence",
            "event": spec,
            "which": which,
            "window": {"last_days": days},
        },
        _SPEC,
        st.sampled_from(["first", "last"]),
        st.integers(1, 10),
    ),
    st.builds(
        lambda a, b, hours, window: _drop_none(
            {
                "type": "sequence",
                "first": {"name": a},
                "then_not": {"name": b},
                "within": {"hours": hours},
                "window": window,
            }
        ),
        st.sampled_from(_NAMES),
        st.sampled_from(_NAMES),
        st.integers(1, 30),
        _WINDOWS,
    ),
    st.builds(
        lambda spec, unit, total, least, times, current: {
            "type": "regularly",
            "event": spec,
            "unit": unit,
            "total_periods": total,
            "min_periods": min(least, total),
            "min_times": times,
            "include_current": current,
        },
        _SPEC,
        st.sampled_from(["day", "week", "month"]),
        st.integers(1, 12),
        st.integers(1, 3),
        st.integers(1, 2),
        st.booleans(),
    ),
    st.builds(
        lambda spec, at: _drop_none(
            {"type": "stopped", "event": spec, "active_from": at[0], "quiet_from": at[1]}
        ),
        _SPEC,
        _moments(2),
    ),
    st.builds(
        lambda spec, at: _drop_none(
            {
                "type": "restarted",
                "event": spec,
                "active_from": at[0],
                "quiet_from": at[1],
                "quiet_until": at[2],
            }
        ),
        _SPEC,
        _moments(3),
    ),
    st.builds(
        lambda metric, op, value, window: _drop_none(
            {"type": "orders", "metric": metric, "op": op, "value": value, "window": window}
        ),
        st.sampled_from(["order_count", "total_spent", "average_basket", "days_since_last_order"]),
        st.sampled_from(["gt", "gte", "lt", "lte", "eq"]),
        st.integers(0, 5),
        _WINDOWS,
    ),
    st.builds(
        lambda cats, window: _drop_none(
            {"type": "bought_category", "categories": cats, "window": window}
        ),
        st.lists(st.sampled_from(["shoes", "sport"]), min_size=1, max_size=2),
        _WINDOWS,
    ),
    st.builds(
        lambda state: {"type": "consent", "purpose": "newsletter", "state": state},
        st.sampled_from(["granted", "withdrawn", "none"]),
    ),
    st.builds(
        lambda labels: {"type": "score", "kind": "rfm_group", "labels": labels},
        st.lists(st.sampled_from(["champions", "lost"]), min_size=1, max_size=2),
    ),
)
#: The computed traits every random dataset defines (over its random events).
_TRAITS: list[dict[str, Any]] = [
    {
        "name": "added_5d",
        "event": {"name": "Product Added"},
        "aggregate": "count",
        "window_days": 5,
    },
    *(
        {
            "name": f"price_{a}",
            "event": {"name": "Product Added"},
            "aggregate": a,
            "property": "price",
        }
        for a in ("sum", "average", "min", "max", "first", "last")
    ),
    {
        "name": "spent_a_3d",
        "event": {"name": "Order Completed", "where": [{"property": "category", "value": "a"}]},
        "aggregate": "sum",
        "property": "price",
        "window_days": 3,
    },
    *(
        {
            "name": f"category_{a}",
            "event": {"name": "Page Viewed"},
            "aggregate": a,
            "property": "category",
        }
        for a in ("most_frequent", "unique", "last")
    ),
]
_TRAIT_TESTS = st.one_of(
    st.builds(lambda op: {"op": op}, st.sampled_from(["is_set", "is_not_set"])),
    st.builds(
        lambda op, v: {"op": op, "value": v},
        st.sampled_from(["eq", "ne", "gt", "lte"]),
        st.integers(0, 6),
    ),
    st.builds(
        lambda op, v: {"op": op, "value": v},
        st.sampled_from(["eq", "ne", "contains"]),
        st.sampled_from(["a", "b"]),
    ),
    st.just({"op": "in", "value": ["a"]}),
)
_TRAIT_LEAVES = st.builds(
    lambda name, test: {"type": "computed_trait", "name": name, **test},
    st.sampled_from([t["name"] for t in _TRAITS]),
    _TRAIT_TESTS,
)


def _groups(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(inner, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
    )


_RULES = st.recursive(st.one_of(_LEAVES, _TRAIT_LEAVES), _groups, max_leaves=6)
#: Rules of computed traits only (a rare draw among every condition type above).
_TRAIT_RULES = st.recursive(_TRAIT_LEAVES, _groups, max_leaves=3)


@st.composite
def _datasets(draw: st.DrawFn) -> Dataset:
    count = draw(st.integers(1, 6))
    people = [
        Person(
            country=draw(st.sampled_from([None, "FR", "BE", "DE"])),
            birth_year=draw(st.sampled_from([None, 1980, 1990, 2000])),
            traits=draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "interests": st.lists(st.sampled_from(["sport", "music"]), max_size=2),
                        "score": st.one_of(st.integers(0, 3), st.sampled_from(["2", "high"])),
                    },
                )
            ),
            status=draw(st.sampled_from(["active", "active", "active", "erased"])),
        )
        for _ in range(count)
    ]
    person = st.integers(0, count - 1)
    moment = st.builds(lambda hours: NOW - timedelta(hours=hours), st.integers(0, 12 * 24))
    events = draw(
        st.lists(
            st.builds(
                Happened,
                person,
                st.sampled_from(_NAMES),
                moment,
                st.fixed_dictionaries(
                    {},
                    optional={"category": st.sampled_from(["a", "b"]), "price": st.integers(0, 4)},
                ),
            ),
            max_size=10,
        )
    )
    orders = draw(
        st.lists(
            st.builds(
                Bought,
                person,
                moment,
                st.integers(0, 4).map(Decimal),
                st.sampled_from([Decimal(0), Decimal(1)]),
                st.sampled_from(["shoes", "sport"]),
            ),
            max_size=5,
        )
    )
    consents = draw(
        st.lists(
            st.builds(
                Decided,
                person,
                st.just("newsletter"),
                st.sampled_from(["granted", "withdrawn"]),
                moment,
            ),
            max_size=4,
            unique_by=lambda c: c.at,
        )
    )
    scored = draw(st.lists(person, unique=True, max_size=count))
    scores = [
        Scored(i, "rfm_group", draw(st.sampled_from(["champions", "lost"])), None) for i in scored
    ]
    return Dataset(people, events, orders, consents, scores)


_HYPOTHESIS = settings(
    max_examples=25,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_HYPOTHESIS
@given(
    data=_datasets(), rule=_RULES, zone=st.sampled_from(["UTC", "Europe/Paris", "America/New_York"])
)
def test_compiled_members_match_plain_evaluation(
    db: Store, data: Dataset, rule: dict[str, Any], zone: str
) -> None:
    _agree(db, data, rule, zone)


@settings(_HYPOTHESIS, max_examples=15)
@given(data=_datasets(), rule=_TRAIT_RULES)
def test_computed_traits_match_plain_evaluation(
    db: Store, data: Dataset, rule: dict[str, Any]
) -> None:
    _agree(db, data, rule, "UTC")


def _agree(db: Store, data: Dataset, rule: dict[str, Any], zone: str) -> None:
    """The compiled query's members are the plain evaluation's, whole and narrowed."""
    node = r.parse_rules(rule)
    # Only the computed traits the rule tests are defined (each costs a recompute).
    used = json.dumps(rule)
    data = dataclasses.replace(data, traits=[t for t in _TRAITS if f'"{t["name"]}"' in used])
    with db.sessions() as session:
        write(session, data)
        ctx = context(session, zone=zone, now=NOW)
        expected = evaluate(data, node, ctx)
        assert set(session.scalars(members_query(node, ctx))) == expected
        # Narrowed to one customer, as explanations run it.
        first = data.people[0].id
        one = dataclasses.replace(ctx, only=first)
        narrowed = members_query(node, one).where(Customer.id == first)
        assert set(session.scalars(narrowed)) == expected & {first}
        # Every condition a lookup of the enclosing customer's rows, as estimates run it.
        correlated = members_query(node, dataclasses.replace(ctx, correlated=True))
        assert set(session.scalars(correlated)) == expected
        session.rollback()


def _tailed(tail: int) -> uuid.UUID:
    """An id ending in these 16 bits (the estimate's sample is drawn on them)."""
    return uuid.UUID(int=(uuid.uuid4().int >> 16 << 16) | tail)


def test_estimate_counts_a_sample_and_scales_it(db: Store) -> None:
    # 80 live profiles, of which the 20 whose ids end below 0x4000 are the sample for 20:
    # 6 of them (and no one outside) are French and added a product this week.
    recent = NOW - timedelta(days=1)
    inside = [Person(id=_tailed(0x100 * i), country="FR" if i < 6 else "DE") for i in range(20)]
    outside = [Person(id=_tailed(0x4000 + 0x200 * i), country="BE") for i in range(60)]
    erased = Person(id=_tailed(0x50), status="erased", country="FR")  # never counted
    people = [*inside, *outside, erased]
    events = [Happened(i, "Product Added", recent) for i in range(6)]
    events.append(Happened(len(people) - 1, "Product Added", recent))
    rule = r.parse_rules(
        {
            "all": [
                {"type": "attribute", "field": "country", "values": ["FR"]},
                {"type": "event", "event": {"name": "Product Added"}, "window": {"last_days": 7}},
            ]
        }
    )
    with db.sessions() as session:
        write(session, Dataset(people, events))
        ctx = context(session, zone="UTC", now=NOW)
        # Each of the 81 rows is in the sample for 20 with probability 16,182 / 65,536:
        # 6 members in it make about 24, its 20 live profiles about 81.
        found = estimate(session, rule, ctx, sample=20)
        assert (found.size, found.total, found.sample) == (24, 81, 20)
        assert [(s.alone, s.cumulative) for s in found.steps] == [(24, 24), (24, 24)]
        assert found.interval is not None
        low, high = found.interval
        assert 6 <= low < 24 < high <= 81
        # A sample of half the rows or more: the exact figures.
        assert estimate(session, rule, ctx, sample=41) == preview(session, rule, ctx)
        assert preview(session, rule, ctx).size == 6
        session.rollback()
    # Ids that are not random (none in the sample): the exact figures too.
    skewed = [Person(id=_tailed(0x8000 + i), country="FR") for i in range(80)]
    with db.sessions() as session:
        write(session, Dataset(skewed, [Happened(0, "Product Added", recent)]))
        ctx = context(session, zone="UTC", now=NOW)
        found = estimate(session, rule, ctx, sample=20)
        assert (found.size, found.total, found.sample) == (1, 80, None)
        session.rollback()


def test_dates_are_read_as_local_days() -> None:
    node = r.parse_rules(
        {"type": "profile_date", "field": "created_at", "window": {"since": "2026-01-02"}}
    )
    assert isinstance(node, r.ProfileDateCondition)
    assert node.window.since == date(2026, 1, 2)
