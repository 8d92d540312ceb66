"""Customer profiles and the identifiers that point at them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from clientvault.store.base import Base, BigIntId, BlindIndex, JsonDocument, Sealed, new_id, utcnow

#: Direct identifiers: stored only sealed with the customer's data key.
SEALED_FIELDS = (
    "email",
    "phone",
    "first_name",
    "last_name",
    "street_address",
    "postal_code",
    "birth_date",
    "username",
)


class Customer(Base):
    """One person. Clear columns are coarse (for segmentation); identifiers are sealed."""

    __tablename__ = "customers"
    #: The customer list's default order (newest first), read a page at a time by keyset.
    __table_args__ = (Index("ix_customers_created_at_id", "created_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    source: Mapped[str | None] = mapped_column(String(64))
    #: Set on a profile absorbed by a merge (status "merged"): the profile it now lives in, always
    #: the root of its merge tree, so consent and audience filters need one hop, never a walk.
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )

    # Coarse attributes, in the clear for segmentation.
    country: Mapped[str | None] = mapped_column(String(2), index=True)
    city: Mapped[str | None] = mapped_column(String(100))
    postal_prefix: Mapped[str | None] = mapped_column(String(3))
    birth_year: Mapped[int | None] = mapped_column(SmallInteger)
    birthday: Mapped[str | None] = mapped_column(String(5), index=True)  # "MM-DD"
    gender: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(8))
    traits: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)

    # Direct identifiers, sealed (store.envelope format).
    email_sealed: Mapped[bytes | None] = mapped_column(Sealed)
    phone_sealed: Mapped[bytes | None] = mapped_column(Sealed)
    first_name_sealed: Mapped[bytes | None] = mapped_column(Sealed)
    last_name_sealed: Mapped[bytes | None] = mapped_column(Sealed)
    street_address_sealed: Mapped[bytes | None] = mapped_column(Sealed)
    postal_code_sealed: Mapped[bytes | None] = mapped_column(Sealed)
    birth_date_sealed: Mapped[bytes | None] = mapped_column(Sealed)
    #: Segment's ``username`` trait: it names the person as surely as their e-mail does.
    username_sealed: Mapped[bytes | None] = mapped_column(Sealed)

    # Blind indexes of the normalised e-mail and phone. Not indexed here: a profile is found
    # by them through the identity graph's lookup index, which holds every e-mail and phone
    # a profile brought (``graph.holds_current``).
    email_index: Mapped[bytes | None] = mapped_column(BlindIndex)
    phone_index: Mapped[bytes | None] = mapped_column(BlindIndex)

    # For the customer list (``customers.search``), written with the sealed fields
    # (``identity.profiles.sealed_columns``): a masked e-mail hint (``r•••@example.com``: the
    # first character and the domain, never the rest of the address) and blind indexes of the
    # normalised first and last names (``identity.normalise.normalise_name``). The name
    # indexes are keyed hashes like the e-mail's: only an exact normalised name finds a row.
    email_hint: Mapped[str | None] = mapped_column(String(80))
    first_name_index: Mapped[bytes | None] = mapped_column(BlindIndex, index=True)
    last_name_index: Mapped[bytes | None] = mapped_column(BlindIndex, index=True)


class CustomerIdentity(Base):
    """An identifier (user id, anonymous id, e-mail, phone, device, external id) seen for a
    customer, stored as its blind index only."""

    __tablename__ = "customer_identities"
    __table_args__ = (Index("ix_customer_identities_lookup", "kind", "value_index"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    value_index: Mapped[bytes] = mapped_column(BlindIndex)
    source: Mapped[str | None] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdentifierConflict(Base):
    """An identifier a profile brought that another profile already holds at its kind's limit
    (``identity.max_customers_per_value``, one for user and external ids): kept here for the
    profile that brought it — blind index only, like every identifier in the graph — instead
    of being dropped, and never used to stitch. ``owner_id`` is the profile holding it (the
    oldest link). Matching reads these as evidence that the two profiles are one person
    (``matching.store.load_profiles``); a call's or an import's answer counts them.
    """

    __tablename__ = "identifier_conflicts"
    #: Also the index of a profile's conflicts (it leads with the customer); the lookup
    #: index finds the profiles keeping a value (``graph.holds_current``).
    __table_args__ = (
        UniqueConstraint("customer_id", "kind", "value_index"),
        Index("ix_identifier_conflicts_lookup", "kind", "value_index"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    value_index: Mapped[bytes] = mapped_column(BlindIndex)
    source: Mapped[str | None] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


#: Review states of a match candidate.
MATCH_STATUSES = ("pending", "merged", "rejected", "auto_merged")


class MatchCandidate(Base):
    """A pair of profiles that probabilistic matching scored as possibly the same person.

    ``left_id < right_id`` so each pair is stored once. ``explanation`` lists the match weight of
    each comparison: ``[{"comparison": str, "level": str, "weight": float}, ...]``.
    """

    __tablename__ = "match_candidates"
    __table_args__ = (
        UniqueConstraint("left_id", "right_id"),
        CheckConstraint("left_id < right_id", name="ordered_pair"),
        CheckConstraint(
            "status IN ('pending', 'merged', 'rejected', 'auto_merged')", name="status"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    left_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    right_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    match_probability: Mapped[float] = mapped_column(Float)
    match_weight: Mapped[float] = mapped_column(Float)
    explanation: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument, default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    model_version: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
    decided_by: Mapped[str | None] = mapped_column(String(64))


class CustomerMerge(Base):
    """One merge of a profile (and everything already merged into it) into a survivor.

    Both profiles keep their own rows; the absorbed one only changes status and points at its
    root survivor. ``absorbed_prior`` keeps what the merge changed on the absorbed profile
    (status, updated time) so an un-merge puts it back exactly; ``customer_merge_moves`` keeps
    every other row the merge re-pointed. ``undone_at`` is set by the un-merge.
    """

    __tablename__ = "customer_merges"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    survivor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    absorbed_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    candidate_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("match_candidates.id", ondelete="SET NULL")
    )
    absorbed_prior: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    reason: Mapped[str] = mapped_column(String(200))
    merged_at: Mapped[datetime] = mapped_column(default=utcnow)
    merged_by: Mapped[str] = mapped_column(String(64))
    undone_at: Mapped[datetime | None] = mapped_column()
    undone_by: Mapped[str | None] = mapped_column(String(64))
    undo_reason: Mapped[str | None] = mapped_column(String(200))


class CustomerMergeMove(Base):
    """A row a merge re-pointed from one customer to another, so the un-merge can undo it:
    ``table_name`` and ``row_id`` (its primary key as text) name the row, ``column`` the
    customer reference that changed, ``from_customer_id`` its value before the merge."""

    __tablename__ = "customer_merge_moves"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    merge_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customer_merges.id", ondelete="CASCADE"), index=True
    )
    table_name: Mapped[str] = mapped_column(String(64))
    column: Mapped[str] = mapped_column(String(64))
    row_id: Mapped[str] = mapped_column(String(40))
    from_customer_id: Mapped[uuid.UUID] = mapped_column()
