"""What the batch and incremental matching paths share: reading profiles as matching records
(decrypted through the audited reveal path), the keyed blocking keys, the stored model, and
turning scored pairs into review-queue candidates and automatic merges."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    inspect,
    null,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput
from clientvault.identity.graph import rule_kind
from clientvault.identity.matching.models import MatchBlockingKey, MatchModel
from clientvault.identity.matching.spec import blocking_keys, matching_record
from clientvault.identity.merges import IDENTITY_REVIEW, merge_customers
from clientvault.identity.models import (
    Customer,
    CustomerIdentity,
    IdentifierConflict,
    MatchCandidate,
)
from clientvault.security.pii import Opener, revealing
from clientvault.security.principal import PII_REVEAL, Principal
from clientvault.settings import IdentitySettings
from clientvault.store.base import table_of
from clientvault.store.context import Store

#: The principal matching decrypts and merges under (audited as such).
MATCHING_PRINCIPAL = Principal.system("identity-resolution", PII_REVEAL, IDENTITY_REVIEW)
#: Identity kinds of external identifiers (``ext:<type>``, from Segment's ``externalIds``),
#: stored as blind indexes: equal keyed hashes mean equal ids, which is all matching compares.
EXTERNAL_ID_PREFIX = "ext:"
#: Identifier kinds (as ``graph.rule_kind`` names them) whose conflicts the
#: ``contested_identifier`` comparison weighs. Of the kinds that name a person (an anonymous or
#: device id names a browser or a device, which people share), e-mail and phone are left out
#: though not ignored: a profile keeps its e-mail and phone sealed in its own columns whether
#: or not the graph links them, so the e-mail and phone comparisons (and blocking keys)
#: already weigh a shared one as strong evidence; counted here as well, it would count twice.
CONTESTED_KINDS = frozenset({"external_id"})
_REVEALED = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "birth_date",
    "postal_code",
    "street_address",
)
_REASON = "identity resolution: probabilistic matching"
_REVEAL_CHUNK = 5_000
_LATEST = datetime.max.replace(tzinfo=UTC)
_CUSTOMERS = table_of(Customer)
_IDENTITIES = table_of(CustomerIdentity)
_MODELS = table_of(MatchModel)


@dataclass(frozen=True)
class Thresholds:
    """The probabilities that separate ignore / review / merge."""

    auto_merge: float
    review: float

    def __post_init__(self) -> None:
        if not 0 < self.review < self.auto_merge < 1:
            raise InvalidInput("thresholds must satisfy 0 < review < auto-merge < 1")

    @classmethod
    def of(cls, settings: IdentitySettings) -> Thresholds:
        """The thresholds configured in ``identity`` settings (the batch job's defaults)."""
        return cls(auto_merge=settings.auto_merge_probability, review=settings.review_probability)


@dataclass(frozen=True)
class Profiles:
    """Active profiles as matching records (decrypted, in memory only); ``partners``: for
    each, the profiles it shares an identifier conflict with (``contested_identifiers``)."""

    records: dict[uuid.UUID, dict[str, str | None]]
    created_at: dict[uuid.UUID, datetime]
    partners: dict[uuid.UUID, set[uuid.UUID]] = field(default_factory=dict)


@dataclass(frozen=True)
class Contested:
    """Identifier values profiles are in conflict over: per person (root profile), the keys
    of those values (kind and keyed hash, as text) and the persons on the other side."""

    values: dict[uuid.UUID, set[str]] = field(default_factory=dict)
    partners: dict[uuid.UUID, set[uuid.UUID]] = field(default_factory=dict)


def _contested_statement(*, of_persons: bool) -> Select[str, bytes, uuid.UUID, uuid.UUID]:
    """Conflicts as (kind, keyed value, keeper's person, holder's person), each side as its
    root profile; ``of_persons``: only those of the persons ``:ids`` (their own profiles and
    those merged into them, each side found by its index). Built once: built per call, the
    statement cost 3 ms a match to construct and compile, against 0.2 ms to run."""
    keeper, holder = _CUSTOMERS.alias("keeper"), _CUSTOMERS.alias("holder")
    conflicts = table_of(IdentifierConflict)
    query = select(
        conflicts.c.kind,
        conflicts.c.value_index,
        func.coalesce(keeper.c.merged_into_id, keeper.c.id),
        func.coalesce(holder.c.merged_into_id, holder.c.id),
    ).select_from(
        conflicts.join(keeper, keeper.c.id == conflicts.c.customer_id).join(
            holder, holder.c.id == conflicts.c.owner_id
        )
    )
    if not of_persons:
        return query
    ids = bindparam("ids", expanding=True, type_=_CUSTOMERS.c.id.type)
    profiles = select(_CUSTOMERS.c.id).where(
        or_(_CUSTOMERS.c.id.in_(ids), _CUSTOMERS.c.merged_into_id.in_(ids))
    )
    return query.where(
        or_(conflicts.c.customer_id.in_(profiles), conflicts.c.owner_id.in_(profiles))
    )


_CONTESTED = _contested_statement(of_persons=False)
_CONTESTED_OF = _contested_statement(of_persons=True)


def contested_identifiers(
    session: Session, customer_ids: Sequence[uuid.UUID] | None = None
) -> Contested:
    """The identifier values (of ``CONTESTED_KINDS``) in conflict between profiles — the
    keeper's and the holder's — for these persons (all when ``None``). Both sides are counted
    as their root profile, so a conflict survives a merge of either side into a third."""
    rows = (
        session.execute(_CONTESTED)
        if customer_ids is None
        else session.execute(_CONTESTED_OF, {"ids": list(customer_ids)})
    )
    found = Contested()
    for kind, value_index, one, other in rows:
        if rule_kind(kind) not in CONTESTED_KINDS or one == other:
            continue
        key = f"{kind}:{bytes(value_index).hex()}"
        for person, partner in ((one, other), (other, one)):
            found.values.setdefault(person, set()).add(key)
            found.partners.setdefault(person, set()).add(partner)
    return found


def load_profiles(
    session: Session,
    store: Store,
    *,
    customer_ids: Sequence[uuid.UUID] | None = None,
    opener: Opener | None = None,
    external_ids: bool = True,
    contested: bool = True,
) -> Profiles:
    """The active profiles (all, or these ids) as normalised matching records.

    Without ``external_ids`` their external identifiers are not read (``external_id`` is
    ``None``): for candidates scored against a profile that has none, whose external-id
    comparison is then "missing" (weight 0) whatever theirs are, the join would only cost a
    look-up and a row read per candidate. Likewise without ``contested`` their identifier
    conflicts are not read (``contested`` is ``None``: "shares none", weight 0, as it is for
    any candidate of a profile in no conflict).

    Identifiers are decrypted through ``security.pii.revealing`` under ``MATCHING_PRINCIPAL``
    (one audit entry per customer, in the caller's transaction): in a block per few thousand
    profiles, or through ``opener``, the caller's ``matching_reveals`` block (audited when it
    ends: one append for every profile a job step opens).
    """
    # Core columns: the incremental path's reads skip the ORM's per-statement compilation.
    customers, identities = _CUSTOMERS.c, _IDENTITIES.c
    sealed = [customers[f"{name}_sealed"] for name in _REVEALED]
    # Profiles and their external ids in one statement (one round trip): a row per external
    # id, or one with none (few profiles have several). Given ids, both tables are read by
    # them (primary key, customer_id index): with the ids on the identities side too, no
    # planner scans the identities for the external kinds, even before any ANALYZE (a status
    # condition in SQL can also lead SQLite's planner to scan every active profile).
    joined_on = [
        identities.customer_id == customers.id,
        identities.kind.startswith(EXTERNAL_ID_PREFIX, autoescape=True),
    ]
    if customer_ids is not None:
        joined_on.append(identities.customer_id.in_(list(customer_ids)))
    profile = (customers.id, customers.created_at, customers.city, customers.status)
    if external_ids:
        query = select(
            *profile, identities.id, identities.kind, identities.value_index, *sealed
        ).select_from(_CUSTOMERS.outerjoin(_IDENTITIES, and_(*joined_on)))
    else:
        # No identity id, kind nor value: the columns of the join above.
        query = select(*profile, null(), null(), null(), *sealed)
    if customer_ids is not None:
        query = query.where(customers.id.in_(list(customer_ids)))
    else:
        query = query.where(customers.status == "active")
    found: dict[uuid.UUID, Sequence[Any]] = {}
    external: dict[uuid.UUID, tuple[int, str]] = {}
    for joined in session.execute(query):
        customer_id = joined[0]
        if joined[3] != "active":
            continue
        found.setdefault(customer_id, joined)
        identity_id, kind, value_index = joined[4:7]
        if identity_id is None or not kind.startswith(EXTERNAL_ID_PREFIX):
            continue
        if customer_id not in external or identity_id < external[customer_id][0]:  # the oldest
            external[customer_id] = (identity_id, f"{kind}:{bytes(value_index).hex()}")
    rows = list(found.values())
    conflicts = contested_identifiers(session, customer_ids) if contested else Contested()
    records: dict[uuid.UUID, dict[str, str | None]] = {}
    for start in range(0, len(rows), _REVEAL_CHUNK):
        chunk = rows[start : start + _REVEAL_CHUNK]
        wanted = {row[0]: dict(zip(_REVEALED, row[7:], strict=True)) for row in chunk}
        if opener is None:
            with matching_reveals(session, store) as own:
                opened = own(wanted)
        else:
            opened = opener(wanted)
        for row in chunk:
            values = opened[row[0]]
            records[row[0]] = matching_record(
                first_name=values["first_name"],
                last_name=values["last_name"],
                email=values["email"],
                phone=values["phone"],
                birth_date=values["birth_date"],
                postal_code=values["postal_code"],
                city=row[2],
                street=values["street_address"],
                external_id=external[row[0]][1] if row[0] in external else None,
                contested=conflicts.values.get(row[0], ()),
            )
    return Profiles(
        records=records,
        created_at={row[0]: row[1] for row in rows},
        partners={c: conflicts.partners[c] for c in records if c in conflicts.partners},
    )


def matching_reveals(session: Session, store: Store) -> AbstractContextManager[Opener]:
    """A ``pii.revealing`` block of the matching job: decrypts under ``MATCHING_PRINCIPAL``,
    audited (one entry per customer) when the block ends."""
    return revealing(
        session,
        store.keystore,
        principal=MATCHING_PRINCIPAL,
        subject_type="customer",
        reason=_REASON,
    )


def keyed_blocking_keys(store: Store, record: Mapping[str, str | None]) -> list[tuple[str, bytes]]:
    """A record's blocking keys as (kind, HMAC) pairs: what ``match_blocking_keys`` stores."""
    return [
        (kind, store.index(f"match:{kind}", value)) for kind, value in blocking_keys(record).items()
    ]


def replace_blocking_keys(
    session: Session,
    keys: Mapping[uuid.UUID, Sequence[tuple[str, bytes]]],
    *,
    everyone: bool = False,
) -> int:
    """Store these customers' keyed blocking keys (``keyed_blocking_keys``), replacing theirs
    (or, with ``everyone``, the whole table's). Returns the number of keys written.

    Customers whose stored keys are already these are left alone: an identify call that
    changed no identifier, the usual one, writes nothing here."""
    table = table_of(MatchBlockingKey)
    if everyone:
        session.execute(delete(table))
        changed = dict(keys)
    else:
        stored: dict[uuid.UUID, set[tuple[str, bytes]]] = {customer: set() for customer in keys}
        for customer_id, kind, key in session.execute(
            select(table.c.customer_id, table.c.kind, table.c.key).where(
                table.c.customer_id.in_(list(keys))
            )
        ):
            stored[customer_id].add((kind, bytes(key)))
        changed = {
            customer: pairs for customer, pairs in keys.items() if set(pairs) != stored[customer]
        }
        replaced = [customer for customer in changed if stored[customer]]
        if replaced:
            session.execute(delete(table).where(table.c.customer_id.in_(replaced)))
    rows = [
        {"customer_id": customer_id, "kind": kind, "key": key}
        for customer_id, pairs in changed.items()
        for kind, key in pairs
    ]
    for start in range(0, len(rows), 10_000):
        session.execute(insert(table), rows[start : start + 10_000])
    return len(rows)


def latest_model(session: Session) -> MatchModel | None:
    """The newest trained model, or ``None`` before the batch job first ran."""
    return session.scalars(select(MatchModel).order_by(MatchModel.version.desc()).limit(1)).first()


@dataclass(frozen=True)
class ModelHeader:
    """The newest model's id, version and thresholds, without its settings document, and when
    it was trained (with the id, what tells one database's model from another's: a process's
    tests open many databases, each with its model 1)."""

    id: int
    version: int
    auto_merge_probability: float
    review_probability: float
    created_at: datetime


def latest_model_header(session: Session) -> ModelHeader | None:
    """``latest_model`` without loading the settings (the per-call check of the hot path)."""
    models = _MODELS.c
    row = session.execute(
        select(
            models.id,
            models.version,
            models.auto_merge_probability,
            models.review_probability,
            models.created_at,
        )
        .order_by(models.version.desc())
        .limit(1)
    ).first()
    return None if row is None else ModelHeader(*row)


def save_model(
    session: Session, *, settings: dict[str, Any], thresholds: Thresholds, customers: int
) -> MatchModel:
    """Store a newly trained model as the next version."""
    current = latest_model(session)
    model = MatchModel(
        version=(current.version + 1) if current is not None else 1,
        settings=settings,
        auto_merge_probability=thresholds.auto_merge,
        review_probability=thresholds.review,
        customers=customers,
    )
    session.add(model)
    session.flush()
    return model


@dataclass(frozen=True)
class PairScore:
    """A scored pair of profiles (``left < right``) with its explanation."""

    left: uuid.UUID
    right: uuid.UUID
    match_probability: float
    match_weight: float
    explanation: list[dict[str, Any]]


@dataclass
class Decisions:
    """What scoring led to: candidates queued for review and automatic merges."""

    queued: list[int] = field(default_factory=list)
    auto_merged: list[int] = field(default_factory=list)
    already_known: int = 0
    already_one: int = 0
    #: Per pair at or above the review threshold: "auto_merged", "pending" or "known" (decided
    #: before, or already one person).
    outcomes: dict[tuple[uuid.UUID, uuid.UUID], str] = field(default_factory=dict)


def decide(
    session: Session,
    store: Store,
    *,
    pairs: Iterable[PairScore],
    created_at: Mapping[uuid.UUID, datetime],
    thresholds: Thresholds,
    model_version: str,
    seniority: Mapping[uuid.UUID, int] | None = None,
) -> Decisions:
    """Record every pair at or above the review threshold as a ``match_candidates`` row and
    merge those at or above the automatic threshold (``merge_customers`` marks them
    ``auto_merged``); the older profile survives (profiles created at the same moment: the
    first in ``seniority``, then the lower id). Pairs are taken by probability, best first,
    those of equal probability in the order given.

    A pair already in the table (pending, merged or rejected by a reviewer) is left as it is,
    so a person's "these two differ" is never overturned by a re-run. Pairs whose profiles are
    already one person (merged, e.g. through a third profile) are skipped.
    """
    wanted = sorted(
        (p for p in pairs if p.match_probability >= thresholds.review),
        key=lambda p: -p.match_probability,
    )
    decisions = Decisions()
    known = _known_pairs(session, [(p.left, p.right) for p in wanted])
    # Where the pairs' profiles were merged into before this run: read at once, not per pair.
    roots = _merged_into(
        session,
        sorted({c for p in wanted if (p.left, p.right) not in known for c in (p.left, p.right)}),
    )
    for pair in wanted:
        decisions.outcomes[(pair.left, pair.right)] = "known"
        if (pair.left, pair.right) in known:
            decisions.already_known += 1
            continue
        left, right = _root(roots, pair.left), _root(roots, pair.right)
        if left == right:
            decisions.already_one += 1
            continue
        candidate = MatchCandidate(
            left_id=pair.left,
            right_id=pair.right,
            match_probability=pair.match_probability,
            match_weight=pair.match_weight,
            explanation=pair.explanation,
            status="pending",
            model_version=model_version,
        )
        if pair.match_probability < thresholds.auto_merge:
            session.add(candidate)
            session.flush()
            decisions.queued.append(candidate.id)
            decisions.outcomes[(pair.left, pair.right)] = "pending"
            continue
        survivor, absorbed = sorted(
            (left, right),
            key=lambda c: (
                created_at.get(c) or _LATEST,
                (seniority or {}).get(c, len(created_at)),
                str(c),
            ),
        )
        merge_customers(
            session,
            store,
            survivor_id=survivor,
            absorbed_id=absorbed,
            principal=MATCHING_PRINCIPAL,
            reason=f"automatic merge: match probability {pair.match_probability:.4f}",
            new_candidate=candidate,
        )
        roots[absorbed] = survivor
        # Its id from the identity map: the merge stored the candidate and then expired the
        # session's objects, so reading ``candidate.id`` would load the row again.
        identity = inspect(candidate).identity
        assert identity is not None
        decisions.auto_merged.append(identity[0])
        decisions.outcomes[(pair.left, pair.right)] = "auto_merged"
    return decisions


def _root(roots: Mapping[uuid.UUID, uuid.UUID], customer: uuid.UUID) -> uuid.UUID:
    """The person a profile belongs to now: merges made in this run, then the stored pointer."""
    while customer in roots:
        customer = roots[customer]
    return customer


def _merged_into(session: Session, customers: Sequence[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """The profile each of these (and each profile they point to) was merged into, for those
    merged: a statement per 500 profiles, not one per profile."""
    pointers: dict[uuid.UUID, uuid.UUID] = {}
    table = _CUSTOMERS.c
    read: set[uuid.UUID] = set()
    unread = list(customers)
    while unread:
        read.update(unread)
        for start in range(0, len(unread), 500):
            # Both columns, no condition on the pointer: the primary key alone is used.
            rows = session.execute(
                select(table.id, table.merged_into_id).where(
                    table.id.in_(unread[start : start + 500])
                )
            )
            pointers.update((c, pointer) for c, pointer in rows if pointer is not None)
        unread = sorted({p for p in pointers.values() if p not in read})
    return pointers


def _known_pairs(
    session: Session, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    known: set[tuple[uuid.UUID, uuid.UUID]] = set()
    candidates = table_of(MatchCandidate).c
    for start in range(0, len(pairs), 500):
        chunk = pairs[start : start + 500]
        rows = session.execute(
            select(candidates.left_id, candidates.right_id).where(
                tuple_(candidates.left_id, candidates.right_id).in_(chunk)
            )
        )
        known.update((left, right) for left, right in rows)
    return known


def ordered(a: uuid.UUID, b: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    """A pair in the stored order (``left < right``, as the database compares UUIDs)."""
    return (a, b) if a < b else (b, a)
