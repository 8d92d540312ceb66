"""When a bulk load refreshes the planner's statistics of the tables it grows."""

from __future__ import annotations

from clientvault.store.statistics import FIRST_REFRESH_ROWS, GrowthAnalyzer


class _Load:
    """A load of committed chunks into tables holding ``held`` rows before it, noting how
    many rows it had written at each refresh (which reports the tables' new size, or 0 when
    ``sized`` is False, as on SQLite)."""

    def __init__(self, held: int = 0, *, sized: bool = True) -> None:
        self.held = held
        self.written = 0
        self.refreshed_at: list[int] = []

        def refresh() -> int:
            self.refreshed_at.append(self.written)
            return self.held + self.written if sized else 0

        self.analyzer = GrowthAnalyzer(refresh, held=held)

    def commit(self, rows: int) -> None:
        self.written += rows
        self.analyzer.wrote(rows)


def test_refreshes_each_time_the_tables_have_doubled_then_at_the_end() -> None:
    load = _Load()
    for _ in range(20):
        load.commit(1000)
    assert load.refreshed_at == [2000, 4000, 8000, 16000]
    load.analyzer.finish()
    assert load.refreshed_at == [2000, 4000, 8000, 16000, 20000]


def test_tables_already_large_are_refreshed_once_the_load_matches_them() -> None:
    load = _Load(held=900_000)
    for _ in range(100):
        load.commit(10_000)
    assert load.refreshed_at == [900_000]


def test_without_known_sizes_the_load_doubling_itself_counts() -> None:
    load = _Load(sized=False)
    for _ in range(20):
        load.commit(1000)
    assert load.refreshed_at == [2000, 4000, 8000, 16000]


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
