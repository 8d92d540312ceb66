"""TOTP second factor (RFC 6238, via pyotp) and single-use recovery codes.

The TOTP secret is sealed with the user's own data key, like customers' identifiers. A code
is accepted once: the time step it belongs to is remembered, and the same or an earlier step
is refused (and audited) as a replay. Ten recovery codes are shown once and kept hashed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import pyotp
import segno
from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.errors import Conflict, InvalidInput
from clientvault.security import audit
from clientvault.security.accounts import end_all_sessions, revoke_tokens
from clientvault.security.models import RecoveryCode, User
from clientvault.security.principal import Principal
from clientvault.store.base import utcnow
from clientvault.store.keystore import Keystore
from clientvault.store.sealing import seal_fields
from clientvault.store.unsealing import open_rows

ISSUER = "clientvault"
RECOVERY_CODES = 10
_COLUMN = "totp_secret"
_STEP = 30


@dataclass(frozen=True)
class Enrolment:
    """What a user needs to add clientvault to an authenticator app."""

    secret: str
    uri: str
    qr_svg: str


def _record(session: Session, user: User, action: str) -> None:
    """Audit ``action`` on ``user``'s account, done by the user themselves."""
    audit.record(
        session,
        principal=Principal(kind="user", id=str(user.id)),
        action=action,
        target_type="user",
        target_ids=[str(user.id)],
    )


def begin_enrolment(session: Session, keystore: Keystore, *, user: User) -> Enrolment:
    """Start (or restart) TOTP enrolment: a new secret, its URI and a QR code drawn locally."""
    if user.totp_confirmed:
        raise Conflict("MFA is already set up; reset it first")
    secret = pyotp.random_base32()
    key = keystore.keys_for([user.id]).get(user.id) or keystore.create_keys([user.id])[user.id]
    user.totp_secret_sealed = seal_fields(key, {_COLUMN: secret})[_COLUMN]
    user.totp_last_step = None
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    qr_svg = segno.make(uri, error="m").svg_inline(scale=4, dark="#111827")
    _record(session, user, "mfa.enrolment_started")
    return Enrolment(secret=secret, uri=uri, qr_svg=qr_svg)


def confirm_enrolment(
    session: Session, keystore: Keystore, *, user: User, code: str, now: float | None = None
) -> list[str]:
    """Finish enrolment with a first valid code; returns the recovery codes (shown once)."""
    if user.totp_secret_sealed is None or user.totp_confirmed:
        raise Conflict("no MFA enrolment is in progress")
    if not verify_totp(session, keystore, user=user, code=code, now=now):
        raise InvalidInput(
            "the code is not right; check the authenticator's clock", details={"field": "code"}
        )
    user.totp_confirmed = True
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
    for old in session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)):
        session.delete(old)
    session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash_code(code_)) for code_ in codes)
    _record(session, user, "mfa.enrolled")
    return codes


def verify_totp(
    session: Session, keystore: Keystore, *, user: User, code: str, now: float | None = None
) -> bool:
    """Whether ``code`` is valid now and was not used before (replays are refused and logged)."""
    if user.totp_secret_sealed is None or not code.strip().isdigit():
        return False
    secret = open_rows(keystore, {user.id: {_COLUMN: user.totp_secret_sealed}})[user.id][_COLUMN]
    assert secret is not None
    totp = pyotp.TOTP(secret)
    moment = time.time() if now is None else now
    current = int(moment // _STEP)
    for step in (current, current - 1, current + 1):  # one step of clock drift either way
        if hmac.compare_digest(totp.at(step * _STEP), code.strip()):
            if user.totp_last_step is not None and step <= user.totp_last_step:
                _record(session, user, "mfa.replay_refused")
                return False
            user.totp_last_step = step
            return True
    _record(session, user, "mfa.failed")
    return False


def use_recovery_code(session: Session, *, user: User, code: str) -> bool:
    """Accept an unused recovery code once."""
    wanted = _hash_code(code.strip().lower())
    for stored in session.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ):
        if hmac.compare_digest(stored.code_hash, wanted):
            stored.used_at = utcnow()
            _record(session, user, "mfa.recovery_code_used")
            return True
    return False


def reset(session: Session, *, user: User, by: Principal) -> None:
    """Remove a user's second factor (they must enrol again); ends their sessions and revokes
    their API tokens, which were made from a session that passed the old factor."""
    user.totp_secret_sealed, user.totp_confirmed, user.totp_last_step = None, False, None
    for old in session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)):
        session.delete(old)
    end_all_sessions(session, user)
    revoke_tokens(session, user=user, by=by, reason="mfa.reset")
    audit.record(
        session, principal=by, action="mfa.reset", target_type="user", target_ids=[str(user.id)]
    )


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()
