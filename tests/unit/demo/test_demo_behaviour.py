"""A simulated customer's timeline: ordered, bounded by sign-up and now, consistent orders,
heavy-tailed activity, consent decisions in a valid order."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from statistics import median

import pytest

from clientvault.demo.behaviour import QUIET_BEFORE_NOW, Activity, simulate
from clientvault.demo.catalogue import build_catalogue
from clientvault.demo.consents import PURPOSES, consent_history, policies
from clientvault.demo.draw import Weighted

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


class _Ids:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def _next(self, kind: str) -> str:
        self.counts[kind] += 1
        return f"{kind}{self.counts[kind]}"

    def session(self) -> str:
        return self._next("s")

    def cart(self) -> str:
        return self._next("c")

    def order(self) -> str:
        return self._next("o")

    def ticket(self) -> str:
        return self._next("t")


@pytest.fixture(scope="module")
def lives() -> list[tuple[datetime, Activity]]:
    catalogue = build_catalogue()
    ids = _Ids()
    made = []
    for number in range(1500):
        rng = random.Random(number)
        signup = NOW - timedelta(days=rng.uniform(1, 700))
        activity = simulate(
            rng,
            catalogue=catalogue,
            ids=ids,
            signup_at=signup,
            now=NOW,
            web_locale="fr-FR",
            interests=["outdoor", "books"],
        )
        made.append((signup, activity))
    return made


def test_events_are_in_time_order_between_sign_up_and_now(
    lives: list[tuple[datetime, Activity]],
) -> None:
    for signup, activity in lives:
        times = [event[2] for event in activity.events]
        assert times == sorted(times)
        assert signup <= times[0]
        assert times[-1] < NOW
        assert activity.last_seen == times[-1]
        kinds = [event[0] for event in activity.events]
        assert kinds[0] == "page"
        assert "identify" in kinds
        if "track" in kinds:
            assert kinds.index("identify") < kinds.index("track")


def test_orders_add_up_and_refunds_point_at_their_event(
    lives: list[tuple[datetime, Activity]],
) -> None:
    orders = [order for _, activity in lives for order in activity.orders]
    assert len(orders) > 300
    for _, activity in lives:
        for order in activity.orders:
            assert order.total == sum((p.price * q for p, q in order.lines), Decimal("0"))
            returned = sum(
                (p.price * order.returned.get(p.sku, 0) for p, _ in order.lines), Decimal("0")
            )
            assert order.refunded_amount == returned
            if order.refund_event is None:
                assert order.status == "completed"
                continue
            _, name, at, _, properties, _ = activity.events[order.refund_event]
            assert name == "Order Refunded"
            assert properties["order_id"] == order.external_id
            assert at == order.refunded_at
            assert at > order.placed_at
            assert order.status in {"refunded", "partially_refunded"}
    assert any(order.refund_event is not None for order in orders)


def test_activity_is_heavy_tailed(lives: list[tuple[datetime, Activity]]) -> None:
    counts = [len(activity.events) for _, activity in lives]
    mean = sum(counts) / len(counts)
    assert 8 < mean < 30
    assert median(counts) < mean
    assert max(counts) > 8 * mean


def test_properties_and_context_carry_no_contact_data(
    lives: list[tuple[datetime, Activity]],
) -> None:
    for _, activity in lives[:300]:
        for _, _, _, _, properties, context in activity.events:
            assert "@" not in json.dumps([properties, context])


def test_consent_decisions_withdraw_only_what_was_granted() -> None:
    start = NOW - timedelta(days=730)
    versions = policies(start)
    horizon = NOW - QUIET_BEFORE_NOW
    seen: Counter[str] = Counter()
    for number in range(2000):
        rng = random.Random(number)
        signup = start + timedelta(days=rng.uniform(0, 700))
        decisions = consent_history(
            rng,
            signup_at=signup,
            horizon=horizon,
            has_email=number % 10 != 0,
            has_phone=number % 3 != 0,
            versions=versions,
        )
        assert [d[2] for d in decisions] == sorted(d[2] for d in decisions)
        granted: dict[str, datetime] = {}
        for purpose, decision, at, version, channel in decisions:
            assert signup < at < horizon
            assert version in {p.version for p in versions}
            assert channel
            seen[decision] += 1
            if decision == "granted":
                granted[purpose] = at
            else:
                assert at > granted[purpose]
        purposes = {d[0] for d in decisions}
        if number % 3 == 0:
            assert "marketing_sms" not in purposes
        if number % 10 == 0:
            assert "marketing_email" not in purposes
        assert purposes <= set(PURPOSES)
    assert seen["withdrawn"] > 0.05 * seen["granted"]


def test_weighted_draws_follow_their_weights_and_stay_in_range() -> None:
    draw = Weighted(("a", "b", "c"), (1, 2, 7))
    rng = random.Random(2)
    counts = Counter(draw.pick(rng) for _ in range(20_000))
    assert abs(counts["c"] / 20_000 - 0.7) < 0.02
    assert abs(counts["a"] / 20_000 - 0.1) < 0.02

    class Edge(random.Random):
        def random(self) -> float:
            return 1 - 2**-53

    assert draw.pick(Edge()) == "c"
    with pytest.raises(ValueError, match="one weight per value"):
        Weighted(("a",), (1, 2))
