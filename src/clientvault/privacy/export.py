"""Access and portability exports (Art. 15 and 20 GDPR): everything held about a person.

``export_customer`` asks every registered personal-data holder for its rows about the person
(a profile and the profiles merged into it) and returns one JSON document with, per holder,
the categories, purposes, retention, sources and recipients it declares. Identifiers are
decrypted only through ``security.pii.reveal`` (the principal needs ``pii:reveal`` as well as
``privacy:manage``), and the document is validated against the versioned JSON Schema shipped
in ``clientvault/privacy/json_schemas/`` before it leaves. ``export_archive`` packs the same
document as a zip: the JSON, one CSV per holder, and the schema.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import uuid
import zipfile
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput
from clientvault.privacy.erasure import person_ids, require_privacy_principal
from clientvault.privacy.holders.registry import HolderContext, check_coverage, registered_holders
from clientvault.privacy.purposes import list_purposes
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.store.base import utcnow
from clientvault.store.context import Store

SCHEMA_FILE = "customer-export-v1.schema.json"
SCHEMA_VERSION = 1


@cache
def export_schema() -> dict[str, Any]:
    """The JSON Schema every export validates against (shipped with the package)."""
    text = resources.files("clientvault.privacy").joinpath("json_schemas", SCHEMA_FILE).read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def jsonable(value: Any) -> Any:
    """A stored value in JSON form: ids and times as strings, amounts as decimal strings."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def validate_export(document: dict[str, Any]) -> None:
    """Refuse a document that does not match the export schema (``InvalidInput``)."""
    import jsonschema  # type: ignore[import-untyped]

    validator = jsonschema.Draft202012Validator(
        export_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(part) for part in errors[0].path) or "document"
        raise InvalidInput(
            "the export does not match its schema", details={"field": where, "errors": len(errors)}
        )


def export_customer(
    session: Session,
    store: Store,
    *,
    customer_id: uuid.UUID,
    principal: Principal,
    reason: str,
) -> dict[str, Any]:
    """Everything every registered holder keeps about the person, as one validated document,
    audited (``privacy.export``) in the caller's transaction."""
    require_privacy_principal(principal, reason)
    check_coverage()
    ids = person_ids(session, customer_id)
    ctx = HolderContext(session=session, store=store, principal=principal, reason=reason)
    holders = [
        {**holder.describe(), "records": jsonable(holder.export(ctx, ids))}
        for holder in registered_holders()
    ]
    document: dict[str, Any] = {
        "format": "clientvault.customer-export",
        "schema_version": SCHEMA_VERSION,
        "generated_at": utcnow().isoformat(),
        "customer_id": str(customer_id),
        "customer_ids": [str(c) for c in ids],
        "purposes": [
            {
                "code": p.code,
                "title": p.title,
                "description": p.description,
                "legal_basis": p.legal_basis,
                "direct_marketing": p.direct_marketing,
            }
            for p in list_purposes(session)
        ],
        "holders": holders,
    }
    validate_export(document)
    audit.record(
        session,
        principal=principal,
        action="privacy.export",
        target_type="customer",
        target_ids=[str(c) for c in ids],
        reason=reason,
        details={"holders": len(holders)},
    )
    return document


def _csv(records: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for record in records:
        columns.extend(k for k in record if k not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow(
            {
                k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v
                for k, v in record.items()
            }
        )
    return out.getvalue()


def archive_of(document: dict[str, Any]) -> bytes:
    """A zip of an export: ``export.json``, one CSV per holder, and the JSON Schema."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export.json", json.dumps(document, ensure_ascii=False, indent=2))
        archive.writestr(SCHEMA_FILE, json.dumps(export_schema(), indent=2))
        for holder in document["holders"]:
            archive.writestr(f"{holder['name']}.csv", _csv(holder["records"]))
    return buffer.getvalue()


def export_archive(
    session: Session,
    store: Store,
    *,
    customer_id: uuid.UUID,
    principal: Principal,
    reason: str,
) -> bytes:
    """``export_customer`` packed as a zip (JSON + one CSV per holder + the schema)."""
    return archive_of(
        export_customer(session, store, customer_id=customer_id, principal=principal, reason=reason)
    )
