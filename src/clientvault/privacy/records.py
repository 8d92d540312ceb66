"""Records of processing activities (GDPR Art. 30), kept as data.

Each record says what is processed, why and on which basis, about whom, who receives it,
where it goes outside the EEA, how long it is kept and how it is protected. Installations
start with defaults describing clientvault's own processing (``ensure_default_records``,
run by ``migrate``); the DPO changes them through the API. The public privacy notice is
rendered from the same rows, so the notice can never say something the records do not.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput
from clientvault.privacy.holders.registry import registered_holders
from clientvault.privacy.requests.models import ProcessingRecord
from clientvault.security import audit
from clientvault.security.principal import Principal

_MEASURES = [
    "identifiers encrypted per customer (AES-256-GCM) with keys kept apart from the data",
    "keyed blind indexes for look-ups instead of clear identifiers",
    "role-based access, MFA for administrators and the DPO",
    "hash-chained audit log of every read of personal data",
    "alerts on unusual internal access",
    "encrypted, checksummed backups",
]
_CUSTOMERS = ["customers", "prospects", "website visitors"]

#: The records every installation starts with.
DEFAULT_RECORDS: tuple[dict[str, Any], ...] = (
    {
        "key": "customer_management",
        "name": "Customer management",
        "purpose": "Keeping one profile per customer to deliver orders, invoices and support.",
        "legal_basis": "contract",
        "data_categories": ["identity", "contact details", "orders", "support tickets"],
        "subject_categories": ["customers"],
        "recipients": ["support staff", "carriers (delivery address only)"],
        "transfers": [],
        "retention": "3 years after the last order or contact; invoices 10 years",
        "security_measures": _MEASURES,
    },
    {
        "key": "marketing",
        "name": "Direct marketing",
        "purpose": "Newsletters, offers and personalised messages to people who agreed to them.",
        "legal_basis": "consent",
        "data_categories": ["contact details", "consents", "purchase history", "web behaviour"],
        "subject_categories": _CUSTOMERS,
        "recipients": ["marketing staff", "e-mail delivery provider"],
        "transfers": [],
        "retention": "3 years after the last contact, or until consent is withdrawn",
        "security_measures": _MEASURES,
    },
    {
        "key": "analytics",
        "name": "Analytics and measurement",
        "purpose": "Measuring the website and sales in aggregate; studies under differential "
        "privacy.",
        "legal_basis": "legitimate_interest",
        "data_categories": ["pseudonymised behaviour", "coarse demographics"],
        "subject_categories": _CUSTOMERS,
        "recipients": ["analysts (pseudonymised data only)"],
        "transfers": [],
        "retention": "25 months for behavioural events",
        "security_measures": _MEASURES,
    },
    {
        "key": "privacy_requests",
        "name": "Privacy requests and consent proof",
        "purpose": "Answering data-subject requests and proving consents and their withdrawal.",
        "legal_basis": "legal_obligation",
        "data_categories": ["consent records", "request records", "audit log (ids only)"],
        "subject_categories": _CUSTOMERS,
        "recipients": ["data protection officer", "supervisory authority on request"],
        "transfers": [],
        "retention": "5 years after the request or the consent's withdrawal",
        "security_measures": _MEASURES,
    },
)
FIELDS = tuple(key for key in DEFAULT_RECORDS[0] if key != "key")


def ensure_default_records(session: Session) -> int:
    """Add the default records that are missing (idempotent); returns how many were added."""
    present = set(session.scalars(select(ProcessingRecord.key)))
    added = 0
    for record in DEFAULT_RECORDS:
        if record["key"] not in present:
            session.add(ProcessingRecord(**record))
            added += 1
    session.flush()
    return added


def list_records(session: Session) -> list[ProcessingRecord]:
    """Every record of processing, by name."""
    return list(session.scalars(select(ProcessingRecord).order_by(ProcessingRecord.name)))


def record_document(record: ProcessingRecord) -> dict[str, Any]:
    """One record as a JSON-ready document (the export's and the API's shape)."""
    return {
        "key": record.key,
        **{field: getattr(record, field) for field in FIELDS},
        "updated_at": record.updated_at.isoformat(),
    }


def export_records(session: Session, *, controller: str, dpo_contact: str) -> dict[str, Any]:
    """The whole register as one JSON document, as handed to a supervisory authority, with
    the personal-data holders each domain declared (which tables hold what, kept how long)."""
    return {
        "controller": controller,
        "dpo_contact": dpo_contact,
        "records": [record_document(record) for record in list_records(session)],
        "personal_data_holders": [holder.describe() for holder in registered_holders()],
    }


def upsert_record(
    session: Session, *, key: str, values: dict[str, Any], principal: Principal
) -> ProcessingRecord:
    """Create or replace the record ``key`` (``values`` validated by the caller's schema)."""
    missing = [field for field in FIELDS if field not in values]
    if missing:
        raise InvalidInput("missing fields", details={"fields": missing})
    record = session.scalar(select(ProcessingRecord).where(ProcessingRecord.key == key))
    if record is None:
        record = ProcessingRecord(key=key)
        session.add(record)
    for field in FIELDS:
        setattr(record, field, values[field])
    session.flush()
    audit.record(
        session,
        principal=principal,
        action="ropa.updated",
        target_type="processing_record",
        target_ids=[key],
    )
    return record
