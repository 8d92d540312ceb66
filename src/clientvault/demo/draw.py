"""Weighted random choices, prepared once and drawn in constant overhead.

``random.choices`` rebuilds its cumulative weights on every call; the generator draws
millions of weighted choices, so each distribution is prepared once here.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Sequence
from itertools import accumulate
from typing import Generic, TypeVar

T = TypeVar("T")


class Weighted(Generic[T]):
    """A fixed set of values with relative weights."""

    __slots__ = ("_cumulative", "_last", "_total", "values")

    def __init__(self, values: Sequence[T], weights: Sequence[float]) -> None:
        if len(values) != len(weights) or not values:
            raise ValueError("one weight per value, and at least one value")
        self.values: tuple[T, ...] = tuple(values)
        self._cumulative = tuple(accumulate(weights))
        self._total = self._cumulative[-1]
        self._last = len(self.values) - 1

    def pick(self, rng: random.Random) -> T:
        """One value, drawn with probability proportional to its weight."""
        return self.values[bisect(self._cumulative, rng.random() * self._total, 0, self._last)]
