"""A customer's consent decisions over time, as the append-only ledger records them: grants at
sign-up (or later), re-confirmations when a new privacy policy version comes out, and
withdrawals (an unsubscribe link, the preference centre, a request to support)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from clientvault.demo.draw import Weighted

PURPOSES = (
    "marketing_email",
    "marketing_sms",
    "personalisation",
    "analytics",
    "profiling",
    "sale_share",
)
_GRANT_RATE = {
    "marketing_email": 0.55,
    "marketing_sms": 0.22,
    "personalisation": 0.6,
    "analytics": 0.82,
    "profiling": 0.33,
    "sale_share": 0.08,
}
_SIGNUP_CHANNELS = Weighted(("web", "checkout", "mobile_app"), (60, 30, 10))
_WITHDRAW_CHANNELS = Weighted(("preference_centre", "support", "web"), (70, 10, 20))
_WITHDRAW_RATE = {
    "marketing_email": 0.2,
    "marketing_sms": 0.22,
    "personalisation": 0.07,
    "analytics": 0.05,
    "profiling": 0.12,
    "sale_share": 0.3,
}


@dataclass(frozen=True)
class Policy:
    """A version of the privacy policy and when it came into force."""

    version: str
    published_at: datetime


#: (purpose, decision, recorded_at, policy_version, channel)
Decision = tuple[str, str, datetime, str, str]


def policies(start: datetime) -> tuple[Policy, ...]:
    """Three policy versions over the two demo years, named after their month."""
    moments = (start, start + timedelta(days=270), start + timedelta(days=540))
    return tuple(Policy(f"{moment:%Y-%m}", moment) for moment in moments)


def version_at(versions: tuple[Policy, ...], moment: datetime) -> str:
    """The policy version in force at ``moment``."""
    current = versions[0].version
    for policy in versions:
        if policy.published_at <= moment:
            current = policy.version
    return current


def consent_history(
    rng: random.Random,
    *,
    signup_at: datetime,
    horizon: datetime,
    has_email: bool,
    has_phone: bool,
    versions: tuple[Policy, ...],
) -> list[Decision]:
    """Every consent decision of one customer, oldest first.

    A withdrawal always comes after a grant of the same purpose: the ledger never withdraws
    what was not given. SMS and e-mail marketing are only asked of customers who gave a
    number or an address.
    """
    decisions: list[Decision] = []
    signup_channel = _SIGNUP_CHANNELS.pick(rng)
    remaining = max(1.0, (horizon - signup_at).total_seconds())
    for purpose in PURPOSES:
        if (purpose == "marketing_sms" and not has_phone) or (
            purpose == "marketing_email" and not has_email
        ):
            continue
        granted: datetime | None = None
        if rng.random() < _GRANT_RATE[purpose]:
            granted = signup_at + timedelta(seconds=rng.randint(1, 90))
            channel = signup_channel
        elif rng.random() < 0.1:
            granted = signup_at + timedelta(seconds=int(rng.random() * remaining))
            channel = rng.choice(("web", "preference_centre"))
        if granted is None or granted >= horizon:
            continue
        decisions.append((purpose, "granted", granted, version_at(versions, granted), channel))
        for policy in versions:
            if granted < policy.published_at and rng.random() < 0.3:
                again = policy.published_at + timedelta(seconds=int(rng.uniform(0, 60 * 86400)))
                if again < horizon:
                    granted = again
                    decisions.append((purpose, "granted", again, policy.version, "web"))
        if rng.random() < _WITHDRAW_RATE[purpose]:
            left = (horizon - granted).total_seconds()
            withdrawn = granted + timedelta(seconds=1 + int(rng.random() * max(0.0, left - 1)))
            if withdrawn < horizon:
                if purpose == "marketing_email" and rng.random() < 0.6:
                    channel = "email"
                else:
                    channel = _WITHDRAW_CHANNELS.pick(rng)
                version = version_at(versions, withdrawn)
                decisions.append((purpose, "withdrawn", withdrawn, version, channel))
    decisions.sort(key=_recorded_at)
    return decisions


def _recorded_at(decision: Decision) -> datetime:
    return decision[2]
