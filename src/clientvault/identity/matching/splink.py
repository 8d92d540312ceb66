"""Training a Splink model and scoring the blocked pairs, in an in-memory DuckDB database.

Records arrive already decrypted and normalised (``matching.spec.matching_record``); they live
only in this process's memory: DuckDB runs ``:memory:`` with spilling to disk switched off, so no
decrypted value is ever written to a file. Splink, DuckDB and pandas are imported here only.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clientvault.errors import InvalidInput
from clientvault.identity.matching.spec import (
    BLOCKING_KEYS,
    COMPARISONS,
    MAX_BLOCK,
    Comparison,
    Level,
    blocking_keys,
    level_of,
)

#: DuckDB settings of the matching database: in memory, and never spilling to a temp file.
DUCKDB_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "temp_directory": "",
    "max_temp_directory_size": "0B",
}


@dataclass(frozen=True)
class DuckDBLimits:
    """How much of the machine the matching database may take: its buffer manager's memory
    cap (a query needing more fails, as it cannot spill) and its worker threads."""

    memory: str = "4GB"
    threads: int = 2


_TINY = 1e-300
#: m and u of a neutral level (``Level.neutral``): equal, so its weight is log2(1) = 0.
NEUTRAL_PROBABILITY = 0.5


@dataclass(frozen=True)
class ScoredPair:
    """Two records Splink compared, with the weight each comparison contributed."""

    left: str
    right: str
    match_weight: float
    match_probability: float
    explanation: list[dict[str, Any]]


@dataclass(frozen=True)
class Scoring:
    """A trained model (Splink settings with m/u) and the pairs it scored."""

    model: dict[str, Any]
    pairs: list[ScoredPair]
    pairs_compared: int
    em_sessions: int


def duckdb_connection(limits: DuckDBLimits | None = None) -> Any:
    """A new in-memory DuckDB connection that cannot write temp files, within ``limits``
    (defaults when None)."""
    import duckdb

    chosen = limits or DuckDBLimits()
    config = {**DUCKDB_CONFIG, "memory_limit": chosen.memory, "threads": chosen.threads}
    return duckdb.connect(":memory:", config=config)


def shares_sql(left: str, right: str) -> str:
    """DuckDB SQL of a ``shares`` level: the space-separated values of two SQL expressions
    have one in common (``matching.spec`` evaluates the same in Python)."""
    return f"list_has_any(string_split({left}, ' '), string_split({right}, ' '))"


def _level_creator(level: Level) -> Any:
    import splink.comparison_level_library as cll

    creator: Any
    if level.kind == "null":
        creator = cll.NullLevel(level.column)
    elif level.kind == "exact":
        creator = cll.ExactMatchLevel(level.column)
    elif level.kind == "swapped":
        creator = cll.CustomLevel(
            f'"{level.column}_l" = "{level.other}_r" OR "{level.other}_l" = "{level.column}_r"'
        )
    elif level.kind == "crossed":
        # Equality first: the similarity is computed only for the few pairs it lets through.
        column, other, threshold = level.column, level.other, level.threshold
        creator = cll.CustomLevel(
            f'("{column}_l" = "{other}_r" AND jaro_winkler_similarity("{other}_l", "{column}_r")'
            f' >= {threshold}) OR ("{other}_l" = "{column}_r" AND '
            f'jaro_winkler_similarity("{column}_l", "{other}_r") >= {threshold})'
        )
    elif level.kind == "shares":
        creator = cll.CustomLevel(shares_sql(f'"{level.column}_l"', f'"{level.column}_r"'))
    elif level.kind == "jaro_winkler":
        creator = cll.JaroWinklerLevel(level.column, level.threshold)
    elif level.kind == "levenshtein":
        creator = cll.LevenshteinLevel(level.column, int(level.threshold))
    elif level.kind == "damerau_levenshtein":
        # DuckDB's damerau_levenshtein costs six times levenshtein, which is at most twice
        # it: computed only where levenshtein lets it hold (a few pairs; same result).
        distance = int(level.threshold)
        creator = cll.CustomLevel(
            f'levenshtein("{level.column}_l", "{level.column}_r") <= {2 * distance} AND '
            f'damerau_levenshtein("{level.column}_l", "{level.column}_r") <= {distance}'
        )
    elif level.kind == "token_jaccard":
        # On the distinct words _frame stores: counting the shared ones with list_contains
        # takes a tenth of the time of list_intersect and of splitting in SQL, per pair.
        words_l, words_r = f'"{_words(level.column)}_l"', f'"{_words(level.column)}_r"'
        shared = f"len(list_filter({words_l}, lambda word: list_contains({words_r}, word)))"
        creator = cll.CustomLevel(
            f"{shared} / (len({words_l}) + len({words_r}) - {shared}) >= {level.threshold}"
        )
    else:
        creator = cll.ElseLevel()
    if level.neutral:
        creator = creator.configure(
            m_probability=NEUTRAL_PROBABILITY,
            u_probability=NEUTRAL_PROBABILITY,
            fix_m_probability=True,
            fix_u_probability=True,
        )
    return creator.configure(label_for_charts=level.label)


def _words(column: str) -> str:
    """The input column holding ``column``'s distinct words (a list), for ``token_jaccard``."""
    return f"{column}_words"


#: Columns compared word by word: each gets a list column of its distinct words in ``_frame``.
_WORDED = sorted(
    {level.column for c in COMPARISONS for level in c.levels if level.kind == "token_jaccard"}
)


def comparisons_with_data(
    records: Sequence[Mapping[str, str | None]], *, min_share: float = 0.01
) -> list[Comparison]:
    """The declared comparisons whose column is filled in at least ``min_share`` of records:
    a column nobody has (e-mail in a list of postal addresses) cannot be trained."""
    wanted = max(2, math.ceil(min_share * len(records)))
    return [
        comparison
        for comparison in COMPARISONS
        if sum(record.get(comparison.column) is not None for record in records) >= wanted
    ]


#: The blocking column (a list) of the values a record is in conflict over: any shared one
#: makes a pair, the values exploded by Splink, as a record may have several.
CONTESTED_BLOCK = "bk_contested"


def splink_settings(comparisons: Sequence[Comparison]) -> Any:
    """The Splink settings (untrained) built from ``matching.spec``: one custom comparison per
    given comparison, one blocking rule per declared blocking key (and one on the contested
    identifier values when they are compared)."""
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    rules: list[Any] = [block_on(f"bk_{kind}") for kind in BLOCKING_KEYS]
    if any(comparison.column == "contested" for comparison in comparisons):
        rules.append(block_on(CONTESTED_BLOCK, arrays_to_explode=[CONTESTED_BLOCK]))
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            cl.CustomComparison(
                comparison_levels=[_level_creator(level) for level in comparison.levels],
                output_column_name=comparison.name,
            )
            for comparison in comparisons
        ],
        blocking_rules_to_generate_predictions=rules,
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=False,
    )


def _frame(records: Sequence[Mapping[str, str | None]]) -> Any:
    """The records as Splink's input table, each identified by its position (integer ids keep
    the tables of blocked pairs, tens of millions of rows at 1M profiles, a fraction of the
    size that UUID strings would make them), with their blocking keys (those of blocks bigger
    than ``MAX_BLOCK`` left empty) and the word lists of ``token_jaccard`` levels."""
    import pandas as pd  # type: ignore[import-untyped]

    keys = [blocking_keys(record) for record in records]
    sizes = Counter((kind, value) for mine in keys for kind, value in mine.items())
    rows = []
    for record, mine in zip(records, keys, strict=True):
        words = {
            _words(column): sorted(set(value.split(" "))) if (value := record[column]) else None
            for column in _WORDED
        }
        kept = {
            f"bk_{kind}": value
            if (value := mine.get(kind)) and sizes[kind, value] <= MAX_BLOCK
            else None
            for kind in BLOCKING_KEYS
        }
        contested = record.get("contested")
        rows.append(
            {
                **record,
                **words,
                **kept,
                CONTESTED_BLOCK: contested.split() if contested else None,
            }
        )
    frame = pd.DataFrame.from_records(rows).astype(object).where(lambda f: f.notna(), None)
    frame.insert(0, "unique_id", range(len(rows)))
    return frame


def train_and_score(
    ids: Sequence[str],
    records: Sequence[Mapping[str, str | None]],
    *,
    min_probability: float,
    seed: int = 42,
    u_max_pairs: float = 5e6,
    duckdb: DuckDBLimits | None = None,
) -> Scoring:
    """Estimate the model on these records and score every blocked pair.

    λ (the prior) from deterministic rules, u by random sampling, m by expectation
    maximisation over two blocking rules (names; birth date), each leaving the other fields free
    to be estimated. Pairs scoring below ``min_probability`` are dropped. DuckDB runs within
    ``duckdb`` (memory cap, threads).

    The same records in the same order with the same ``seed`` give the same model, bit for bit:
    u sampling picks rows by a hash of their position and the seed (Splink) and counts them,
    and expectation maximisation runs on one DuckDB thread, as a parallel sum of floating-point
    numbers depends on how its rows were split between threads (a last-bit difference can end
    EM an iteration earlier or later, moving an m by up to its convergence tolerance, enough to
    move a pair across a threshold or break ties between pairs differently). The rest, counts
    and a row at a time, uses every thread.
    """
    if len(ids) < 2:
        raise InvalidInput("matching needs at least two active customers")
    from splink import DuckDBAPI

    # Splink's training notes (levels not observed, defaults used) are not the caller's concern.
    logging.getLogger("splink").setLevel(logging.ERROR)
    used = comparisons_with_data(records)
    connection = duckdb_connection(duckdb)
    try:
        api = DuckDBAPI(connection=connection)
        table = api.register(_frame(records), table_name="customers_to_match")
        threads = int((duckdb or DuckDBLimits()).threads)
        linker, sessions = _train(
            table,
            used,
            seed=seed,
            u_max_pairs=u_max_pairs,
            serial=lambda one: connection.execute(f"SET threads = {1 if one else threads}"),
        )
        _pin_effective_parameters(linker)
        model = linker.misc.save_model_to_json()
        scored = linker.inference.predict(threshold_match_probability=min_probability)
        frame = scored.as_pandas_dataframe()
        compared = _count_blocked(linker)
    finally:
        connection.close()
    pairs = [_scored_pair(row, ids, records, used) for row in frame.to_dict("records")]
    return Scoring(model=model, pairs=pairs, pairs_compared=compared, em_sessions=sessions)


#: Blocking rules of the EM sessions: each leaves the comparisons it does not use to estimate.
#: Each also stays selective as the base grows (its pairs grow with the square of a block): the
#: postcode session blocks on the birth year too (a city's postcode alone gave 10M pairs at
#: 100k profiles) and the birth date session on the first initial (20M pairs at 1M otherwise).
_EM_RULES = (
    ("first_name", "last_name"),
    ("birth_date", "substr(first_name, 1, 1)"),
    ("postcode", "substr(birth_date, 1, 4)"),
)


def _train(
    table: Any,
    comparisons: Sequence[Comparison],
    *,
    seed: int,
    u_max_pairs: float,
    serial: Callable[[bool], object],
) -> tuple[Any, int]:
    """A trained linker and how many EM sessions succeeded; ``serial(True)`` puts the database
    on one thread for EM, ``serial(False)`` back on all.

    On few profiles an EM session can drive an m probability to exactly 0, which Splink
    refuses half-way through the session (leaving the linker's settings unusable), or its rule
    can block no pair at all (profiles already deduplicated), or only matches (one new copy
    of a profile among deduplicated ones: the session's λ reaches 1, an infinite weight its
    SQL cannot hold): the EM sessions are then started again without that session's rule,
    from λ and u as estimated before them (random sampling, the long part, is not redone).
    """
    from splink import Linker, block_on
    from splink.internals.exceptions import (  # not re-exported publicly
        EMTrainingException,
        SplinkException,
    )

    linker = Linker(table, splink_settings(comparisons), log_level=None)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name", "last_name", "birth_date"), block_on("email")], recall=0.8
    )
    _floor_prior(linker, table)
    linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
    before_em = linker.misc.save_model_to_json()
    skipped: set[int] = set()
    while True:
        current = -1
        serial(True)  # EM's sums of floating-point numbers, in one order (train_and_score)
        try:
            for current, columns in enumerate(_EM_RULES):
                if current not in skipped:
                    linker.training.estimate_parameters_using_expectation_maximisation(
                        block_on(*columns)
                    )
        except (ValueError, EMTrainingException, SplinkException):
            skipped.add(current)
            linker = Linker(table, before_em, log_level=None)
            continue
        finally:
            serial(False)
        return linker, len(_EM_RULES) - len(skipped)


def _floor_prior(linker: Any, table: Any) -> None:
    """Keep λ above one match among all pairs: on profiles already deduplicated the
    deterministic rules find nothing, and a prior of 0 has no match weight (log2 of 0)."""
    model = linker._settings_obj.core_model_settings  # no public setter
    rows = linker.misc.query_sql(
        f"select count(*) as n from {table.physical_name}",  # noqa: S608 - Splink's own table
        output_type="pandas",
    )
    records = int(rows["n"].iloc[0])
    floor = 1 / max(records * (records - 1) / 2, 1)
    if not model.probability_two_random_records_match >= floor:
        model.probability_two_random_records_match = floor


def _pin_effective_parameters(linker: Any) -> None:
    """Write into the model the m and u Splink will actually use for every level.

    A level EM could not estimate (never observed among matches) is scored with Splink's
    defaults (or 1e-6 for "not observed"), which the saved settings would otherwise leave out;
    pinning them makes the stored model say exactly what was scored, so the incremental path
    reproduces it from the settings alone.
    """
    for comparison in linker._settings_obj.comparisons:  # no public accessor
        for level in comparison.comparison_levels:
            if not level.is_null_level:
                level.m_probability = max(level.m_probability, _TINY)
                level.u_probability = max(level.u_probability, _TINY)


def _count_blocked(linker: Any) -> int:
    """How many pairs the blocking rules produce (what was scored before the threshold)."""
    blocked = linker.inference.compute_blocked_pairs_for_predict()
    rows = linker.misc.query_sql(
        f"select count(*) as n from {blocked.physical_name}",  # noqa: S608 - Splink's own table
        output_type="pandas",
    )
    return int(rows["n"].iloc[0])


def _scored_pair(
    row: Mapping[str, Any],
    ids: Sequence[str],
    records: Sequence[Mapping[str, str | None]],
    comparisons: Sequence[Comparison],
) -> ScoredPair:
    """A predicted row (records by position) with its explanation: each comparison's level
    (evaluated by ``matching.spec.level_of``, the same levels Splink's SQL evaluated) and the
    weight Splink gave it (its ``mw_`` column, log2 of the level's Bayes factor)."""
    left, right = sorted((int(row["unique_id_l"]), int(row["unique_id_r"])), key=ids.__getitem__)
    explanation = [
        {
            "comparison": comparison.name,
            "level": comparison.levels[level_of(comparison, records[left], records[right])].label,
            "weight": round(float(row[f"mw_{comparison.name}"]), 4),
        }
        for comparison in comparisons
    ]
    return ScoredPair(
        left=ids[left],
        right=ids[right],
        match_weight=float(row["match_weight"]),
        match_probability=float(row["match_probability"]),
        explanation=explanation,
    )
