"""The batch job's results depend on the data and the seed only, and its summary adds up.

Two fresh installations (their own index keys, random customer ids, creation times) are given
the same people — some with two more records each, so that people of three records exist —
and resolved with the same seed: they must make the same merges, told apart by the records'
position in the data (ids differ between installations). Each summary must account for every
pair above the review threshold exactly once, the third pair of a three-record person as
"already one person".
"""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from clientvault.cli.app import app
from clientvault.identity.matching.resolve import ResolveSummary, resolve
from clientvault.identity.models import CustomerMerge, MatchCandidate
from clientvault.settings import Settings
from clientvault.store.context import open_store
from support.matching_people import plant

runner = CliRunner()
Outcome = tuple[ResolveSummary, list[tuple[int, int]], list[tuple[int, int, str]]]


def _install_and_resolve(path: Path) -> Outcome:
    """A new installation with the planted people, resolved with seed 7: the summary, the
    merges and the candidates, each profile named by its position in the data."""
    assert runner.invoke(app, ["init", "--data-dir", str(path)]).exit_code == 0
    store = open_store(Settings(env="test", data_dir=path))
    try:
        with store.sessions.begin() as session:
            planted = plant(session, store, count=400, duplicates=40, seed=11, copies=2)
        summary = resolve(store, seed=7)
        position: dict[uuid.UUID, int] = {c: n for n, c in enumerate(planted.ids)}
        with store.read_sessions() as session:
            merges = sorted(
                (position[survivor], position[absorbed])
                for survivor, absorbed in session.execute(
                    select(CustomerMerge.survivor_id, CustomerMerge.absorbed_id)
                )
            )
            candidates = sorted(
                (min(ends), max(ends), status)
                for left, right, status in session.execute(
                    select(MatchCandidate.left_id, MatchCandidate.right_id, MatchCandidate.status)
                )
                for ends in [(position[left], position[right])]
            )
    finally:
        store.close()
    return summary, merges, candidates


def _adds_up(summary: ResolveSummary) -> bool:
    decided = summary.auto_merged + summary.queued + summary.already_one
    return decided + summary.already_decided == summary.pairs_above_review


def test_two_installations_make_the_same_merges_and_their_summaries_add_up(
    tmp_path: Path,
) -> None:
    first, first_merges, first_candidates = _install_and_resolve(tmp_path / "one")
    second, second_merges, second_candidates = _install_and_resolve(tmp_path / "two")

    assert first_merges == second_merges
    assert first_candidates == second_candidates
    assert first.auto_merged == len(first_merges) > 0
    for summary in (first, second):
        assert _adds_up(summary), summary
        assert summary.pairs_above_review >= summary.pairs_above_auto_merge >= summary.auto_merged
    # 40 people of three records: their third pair is one person through the other two.
    assert first.already_one > 0
    assert (first.auto_merged, first.queued, first.already_one) == (
        second.auto_merged,
        second.queued,
        second.already_one,
    )
