"""Personal-data holders of the request workflow's tables (registered on import).

A request record is the controller's proof that a right was honoured (Art. 5(2)), so it is
exported and kept on erasure (it holds ids, kinds, dates and states only). Queued e-mails and
signed links are deleted: their content is sealed with the destroyed key anyway.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from clientvault.messaging.models import OutboxMessage
from clientvault.privacy.holders.registry import (
    Holder,
    HolderContext,
    HolderErasure,
    Rows,
    register_holder,
    rows_of,
)
from clientvault.privacy.holders.rows import customer_rows
from clientvault.privacy.requests.models import DataSubjectRequest, LinkToken


def _export_requests(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> Rows:
    return rows_of(ctx.session, DataSubjectRequest, customer_ids=customer_ids)


def _keep_requests(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> HolderErasure:
    kept = len(rows_of(ctx.session, DataSubjectRequest, customer_ids=customer_ids))
    return HolderErasure("retained", kept)


_export_messages, _erase_messages = customer_rows(OutboxMessage, exclude=("body",))
_export_links, _erase_links = customer_rows(LinkToken, exclude=("token_hash",))


REQUESTS = register_holder(
    Holder(
        name="privacy.requests",
        domain="privacy",
        description="Data-subject requests: kind, dates, deadline, status and outcome.",
        tables=("dsr_requests",),
        categories=("privacy requests",),
        purposes=("legal_retention",),
        retention="5 years after the request is closed (proof of compliance)",
        sources=("the customer (preference centre, e-mail, letter)",),
        recipients=("data protection officer",),
        export=_export_requests,
        erase=_keep_requests,
    )
)
MESSAGES = register_holder(
    Holder(
        name="privacy.messages",
        domain="privacy",
        description="E-mails about privacy requests (body sealed, dropped once sent).",
        tables=("mail_outbox",),
        categories=("contact history",),
        purposes=("legal_retention",),
        retention="body until sent; the record as long as the profile",
        sources=("privacy request workflow",),
        recipients=("e-mail delivery (SMTP relay)",),
        export=_export_messages,
        erase=_erase_messages,
    )
)
LINKS = register_holder(
    Holder(
        name="privacy.links",
        domain="privacy",
        description="Signed links sent to the customer (only keyed hashes of their tokens).",
        tables=("privacy_link_tokens",),
        categories=("online identifiers",),
        purposes=("legal_retention",),
        retention="until expiry, then as long as the profile",
        sources=("privacy request workflow",),
        recipients=("none",),
        export=_export_links,
        erase=_erase_links,
    )
)
