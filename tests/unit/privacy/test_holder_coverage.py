"""Every table that names customers has a personal-data holder; a new one without a holder
stops export and erasure instead of being silently left out."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, MetaData, Table, Uuid

from clientvault.migrations.schema import DATA_METADATA, load_holders
from clientvault.privacy.holders.registry import registered_holders, uncovered_tables


def test_every_table_naming_customers_has_a_holder() -> None:
    load_holders()
    assert uncovered_tables() == []
    declared = {table for holder in registered_holders() for table in holder.tables}
    assert {"customers", "customer_identities", "events", "orders", "consent_ledger"} <= declared


def test_a_new_table_without_a_holder_is_reported() -> None:
    load_holders()
    metadata = MetaData()
    for table in DATA_METADATA.sorted_tables:
        table.to_metadata(metadata)
    Table(
        "loyalty_cards",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("owner", Uuid, ForeignKey("customers.id")),
    )
    Table(
        "survey_answers",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("customer_id", Uuid),
    )
    assert uncovered_tables(metadata) == ["loyalty_cards", "survey_answers"]


def test_holders_erase_the_profile_last() -> None:
    holders = load_holders()
    assert holders[-1].name == "identity.customers"
    assert all(holder.describe()["purposes"] for holder in holders)
