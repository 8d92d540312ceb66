"""Computed traits: each aggregate's value on a hand-made dataset, the condition in rules, the
consumer keeping them live (a replay changes nothing), the recompute letting windows expire."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from clientvault.errors import Conflict, InvalidInput
from clientvault.ingest.consumers import drain
from clientvault.ingest.models import Event
from clientvault.ingest.tracking import ingest
from clientvault.security.principal import Principal
from clientvault.segments import rules as r
from clientvault.segments.compiler import members_query
from clientvault.segments.membership import CONSUMER, ENTERED, EXITED
from clientvault.segments.models import CustomerTrait
from clientvault.segments.service import SegmentIn, context, save_segment
from clientvault.segments.traits import (
    CONSUMER as TRAITS,
)
from clientvault.segments.traits import (
    computed_traits_of,
    define_trait,
    delete_trait,
    handle,
    read_trait,
    recompute_all,
)
from clientvault.store.context import Store
from support.privacy_core import prepare
from support.segment_data import NOW, Dataset, Happened, Person, evaluate, write

MARKETER = Principal.user(
    uuid.uuid4(), role="marketer", permissions=frozenset({"customers:read", "segments:manage"})
)


def _viewed(category: Any, days: float, **more: Any) -> tuple[str, datetime, dict[str, Any]]:
    return ("Product Viewed", NOW - timedelta(days=days), {"category": category, **more})


def _trait(name: str, aggregate: str, prop: str | None = "category", **more: Any) -> dict[str, Any]:
    document = {"name": name, "event": {"name": "Product Viewed"}, "aggregate": aggregate}
    if prop is not None:
        document["property"] = prop
    return {**document, **more}


TRAITS_DEFINED = [
    _trait("views_90d", "count", None, window_days=90),
    _trait("spent", "sum", "price"),
    _trait("average_price", "average", "price"),
    _trait("cheapest", "min", "price"),
    _trait("dearest", "max", "price"),
    _trait("favourite_category_90d", "most_frequent", window_days=90),
    _trait("first_category", "first"),
    _trait("last_category", "last"),
    _trait("categories", "unique"),
]


def _each_aggregate_and_the_condition(db: Store) -> None:
    """Each aggregate's value, and the condition (rolled back: run by the consumer test, one
    installation for both)."""
    events = {
        0: [
            _viewed("shoes", 100, price=50),  # outside 90 days
            _viewed("bags", 10, price=20),
            _viewed("shoes", 5, price="cheap"),  # a string price: not a number
            _viewed("bags", 3, price=10.5),
            _viewed(7, 1),  # a number category: not a string
        ],
        1: [_viewed("hats", 2, price=0), _viewed("shoes", 2, price=3)],  # tie: alphabetical
        2: [("Other", NOW, {"category": "x", "price": 9})],
    }
    data = Dataset(
        people=[Person(), Person(), Person()],
        events=[Happened(i, *e) for i, rows in events.items() for e in rows],
        traits=TRAITS_DEFINED,
    )
    with db.sessions() as session:
        write(session, data)
        values = {
            i: {name: value for name, value, _ in computed_traits_of(session, p.id)}
            for i, p in enumerate(data.people)
        }
        assert values[0] == {
            "views_90d": 4,
            "spent": 80.5,
            "average_price": pytest.approx(80.5 / 3),
            "cheapest": 10.5,
            "dearest": 50.0,
            "favourite_category_90d": "bags",  # 2 bags, 1 shoes within 90 days
            "first_category": "shoes",
            "last_category": 7.0,
            "categories": ["bags", "shoes"],
        }
        assert values[1]["favourite_category_90d"] == "hats"
        assert values[1]["last_category"] == "shoes"  # same time: the event logged last
        assert values[2] == {"views_90d": 0, "spent": 0}  # nothing else is set
        ctx = context(session, zone="UTC", now=NOW)
        for rule, expected in [
            ({"name": "views_90d", "op": "eq", "value": 0}, {2}),
            ({"name": "spent", "op": "lt", "value": 5}, {1, 2}),
            ({"name": "favourite_category_90d", "op": "in", "value": ["bags", "x"]}, {0}),
            ({"name": "categories", "op": "contains", "value": "hats"}, {1}),
            ({"name": "cheapest", "op": "is_not_set"}, {2}),
            ({"name": "favourite_category_90d", "op": "ne", "value": "bags"}, {1, 2}),
            ({"name": "spent", "op": "ne", "value": 0}, {0, 1}),
            ({"name": "views_90d", "op": "is_set"}, {0, 1, 2}),
            ({"name": "dearest", "op": "gte", "value": 3}, {0, 1}),
        ]:
            node = r.parse_rules({"type": "computed_trait", **rule})
            found = set(session.scalars(members_query(node, ctx)))
            assert found == evaluate(data, node, ctx) == {data.people[i].id for i in expected}
        with pytest.raises(InvalidInput, match="no computed trait 'nope'"):
            members_query(
                r.parse_rules({"type": "computed_trait", "name": "nope", "op": "is_set"}), ctx
            )
        session.rollback()


def test_definitions_are_checked() -> None:
    with pytest.raises(InvalidInput, match=r"trait\.event\.name"):
        read_trait({"name": "x", "event": {}, "aggregate": "count"})
    with pytest.raises(InvalidInput, match="needs the event property"):
        read_trait(_trait("x", "sum", None))
    with pytest.raises(InvalidInput, match=r"trait\.name"):
        read_trait(_trait("x'; drop", "count", None))


def _track(store: Store, user: str, category: str, at: datetime) -> None:
    message = {
        "type": "track",
        "userId": user,
        "event": "Product Viewed",
        "messageId": f"m-{uuid.uuid4()}",
        "timestamp": at.isoformat(),
        "properties": {"category": category},
    }
    with store.sessions.begin() as session:
        ingest(session, store, source="test", messages=[message], default_region="FR")


def _stored(store: Store) -> list[tuple[Any, ...]]:
    with store.sessions() as session:
        rows = session.execute(
            select(CustomerTrait.customer_id, CustomerTrait.value, CustomerTrait.updated_at)
        )
        return sorted(tuple(row) for row in rows)


def _segment_on_trait(
    db: Store, trait: dict[str, Any], slug: str, *, op: str, value: object
) -> None:
    """Define ``trait`` and a segment testing it, and bring both consumers up to date."""
    with db.sessions.begin() as session:
        define_trait(session, read_trait(trait), principal=MARKETER)
        rule = {"type": "computed_trait", "name": trait["name"], "op": op, "value": value}
        segment = SegmentIn(slug=slug, name=slug.capitalize(), rules=rule)
        save_segment(session, segment, principal=MARKETER, zone="UTC")
    drain(db, TRAITS)
    drain(db, CONSUMER)


def test_consumer_keeps_traits_live_and_replays_change_nothing(db: Store) -> None:
    _each_aggregate_and_the_condition(db)
    prepare(db)
    now = datetime.now(UTC)
    _segment_on_trait(db, TRAITS_DEFINED[5], "shoe-lovers", op="eq", value="shoes")
    _track(db, "u-1", "shoes", now - timedelta(days=2))
    _track(db, "u-1", "bags", now - timedelta(days=1))
    _track(db, "u-1", "shoes", now - timedelta(hours=1))
    assert drain(db, TRAITS) > 0
    drain(db, CONSUMER)
    (entered,) = [e for e in _events(db) if e.name == ENTERED]
    customer = entered.customer_id
    assert customer is not None
    with db.sessions() as session:
        shown = [(n, v) for n, v, _ in computed_traits_of(session, customer)]
        assert shown == [("favourite_category_90d", "shoes")]
    before = _stored(db)
    # A replay of the whole log (a crash before the cursor moved) changes nothing.
    with db.sessions.begin() as session:
        handle(session, db, _events(db))
    assert recompute_all(db) == {"favourite_category_90d": 0}
    assert _stored(db) == before
    # A new favourite moves the customer out, through the consumers.
    _track(db, "u-1", "bags", now)
    _track(db, "u-1", "bags", now)
    drain(db, TRAITS)
    drain(db, CONSUMER)
    assert [e.customer_id for e in _events(db) if e.name == EXITED] == [customer]
    # Windows expire with the scheduled recompute: no value left after 91 days.
    assert recompute_all(db, now=now + timedelta(days=91)) == {"favourite_category_90d": 1}
    assert _stored(db) == []
    with db.sessions.begin() as session, pytest.raises(Conflict, match="shoe-lovers"):
        delete_trait(session, "favourite_category_90d")


def _events(store: Store) -> list[Event]:
    with store.sessions() as session:
        return list(session.scalars(select(Event).order_by(Event.id)))


def test_membership_never_handles_an_event_before_the_traits_consumer(db: Store) -> None:
    """The stop-28 and stop-29 CI failures: the worker runs the traits consumer, then
    membership, in each pass; an event committed between the two was seen by membership
    alone, which found no trait yet, left the customer out, and never looked again."""
    prepare(db)
    _segment_on_trait(db, TRAITS_DEFINED[0], "viewers", op="gte", value=1)
    # The traits consumer's pass is over when the event lands; membership's comes next.
    _track(db, "u-1", "shoes", datetime.now(UTC))
    assert drain(db, CONSUMER) == 0
    assert [e for e in _events(db) if e.name == ENTERED] == []
    drain(db, TRAITS)
    assert drain(db, CONSUMER) > 0
    (entered,) = [e for e in _events(db) if e.name == ENTERED]
    assert entered.properties["segment"] == "viewers"
