"""Probabilistic matching on the real database: the batch job and the incremental path."""

from __future__ import annotations

import copy
import os
import random
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from clientvault.identity.incremental import (
    OutdatedModel,
    candidates,
    match_incremental,
    parameters_from_settings,
)
from clientvault.identity.matching.models import MatchBlockingKey, MatchModel
from clientvault.identity.matching.resolve import resolve
from clientvault.identity.matching.spec import COMPARISONS
from clientvault.identity.matching.splink import train_and_score
from clientvault.identity.matching.store import (
    MATCHING_PRINCIPAL,
    PairScore,
    Thresholds,
    decide,
    load_profiles,
    ordered,
    replace_blocking_keys,
    save_model,
)
from clientvault.identity.merges import merge_customers
from clientvault.identity.models import Customer, CustomerIdentity, CustomerMerge, MatchCandidate
from clientvault.identity.profiles import create_customers
from clientvault.security import audit
from clientvault.security.models import AuditEntry
from clientvault.store.context import Store
from support.matching_people import Planted, duplicate, people, plant

COUNT, DUPLICATES, SEED = 1000, 100, 7


@pytest.fixture
def planted(db: Store) -> Planted:
    with db.sessions.begin() as session:
        return plant(session, db, count=COUNT, duplicates=DUPLICATES, seed=SEED)


def _root(customer: Customer) -> uuid.UUID:
    return customer.merged_into_id or customer.id


def _found_pairs(db: Store) -> tuple[set[frozenset[uuid.UUID]], set[frozenset[uuid.UUID]]]:
    """(pairs merged into one person, pairs pending review)."""
    with db.read_sessions() as session:
        customers = list(session.scalars(select(Customer)))
        pending = {
            frozenset((c.left_id, c.right_id))
            for c in session.scalars(
                select(MatchCandidate).where(MatchCandidate.status == "pending")
            )
        }
    groups: dict[uuid.UUID, list[uuid.UUID]] = {}
    for customer in customers:
        groups.setdefault(_root(customer), []).append(customer.id)
    merged = {
        frozenset((a, b)) for members in groups.values() for a in members for b in members if a < b
    }
    return merged, pending


def test_batch_merges_planted_duplicates_and_nothing_else(db: Store, planted: Planted) -> None:
    summary = resolve(db)

    merged, pending = _found_pairs(db)
    assert merged <= planted.pairs, "an automatic merge joined two different people"
    assert len(merged) + len(pending & planted.pairs) >= 0.95 * DUPLICATES
    assert summary.auto_merged == len(merged)
    assert summary.queued == len(pending)
    assert summary.customers == COUNT + DUPLICATES
    assert summary.pairs_compared >= summary.pairs_above_review >= summary.auto_merged
    with db.read_sessions() as session:
        model = session.scalars(select(MatchModel)).one()
        assert model.version == summary.model_version == 1
        stored = model.settings["comparisons"]
        assert {c["output_column_name"] for c in stored} >= {"first_name", "email", "phone"}
        keyed = session.scalar(select(func.count()).select_from(MatchBlockingKey))
        assert keyed is not None
        assert keyed >= (COUNT + DUPLICATES) * 4
        candidate = session.scalars(
            select(MatchCandidate).where(MatchCandidate.status == "auto_merged")
        ).first()
        assert candidate is not None
        assert candidate.model_version == "v1"
        comparisons = [part["comparison"] for part in candidate.explanation]
        assert {"last_name", "birth_date"} <= set(comparisons)
        assert abs(sum(p["weight"] for p in candidate.explanation) - candidate.match_weight) < 20
        reveals = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "pii.reveal", AuditEntry.actor_id == MATCHING_PRINCIPAL.id)
        )
        assert reveals == COUNT + DUPLICATES  # one audited reveal per profile


def test_incremental_scores_like_the_batch_model(db: Store, planted: Planted) -> None:
    """Python's comparison levels and weights reproduce Splink's for every scored pair."""
    with db.sessions.begin() as session:
        records = load_profiles(session, db).records
    ids = [str(customer_id) for customer_id in records]
    scoring = train_and_score(ids, list(records.values()), min_probability=0.0)
    parameters = parameters_from_settings(scoring.model)
    by_id = dict(zip(ids, records.values(), strict=True))
    assert len(scoring.pairs) == scoring.pairs_compared > DUPLICATES
    for pair in scoring.pairs:
        weight, probability, explanation = parameters.score(by_id[pair.left], by_id[pair.right])
        assert explanation == pair.explanation
        assert weight == pytest.approx(pair.match_weight, abs=1e-6)
        assert probability == pytest.approx(pair.match_probability, abs=1e-9)
        assert explanation == pair.explanation


def test_neutral_levels_weigh_nothing_and_the_others_are_estimated(
    db: Store, planted: Planted
) -> None:
    """A shared postcode counts once (the city's "same postcode" level is neutral) and a shared
    mailbox name counts for nothing; the levels around them are still trained."""
    with db.sessions.begin() as session:
        records = load_profiles(session, db).records
    scoring = train_and_score(
        [str(c) for c in records], list(records.values()), min_probability=0.5
    )
    weights = {
        comparison.name: dict(
            zip((level.label for level in comparison.levels), levels, strict=True)
        )
        for comparison, levels in parameters_from_settings(scoring.model).weights
    }
    neutral = {
        (comparison.name, level.label)
        for comparison in COMPARISONS
        for level in comparison.levels
        if level.neutral
    }
    assert neutral == {
        ("city", "same postcode"),
        ("email", "same mailbox name"),
        ("contested_identifier", "shares none"),
    }
    assert "contested_identifier" not in weights  # no identifier conflicts among these
    for name, label in neutral - {("contested_identifier", "shares none")}:
        assert weights[name][label] == 0.0
    assert weights["postcode"]["exact"] > 3
    assert weights["email"]["exact"] > 3
    assert weights["city"]["exact"] > 0


def test_candidates_sharing_most_keys_come_first(db: Store) -> None:
    with db.sessions.begin() as session:
        probe, *others = create_customers(
            session, db, profiles=people(4, seed=3), source="test", default_region="FR"
        )
        key = [("k", bytes([n]) * 32) for n in range(3)]
        replace_blocking_keys(
            session,
            {probe: key, others[0]: key[:1], others[1]: key, others[2]: key[1:]},
        )
        assert candidates(session, probe, key) == [others[1], others[2], others[0]]
        assert candidates(session, probe, key, limit=2) == [others[1], others[2]]
        assert candidates(session, probe, key[:1], limit=5) == sorted(others[:2])


def test_among_candidates_sharing_as_many_keys_those_of_the_rarer_blocks_come_first(
    db: Store,
) -> None:
    """Past the cap, one sharing a rare key is kept before strangers in a common block,
    whatever their ids (ties of equal blocks still go by id)."""
    with db.sessions.begin() as session:
        probe, *others = create_customers(
            session, db, profiles=people(5, seed=8), source="test", default_region="FR"
        )
        *common, rare = sorted(others)  # the rare one has the highest id: last by id alone
        big, small = ("k", b"\x01" * 32), ("j", b"\x02" * 32)
        replace_blocking_keys(
            session, {probe: [big, small], rare: [small], **{c: [big] for c in common}}
        )
        assert candidates(session, probe, [big, small]) == [rare, *common]
        assert candidates(session, probe, [big, small], limit=1) == [rare]


def test_blocks_bigger_than_the_cap_are_left_out(db: Store) -> None:
    with db.sessions.begin() as session:
        probe, *others = create_customers(
            session, db, profiles=people(5, seed=9), source="test", default_region="FR"
        )
        crowd, alone = others[:3], others[3]
        big, small = ("k", b"\x03" * 32), ("j", b"\x04" * 32)
        replace_blocking_keys(
            session, {probe: [big, small], alone: [small], **{c: [big] for c in crowd}}
        )
        # The big block holds four profiles, the probe among them.
        assert candidates(session, probe, [big, small], max_block=3) == [alone]
        assert set(candidates(session, probe, [big, small], max_block=4)) == {alone, *crowd}
        assert candidates(session, probe, [big], max_block=3) == []


def test_external_ids_are_read_only_when_asked(db: Store) -> None:
    """Candidates of a probe without an external id are read without theirs: its
    external-id comparison is "missing" (weight 0) whatever theirs are."""
    with db.sessions.begin() as session:
        with_id, without = create_customers(
            session, db, profiles=people(2, seed=10), source="test", default_region="FR"
        )
        session.add(CustomerIdentity(customer_id=with_id, kind="ext:crm", value_index=b"\x05" * 32))
        session.flush()
        full = load_profiles(session, db, customer_ids=[with_id, without])
        bare = load_profiles(session, db, customer_ids=[with_id, without], external_ids=False)
    assert full.records[with_id]["external_id"] == "ext:crm:" + "05" * 32
    assert bare.records[with_id]["external_id"] is None
    assert bare.records[without] == full.records[without]
    assert {k: v for k, v in bare.records[with_id].items() if k != "external_id"} == {
        k: v for k, v in full.records[with_id].items() if k != "external_id"
    }
    assert bare.created_at == full.created_at


def test_blocking_keys_are_rewritten_only_where_they_changed(db: Store) -> None:
    old = [("k", b"\x01" * 32), ("j", b"\x02" * 32)]
    new = [("k", b"\x01" * 32), ("j", b"\x03" * 32)]
    with db.sessions.begin() as session:
        same, changed, emptied = create_customers(
            session, db, profiles=people(3, seed=4), source="test", default_region="FR"
        )
        assert replace_blocking_keys(session, {same: old, changed: old, emptied: old}) == 6
        assert replace_blocking_keys(session, {same: old, changed: new, emptied: []}) == 2
        stored = {
            (customer, kind, bytes(key))
            for customer, kind, key in session.execute(
                select(MatchBlockingKey.customer_id, MatchBlockingKey.kind, MatchBlockingKey.key)
            )
        }
    assert stored == {(same, *pair) for pair in old} | {(changed, *pair) for pair in new}


def test_incremental_match_finds_a_new_duplicate(db: Store, planted: Planted) -> None:
    resolve(db)
    rng = random.Random(99)
    original = people(COUNT, seed=SEED)[5]
    with db.sessions.begin() as session:
        [new_id] = create_customers(
            session, db, profiles=[duplicate(rng, original, 1)], source="test", default_region="FR"
        )
        found = match_incremental(session, db, customer_id=new_id)
    assert found, "the original profile was not found"
    best = found[0]
    with db.read_sessions() as session:
        original_root = session.get(Customer, planted.ids[5])
        assert original_root is not None
        assert best.customer_id in {planted.ids[5], _root(original_root)}
        assert best.decision in {"auto_merged", "pending"}
        keys = session.scalar(
            select(func.count())
            .select_from(MatchBlockingKey)
            .where(MatchBlockingKey.customer_id == new_id)
        )
        assert keys is not None
        assert keys >= 4


def test_a_merging_incremental_match_audits_each_profile_it_opened_in_one_append(
    db: Store, planted: Planted
) -> None:
    """Every profile the match decrypted gets its own reveal entry, the merge its two, all
    in one append that keeps the chain valid; the candidate is stored decided by its merge."""
    resolve(db)
    original = people(COUNT, seed=SEED)[5]
    with db.sessions.begin() as session:
        [new_id] = create_customers(
            session,
            db,
            profiles=[duplicate(random.Random(3), original, 0)],
            source="test",
            default_region="FR",
        )
        before = session.scalar(select(func.max(AuditEntry.id))) or 0
    with db.sessions.begin() as session:
        found = match_incremental(session, db, customer_id=new_id)
    [merged] = [c for c in found if c.decision == "auto_merged"]
    with db.read_sessions() as session:
        entries = list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.id > before).order_by(AuditEntry.id)
            )
        )
        opened = {str(new_id), *(str(c.customer_id) for c in found)}
        reveals = [e.target_id for e in entries if e.action == "pii.reveal"]
        assert sorted(reveals) == sorted(opened)  # one entry per profile opened
        assert [e.action for e in entries] == ["pii.reveal"] * len(opened) + ["identity.merge"] * 2
        assert len({e.occurred_at for e in entries}) == 1
        assert audit.verify(session).ok
        merge = session.scalars(
            select(CustomerMerge).where(CustomerMerge.absorbed_id == new_id)
        ).one()
        assert merge.survivor_id == merged.customer_id
        candidate = session.get(MatchCandidate, merge.candidate_id)
        assert candidate is not None
        assert {candidate.left_id, candidate.right_id} == {new_id, merged.customer_id}
        assert candidate.status == "auto_merged"
        assert candidate.decided_at == merge.merged_at
        assert candidate.decided_by == MATCHING_PRINCIPAL.id


def test_decisions_follow_earlier_merges_and_those_of_the_same_run(db: Store) -> None:
    """A pair whose profiles are one person already (merged before) is skipped; a pair whose
    profile was merged earlier, before or in the same run, merges into that person's root."""
    with db.sessions.begin() as session:
        a, b, c, d = create_customers(
            session, db, profiles=people(4, seed=5), source="test", default_region="FR"
        )
        merge_customers(
            session, db, survivor_id=a, absorbed_id=b, principal=MATCHING_PRINCIPAL, reason="r"
        )
    created = {
        customer: datetime(2024, 1, 1 + n, tzinfo=UTC) for n, customer in enumerate((a, b, c, d))
    }
    pairs = [
        PairScore(*ordered(x, y), match_probability=p, match_weight=10.0, explanation=[])
        for x, y, p in ((a, b, 0.9999), (b, c, 0.9998), (c, d, 0.9997))
    ]
    with db.sessions.begin() as session:
        decisions = decide(
            session,
            db,
            pairs=pairs,
            created_at=created,
            thresholds=Thresholds(auto_merge=0.99, review=0.5),
            model_version="test",
        )
    assert decisions.already_one == 1
    assert len(decisions.auto_merged) == 2
    assert decisions.outcomes[ordered(a, b)] == "known"
    assert decisions.outcomes[ordered(b, c)] == decisions.outcomes[ordered(c, d)] == "auto_merged"
    with db.read_sessions() as session:
        pointers = dict(session.execute(select(Customer.id, Customer.merged_into_id)).all())
        merged = session.scalars(
            select(MatchCandidate.id).where(MatchCandidate.status == "auto_merged")
        ).all()
    assert pointers == {a: None, b: a, c: a, d: a}
    assert sorted(merged) == sorted(decisions.auto_merged)


def test_incremental_before_any_model_only_stores_keys(db: Store) -> None:
    with db.sessions.begin() as session:
        [customer_id] = create_customers(
            session, db, profiles=people(1, seed=1), source="test", default_region="FR"
        )
        assert match_incremental(session, db, customer_id=customer_id) == []
        assert session.scalar(select(func.count()).select_from(MatchBlockingKey))


def test_a_model_trained_with_other_levels_is_not_used_until_trained_again(
    db: Store, planted: Planted
) -> None:
    """After an upgrade changed a comparison's levels, the stored model's weights belong to
    other levels: incremental matching stores keys only, as before any training."""
    resolve(db)
    with db.sessions.begin() as session:
        model = session.scalars(select(MatchModel)).one()
        settings = copy.deepcopy(model.settings)
        settings["comparisons"][0]["comparison_levels"][2]["label_for_charts"] = "retired level"
        with pytest.raises(OutdatedModel):
            parameters_from_settings(settings)
        thresholds = Thresholds(auto_merge=0.99, review=0.5)
        save_model(session, settings=settings, thresholds=thresholds, customers=model.customers)
    original = people(COUNT, seed=SEED)[5]
    with db.sessions.begin() as session:
        [new_id] = create_customers(
            session, db, profiles=[original], source="test", default_region="FR"
        )
        assert match_incremental(session, db, customer_id=new_id) == []
    resolve(db)  # a new model of today's levels (the copy merged): a next copy is found
    with db.sessions.begin() as session:
        [again] = create_customers(
            session, db, profiles=[original], source="test", default_region="FR"
        )
        assert match_incremental(session, db, customer_id=again)


def test_rerun_keeps_decisions_and_adds_a_model_version(db: Store, planted: Planted) -> None:
    first = resolve(db)
    second = resolve(db)
    assert second.model_version == first.model_version + 1
    assert second.auto_merged == 0  # merged people are one profile now
    with db.read_sessions() as session:
        pairs = session.execute(select(MatchCandidate.left_id, MatchCandidate.right_id)).all()
    assert len(pairs) == len(set(pairs))


def test_nothing_decrypted_reaches_the_disk(
    db: Store, planted: Planted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clientvault.identity.matching.splink import DuckDBLimits, duckdb_connection

    connection = duckdb_connection(DuckDBLimits(memory="256MB", threads=1))
    settings = connection.execute(
        "select current_setting('temp_directory'), current_setting('max_temp_directory_size'),"
        " (select path from duckdb_databases() where database_name = current_database()),"
        " current_setting('memory_limit'), current_setting('threads')"
    ).fetchone()
    connection.close()
    # In memory, spilling impossible, and capped (256 MB = 244.1 MiB).
    assert settings == ("", "0 bytes", None, "244.1 MiB", 1)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    before = set(os.listdir(tmp_path))
    resolve(db)
    assert set(os.listdir(tmp_path)) == before
