"""The identity graph: identifiers as nodes linked to the profiles they were seen with.

Nodes are ``customer_identities`` rows (kind + blind index, never the value): user ids,
anonymous ids, e-mail and phone indexes, device ids and external ids (kind ``ext:<type>``).
A value may link to several profiles; the rules below decide when it still *resolves* to one:

- blocked values (placeholders such as ``test@example.com``) never link nor resolve;
- a value linked to more profiles than its kind's limit (a family e-mail, a kiosk's device)
  stops resolving, so it cannot chain unrelated people together;
- a profile holding ``max_values_per_customer`` values of a kind (one user id) is not
  stitched to a call bringing another value of that kind: that is another person;
- when a call's identifiers name different profiles, the kind earliest in ``priority`` wins;
- a value another profile holds at its kind's limit (one, for user and external ids) is not
  linked but kept as an ``IdentifierConflict`` of the profile that brought it (``kept``).

Links are read through ``customers.merged_into_id``, so identifiers of a merged profile
resolve to its root survivor without being moved (which keeps merges exactly reversible).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, func, or_, select, union_all
from sqlalchemy.orm import Session

from clientvault.identity.models import Customer, CustomerIdentity, IdentifierConflict
from clientvault.settings import IdentitySettings
from clientvault.store.context import Store
from clientvault.store.driver_sql import reader, rows_in
from clientvault.store.sealing import blind_index

#: What turns a normalised identifier of a kind into its blind index (``Store.index``).
Indexer = Callable[[str, str], bytes]

#: Identifier kinds a blocked value is checked against (external ids carry their type).
BLOCKABLE_KINDS = ("user_id", "anonymous_id", "email", "phone", "device_id")
#: The customer a link resolves to: the root survivor for a merged profile, else itself.
ROOT: ColumnElement[uuid.UUID] = func.coalesce(
    Customer.merged_into_id, CustomerIdentity.customer_id
)
Key = tuple[str, bytes]
#: ``links_of``'s look-up (ROOT at the driver; erased profiles do not count).
_LINKS_SQL = (
    "SELECT i.value_index, COALESCE(c.merged_into_id, i.customer_id)"
    " FROM customer_identities i JOIN customers c ON c.id = i.customer_id"
    " WHERE i.kind = {p} AND i.value_index {in} AND c.status != 'erased'"
    " ORDER BY i.id"
)


@dataclass(frozen=True)
class StitchingRules:
    """The graph's rules with blocked values already turned into blind indexes."""

    blocked: frozenset[Key]
    priority: tuple[str, ...]
    max_customers_per_value: Mapping[str, int]
    default_max_customers_per_value: int
    max_values_per_customer: Mapping[str, int]
    _limits: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    _ranks: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def rank(self, kind: str) -> int:
        """Position of a kind in the priority order (unlisted kinds come last); remembered
        per kind, as ``customer_limit``."""
        rank = self._ranks.get(kind)
        if rank is None:
            family = rule_kind(kind)
            rank = self._ranks[kind] = (
                self.priority.index(family) if family in self.priority else len(self.priority)
            )
        return rank

    def customer_limit(self, kind: str) -> int:
        """How many profiles a value of this kind may link to and still resolve (asked a few
        times per identifier of every stitched call: remembered per kind)."""
        limit = self._limits.get(kind)
        if limit is None:
            limit = self._limits[kind] = self.max_customers_per_value.get(
                rule_kind(kind), self.default_max_customers_per_value
            )
        return limit


def rule_kind(kind: str) -> str:
    """The kind whose rules apply: external ids of every type share ``external_id``'s."""
    return "external_id" if kind.startswith("ext:") else kind


def stitching_rules(store: Store, settings: IdentitySettings | None = None) -> StitchingRules:
    """The rules of ``settings`` (defaults when None) for this installation's index key."""
    config = settings or IdentitySettings()
    return StitchingRules(
        blocked=_blocked_indexes(store.keystore.material.index_key, tuple(config.blocked_values)),
        priority=tuple(config.priority),
        max_customers_per_value=dict(config.max_customers_per_value),
        default_max_customers_per_value=config.default_max_customers_per_value,
        max_values_per_customer=dict(config.max_values_per_customer),
    )


@functools.lru_cache(maxsize=16)
def _blocked_indexes(index_key: bytes, values: tuple[str, ...]) -> frozenset[Key]:
    """Blind indexes of the blocked values under every kind (cached: a few HMACs per key)."""
    blocked = set()
    for value in values:
        for kind in BLOCKABLE_KINDS:
            text = value.strip().lower() if kind == "email" else value.strip()
            blocked.add((kind, blind_index(index_key, kind, text)))
    return frozenset(blocked)


def context_identifiers(index: Indexer, context: Mapping[str, Any]) -> dict[str, bytes]:
    """Device and external ids a tracking call's context carries (Segment's ``device.id`` and
    ``externalIds``), as blind indexes by kind (``index``: e.g. ``Store.index``)."""
    found: dict[str, bytes] = {}
    device = context.get("device")
    if isinstance(device, dict) and isinstance(device.get("id"), str) and device["id"].strip():
        found["device_id"] = index("device_id", device["id"].strip())
    external = context.get("externalIds")
    if isinstance(external, list):
        for entry in external[:10]:
            if not isinstance(entry, dict):
                continue
            kind, value = entry.get("type"), entry.get("id")
            if isinstance(kind, str) and isinstance(value, str) and kind.strip() and value.strip():
                name = f"ext:{kind.strip().lower()}"[:32]
                found[name] = index(name, value.strip())
    return found


def links_of(session: Session, wanted: Mapping[str, Iterable[bytes]]) -> dict[Key, list[uuid.UUID]]:
    """For each (kind, value) wanted, the root profiles it links to, oldest link first.

    One query per kind and 900 values (the lookup index leads with kind); erased profiles
    do not count.
    """
    # At the driver: asked for every ingested batch (store.driver_sql says why).
    connection = session.connection()
    root = reader(connection, Customer.__table__.c.id.type)
    links: dict[Key, list[uuid.UUID]] = {}
    for kind, found in wanted.items():
        rows = rows_in(connection, _LINKS_SQL, list(found), leading=(kind,))
        for value_index, stored_root in rows:
            roots = links.setdefault((kind, value_index), [])
            if (linked := root(stored_root)) not in roots:
                roots.append(linked)
    return links


#: The identifiers a profile also keeps as a column of its own: its current ones.
_CURRENT_COLUMNS = {"email": Customer.email_index, "phone": Customer.phone_index}


def holds_current(kind: Literal["email", "phone"], value_index: bytes) -> ColumnElement[bool]:
    """Whether a profile's current e-mail or phone (``kind``) is this blind index.

    Found through the graph: the profiles linked to the value, or keeping it in conflict,
    then their own column, so an address a profile has since replaced finds it no more.
    Why not an index of the customers' own column: the graph's lookup index already holds
    every e-mail and phone a profile brought, and each imported row added an entry at a
    random place of a second one (towards the end of a 1M-row import on SQLite, ~15 % of
    its time; ~2 % over the whole import). A blocked placeholder
    (``identity.blocked_values``) is never linked by tracking or an import, so it finds
    none of their profiles: it names no one.
    """
    linked = select(CustomerIdentity.customer_id).where(
        CustomerIdentity.kind == kind, CustomerIdentity.value_index == value_index
    )
    kept = select(IdentifierConflict.customer_id).where(
        IdentifierConflict.kind == kind, IdentifierConflict.value_index == value_index
    )
    return and_(_CURRENT_COLUMNS[kind] == value_index, Customer.id.in_(union_all(linked, kept)))


def values_held(session: Session, *, customer: uuid.UUID, kind: str) -> int:
    """How many distinct values of ``kind`` a person (root and merged profiles) holds."""
    count = session.scalar(
        select(func.count(func.distinct(CustomerIdentity.value_index)))
        .join(Customer, Customer.id == CustomerIdentity.customer_id)
        .where(
            CustomerIdentity.kind == kind,
            or_(Customer.id == customer, Customer.merged_into_id == customer),
        )
    )
    return int(count or 0)


def identities_by_kind(session: Session, customer_ids: Iterable[uuid.UUID]) -> dict[str, int]:
    """How many identifiers of each kind link to these profiles (values are never shown)."""
    rows = session.execute(
        select(CustomerIdentity.kind, func.count())
        .where(CustomerIdentity.customer_id.in_(list(customer_ids)))
        .group_by(CustomerIdentity.kind)
        .order_by(CustomerIdentity.kind)
    )
    return {kind: int(count) for kind, count in rows}


def kept_identifiers(
    session: Session, customer_ids: Iterable[uuid.UUID]
) -> list[IdentifierConflict]:
    """The identifiers these profiles keep in conflict (held by another profile at their
    kind's limit), oldest first; their values are keyed hashes, never shown."""
    return list(
        session.scalars(
            select(IdentifierConflict)
            .where(IdentifierConflict.customer_id.in_(list(customer_ids)))
            .order_by(IdentifierConflict.seen_at, IdentifierConflict.id)
        )
    )
