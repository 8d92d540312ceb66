"""Retention: personal data is kept only as long as its purpose needs, then purged.

Rules come from the ``retention`` settings: per holder (``ingest.events`` after 25 months,
``ingest.orders`` after the accounting period…), each holder's ``purge`` removing what is
older; and customers inactive for N months (no activity reported by any holder since then)
are erased — without tombstones, so a returning customer can sign up again. Every purge is
audited (what was removed and up to when: counts and ids, never values). The worker runs
``purge`` on a timer; ``clientvault privacy purge`` runs it by hand.

What each period counts from (each holder's ``retention`` text says it in the records of
processing too):

- ``ingest.events``: from when we **received** the event (``received_at``), not the time it
  carries — history imported today is kept for the whole period, not purged at the next run;
- ``ingest.orders``: from the **order date** (``placed_at``): the accounting obligation runs
  from the transaction, so older orders are purged whenever they arrive — an import warns
  before storing any (``ingest.bulk_import``);
- inactive customers: from the customer's **last activity** — the latest of their profile's
  creation or update and the activity every holder reports (events, orders…); an imported
  profile is new, hence active, whatever dates its rows carry.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, select, union
from sqlalchemy.orm import Session

from clientvault.identity.models import Customer
from clientvault.privacy.erasure import erase_customer, require_privacy_principal
from clientvault.privacy.holders.registry import (
    ErasureMode,
    HolderContext,
    check_coverage,
    registered_holders,
)
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.settings import RetentionSettings
from clientvault.store.base import utcnow
from clientvault.store.context import Store


@dataclass(frozen=True)
class RetentionRule:
    """How long one category of data is kept, for which purpose."""

    holder: str
    categories: tuple[str, ...]
    purposes: tuple[str, ...]
    months: int


@dataclass
class PurgeReport:
    """What one purge removed: rows per holder, and how many inactive customers were erased."""

    cutoffs: dict[str, datetime] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    customers_erased: int = 0


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (clamped to the month's end)."""
    index = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    for day in (moment.day, 30, 29, 28):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has a 28th")


def retention_rules(holder_months: dict[str, int]) -> list[RetentionRule]:
    """The rules in force: each registered holder that can purge, with its configured months."""
    return [
        RetentionRule(holder.name, holder.categories, holder.purposes, holder_months[holder.name])
        for holder in registered_holders()
        if holder.purge is not None and holder.name in holder_months
    ]


def inactive_customers(session: Session, *, since: datetime, limit: int) -> list[uuid.UUID]:
    """Up to ``limit`` surviving profiles with no activity any holder knows of since ``since``
    (created before it, too)."""
    activity = [h.activity(since) for h in registered_holders() if h.activity is not None]
    query: Select[uuid.UUID] = select(Customer.id).where(
        Customer.created_at < since,
        Customer.merged_into_id.is_(None),
        Customer.status != "merged",
    )
    if activity:
        active = union(*activity).subquery()
        query = query.where(Customer.id.not_in(select(active.c[0]).where(active.c[0].is_not(None))))
    return list(session.scalars(query.order_by(Customer.created_at).limit(limit)))


def purge(
    session: Session,
    store: Store,
    *,
    principal: Principal,
    holder_months: dict[str, int],
    inactive_customer_months: int | None,
    max_customers: int = 500,
    mode: ErasureMode = "anonymise",
    now: datetime | None = None,
) -> PurgeReport:
    """Apply every retention rule once, in the caller's transaction, and audit each removal."""
    reason = "retention period elapsed"
    require_privacy_principal(principal, reason)
    check_coverage()
    moment = now or utcnow()
    report = PurgeReport()
    ctx = HolderContext(session=session, store=store, principal=principal, reason=reason, mode=mode)
    holders = {h.name: h for h in registered_holders()}
    for rule in retention_rules(holder_months):
        cutoff = months_before(moment, rule.months)
        purge_rows = holders[rule.holder].purge
        assert purge_rows is not None
        removed = purge_rows(ctx, cutoff)
        report.cutoffs[rule.holder], report.rows[rule.holder] = cutoff, removed
        if removed:
            audit.record(
                session,
                principal=principal,
                action="privacy.retention.purged",
                reason=reason,
                details={"holder": rule.holder, "rows": removed, "before": cutoff.isoformat()},
            )
    if inactive_customer_months is not None:
        since = months_before(moment, inactive_customer_months)
        report.cutoffs["inactive_customers"] = since
        for customer_id in inactive_customers(session, since=since, limit=max_customers):
            erase_customer(
                session,
                store,
                customer_id=customer_id,
                principal=principal,
                reason=f"retention: inactive for {inactive_customer_months} months",
                mode=mode,
                tombstones=False,
            )
            report.customers_erased += 1
    return report


#: The principal scheduled purges act as.
RETENTION_JOB = Principal.system("retention", "privacy:manage")


def run_retention(store: Store, policy: RetentionSettings) -> PurgeReport:
    """One scheduled purge under the ``retention`` settings, in its own transaction."""
    with store.sessions.begin() as session:
        return purge(
            session,
            store,
            principal=RETENTION_JOB,
            holder_months=policy.holder_months,
            inactive_customer_months=policy.inactive_customer_months,
            max_customers=policy.max_customers_per_run,
            mode=policy.erasure_mode,
        )
