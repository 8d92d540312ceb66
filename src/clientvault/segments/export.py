"""A segment's members leaving the system: the CSV export for a purpose.

Only through ``privacy.audiences.audience(..., purpose=...)``: the members are the segment's
current members *that may be processed for the purpose* (consent, objection, restriction,
erasure, merges — decided by the privacy layer, not here). The export is audited with an
``export.segment`` entry per customer and the row count, which the alert detection reports as
a bulk export like every other export. Coarse attributes only, unless the caller asks for
identifiers: then ``pii:export`` is needed, and the e-mail addresses are opened through the
one audited reveal path (``audiences.email_recipients``). A segment whose audience is smaller
than the minimum group size cannot be exported by a role without ``pii:reveal``.
"""

from __future__ import annotations

import csv
import io
import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.errors import PermissionDenied
from clientvault.identity.models import Customer
from clientvault.privacy.audiences import CustomerQuery, audience, email_recipients
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.segments.models import Segment, SegmentMember
from clientvault.segments.service import get_segment
from clientvault.settings import Settings
from clientvault.store.context import Store

EXPORT_ACTION = "export.segment"


def members_of(segment: Segment) -> CustomerQuery:
    """The segment's current members, as a query of ids (the input of an audience)."""
    return select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment.id)


def export_csv(
    session: Session,
    store: Store,
    segment: Segment,
    *,
    purpose: str,
    principal: Principal,
    min_group_size: int,
    identifiers: bool = False,
    reason: str = "segment export",
) -> str:
    """The segment's audience for ``purpose`` as CSV (customer id, country, city, language,
    and with ``identifiers`` the e-mail address), audited as an export."""
    if not principal.can("segments:manage"):
        raise PermissionDenied("exporting a segment needs segments:manage")
    if identifiers and not principal.can("pii:export"):
        raise PermissionDenied("exporting identifiers needs pii:export")
    query = audience(session, purpose=purpose, customers=members_of(segment))
    size = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    if 0 < size < min_group_size and not principal.can("pii:reveal"):
        raise PermissionDenied(
            f"this audience is smaller than the minimum group size ({min_group_size}): only a "
            "role with pii:reveal may export it",
            code="group_too_small",
        )
    ids = query.subquery()
    rows = session.execute(
        select(Customer.id, Customer.country, Customer.city, Customer.language)
        .where(Customer.id.in_(select(ids.c.id)))
        .order_by(Customer.id)
    ).all()
    emails: dict[uuid.UUID, str] = {}
    if identifiers:
        emails = {
            found.customer_id: found.email
            for found in email_recipients(
                session,
                store,
                principal=principal,
                purpose=purpose,
                customers=members_of(segment),
                reason=reason,
            )
        }
    audit.record(
        session,
        principal=principal,
        action=EXPORT_ACTION,
        target_type="customer",
        target_ids=[str(row[0]) for row in rows],
        reason=reason,
        details={
            "segment": segment.slug,
            "purpose": purpose,
            "rows": len(rows),
            "identifiers": identifiers,
        },
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["customer_id", "country", "city", "language"]
    writer.writerow([*header, "email"] if identifiers else header)
    for customer_id, country, city, language in rows:
        line = [str(customer_id), country or "", city or "", language or ""]
        writer.writerow([*line, emails.get(customer_id, "")] if identifiers else line)
    return out.getvalue()


def export_segment(
    store: Store,
    settings: Settings,
    slug: str,
    *,
    purpose: str,
    principal: Principal,
    reason: str,
    identifiers: bool = False,
) -> str:
    """``export_csv`` of the segment named ``slug`` in a transaction of its own, with the
    installation's minimum group size: what the API, the console and the CLI call."""
    with store.sessions.begin() as session:
        return export_csv(
            session,
            store,
            get_segment(session, slug),
            purpose=purpose,
            principal=principal,
            min_group_size=settings.segments.min_group_size,
            identifiers=identifiers,
            reason=reason,
        )
