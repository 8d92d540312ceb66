"""Audiences: the one way any activation path gets the customers it may process.

``audience(session, purpose=..., customers=...)`` takes any query of customer ids (a segment,
"everyone", one id) and returns a query of the ones that may be processed for the purpose, the
privacy filters written into the SQL itself:

* erased customers never (their ids are in ``erased_customers`` until a restore is cleaned);
* profiles absorbed by a merge never; a surviving profile only if it *and every profile merged
  into it* pass each filter (a merge never lends one profile's consent to another's data);
* restriction of processing in force: excluded, whatever the purpose;
* direct-marketing purposes: an objection in force excludes, whatever the consents;
* purposes resting on consent: the newest decision of each profile must be ``granted``;
  on legitimate interest: a ``withdrawn`` decision is an opt-out and excludes.

The purpose is a required argument and must be registered: no purpose, no audience. Activation
paths (previews, exports, campaign recipients…) register here, so tests can check each one.
"""

from __future__ import annotations

import csv
import functools
import io
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    and_,
    bindparam,
    exists,
    func,
    literal,
    select,
)
from sqlalchemy.orm import Session, aliased

from clientvault.identity.models import Customer
from clientvault.privacy.models import ConsentRecord, ErasedCustomer, ProcessingLimit
from clientvault.privacy.purposes import PurposeInfo, get_purpose
from clientvault.security.pii import reveal
from clientvault.security.principal import Principal
from clientvault.store.context import Store

#: A query of customer ids (one column).
CustomerQuery = Select[uuid.UUID]
_INACTIVE = ("merged", "erased")


def all_customers() -> CustomerQuery:
    """A query of every customer id, the widest base an audience can start from."""
    return select(Customer.id)


def _latest_decision(
    customer_id: SQLColumnExpression[uuid.UUID], purpose: str
) -> ColumnElement[str]:
    newest = (
        select(ConsentRecord.decision)
        .where(ConsentRecord.customer_id == customer_id, ConsentRecord.purpose == purpose)
        .order_by(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(newest, literal("none"))


def _limit_lifted(customer_id: SQLColumnExpression[uuid.UUID], kind: str) -> ColumnElement[bool]:
    newest = (
        select(ProcessingLimit.active)
        .where(ProcessingLimit.customer_id == customer_id, ProcessingLimit.kind == kind)
        .order_by(ProcessingLimit.recorded_at.desc(), ProcessingLimit.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    # Never NULL (a NULL would slip through the NOT EXISTS over merged profiles).
    return func.coalesce(newest, literal(False)).is_(False)


def _profile_passes(
    customer_id: SQLColumnExpression[uuid.UUID], purpose: PurposeInfo
) -> ColumnElement[bool]:
    """The filters one profile must pass for the purpose (each term is never NULL)."""
    terms = [_limit_lifted(customer_id, "restriction")]
    if purpose.direct_marketing:
        terms.append(_limit_lifted(customer_id, "objection"))
    if purpose.legal_basis == "consent":
        terms.append(_latest_decision(customer_id, purpose.code) == "granted")
    elif purpose.legal_basis == "legitimate_interest":
        terms.append(_latest_decision(customer_id, purpose.code) != "withdrawn")
    return and_(*terms)


def audience(session: Session, *, purpose: str, customers: CustomerQuery) -> CustomerQuery:
    """The customers of ``customers`` that may be processed for ``purpose``, as a query.

    Raises ``NotFound`` for an unregistered purpose. The result is a query, not a list, so
    the caller can count, page or join it; every filter is evaluated by the database when the
    query runs, so a decision committed before that is honoured.
    """
    return _audience_query(get_purpose(session, purpose), customers)


def allows(session: Session, customer_id: uuid.UUID, *, purpose: str) -> bool:
    """Whether one customer may be processed for ``purpose`` now: ``audience`` of that one
    customer, for decisions made per web request (personalised content) that must answer in
    milliseconds. The statement is built once per purpose definition and run with the id as a
    parameter: building it costs tens of times more than running it."""
    query = _one_customer_audience(get_purpose(session, purpose))
    return session.scalar(query, {"customer": customer_id}) is not None


@functools.lru_cache(maxsize=64)
def _one_customer_audience(info: PurposeInfo) -> CustomerQuery:
    return _audience_query(info, select(Customer.id).where(Customer.id == bindparam("customer")))


def _audience_query(info: PurposeInfo, customers: CustomerQuery) -> CustomerQuery:
    person = aliased(Customer, name="person")
    absorbed = aliased(Customer, name="absorbed")
    merged_profile_fails = exists(
        select(absorbed.id).where(
            absorbed.merged_into_id == person.id, ~_profile_passes(absorbed.id, info)
        )
    )
    erased = exists(
        select(ErasedCustomer.customer_id).where(ErasedCustomer.customer_id == person.id)
    )
    # A profile absorbed by a merge has status "merged" (``identity.merges`` sets it with
    # ``merged_into_id`` in one statement), so the status test excludes it: a separate
    # ``merged_into_id IS NULL`` would be redundant, and SQLite's planner, lacking statistics,
    # reads every live profile through that index instead of the few ids asked for (20 ms a
    # personalisation decision at 100,000 customers, a full scan per scoring batch).
    return select(person.id).where(
        person.id.in_(customers.scalar_subquery()),
        person.status.not_in(_INACTIVE),
        ~erased,
        _profile_passes(person.id, info),
        ~merged_profile_fails,
    )


# --- activation paths -----------------------------------------------------------------------


@dataclass(frozen=True)
class AudiencePreview:
    """How many customers an audience holds, and a few of their ids."""

    purpose: str
    size: int
    sample: list[uuid.UUID]


def preview_audience(
    session: Session, *, purpose: str, customers: CustomerQuery, sample: int = 20
) -> AudiencePreview:
    """Size and first ids of the audience of ``customers`` for ``purpose`` (API preview)."""
    query = audience(session, purpose=purpose, customers=customers)
    size = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    first = list(session.scalars(query.order_by(None).limit(sample)))
    return AudiencePreview(purpose=purpose, size=size, sample=first)


def audience_csv(session: Session, *, purpose: str, customers: CustomerQuery) -> str:
    """The audience as CSV (customer id and the coarse attributes a marketer may see)."""
    query = audience(session, purpose=purpose, customers=customers).subquery()
    rows = session.execute(
        select(Customer.id, Customer.country, Customer.language)
        .where(Customer.id.in_(select(query.c.id)))
        .order_by(Customer.id)
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["customer_id", "country", "language"])
    for customer_id, country, language in rows:
        writer.writerow([str(customer_id), country or "", language or ""])
    return out.getvalue()


@dataclass(frozen=True)
class EmailRecipient:
    """One addressee of a bulk e-mail: the customer and their decrypted address."""

    customer_id: uuid.UUID
    email: str


def email_recipients(
    session: Session,
    store: Store,
    *,
    principal: Principal,
    purpose: str,
    customers: CustomerQuery,
    reason: str,
) -> list[EmailRecipient]:
    """The e-mail addressees of an audience (campaign sending): customers of the audience who
    have an address, decrypted through the audited reveal path."""
    query = audience(session, purpose=purpose, customers=customers).subquery()
    sealed = session.execute(
        select(Customer.id, Customer.email_sealed).where(
            Customer.id.in_(select(query.c.id)), Customer.email_sealed.is_not(None)
        )
    ).all()
    if not sealed:
        return []
    opened = reveal(
        session,
        store.keystore,
        principal=principal,
        subject_type="customer",
        rows={customer_id: {"email": value} for customer_id, value in sealed},
        reason=reason,
    )
    return [
        EmailRecipient(customer_id=customer_id, email=email)
        for customer_id, values in sorted(opened.items())
        if (email := values.get("email"))
    ]


@dataclass(frozen=True)
class ActivationContext:
    """What an activation path needs to run on behalf of someone."""

    session: Session
    store: Store
    principal: Principal


@dataclass(frozen=True)
class ActivationPath:
    """A way customer data leaves for processing; ``recipients`` lists the ids it would
    process for a purpose, obtained through ``audience`` and nothing else."""

    name: str
    description: str
    recipients: Callable[[ActivationContext, str, CustomerQuery], Sequence[uuid.UUID]]


_PATHS: dict[str, ActivationPath] = {}


def register_activation_path(path: ActivationPath) -> ActivationPath:
    """Register an activation path (campaigns, exports, recommendations add theirs)."""
    _PATHS[path.name] = path
    return path


def activation_paths() -> list[ActivationPath]:
    """Every registered activation path, by name."""
    return [_PATHS[name] for name in sorted(_PATHS)]


def _preview_ids(ctx: ActivationContext, purpose: str, customers: CustomerQuery) -> list[uuid.UUID]:
    return preview_audience(ctx.session, purpose=purpose, customers=customers, sample=10**9).sample


def _csv_ids(ctx: ActivationContext, purpose: str, customers: CustomerQuery) -> list[uuid.UUID]:
    text = audience_csv(ctx.session, purpose=purpose, customers=customers)
    return [uuid.UUID(row["customer_id"]) for row in csv.DictReader(io.StringIO(text))]


def _email_ids(ctx: ActivationContext, purpose: str, customers: CustomerQuery) -> list[uuid.UUID]:
    found = email_recipients(
        ctx.session,
        ctx.store,
        principal=ctx.principal,
        purpose=purpose,
        customers=customers,
        reason="activation path check",
    )
    return [recipient.customer_id for recipient in found]


register_activation_path(
    ActivationPath("api.audience_preview", "audience size and sample (API)", _preview_ids)
)
register_activation_path(
    ActivationPath("api.audience_csv", "audience CSV export for marketing (API)", _csv_ids)
)
register_activation_path(
    ActivationPath("campaigns.email_recipients", "bulk e-mail recipients", _email_ids)
)
