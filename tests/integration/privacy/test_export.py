"""Access exports: every registered holder is in the document, which validates against the
shipped JSON Schema; the zip has the JSON, one CSV per holder and the schema."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from typing import Any

import jsonschema
import pytest

from clientvault.automation.worker import run_until_idle
from clientvault.domains import CONSUMERS
from clientvault.errors import InvalidInput, PermissionDenied
from clientvault.identity.profiles import find_by_email
from clientvault.ingest.tracking import ingest
from clientvault.privacy import consent
from clientvault.privacy.export import (
    archive_of,
    export_customer,
    export_schema,
    validate_export,
)
from clientvault.privacy.holders.registry import registered_holders
from clientvault.security.principal import Principal
from clientvault.store.context import Store
from support.privacy_core import DPO, decide, make_customers, merge_into, person, prepare


def _tracked_customer(store: Store) -> uuid.UUID:
    calls: list[dict[str, Any]] = [
        {"type": "page", "anonymousId": "anon-ex-1", "name": "Home", "messageId": "e0"},
        {
            "type": "identify",
            "userId": "ex-1",
            "anonymousId": "anon-ex-1",
            "traits": {"email": "export.me@example.com", "firstName": "Exa", "plan": "gold"},
            "messageId": "e1",
        },
        {
            "type": "track",
            "userId": "ex-1",
            "event": "Order Completed",
            "properties": {
                "order_id": "ex-order-1",
                "total": 10,
                "products": [{"sku": "s1", "name": "Pen", "price": 10, "quantity": 1}],
            },
            "messageId": "e2",
        },
    ]
    with store.sessions.begin() as session:
        result = ingest(session, store, source="test", messages=calls, default_region="FR")
    assert result.accepted == 3
    run_until_idle(store, CONSUMERS)
    with store.sessions() as session:
        [customer_id] = find_by_email(session, store, email="export.me@example.com")
    return customer_id


def _export(store: Store, customer_id: uuid.UUID, principal: Principal = DPO) -> dict[str, Any]:
    with store.sessions.begin() as session:
        return export_customer(
            session, store, customer_id=customer_id, principal=principal, reason="access request"
        )


def test_the_export_holds_every_holder_and_validates(db: Store) -> None:
    prepare(db)
    customer_id = _tracked_customer(db)
    decide(db, customer_id, "marketing_email", "granted")
    with db.sessions.begin() as session:
        consent.record_objection(session, customer_id=customer_id, channel="support")
    [absorbed] = make_customers(db, person(9))
    merge_into(db, absorbed, customer_id)

    document = _export(db, customer_id)
    jsonschema.Draft202012Validator(export_schema()).validate(document)
    assert document["customer_ids"] == [str(customer_id), str(absorbed)]
    sections = {holder["name"]: holder for holder in document["holders"]}
    assert set(sections) == {holder.name for holder in registered_holders()}
    for name in (
        "identity.customers",
        "identity.identifiers",
        "privacy.consents",
        "privacy.processing_limits",
        "ingest.events",
        "ingest.orders",
    ):
        assert sections[name]["records"], name
        assert sections[name]["purposes"]
        assert sections[name]["retention"]
    emails = sorted(r["email"] for r in sections["identity.customers"]["records"])
    assert emails == ["export.me@example.com", "person.9@example.com"]
    assert len(sections["ingest.events"]["records"]) == 3  # the anonymous page view too
    assert sections["ingest.orders"]["records"][0]["items"][0]["quantity"] == 1
    assert "value_index" not in sections["identity.identifiers"]["records"][0]
    codes = {p["code"]: p["legal_basis"] for p in document["purposes"]}
    assert codes["marketing_email"] == "consent"

    archive = zipfile.ZipFile(io.BytesIO(archive_of(document)))
    names = set(archive.namelist())
    assert {"export.json", "customer-export-v1.schema.json"} <= names
    assert {f"{name}.csv" for name in sections} <= names
    assert json.loads(archive.read("export.json")) == document
    assert b"export.me@example.com" in archive.read("identity.customers.csv")


def test_a_broken_document_is_refused(db: Store) -> None:
    prepare(db)
    customer_id = _tracked_customer(db)
    document = _export(db, customer_id)
    document["holders"][0].pop("retention")
    with pytest.raises(InvalidInput):
        validate_export(document)


def test_export_needs_privacy_manage_and_pii_reveal(db: Store) -> None:
    prepare(db)
    [customer_id] = make_customers(db, person(1))
    marketer = Principal.system("m", "customers:read", "segments:manage")
    no_reveal = Principal.system("p", "privacy:manage")
    with pytest.raises(PermissionDenied):
        _export(db, customer_id, marketer)
    with pytest.raises(PermissionDenied):
        _export(db, customer_id, no_reveal)
