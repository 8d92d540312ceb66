"""A long import prepares its chunks in a helper process (``ingest.import_preparing``) while
it stores the previous ones: the outcome is the very one of preparing them in-process."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from clientvault.identity.models import Customer, CustomerIdentity
from clientvault.identity.profiles import reveal_identifiers
from clientvault.ingest import import_preparing
from clientvault.ingest.bulk_import import ImportSummary, import_customers
from clientvault.ingest.models import Event
from clientvault.security.principal import Principal
from clientvault.store.context import Store

ROWS = "".join(
    f"u-{i},person{i}@example.com,P{i},06{i:08d},Paris,FR\n" if i != 7 else "u-7,bad,,,,FR\n"
    for i in range(20)
)
DATA = (
    "id,email,first_name,phone,city,country\n"
    + ROWS
    + "u-3,person3@example.com,P3,,Lyon,FR\n"
    + ",,Nobody,,Paris,FR\n"  # made into no message: refused by the helper, as here
)


def _import(db: Store) -> ImportSummary:
    return import_customers(
        db, stream=io.BytesIO(DATA.encode()), default_region="FR", source="crm", chunk_rows=3
    )


def _stored(db: Store) -> tuple[int, int, int]:
    with db.sessions() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Customer, CustomerIdentity, Event)
        )


def test_chunks_prepared_by_the_helper_store_as_those_prepared_here(
    db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_preparing, "HELPER_AFTER_ROWS", 3)
    used: list[bool] = []
    started = import_preparing.Preparer._started

    def watched(self: import_preparing.Preparer) -> object:
        used.append(True)
        return started(self)

    monkeypatch.setattr(import_preparing.Preparer, "_started", watched)
    summary = _import(db)
    assert used  # the helper process prepared chunks 2 to 7
    assert (summary.rows, summary.accepted, summary.rejected) == (22, 20, 2)
    assert summary.customers_created == 19  # u-3 twice: one customer, updated
    assert [(r.row, r.line) for r in summary.rejections] == [(8, 9), (22, 23)]
    assert summary.rejections[0].reason.startswith("traits.email: invalid e-mail address")
    assert summary.rejections[1].reason.startswith("no identifier: userId, email and phone")
    assert _stored(db) == (19, 19 * 3, 20)  # a user id, an e-mail and a phone each
    again = _import(db)
    assert (again.accepted, again.duplicates) == (0, 20)


# u-1 is named three times: twice in its first chunk (of two rows), then in a later one with
# no first name (the earlier one stays) and a last name nothing is left of once normalised.
NAMED = (
    "id,email,first_name,last_name,country\n"
    "u-1,one@example.com,Zoé,O'Brien,FR\n"
    "u-1,one@example.com,Zoe-Anne,O'Brien,FR\n"
    "u-2,two@example.com,Émile,Müller,FR\n"
    "u-3,bad,Bad,Row,FR\n"
    "u-1,one@example.com,,--,FR\n"
    "u-4,four@example.com,,,FR\n"
)


@pytest.mark.parametrize("helper_after", [0, 1000], ids=["helper", "in-process"])
def test_name_indexes_prepared_ahead_are_those_of_the_stored_names(
    db: Store, monkeypatch: pytest.MonkeyPatch, helper_after: int
) -> None:
    """The customer list's name indexes are computed with the rest of a row's preparing
    (in the helper process or not); a customer named again, in its chunk or a later one,
    ends with the indexes of the names it keeps, as when they were computed on storing."""
    monkeypatch.setattr(import_preparing, "HELPER_AFTER_ROWS", helper_after)
    summary = import_customers(
        db, stream=io.BytesIO(NAMED.encode()), default_region="FR", source="crm", chunk_rows=2
    )
    assert (summary.accepted, summary.rejected, summary.customers_created) == (5, 1, 3)
    expected = {
        # An update leaves a stored value where the new one has no index (``coalesce``).
        "u-1": (db.index("name:first_name", "zoe anne"), db.index("name:last_name", "o brien")),
        "u-2": (db.index("name:first_name", "emile"), db.index("name:last_name", "muller")),
        "u-4": (None, None),
    }
    with db.sessions() as session:
        found = {
            user: session.execute(
                select(Customer.first_name_index, Customer.last_name_index)
                .join(CustomerIdentity, CustomerIdentity.customer_id == Customer.id)
                .where(
                    CustomerIdentity.kind == "user_id",
                    CustomerIdentity.value_index == db.index("user_id", user),
                )
            ).one()
            for user in expected
        }
    assert {user: (first, last) for user, (first, last) in found.items()} == expected
    # The sealed fields open with the key the keystore holds for each, merged ones included.
    with db.sessions() as session:
        owners = {
            user: session.scalar(
                select(CustomerIdentity.customer_id).where(
                    CustomerIdentity.kind == "user_id",
                    CustomerIdentity.value_index == db.index("user_id", user),
                )
            )
            for user in expected
        }
        opened = reveal_identifiers(
            session,
            db,
            principal=Principal.system("test", "pii:reveal"),
            customer_ids=[c for c in owners.values() if c is not None],
            fields=("email", "first_name"),
            reason="test: imported rows open",
        )
    assert {user: (opened[c].email, opened[c].first_name) for user, c in owners.items()} == {
        "u-1": ("one@example.com", "Zoe-Anne"),
        "u-2": ("two@example.com", "Émile"),
        "u-4": ("four@example.com", None),
    }
