"""RFM groups and personas written as customer scores, usable in rules."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select

from clientvault.customers.scores import CustomerScore
from clientvault.segments import rules as r
from clientvault.segments.compiler import Context, members_query
from clientvault.segments.personas import compute_personas, describe
from clientvault.segments.rfm import compute_rfm, group_of, quintiles
from clientvault.store.context import Store
from support.segment_data import NOW, Bought, Dataset, Person, write


def test_quintiles_and_groups() -> None:
    assert list(quintiles(np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]))) == [
        1,
        1,
        2,
        2,
        3,
        3,
        4,
        4,
        5,
        5,
    ]
    assert set(quintiles(np.array([3, 3, 3]))) == {3}
    assert group_of(5, 5) == "champions"
    assert group_of(1, 5) == "cant_lose"
    assert group_of(1, 1) == "lost"
    assert group_of(2, 4) == "at_risk"
    assert group_of(5, 1) == "new_customers"


def test_rfm_and_personas_are_scores_rules_can_use(db: Store) -> None:
    rng = random.Random(3)
    people = []
    orders = []
    for n in range(60):
        young = n % 2 == 0
        people.append(
            Person(
                birth_year=2002 if young else 1960,
                traits={
                    "interests": ["sport"] if young else ["cooking"],
                    "price_sensitivity": "high" if young else "low",
                },
            )
        )
        for _ in range(1 + (n % 5)):
            orders.append(
                Bought(n, NOW - timedelta(days=rng.randint(1, 300)), Decimal(20 if young else 200))
            )
    data = Dataset(people=people, orders=orders)
    with db.sessions.begin() as session:
        write(session, data)
    assert compute_rfm(db, zone=ZoneInfo("UTC"), now=NOW) == 60
    found = compute_personas(db, now=NOW)
    assert found.k >= 2
    assert found.customers == 60
    with db.sessions() as session:
        kinds = dict(session.execute(select(CustomerScore.kind, CustomerScore.model_version)).all())
        assert kinds["rfm_group"] == "rfm-quintiles-2026-06-15"
        assert kinds["persona"].startswith(f"kmeans-k{found.k}-")
        # The most frequent buyers (5 orders) with a recent order are champions or loyal.
        ctx = Context(dialect=session.get_bind().dialect.name, now=NOW)
        best = set(
            session.scalars(
                members_query(
                    r.parse_rules(
                        {"type": "score", "kind": "rfm_group", "labels": ["champions", "loyal"]}
                    ),
                    ctx,
                )
            )
        )
        assert best
        assert all(people[i].id not in best for i in range(0, 60, 5))  # one order only
        labels = set(found.labels.values())
        young_label = next(label for label in labels if "young" in label)
        young = set(
            session.scalars(
                members_query(
                    r.parse_rules({"type": "score", "kind": "persona", "labels": [young_label]}),
                    ctx,
                )
            )
        )
        assert young == {p.id for p in people if p.birth_year == 2002}


def test_persona_description_names_what_sets_it_apart() -> None:
    names = ["age", "orders", "spent", "basket", "days_since_order", "activity", "sport", "cooking"]
    centre = np.array([-1.2, 0.1, 0.0, 0.9, 0.0, 0.0, 1.5, -1.5])
    assert describe(names, centre) == "sport, young, high basket"
