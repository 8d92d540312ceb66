"""When a bulk load refreshes the planner's statistics of the tables it grows."""

from __future__ import annotations

from clientvault.store.statistics import FIRST_REFRESH_ROWS, GrowthAnalyzer


class _Load:
    """A load of committed chunks, noting how many rows were written at each refresh."""

    def __init__(self) -> None:
        self.written = 0
        self.refreshed_at: list[int] = []
        self.analyzer = GrowthAnalyzer(lambda: self.refreshed_at.append(self.written))

    def commit(self, rows: int) -> None:
        self.written += rows
        self.analyzer.wrote(rows)


def test_refreshes_each_time_the_load_has_doubled_then_at_the_end() -> None:
    load = _Load()
    for _ in range(20):
        load.commit(1000)
    assert load.refreshed_at == [2000, 4000, 8000, 16000]
    load.analyzer.finish()
    assert load.refreshed_at == [2000, 4000, 8000, 16000, 20000]


def test_a_small_load_refreshes_once_at_its_end_and_an_empty_one_never() -> None:
    small = _Load()
    small.commit(FIRST_REFRESH_ROWS - 1)
    small.commit(0)
    assert small.refreshed_at == []
    small.analyzer.finish()
    assert small.refreshed_at == [FIRST_REFRESH_ROWS - 1]

    empty = _Load()
    empty.commit(0)
    empty.analyzer.finish()
    assert empty.refreshed_at == []


def test_the_end_adds_no_refresh_right_after_one() -> None:
    load = _Load()
    load.commit(FIRST_REFRESH_ROWS)
    load.analyzer.finish()
    assert load.refreshed_at == [FIRST_REFRESH_ROWS]
