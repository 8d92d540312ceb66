"""Match thresholds: taken from the identity settings, refused out of order."""

from __future__ import annotations

import pytest

from clientvault.errors import InvalidInput
from clientvault.identity.matching.store import Thresholds
from clientvault.settings import IdentitySettings


def test_thresholds_of_the_settings() -> None:
    settings = IdentitySettings(auto_merge_probability=0.999, review_probability=0.7)
    assert Thresholds.of(settings) == Thresholds(auto_merge=0.999, review=0.7)
    assert Thresholds.of(IdentitySettings()) == Thresholds(auto_merge=0.99, review=0.5)


@pytest.mark.parametrize(
    ("auto_merge", "review"), [(0.9, 0.9), (0.5, 0.9), (1.0, 0.5), (0.99, 0.0), (1.5, 0.5)]
)
def test_thresholds_out_of_order_are_refused(auto_merge: float, review: float) -> None:
    with pytest.raises(InvalidInput, match="thresholds must satisfy"):
        Thresholds(auto_merge=auto_merge, review=review)
