"""The A/B and holdout split: stable for a customer, fair over many."""

from __future__ import annotations

import uuid
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import chisquare

from clientvault.automation.journeys.definition import bucket


@given(st.text(), st.uuids())
def test_a_customer_always_lands_in_the_same_bucket(campaign: str, customer: uuid.UUID) -> None:
    first = bucket("campaign", campaign, str(customer))
    assert 0 <= first < 100
    assert bucket("campaign", campaign, str(customer)) == first


def test_buckets_are_uniform_over_many_customers() -> None:
    campaign = str(uuid.UUID(int=7))
    draws = Counter(
        bucket("campaign", campaign, str(uuid.UUID(int=n * 7919 + 1))) // 10 for n in range(20_000)
    )
    assert sorted(draws) == list(range(10))
    # Ten deciles of 2,000 expected each; a fixed set of ids keeps the test deterministic.
    assert chisquare(list(draws.values())).pvalue > 0.001


def test_the_split_depends_on_the_campaign() -> None:
    customers = [str(uuid.UUID(int=n)) for n in range(200)]
    first = [bucket("campaign", "one", c) < 50 for c in customers]
    second = [bucket("campaign", "two", c) < 50 for c in customers]
    assert first != second
