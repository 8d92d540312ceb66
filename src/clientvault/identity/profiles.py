"""Creating and reading customer profiles: identifiers are normalised, sealed with the
customer's data key and blind-indexed; coarse attributes are derived for segmentation."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.orm import Session

from clientvault.errors import Erased, NotFound
from clientvault.identity.age_bands import age_band
from clientvault.identity.graph import holds_current
from clientvault.identity.models import SEALED_FIELDS, Customer, CustomerIdentity
from clientvault.identity.normalise import (
    email_hint,
    normalise_country,
    normalise_email,
    normalise_name,
    normalise_phone,
)
from clientvault.identity.schemas import CustomerCreate, CustomerIdentifiers, CustomerRead
from clientvault.security import audit
from clientvault.security.pii import reveal
from clientvault.security.principal import Principal
from clientvault.store.base import new_id, table_of, utcnow
from clientvault.store.context import Store
from clientvault.store.driver_sql import DialectRef, TableCodec, insert_rows
from clientvault.store.engine import json_serializer
from clientvault.store.keystore import ERASED_MESSAGE, DataKey
from clientvault.store.sealing import seal_fields

#: The columns ``search_columns`` writes.
SEARCH_COLUMNS = ("email_hint", "first_name_index", "last_name_index")
#: The ``customers`` columns a new profile's row fills (``customer_row``), in table order.
CUSTOMER_COLUMNS = (
    "id",
    "status",
    "created_at",
    "updated_at",
    "source",
    "country",
    "city",
    "postal_prefix",
    "birth_year",
    "birthday",
    "gender",
    "language",
    "traits",
    *(f"{name}_sealed" for name in SEALED_FIELDS),
    "email_index",
    "phone_index",
    *SEARCH_COLUMNS,
)
#: The ``customer_identities`` columns a new link fills (its id is the database's).
IDENTITY_COLUMNS = ("customer_id", "kind", "value_index", "source", "first_seen_at", "last_seen_at")


@dataclass(frozen=True)
class PreparedProfile:
    """A profile whose identifiers are validated and in canonical form, ready to seal."""

    profile: CustomerCreate
    identifiers: dict[str, str | None]
    country: str | None
    #: Blind indexes of ``identifiers`` already computed (``email``, ``phone``, and the names'
    #: by index kind, ``name_indexes``) by whoever prepared the profile (ingestion indexes
    #: them to stitch, and in its helper process): reused, not computed again.
    indexes: dict[str, bytes | None] = field(default_factory=dict)


def prepare_profile(profile: CustomerCreate, *, default_region: str) -> PreparedProfile:
    """Validate and normalise a profile's identifiers and country (raises ``InvalidInput``)."""
    identifiers = {
        "email": normalise_email(profile.email) if profile.email else None,
        "phone": normalise_phone(profile.phone, default_region=default_region)
        if profile.phone
        else None,
        "first_name": profile.first_name or None,
        "last_name": profile.last_name or None,
        "street_address": profile.street_address or None,
        "postal_code": profile.postal_code or None,
        "birth_date": profile.birth_date.isoformat() if profile.birth_date else None,
        "username": profile.username or None,
    }
    country = normalise_country(profile.country) if profile.country else None
    return PreparedProfile(profile=profile, identifiers=identifiers, country=country)


def coarse_attributes(prepared: PreparedProfile) -> dict[str, Any]:
    """The clear, coarse columns derived from a profile (for segmentation without PII)."""
    profile = prepared.profile
    birth = profile.birth_date
    return {
        "country": prepared.country,
        "city": profile.city,
        "postal_prefix": (profile.postal_code or "")[:2].upper() or None,
        "birth_year": birth.year if birth else None,
        "birthday": birth.strftime("%m-%d") if birth else None,
        "gender": profile.gender,
        "language": profile.language,
    }


def sealed_columns(store: Store, key: DataKey, prepared: PreparedProfile) -> dict[str, Any]:
    """The sealed identifier columns and blind indexes of a profile, under its data key,
    with the customer list's e-mail hint and name indexes (``search_columns``)."""
    sealed = seal_fields(key, prepared.identifiers)
    email, phone = prepared.identifiers["email"], prepared.identifiers["phone"]
    known = prepared.indexes
    return {
        **{f"{column}_sealed": sealed[column] for column in SEALED_FIELDS},
        "email_index": (known.get("email") or store.index("email", email)) if email else None,
        "phone_index": (known.get("phone") or store.index("phone", phone)) if phone else None,
        **search_columns(store, prepared.identifiers, known=known),
    }


#: The index kinds of the names the customer list searches, by identifier.
NAME_INDEX_KINDS = {"first_name": "name:first_name", "last_name": "name:last_name"}


def name_indexes(
    index: Callable[[str, str], bytes], identifiers: Mapping[str, str | None]
) -> dict[str, bytes | None]:
    """The blind indexes of a profile's present names (``None`` for a name nothing is left
    of once normalised), by index kind: computed where a profile is prepared (an import's
    helper process, ``ingest.import_preparing``), so that storing it has no HMAC left to do.
    """
    found: dict[str, bytes | None] = {}
    for part, kind in NAME_INDEX_KINDS.items():
        value = identifiers.get(part)
        if value:
            normalised = normalise_name(value)
            found[kind] = index(kind, normalised) if normalised else None
    return found


def search_columns(
    store: Store,
    identifiers: Mapping[str, str | None],
    *,
    known: Mapping[str, bytes | None] | None = None,
) -> dict[str, Any]:
    """The customer list's columns for a profile's clear identifiers: the masked e-mail
    hint, and the blind indexes of its normalised first and last names (keyed HMACs, like
    the e-mail's: the name itself is never stored in clear, and only someone holding the
    installation's index key can test a guess). ``known``: name indexes already computed
    (``name_indexes``), by index kind; the others are computed here."""
    email = identifiers.get("email")
    known = known or {}
    to_compute = {
        part: value
        for part, value in identifiers.items()
        if part in NAME_INDEX_KINDS and NAME_INDEX_KINDS[part] not in known
    }
    indexes = {**name_indexes(store.index, to_compute), **known}
    return {
        "email_hint": email_hint(email) if email else None,
        **{f"{part}_index": indexes.get(kind) for part, kind in NAME_INDEX_KINDS.items()},
    }


def customer_row(
    store: Store,
    key: DataKey,
    prepared: PreparedProfile,
    *,
    source: str,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """The ``customers`` row for a new profile: sealed identifiers, blind indexes, coarse data."""
    now = created_at or utcnow()
    return {
        "id": key.customer_id,
        "status": "active",
        "created_at": now,
        "updated_at": now,
        "source": source,
        **coarse_attributes(prepared),
        "traits": prepared.profile.traits,
        **sealed_columns(store, key, prepared),
    }


def identity_rows(row: dict[str, Any], *, source: str) -> list[dict[str, Any]]:
    """The e-mail and phone identity rows of a new customer row."""
    return [
        {
            "customer_id": row["id"],
            "kind": kind,
            "value_index": row[f"{kind}_index"],
            "source": source,
            "first_seen_at": row["created_at"],
            "last_seen_at": row["created_at"],
        }
        for kind in ("email", "phone")
        if row[f"{kind}_index"] is not None
    ]


def create_customers(
    session: Session,
    store: Store,
    *,
    profiles: Sequence[CustomerCreate],
    source: str,
    default_region: str,
) -> list[uuid.UUID]:
    """Create customer profiles in the caller's transaction and return their ids.

    All profiles are validated before anything is written, so one bad profile writes nothing.
    """
    prepared = [prepare_profile(p, default_region=default_region) for p in profiles]
    return create_prepared_customers(session, store, prepared=prepared, source=source)


def create_prepared_customers(
    session: Session,
    store: Store,
    *,
    prepared: Sequence[PreparedProfile],
    source: str,
    created_at: Sequence[datetime] | None = None,
) -> list[uuid.UUID]:
    """Create already-validated profiles (``prepare_profile``), e.g. prepared in another
    process; ``created_at`` backdates them (imports and demo data keep their history).

    Data keys are created (and committed in the keystore) first: a key without a customer is
    harmless, a customer without a key would be unreadable.
    """
    ids = [new_id() for _ in prepared]
    keys = store.keystore.create_keys(ids)
    moments = list(created_at) if created_at is not None else [None] * len(prepared)
    rows = [
        customer_row(store, keys[customer_id], item, source=source, created_at=moment)
        for customer_id, item, moment in zip(ids, prepared, moments, strict=True)
    ]
    identities = [identity for row in rows for identity in identity_rows(row, source=source)]
    insert_customer_rows(session, rows)
    insert_identity_rows(session, identities)
    return ids


def insert_customer_rows(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """Insert new profiles' rows (``customer_row``) in the session's transaction, at the
    driver (``store.driver_sql``): for imports and the demo, SQLAlchemy's per-row parameter
    work cost more than the insert itself (``COPY`` on PostgreSQL). ``rows`` may be made
    as they are taken (see ``insert_rows``); none at all writes nothing."""
    connection = session.connection()
    customers, _ = _codecs(DialectRef.of(connection.engine))
    traits_at = customers.slot("traits")

    def encoded() -> Iterator[tuple[Any, ...]]:
        for row in rows:
            values = customers.encode([row[column] for column in CUSTOMER_COLUMNS])
            values[traits_at] = json_serializer(values[traits_at] or {})
            yield tuple(values)

    insert_rows(connection, customers.table, CUSTOMER_COLUMNS, encoded())


def insert_identity_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert new identity links (``IDENTITY_COLUMNS`` keys) at the driver, as above."""
    if not rows:
        return
    connection = session.connection()
    _, identities = _codecs(DialectRef.of(connection.engine))
    encoded = [tuple(identities.encode([row[c] for c in IDENTITY_COLUMNS])) for row in rows]
    insert_rows(connection, identities.table, IDENTITY_COLUMNS, encoded)


@functools.lru_cache(maxsize=4)
def _codecs(dialect: DialectRef) -> tuple[TableCodec, TableCodec]:
    """The row codecs of ``customers`` (traits arrive serialised) and ``customer_identities``."""
    loaded = dialect.load()
    return (
        TableCodec(table_of(Customer), CUSTOMER_COLUMNS, loaded, deferred=("traits",)),
        TableCodec(table_of(CustomerIdentity), IDENTITY_COLUMNS, loaded),
    )


def get_customer(
    session: Session, store: Store, *, customer_id: uuid.UUID, by: Principal
) -> CustomerRead:
    """A profile without personal identifiers (what any reader of profiles may see), the
    view audited (``customer.viewed``) under ``by``."""
    customer = session.get(Customer, customer_id)
    if customer is None or customer.status == "erased":
        raise NotFound("no such customer")
    refuse_erased(store, customer_id)
    audit.record(
        session,
        principal=by,
        action="customer.viewed",
        target_type="customer",
        target_ids=[str(customer_id)],
    )
    return CustomerRead(
        id=customer.id,
        status=customer.status,
        created_at=customer.created_at,
        country=customer.country,
        city=customer.city,
        postal_prefix=customer.postal_prefix,
        age_band=age_band(customer.birth_year, customer.birthday, utcnow().date()),
        gender=customer.gender,
        language=customer.language,
        traits=customer.traits,
        has_email=customer.email_sealed is not None,
        has_phone=customer.phone_sealed is not None,
    )


def refuse_erased(store: Store, customer_id: uuid.UUID) -> None:
    """Raise ``Erased`` for a customer whose data key is destroyed: one a database restored
    from before their erasure still holds (restores re-apply the erasures; until then, and
    if one was missed, nothing of theirs is shown)."""
    if store.keystore.without_keys([customer_id]):
        raise Erased(ERASED_MESSAGE.format(customer_id=customer_id))


def reveal_identifiers(
    session: Session,
    store: Store,
    *,
    principal: Principal,
    customer_ids: Iterable[uuid.UUID],
    fields: Sequence[str] = SEALED_FIELDS,
    reason: str,
) -> dict[uuid.UUID, CustomerIdentifiers]:
    """Decrypted identifiers of customers, through the audited reveal path."""
    unknown = set(fields) - set(SEALED_FIELDS)
    if unknown:
        raise NotFound(f"no such personal-data field: {', '.join(sorted(unknown))}")
    wanted = list(dict.fromkeys(customer_ids))
    columns = [getattr(Customer, f"{field}_sealed") for field in fields]
    found = session.execute(
        select(Customer.id, *columns).where(Customer.id.in_(wanted), Customer.status != "erased")
    ).all()
    if len(found) != len(wanted):
        raise NotFound("no such customer")
    rows = {row[0]: dict(zip(fields, row[1:], strict=True)) for row in found}
    opened = reveal(
        session,
        store.keystore,
        principal=principal,
        subject_type="customer",
        rows=rows,
        reason=reason,
    )
    return {customer_id: CustomerIdentifiers(**values) for customer_id, values in opened.items()}


def find_by_email(session: Session, store: Store, *, email: str) -> list[uuid.UUID]:
    """Customers whose normalised e-mail equals this one, found through the blind index in
    the identity graph (``graph.holds_current``: a blocked placeholder names no one)."""
    index = store.index("email", normalise_email(email))
    return list(session.scalars(select(Customer.id).where(holds_current("email", index))))


def find_by_identifier(
    session: Session, store: Store, *, kind: str, value: str
) -> uuid.UUID | None:
    """The live profile (not merged away) that tracking tied an identifier to, such as the
    snippet's ``anonymous_id`` or a ``user_id``, found through its blind index."""
    return session.scalar(
        select(CustomerIdentity.customer_id)
        .join(Customer, Customer.id == CustomerIdentity.customer_id)
        .where(
            CustomerIdentity.kind == kind,
            CustomerIdentity.value_index == store.index(kind, value),
            Customer.merged_into_id.is_(None),
        )
        .limit(1)
    )


#: Profiles ``index_for_search`` opens per transaction.
REINDEX_BATCH = 500
REINDEX_REASON = "customer list: e-mail hint and name indexes of profiles written before them"


def index_for_search(store: Store, *, batch: int = REINDEX_BATCH) -> int:
    """Write the customer list's e-mail hint and name indexes (``search_columns``) of the
    profiles written before those columns existed; returns how many were updated.

    Needs the clear values, so it opens them through the audited reveal path as the system
    job ``identity.index_for_search`` (audited like any reveal); a profile is picked when
    it has a sealed e-mail or name and lacks the matching column, so a second run finds
    nothing left to do.
    """
    principal = Principal.system("identity.index_for_search", "pii:reveal")
    missing = or_(
        and_(Customer.email_sealed.is_not(None), Customer.email_hint.is_(None)),
        and_(Customer.first_name_sealed.is_not(None), Customer.first_name_index.is_(None)),
        and_(Customer.last_name_sealed.is_not(None), Customer.last_name_index.is_(None)),
    )
    done = 0
    after: uuid.UUID | None = None
    while True:
        with store.sessions.begin() as session:
            query = select(Customer.id).where(Customer.status != "erased", missing)
            if after is not None:
                query = query.where(Customer.id > after)
            ids = list(session.scalars(query.order_by(Customer.id).limit(batch)))
            if not ids:
                return done
            after = ids[-1]
            opened = reveal_identifiers(
                session,
                store,
                principal=principal,
                customer_ids=ids,
                fields=("email", "first_name", "last_name"),
                reason=REINDEX_REASON,
            )
            session.execute(
                update(table_of(Customer)).where(table_of(Customer).c.id == bindparam("cid")),
                [
                    {"cid": customer_id, **search_columns(store, values.model_dump())}
                    for customer_id, values in opened.items()
                ],
            )
            done += len(ids)
