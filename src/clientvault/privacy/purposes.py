"""The registry of processing purposes: what customer data is used for, and on which legal
basis. Audiences, consent records and records of processing all name a purpose from here."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from clientvault.errors import Conflict, InvalidInput, NotFound
from clientvault.privacy.models import LEGAL_BASES, Purpose
from clientvault.security import audit
from clientvault.security.principal import Principal

_CODE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


@dataclass(frozen=True)
class PurposeInfo:
    """A purpose as services see it."""

    code: str
    title: str
    description: str
    legal_basis: str
    direct_marketing: bool

    @property
    def needs_consent(self) -> bool:
        """Whether a customer is processed for this purpose only after granting consent."""
        return self.legal_basis == "consent"


#: The purposes every installation starts with (the migration seeds the same rows).
DEFAULT_PURPOSES: tuple[PurposeInfo, ...] = (
    PurposeInfo(
        "marketing_email",
        "E-mail marketing",
        "Newsletters and offers sent by e-mail.",
        "consent",
        True,
    ),
    PurposeInfo(
        "marketing_sms",
        "SMS marketing",
        "Offers sent by text message.",
        "consent",
        True,
    ),
    PurposeInfo(
        "personalisation",
        "Personalisation",
        "Recommendations and personalised content on the website and in messages.",
        "consent",
        False,
    ),
    PurposeInfo(
        "analytics",
        "Analytics",
        "Aggregated measurement of the website and of sales.",
        "legitimate_interest",
        False,
    ),
    PurposeInfo(
        "profiling",
        "Profiling",
        "Predictive scores and personas built from behaviour.",
        "consent",
        False,
    ),
    PurposeInfo(
        "sale_share",
        "Sale or sharing",
        "Sharing personal data with partners (CCPA sale/share; Global Privacy Control opts out).",
        "consent",
        True,
    ),
    PurposeInfo(
        "order_fulfilment",
        "Order fulfilment",
        "Delivering orders, invoices and service messages.",
        "contract",
        False,
    ),
    PurposeInfo(
        "legal_retention",
        "Legal retention",
        "Keeping accounting records for as long as the law requires.",
        "legal_obligation",
        False,
    ),
)


def _info(row: Purpose) -> PurposeInfo:
    return PurposeInfo(
        code=row.code,
        title=row.title,
        description=row.description,
        legal_basis=row.legal_basis,
        direct_marketing=row.direct_marketing,
    )


def default_purpose_rows() -> list[dict[str, object]]:
    """The default purposes as table rows (the migration's seed data)."""
    return [
        {
            "code": p.code,
            "title": p.title,
            "description": p.description,
            "legal_basis": p.legal_basis,
            "direct_marketing": p.direct_marketing,
        }
        for p in DEFAULT_PURPOSES
    ]


def ensure_default_purposes(session: Session) -> int:
    """Insert the default purposes that are missing (idempotent); returns how many were added."""
    present = set(session.scalars(select(Purpose.code)))
    missing = [row for row in default_purpose_rows() if row["code"] not in present]
    if missing:
        session.execute(insert(Purpose), missing)
    return len(missing)


def list_purposes(session: Session) -> list[PurposeInfo]:
    """Every registered purpose, by code."""
    return [_info(row) for row in session.scalars(select(Purpose).order_by(Purpose.code))]


def get_purpose(session: Session, code: str) -> PurposeInfo:
    """One purpose; ``NotFound`` for a code nobody registered (no purpose, no processing)."""
    row = session.get(Purpose, code)
    if row is None:
        raise NotFound("no such purpose", details={"purpose": code})
    return _info(row)


def create_purpose(session: Session, *, info: PurposeInfo, principal: Principal) -> PurposeInfo:
    """Register a new processing purpose (audited). Purposes are never changed or removed
    here: consent records and audiences name them, so a purpose's meaning must not move
    under the decisions already recorded for it."""
    if not _CODE.match(info.code):
        raise InvalidInput(
            "a purpose code is 2 to 64 lower-case letters, digits or _, starting with a letter",
            details={"field": "code"},
        )
    if info.legal_basis not in LEGAL_BASES:
        raise InvalidInput(
            f"the legal basis is one of {', '.join(LEGAL_BASES)}",
            details={"field": "legal_basis"},
        )
    for name, value, limit in (("title", info.title, 120), ("description", info.description, 500)):
        if not value.strip() or len(value) > limit:
            raise InvalidInput(f"the {name} is 1 to {limit} characters", details={"field": name})
    if session.get(Purpose, info.code) is not None:
        raise Conflict(f"a purpose {info.code!r} exists already")
    session.add(
        Purpose(
            code=info.code,
            title=info.title.strip(),
            description=info.description.strip(),
            legal_basis=info.legal_basis,
            direct_marketing=info.direct_marketing,
        )
    )
    session.flush()
    audit.record(
        session,
        principal=principal,
        action="purpose.created",
        target_type="purpose",
        target_ids=[info.code],
        details={"legal_basis": info.legal_basis},
    )
    return get_purpose(session, info.code)
