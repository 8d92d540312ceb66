"""The customer list: filtered, sorted, keyset-paginated pages of people, and search.

One query serves the console's list and ``GET /api/v1/customers``. A page is read with
keyset pagination (the sort value and id of the last row seen, in an opaque cursor): each
page costs the same however deep, and a row is never shown twice or skipped when rows are
added between two pages. Merged profiles are listed as their survivor; erased ones never.
The default order (newest first) reads the (created_at, id) index; sorting by last seen,
orders or revenue computes them for every listed person, a full pass on a large base.

Search (``q``) says what it is looking for from the text's shape, and each kind answers its
own error:

* a profile id (UUID);
* an e-mail address (has an ``@``): its blind index; a malformed address says why;
* a phone number (``+``, or digits with spaces, dots, dashes or brackets): its blind index;
  a number that cannot be read says so;
* anything else — a user id, an external id (of any type), or a full name: user and external
  ids are looked up exactly among the identity graph's blind indexes; names through the
  blind indexes of the normalised first and last names. A bare number is tried as a phone
  number and as an id.

Names are never stored in clear: each profile keeps an HMAC (the installation's index key)
of its normalised first name and of its normalised last name (``identity.profiles.
search_columns``). A query's words are normalised the same way and every split of them into
first and last name, in either order, is hashed and compared: "dupont", "Jean Dupont",
"DUPONT jean" and "Zoé" for "Zoe" all find the person, a partial name does not. Searches
that could tell whether a person is a customer (e-mail, phone, name) need ``pii:reveal``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
    union,
)
from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput, PermissionDenied
from clientvault.identity.graph import holds_current
from clientvault.identity.models import Customer, CustomerIdentity
from clientvault.identity.normalise import (
    normalise_country,
    normalise_email,
    normalise_name,
    normalise_phone,
)
from clientvault.ingest.commerce.models import Order
from clientvault.privacy.audiences import all_customers, audience
from clientvault.security.principal import PII_REVEAL, Principal
from clientvault.store.context import Store

SortKey = Literal["created", "updated", "last_seen", "orders", "revenue", "country", "city"]
Direction = Literal["asc", "desc"]
ListedStatus = Literal["active", "merged"]
SearchKind = Literal["id", "email", "phone", "identifier", "name"]
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
#: People a search may match (their ids go into the page's query).
MAX_MATCHES = 5_000
#: Words of a name query (every split is tried, so this bounds the query's size).
MAX_NAME_WORDS = 6
_PHONE_SHAPE = re.compile(r"^\+?[0-9][0-9 .()/-]{4,}[0-9]$")
_DIGITS = re.compile(r"^[0-9]+$")


class CustomerListQuery(BaseModel):
    """What a page of the customer list asks for (validated the same for API and console)."""

    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(default=None, max_length=254)
    status: ListedStatus | None = None
    country: str | None = Field(default=None, max_length=64)
    source: str | None = Field(default=None, max_length=64)
    created_from: date | None = None
    created_to: date | None = None
    has_orders: bool | None = None
    consent: str | None = Field(default=None, max_length=64)
    sort: SortKey = "created"
    direction: Direction = "desc"
    cursor: str | None = Field(default=None, max_length=400)
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


class CustomerListRow(BaseModel):
    """One line of the customer list: no identifier, only the masked e-mail hint (shown to
    viewers who may reveal identifiers)."""

    id: uuid.UUID
    status: str
    source: str | None
    country: str | None
    city: str | None
    email_hint: str | None
    created_at: datetime
    updated_at: datetime
    last_seen_at: datetime
    orders: int
    revenue: float


class CustomerPage(BaseModel):
    """A page of the list: its rows, the cursor of the next page (``None`` on the last) and
    what a search matched on."""

    items: list[CustomerListRow]
    next_cursor: str | None
    matched_by: list[SearchKind]


#: The ``customers`` columns a list row shows as they are.
_LISTED = ("id", "status", "source", "country", "city", "created_at", "updated_at")


@dataclass(frozen=True)
class _Search:
    """What a query looks for: one condition per kind (each read apart, on its own index)."""

    clauses: list[ColumnElement[bool]]
    kinds: list[SearchKind]


def _last_seen() -> ColumnElement[datetime]:
    newest = (
        select(func.max(CustomerIdentity.last_seen_at))
        .where(CustomerIdentity.customer_id == Customer.id)
        .scalar_subquery()
    )
    return func.coalesce(newest, Customer.created_at)


def _orders() -> ColumnElement[int]:
    counted = select(func.count(Order.id)).where(Order.customer_id == Customer.id)
    return func.coalesce(counted.scalar_subquery(), 0)


def _revenue_cents() -> ColumnElement[int]:
    # Whole cents: exact on both backends, so a cursor's value compares equal to its row's
    # (SQLite sums NUMERIC as floating point).
    summed = select(func.sum(Order.total)).where(Order.customer_id == Customer.id)
    return cast(func.round(func.coalesce(summed.scalar_subquery(), 0) * 100), BigInteger)


def _sort_expression(sort: SortKey) -> ColumnElement[Any]:
    if sort == "created":
        return Customer.created_at.expression
    if sort == "updated":
        return Customer.updated_at.expression
    if sort == "last_seen":
        return _last_seen()
    if sort == "orders":
        return _orders()
    if sort == "revenue":
        return _revenue_cents()
    return func.coalesce(Customer.country if sort == "country" else Customer.city, "")


def list_customers(
    session: Session,
    store: Store,
    *,
    query: CustomerListQuery,
    viewer: Principal,
    default_region: str,
) -> CustomerPage:
    """One page of the customer list for ``query`` (filters, search, sort, cursor).

    Raises ``InvalidInput`` for a query that cannot be read (a malformed e-mail, an unreadable
    phone number, a foreign cursor, an unknown purpose), ``PermissionDenied`` for a search by
    identifier without ``pii:reveal``.
    """
    conditions = _filters(session, query)
    kinds: list[SearchKind] = []
    text = (query.q or "").strip()
    if text:
        search = _search(session, store, text, viewer, default_region)
        # The matching people first, one kind at a time (a UNION: each part reads its own
        # index, where one OR across kinds made PostgreSQL scan every customer), then the
        # page among them (as one query, PostgreSQL walked the list testing each row).
        root = func.coalesce(Customer.merged_into_id, Customer.id)
        roots = session.scalars(
            union(*(select(root).where(clause) for clause in search.clauses)).limit(MAX_MATCHES + 1)
        ).all()
        if len(roots) > MAX_MATCHES:
            raise InvalidInput(
                f"more than {MAX_MATCHES:,} people match: add a first name, or search by "
                "e-mail, phone or id",
                details={"field": "q"},
            )
        conditions.append(Customer.id.in_(roots))
        kinds = search.kinds
    key = _sort_expression(query.sort)
    descending = query.direction == "desc"
    if query.cursor:
        value, after = _read_cursor(query.cursor, query)
        # A row value comparison: (key, id) after the cursor's, which both databases read
        # as a range of the (created_at, id) index for the default order.
        here, cursor = tuple_(key, Customer.id), tuple_(literal(value, key.type), after)
        conditions.append(here < cursor if descending else here > cursor)
    order = (key.desc(), Customer.id.desc()) if descending else (key.asc(), Customer.id.asc())
    statement = (
        select(
            *(getattr(Customer, name) for name in _LISTED),
            Customer.email_hint,
            _last_seen().label("last_seen_at"),
            _orders().label("orders"),
            _revenue_cents().label("revenue_cents"),
            key.label("sort_value"),
        )
        .where(*conditions)
        .order_by(*order)
        .limit(query.limit + 1)
    )
    # Columns, not entities: loading ORM objects (sealed fields and all) cost more than
    # the query itself (bench/bench_customer_list.py).
    rows = session.execute(statement).all()
    shown = rows[: query.limit]
    may_hint = viewer.can(PII_REVEAL)
    items = [
        CustomerListRow(
            **{name: getattr(row, name) for name in _LISTED},
            email_hint=row.email_hint if may_hint else None,
            last_seen_at=row.last_seen_at,
            orders=row.orders,
            revenue=row.revenue_cents / 100,
        )
        for row in shown
    ]
    following = None
    if len(rows) > query.limit:
        last = shown[-1]
        following = _write_cursor(query, last.sort_value, last.id)
    return CustomerPage(items=items, next_cursor=following, matched_by=kinds)


def _filters(session: Session, query: CustomerListQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.status == "merged":
        conditions.append(Customer.status == "merged")
    else:
        conditions.append(Customer.status.not_in(("erased", "merged")))
        if query.status is not None:
            conditions.append(Customer.status == query.status)
    if query.country:
        conditions.append(Customer.country == normalise_country(query.country))
    if query.source:
        conditions.append(Customer.source == query.source)
    if query.created_from and query.created_to and query.created_from > query.created_to:
        raise InvalidInput("created_from is after created_to", details={"field": "created_from"})
    if query.created_from:
        conditions.append(Customer.created_at >= datetime.combine(query.created_from, time(), UTC))
    if query.created_to:
        end = datetime.combine(query.created_to + timedelta(days=1), time(), UTC)
        conditions.append(Customer.created_at < end)
    if query.has_orders is not None:
        ordered = exists(select(Order.id).where(Order.customer_id == Customer.id))
        conditions.append(ordered if query.has_orders else ~ordered)
    if query.consent:
        # The same filters an activation for this purpose would apply (consent, objection,
        # restriction, merged profiles): "may be processed for", not just "said yes once".
        allowed = audience(session, purpose=query.consent, customers=all_customers())
        conditions.append(Customer.id.in_(allowed.scalar_subquery()))
    return conditions


def _search(
    session: Session, store: Store, text: str, viewer: Principal, default_region: str
) -> _Search:
    try:
        return _Search([Customer.id == uuid.UUID(text)], ["id"])
    except ValueError:
        pass
    may_reveal = viewer.can(PII_REVEAL)
    if "@" in text:
        _need_reveal(may_reveal, "an e-mail address")
        index = store.index("email", normalise_email(text))
        return _Search([holds_current("email", index)], ["email"])
    if _PHONE_SHAPE.match(text) and not _DIGITS.match(text):
        _need_reveal(may_reveal, "a phone number")
        phone = normalise_phone(text, default_region=default_region)
        return _Search([holds_current("phone", store.index("phone", phone))], ["phone"])
    clauses = [_identifier_match(session, store, text)]
    kinds: list[SearchKind] = ["identifier"]
    if may_reveal and _DIGITS.match(text):
        try:
            phone = normalise_phone(text, default_region=default_region)
        except InvalidInput:
            pass  # digits that are no phone number: an id only
        else:
            clauses.append(holds_current("phone", store.index("phone", phone)))
            kinds.append("phone")
    words = normalise_name(text).split()
    if may_reveal and words:
        if len(words) > MAX_NAME_WORDS:
            raise InvalidInput(
                f"a name to search has at most {MAX_NAME_WORDS} words", details={"field": "q"}
            )
        clauses.append(_name_match(store, words))
        kinds.append("name")
    return _Search(clauses, kinds)


def _need_reveal(may_reveal: bool, what: str) -> None:
    if not may_reveal:
        raise PermissionDenied(f"searching by {what} needs the pii:reveal permission")


def _identifier_match(session: Session, store: Store, text: str) -> ColumnElement[bool]:
    """Profiles holding ``text`` as their user id or as an external id of any type (each
    type is its own blind-index kind, so the types in use are read first: a handful)."""
    external = _external_kinds(session)
    wanted = [("user_id", store.index("user_id", text))]
    wanted += [(kind, store.index(kind, text)) for kind in external]
    held = select(CustomerIdentity.customer_id).where(
        or_(
            *(
                and_(CustomerIdentity.kind == kind, CustomerIdentity.value_index == index)
                for kind, index in wanted
            )
        )
    )
    return Customer.id.in_(held)


#: External id kinds are ``ext:<type>``: between these two bounds (";" follows ":").
_EXTERNAL_FROM, _EXTERNAL_TO = "ext:", "ext;"


def _external_kinds(session: Session) -> list[str]:
    """The external id types in use, found by a loose index scan (a recursive query hopping
    from one kind to the next on the (kind, value_index) index): one index seek per type,
    where a DISTINCT would read every external id of the base."""
    kind = CustomerIdentity.kind
    first = select(func.min(kind).label("kind")).where(kind >= _EXTERNAL_FROM, kind < _EXTERNAL_TO)
    hops = first.cte("external_kinds", recursive=True)
    following = (
        select(func.min(kind)).where(kind > hops.c.kind, kind < _EXTERNAL_TO).scalar_subquery()
    )
    hops = hops.union_all(select(following).where(hops.c.kind.is_not(None)))
    return [k for k in session.scalars(select(hops.c.kind)) if k is not None]


def _name_match(store: Store, words: list[str]) -> ColumnElement[bool]:
    """Every reading of the words as a first name, a last name, or both (split anywhere,
    either order), as blind-index comparisons."""

    def first(value: str) -> ColumnElement[bool]:
        return Customer.first_name_index == store.index("name:first_name", value)

    def last(value: str) -> ColumnElement[bool]:
        return Customer.last_name_index == store.index("name:last_name", value)

    whole = " ".join(words)
    readings = [first(whole), last(whole)]
    for cut in range(1, len(words)):
        head, tail = " ".join(words[:cut]), " ".join(words[cut:])
        readings.append(and_(first(head), last(tail)))
        readings.append(and_(last(head), first(tail)))
    return or_(*readings)


# --- cursors ----------------------------------------------------------------------------------


def _write_cursor(query: CustomerListQuery, value: Any, customer_id: uuid.UUID) -> str:
    encoded = value.isoformat() if isinstance(value, datetime) else value
    document = {"s": query.sort, "d": query.direction, "v": encoded, "i": str(customer_id)}
    raw = json.dumps(document, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(cursor: str, query: CustomerListQuery) -> tuple[Any, uuid.UUID]:
    """The sort value and id a cursor carries, checked against the query's sort order."""
    problem = InvalidInput(
        "the cursor is not one this list gave for this sort order: start from the first page",
        details={"field": "cursor"},
    )
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        document = json.loads(raw)
        after = uuid.UUID(document["i"])
        value = document["v"]
        if document["s"] != query.sort or document["d"] != query.direction:
            raise problem
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise problem from None
    if query.sort in ("created", "updated", "last_seen"):
        if not isinstance(value, str):
            raise problem
        try:
            return datetime.fromisoformat(value), after
        except ValueError:
            raise problem from None
    if query.sort in ("orders", "revenue"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise problem
        return value, after
    if not isinstance(value, str):
        raise problem
    return value, after
