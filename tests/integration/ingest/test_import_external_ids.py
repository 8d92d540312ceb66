"""``externalId.<type>`` import targets: external identifiers kept only as blind indexes."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from clientvault.identity.models import CustomerIdentity
from clientvault.ingest.bulk_import import ImportOptionsError, import_customers
from clientvault.ingest.models import Event
from clientvault.store.context import Store

CSV = "rec,first,ssn\nr-1,Ana,4137877\nr-2,Bo,9911223\n"


def test_external_ids_are_keyed_and_never_stored_in_the_clear(db: Store) -> None:
    summary = import_customers(
        db,
        stream=io.BytesIO(CSV.encode()),
        default_region="FR",
        mapping={"anonymousId": "rec", "firstName": "first", "externalId.SSN": "ssn"},
    )
    assert summary.accepted == 2
    with db.read_sessions() as session:
        keyed = set(
            session.scalars(
                select(CustomerIdentity.value_index).where(CustomerIdentity.kind == "ext:ssn")
            )
        )
        contexts = list(session.scalars(select(Event.context)))
    assert keyed == {db.index("ext:ssn", "4137877"), db.index("ext:ssn", "9911223")}
    assert contexts == [{"externalIds": [{"type": "ssn"}]}] * 2
    assert "4137877" not in repr(contexts)


@pytest.mark.parametrize("target", ["externalId.", "externalId.a b", "externalId." + "x" * 28])
def test_bad_external_id_types_are_refused(db: Store, target: str) -> None:
    with pytest.raises(ImportOptionsError, match=r"externalId\.<type>"):
        import_customers(
            db,
            stream=io.BytesIO(CSV.encode()),
            default_region="FR",
            mapping={"anonymousId": "rec", target: "ssn"},
        )
