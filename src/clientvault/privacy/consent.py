"""Consent and the other choices a customer makes about processing, as append-only ledgers.

* Consent per purpose (``consent_ledger``): granted or withdrawn, with its proof (time,
  policy version, channel, source, reference). Withdrawing is one call, like granting, and is
  honoured at once: audiences read the ledger in their own SQL, there is no cache to expire.
* Global Privacy Control (``Sec-GPC: 1``): recorded as a withdrawal of ``sale_share``.
* Objection to direct marketing (Art. 21(2)-(3) GDPR, absolute) and restriction of processing
  (Art. 18: the data is kept, every processing path leaves the customer out), in
  ``processing_limits``; lifting either is another row, so the history stays auditable.

The current state is always derived from the newest row, never stored beside the ledger.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput, NotFound
from clientvault.identity.models import Customer
from clientvault.privacy.models import ConsentRecord, ProcessingLimit
from clientvault.privacy.purposes import get_purpose
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.store.base import utcnow

Decision = Literal["granted", "withdrawn"]
LimitKind = Literal["objection", "restriction"]
DECISIONS: tuple[Decision, ...] = ("granted", "withdrawn")
#: The purpose a Global Privacy Control signal opts out of.
GPC_PURPOSE = "sale_share"


@dataclass(frozen=True)
class ConsentState:
    """A customer's current decision about one purpose, with the proof of the newest record."""

    purpose: str
    decision: Decision
    recorded_at: datetime
    policy_version: str
    channel: str
    source: str | None
    proof_ref: str | None

    @property
    def granted(self) -> bool:
        """Whether the customer currently consents."""
        return self.decision == "granted"


@dataclass(frozen=True)
class LimitState:
    """Whether an objection or a restriction is in force, and since when (None: never set)."""

    kind: LimitKind
    active: bool
    recorded_at: datetime | None


def _check_text(value: str | None, *, field: str, limit: int, required: bool) -> None:
    if value is None or not value.strip():
        if required:
            raise InvalidInput(f"{field} is required", details={"field": field})
        return
    if len(value) > limit:
        raise InvalidInput(f"{field} is longer than {limit} characters", details={"field": field})


def _check_provenance(*, channel: str, source: str | None, proof_ref: str | None) -> None:
    """Check how a choice reached us (channel, optional source and reference to the proof).

    Both ledgers (consents and processing limits) keep the same proof with every row, so they
    validate it with the same limits; those match the columns' lengths.
    """
    _check_text(channel, field="channel", limit=32, required=True)
    _check_text(source, field="source", limit=64, required=False)
    _check_text(proof_ref, field="proof_ref", limit=200, required=False)


def live_customer(session: Session, customer_id: uuid.UUID) -> Customer:
    """The customer, or ``NotFound`` when there is none (or it was erased)."""
    customer = session.get(Customer, customer_id)
    if customer is None or customer.status == "erased":
        raise NotFound("no such customer")
    return customer


def record_decision(
    session: Session,
    *,
    customer_id: uuid.UUID,
    purpose: str,
    decision: Decision,
    policy_version: str,
    channel: str,
    source: str | None = None,
    proof_ref: str | None = None,
) -> ConsentRecord:
    """Append a consent decision (granted or withdrawn) in the caller's transaction.

    The purpose must be registered and the customer must exist; a withdrawal takes effect for
    every audience built after this transaction commits (and within it).
    """
    if decision not in DECISIONS:
        raise InvalidInput("decision must be granted or withdrawn", details={"field": "decision"})
    _check_text(policy_version, field="policy_version", limit=32, required=True)
    _check_provenance(channel=channel, source=source, proof_ref=proof_ref)
    get_purpose(session, purpose)
    live_customer(session, customer_id)
    record = ConsentRecord(
        customer_id=customer_id,
        purpose=purpose,
        decision=decision,
        recorded_at=utcnow(),
        policy_version=policy_version,
        channel=channel,
        source=source,
        proof_ref=proof_ref,
    )
    session.add(record)
    session.flush()
    return record


def record_on_behalf(
    session: Session,
    *,
    by: Principal,
    customer_id: uuid.UUID,
    purpose: str,
    decision: Decision,
    policy_version: str,
    channel: str,
    proof_ref: str | None = None,
) -> ConsentRecord:
    """Record a decision the customer gave through another channel (a phone call, a paper
    form), entered by a staff member: audited with who entered it, since the customer did
    not click it themselves."""
    record = record_decision(
        session,
        customer_id=customer_id,
        purpose=purpose,
        decision=decision,
        policy_version=policy_version,
        channel=channel,
        source="console",
        proof_ref=proof_ref,
    )
    audit.record(
        session,
        principal=by,
        action="consent.recorded_on_behalf",
        target_type="customer",
        target_ids=[str(customer_id)],
        details={"purpose": purpose, "decision": decision, "channel": channel},
    )
    return record


def record_gpc_opt_out(
    session: Session,
    *,
    customer_id: uuid.UUID,
    policy_version: str,
    source: str | None = None,
    proof_ref: str | None = None,
) -> ConsentRecord | None:
    """Honour a ``Sec-GPC: 1`` signal: opt the customer out of sale/share.

    Nothing is appended when the newest decision is already a withdrawal (a browser sends the
    signal on every request); returns the new record, if any.
    """
    current = current_consents(session, customer_id=customer_id).get(GPC_PURPOSE)
    if current is not None and not current.granted:
        return None
    return record_decision(
        session,
        customer_id=customer_id,
        purpose=GPC_PURPOSE,
        decision="withdrawn",
        policy_version=policy_version,
        channel="gpc",
        source=source or "Sec-GPC",
        proof_ref=proof_ref,
    )


def current_consents(session: Session, *, customer_id: uuid.UUID) -> dict[str, ConsentState]:
    """The customer's current decision per purpose, derived from the ledger (newest wins)."""
    states: dict[str, ConsentState] = {}
    for record in consent_history(session, customer_id=customer_id):
        states[record.purpose] = ConsentState(
            purpose=record.purpose,
            decision="granted" if record.decision == "granted" else "withdrawn",
            recorded_at=record.recorded_at,
            policy_version=record.policy_version,
            channel=record.channel,
            source=record.source,
            proof_ref=record.proof_ref,
        )
    return states


def consent_history(session: Session, *, customer_id: uuid.UUID) -> list[ConsentRecord]:
    """Every consent record of a customer, oldest first (the proof, for exports and the DPO)."""
    return list(
        session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.customer_id == customer_id)
            .order_by(ConsentRecord.recorded_at, ConsentRecord.id)
        )
    )


def _record_limit(
    session: Session,
    *,
    customer_id: uuid.UUID,
    kind: LimitKind,
    active: bool,
    channel: str,
    source: str | None,
    proof_ref: str | None,
) -> ProcessingLimit:
    _check_provenance(channel=channel, source=source, proof_ref=proof_ref)
    live_customer(session, customer_id)
    row = ProcessingLimit(
        customer_id=customer_id,
        kind=kind,
        active=active,
        recorded_at=utcnow(),
        channel=channel,
        source=source,
        proof_ref=proof_ref,
    )
    session.add(row)
    session.flush()
    return row


def record_objection(
    session: Session,
    *,
    customer_id: uuid.UUID,
    channel: str,
    active: bool = True,
    source: str | None = None,
    proof_ref: str | None = None,
) -> ProcessingLimit:
    """Record an objection to direct marketing (absolute: no balancing test), or lift it
    (``active=False``) when the customer says so. Direct-marketing audiences exclude the
    customer whatever their consents."""
    return _record_limit(
        session,
        customer_id=customer_id,
        kind="objection",
        active=active,
        channel=channel,
        source=source,
        proof_ref=proof_ref,
    )


def record_restriction(
    session: Session,
    *,
    customer_id: uuid.UUID,
    channel: str,
    active: bool = True,
    source: str | None = None,
    proof_ref: str | None = None,
) -> ProcessingLimit:
    """Restrict processing of a customer (or lift the restriction): their data is kept, and
    every audience, whatever its purpose, leaves them out while it is in force."""
    return _record_limit(
        session,
        customer_id=customer_id,
        kind="restriction",
        active=active,
        channel=channel,
        source=source,
        proof_ref=proof_ref,
    )


def current_limits(session: Session, *, customer_id: uuid.UUID) -> dict[LimitKind, LimitState]:
    """Whether an objection and a restriction are in force for the customer (newest wins)."""
    states: dict[LimitKind, LimitState] = {
        "objection": LimitState("objection", False, None),
        "restriction": LimitState("restriction", False, None),
    }
    rows = session.scalars(
        select(ProcessingLimit)
        .where(ProcessingLimit.customer_id == customer_id)
        .order_by(ProcessingLimit.recorded_at, ProcessingLimit.id)
    )
    for row in rows:
        kind: LimitKind = "objection" if row.kind == "objection" else "restriction"
        states[kind] = LimitState(kind, row.active, row.recorded_at)
    return states
