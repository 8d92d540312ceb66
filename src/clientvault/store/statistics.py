"""Planner statistics for tables a bulk load grows.

PostgreSQL plans every look-up from statistics that ``ANALYZE`` gathers; autovacuum gathers
them in the background once a table has changed enough, but it may be off (it is on some
managed and test servers), and it runs late in any case. Without statistics the planner
takes a look-up by a list of values (``rows_in``: an identity, a message id) to match a
large share of the table, and reads every row of that kind instead of descending the index
for each value: measured during a 1M-row import, a 1,000-value identity look-up read all
343,000 e-mail links (150 ms) where the index needs about 3,000 buffers. PostgreSQL's
manual says the same of bulk loads ("Populating a Database": run ``ANALYZE`` afterwards).

So a bulk load refreshes the statistics of the tables it grows itself (``GrowthAnalyzer``):
each time it has doubled what they held at the previous refresh, and once at its end. An
``ANALYZE`` reads a bounded sample (300 rows per unit of the statistics target), so the
doublings cost a logarithmic number of bounded reads. SQLite's planner needs no statistics
for these look-ups (it takes an equality on an indexed column as selective), so nothing is
done there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Engine, Table, text

#: Rows written before the first refresh: smaller tables are read whole whatever the plan.
FIRST_REFRESH_ROWS = 2_000


def refresh_statistics(engine: Engine, tables: Sequence[Table]) -> int:
    """Gather fresh planner statistics for ``tables`` (PostgreSQL's ``ANALYZE``, in its own
    transaction; nothing on SQLite) and return the rows the first one holds, as estimated
    (0 on SQLite)."""
    if engine.dialect.name != "postgresql" or not tables:
        return 0
    preparer = engine.dialect.identifier_preparer
    names = ", ".join(preparer.format_table(table) for table in tables)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"ANALYZE {names}")
    return estimated_rows(engine, tables[0])


def estimated_rows(engine: Engine, table: Table) -> int:
    """The rows a table holds as the planner last estimated them (PostgreSQL's
    ``reltuples``; 0 when never estimated, and on SQLite)."""
    if engine.dialect.name != "postgresql":
        return 0
    with engine.connect() as connection:
        rows = connection.scalar(
            text("SELECT reltuples FROM pg_class WHERE oid = CAST(:name AS regclass)"),
            {"name": engine.dialect.identifier_preparer.format_table(table)},
        )
    return max(int(rows or 0), 0)


class GrowthAnalyzer:
    """Calls ``refresh`` (e.g. ``refresh_statistics`` of the tables a bulk load grows, which
    returns the rows they then hold) each time the load has doubled what the tables held at
    the previous refresh (``held``: before the load): call ``wrote`` after each committed
    chunk, ``finish`` at the end."""

    def __init__(self, refresh: Callable[[], int], *, held: int = 0) -> None:
        self._refresh_now = refresh
        self._since = 0
        self._written = 0
        self._due = max(FIRST_REFRESH_ROWS, held)

    def wrote(self, rows: int) -> None:
        """Count rows committed; refresh once they are as many as the tables held before."""
        self._since += rows
        self._written += rows
        if self._since >= self._due:
            self._refresh()

    def finish(self) -> None:
        """Refresh what the load wrote since the last refresh, for the queries that follow."""
        if self._since:
            self._refresh()

    def _refresh(self) -> None:
        # Where the tables' size is not known (0), the load's own rows stand for it.
        held = self._refresh_now()
        self._due = max(FIRST_REFRESH_ROWS, held, self._written)
        self._since = 0


#: A table whose changed rows since its last analysis exceed this share of its rows, plus
#: ``STALE_FLOOR``, is analysed again: autovacuum's own defaults
#: (``autovacuum_analyze_scale_factor`` and ``autovacuum_analyze_threshold``).
STALE_SHARE = 0.1
STALE_FLOOR = 50


def refresh_stale_statistics(engine: Engine) -> list[str]:
    """``ANALYZE`` each table of the database changed by more than ``STALE_SHARE`` of its
    rows since it was last analysed — what autovacuum does when it is on, for a server where
    it is off or behind (see the module's docstring) — and return their names. Nothing on
    SQLite, whose planner these look-ups do not need statistics for."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as connection:
        stale = connection.execute(
            text(
                "SELECT schemaname, relname FROM pg_stat_user_tables"
                " WHERE n_mod_since_analyze > :floor + :share * GREATEST(n_live_tup, 0)"
                " ORDER BY relname"
            ),
            {"floor": STALE_FLOOR, "share": STALE_SHARE},
        ).all()
    quote = engine.dialect.identifier_preparer.quote
    for schema, table in stale:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"ANALYZE {quote(schema)}.{quote(table)}")
    return [table for _, table in stale]
