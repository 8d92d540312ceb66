"""The identity graph's settings apply to bulk imports as to the tracking API."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from clientvault.identity.models import Customer, CustomerIdentity
from clientvault.ingest.bulk_import import import_customers
from clientvault.settings import IdentitySettings
from clientvault.store.context import Store

CSV = "email,first_name\nshared@example.com,Ana\nshared@example.com,Bo\nown@example.com,Chen\n"


def _import(db: Store, identity: IdentitySettings | None) -> None:
    summary = import_customers(
        db, stream=io.BytesIO(CSV.encode()), default_region="FR", identity=identity
    )
    assert summary.accepted == 3


def test_a_configured_blocked_value_never_links_an_imported_row(db: Store) -> None:
    _import(db, IdentitySettings(blocked_values=["shared@example.com"]))
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 3
        blocked = session.scalar(
            select(func.count())
            .select_from(CustomerIdentity)
            .where(CustomerIdentity.value_index == db.index("email", "shared@example.com"))
        )
    assert blocked == 0


def test_without_the_block_the_rows_are_stitched(db: Store) -> None:
    _import(db, None)
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 2
