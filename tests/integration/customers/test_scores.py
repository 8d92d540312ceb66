"""Customer scores: full and incremental writes, kinds for pickers, export and erasure reach
them through their holder."""

from __future__ import annotations

import pytest

from clientvault.customers.scores import (
    Score,
    put_scores,
    remove_scores,
    replace_scores,
    score_kinds,
    scores_of,
)
from clientvault.errors import InvalidInput
from clientvault.privacy.erasure import erase_customer
from clientvault.privacy.export import export_customer
from clientvault.store.context import Store
from support.privacy_core import DPO, make_customers, person, prepare


def test_replace_put_and_remove(db: Store) -> None:
    prepare(db)
    a, b, c = make_customers(db, person(1), person(2), person(3))
    with db.sessions.begin() as session:
        assert (
            replace_scores(
                session,
                "rfm_group",
                [Score(a, label="champions"), Score(b, label="lost")],
                model_version="rfm-1",
            )
            == 2
        )
        put_scores(session, "churn_probability", [Score(a, value=0.2)], model_version="m1")
    with db.sessions.begin() as session:
        # A full recomputation drops customers absent from it.
        replace_scores(session, "rfm_group", [Score(c, label="at_risk")], model_version="rfm-2")
        # An incremental write overwrites one customer and keeps the others.
        put_scores(
            session,
            "churn_probability",
            [Score(a, value=0.7), Score(b, value=0.1)],
            model_version="m2",
        )
    with db.sessions() as session:
        assert [s.label for s in scores_of(session, c)] == ["at_risk"]
        assert scores_of(session, b)[0].value == pytest.approx(0.1)
        assert {(s.kind, s.value) for s in scores_of(session, a)} == {("churn_probability", 0.7)}
        kinds = {k.kind: k for k in score_kinds(session)}
        assert kinds["rfm_group"].customers == 1
        assert kinds["rfm_group"].labels == ("at_risk",)
        assert kinds["churn_probability"].customers == 2
    with db.sessions.begin() as session:
        assert remove_scores(session, [a], kind="churn_probability") == 1
    with db.sessions() as session:
        assert scores_of(session, a) == []


@pytest.mark.parametrize("kind", ["", "Churn", "a-b", "x" * 65, "drop table;"])
def test_bad_kinds_are_refused(db: Store, kind: str) -> None:
    prepare(db)
    [a] = make_customers(db, person(1))
    with db.sessions.begin() as session, pytest.raises(InvalidInput):
        put_scores(session, kind, [Score(a, value=1.0)], model_version="m")


def test_export_shows_and_erasure_deletes_scores(db: Store) -> None:
    prepare(db)
    [a] = make_customers(db, person(1))
    with db.sessions.begin() as session:
        put_scores(
            session, "persona", [Score(a, value=0.5, label="urban_sport")], model_version="k5"
        )
    with db.sessions() as session:
        document = export_customer(session, db, customer_id=a, principal=DPO, reason="test")
    [holder] = [h for h in document["holders"] if h["name"] == "customers.scores"]
    [row] = holder["records"]
    assert row["label"] == "urban_sport"
    with db.sessions.begin() as session:
        erase_customer(session, db, customer_id=a, principal=DPO, reason="test")
    with db.sessions() as session:
        assert scores_of(session, a) == []
