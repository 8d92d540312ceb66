"""The preference centre's services: what a data subject may do with a signed link.

The link (``links``, purpose ``preferences``) is the subject's verification: it was sent to
the address on their profile, is short-lived and opens only their own preferences. With it
they see and change their consents, unsubscribe in one click, download their data (recorded
as an access request, completed at once) and ask for erasure (a request verified by the link,
which the DPO carries out within its deadline). Every change is audited as the data subject.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput, Unauthenticated
from clientvault.identity.models import Customer
from clientvault.identity.profiles import find_by_email
from clientvault.messaging.models import OutboxMessage
from clientvault.privacy import consent, links, notices, purposes
from clientvault.privacy.requests import actions, lifecycle
from clientvault.privacy.requests.models import DataSubjectRequest
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.settings import PrivacySettings
from clientvault.store.base import utcnow
from clientvault.store.context import Store

#: The consent ledger's channel for decisions taken here.
CHANNEL = "preference_centre"
#: Acts for the data subject when the export needs the privacy core's permissions.
SELF_SERVICE = Principal.system("preference-centre", "privacy:manage", "pii:reveal", "pii:export")
#: What a one-click unsubscribe withdraws unless the link names another purpose.
UNSUBSCRIBE_PURPOSE = "marketing_email"
#: Requests a subject may make from the preference centre.
SELF_SERVICE_KINDS = ("erasure", "portability", "restriction", "objection", "opt_out")
#: At most one link e-mail per profile in this time (the form can be sent by anyone).
LINK_COOLDOWN = timedelta(minutes=10)
#: Profiles sharing one address (duplicates not merged yet) each get their own link, up to this.
MAX_PROFILES_PER_ADDRESS = 3


@dataclass(frozen=True)
class PurposeChoice:
    """One purpose as the subject sees it: whether it needs their consent, and theirs."""

    code: str
    title: str
    description: str
    legal_basis: str
    needs_consent: bool
    granted: bool


@dataclass(frozen=True)
class CentreView:
    """Everything the preference centre page shows (no identifiers)."""

    customer_id: uuid.UUID
    choices: list[PurposeChoice]
    requests: list[DataSubjectRequest]


def open_centre(
    session: Session, store: Store, *, policy: PrivacySettings, token: str, gpc: bool = False
) -> uuid.UUID:
    """The customer a preference link opens; ``Unauthenticated`` if it opens nothing.

    ``gpc``: the request carried ``Sec-GPC: 1`` (Global Privacy Control), which records the
    customer's opt-out of sale/share as the law asks, before the page shows their choices."""
    grant = links.check(
        session, key=links.link_key(store, policy), purpose="preferences", token=token
    )
    customer = session.get(Customer, grant.customer_id)
    if customer is None or customer.status == "erased":
        raise Unauthenticated(links.INVALID_LINK)
    if gpc:
        consent.record_gpc_opt_out(
            session,
            customer_id=grant.customer_id,
            policy_version=policy.policy_version,
            source="Sec-GPC (preference centre)",
        )
    return grant.customer_id


def view(session: Session, *, customer_id: uuid.UUID) -> CentreView:
    """The subject's purposes with their current decisions, and their requests."""
    states = consent.current_consents(session, customer_id=customer_id)
    choices = [
        PurposeChoice(
            code=p.code,
            title=p.title,
            description=p.description,
            legal_basis=p.legal_basis,
            needs_consent=p.needs_consent,
            granted=p.code in states and states[p.code].granted,
        )
        for p in purposes.list_purposes(session)
    ]
    choices.sort(key=lambda c: (not c.needs_consent, c.title))
    return CentreView(
        customer_id=customer_id,
        choices=choices,
        requests=lifecycle.list_requests(session, customer_id=customer_id, limit=20),
    )


def set_consent(
    session: Session,
    store: Store,
    *,
    policy: PrivacySettings,
    token: str,
    purpose: str,
    granted: bool,
) -> uuid.UUID:
    """Give or withdraw consent to one purpose, as easily one way as the other."""
    customer_id = open_centre(session, store, policy=policy, token=token)
    if not purposes.get_purpose(session, purpose).needs_consent:
        raise InvalidInput("this purpose does not rest on consent", details={"field": "purpose"})
    decision: consent.Decision = "granted" if granted else "withdrawn"
    consent.record_decision(
        session,
        customer_id=customer_id,
        purpose=purpose,
        decision=decision,
        policy_version=policy.policy_version,
        channel=CHANNEL,
        source="signed-link",
        proof_ref=f"preferences:{utcnow().isoformat(timespec='seconds')}",
    )
    _audit(session, f"consent.{decision}", customer_id, purpose=purpose)
    return customer_id


def unsubscribe(
    session: Session,
    store: Store,
    *,
    policy: PrivacySettings,
    token: str,
    purpose: str = UNSUBSCRIBE_PURPOSE,
) -> uuid.UUID:
    """One-click unsubscribe (RFC 8058): withdraw consent to ``purpose``."""
    return set_consent(session, store, policy=policy, token=token, purpose=purpose, granted=False)


def download(session: Session, store: Store, *, policy: PrivacySettings, token: str) -> bytes:
    """The subject's export archive; recorded as an access request completed at once."""
    customer_id = open_centre(session, store, policy=policy, token=token)
    request = lifecycle.create_request(
        session,
        store,
        policy=policy,
        intake=lifecycle.Intake(customer_id=customer_id, kind="access", channel="preferences"),
        principal=lifecycle.DATA_SUBJECT,
        verified_by_link=True,
        notify=False,
    )
    data = actions.archive(session, store, request=request, principal=SELF_SERVICE)
    lifecycle.mark_completed(
        session,
        request,
        outcome=f"archive of {len(data)} bytes downloaded by the subject",
        principal=lifecycle.DATA_SUBJECT,
    )
    return data


def make_request(
    session: Session, store: Store, *, policy: PrivacySettings, token: str, kind: str
) -> DataSubjectRequest:
    """Ask for erasure, portability, restriction, objection or opt-out: a request verified by
    the link, which the DPO carries out within its deadline. (Rectification needs the new
    values, which are better given to staff than typed into a form kept in the clear.)"""
    if kind not in SELF_SERVICE_KINDS:
        raise InvalidInput("this request cannot be made here", details={"field": "kind"})
    customer_id = open_centre(session, store, policy=policy, token=token)
    return lifecycle.create_request(
        session,
        store,
        policy=policy,
        intake=lifecycle.Intake(customer_id=customer_id, kind=kind, channel="preferences"),
        principal=lifecycle.DATA_SUBJECT,
        verified_by_link=True,
    )


def send_link(session: Session, store: Store, *, policy: PrivacySettings, email: str) -> int:
    """E-mail a preference-centre link to the address on file, if a customer has it.

    The answer to the visitor is the same whether or not the address is known (the count
    returned is for tests and logs only), and the link goes to the address on the profile,
    never to a page: asking for it proves nothing, opening it does.
    """
    try:
        found = find_by_email(session, store, email=email)
    except InvalidInput:
        return 0
    since = utcnow() - LINK_COOLDOWN
    sent = 0
    for customer_id in found[:MAX_PROFILES_PER_ADDRESS]:
        recent = session.scalar(
            select(func.count()).where(
                OutboxMessage.customer_id == customer_id,
                OutboxMessage.template == "preferences_link",
                OutboxMessage.created_at >= since,
            )
        )
        customer = session.get(Customer, customer_id)
        if recent or customer is None or customer.status == "erased":
            continue
        notices.enqueue(
            session,
            store,
            policy=policy,
            customer_id=customer_id,
            template="preferences_link",
            subject="Your privacy preferences",
            text=(
                "You asked for a link to your privacy preferences. It works for "
                f"{policy.preference_link_hours} hours. If you did not ask, ignore this message."
            ),
        )
        _audit(session, "preferences.link_sent", customer_id)
        sent += 1
    return sent


def _audit(session: Session, action: str, customer_id: uuid.UUID, **details: str) -> None:
    audit.record(
        session,
        principal=lifecycle.DATA_SUBJECT,
        action=action,
        target_type="customer",
        target_ids=[str(customer_id)],
        details={"channel": CHANNEL, **details},
    )
