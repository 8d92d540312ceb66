"""Password sign-in throttling on a real database: wrong passwords lock an account for the
network they came from, not for its owner elsewhere; a spread-out brute force meets the
slower per-account back-off, which still lets the owner in from a network they used before."""

from __future__ import annotations

import pytest

from clientvault.errors import RateLimited, Unauthenticated
from clientvault.security import audit
from clientvault.security.accounts import sign_in
from clientvault.security.passwords import hasher_for
from clientvault.security.principal import Principal
from clientvault.security.throttle import network_of
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.staff import STRONG, add_staff

EMAIL = "boss@example.com"
OWNER_NETWORK = "192.0.2.10"


def _attempt(db: Store, settings: Settings, password: str, client: str) -> str:
    """``ok``, ``wrong`` or ``locked``: one sign-in in its own (committed) transaction."""
    with db.sessions() as session:
        try:
            sign_in(
                session,
                email=EMAIL,
                password=password,
                client=client,
                ph=hasher_for(settings.security),
                policy=settings.security,
            )
            outcome = "ok"
        except Unauthenticated:
            outcome = "wrong"
        except RateLimited:
            outcome = "locked"
        session.commit()
    return outcome


@pytest.fixture
def admin(db: Store, db_settings: Settings) -> str:
    user = add_staff(db, db_settings, email=EMAIL, role="admin").user
    with db.sessions.begin() as session:  # the owner signed in from their network before
        audit.record(
            session,
            principal=Principal(kind="user", id=str(user.id)),
            action="login.succeeded",
            target_type="user",
            target_ids=[str(user.id)],
            details={"network": OWNER_NETWORK},
        )
    return str(user.id)


def test_wrong_passwords_lock_the_account_only_for_their_network(
    db: Store, db_settings: Settings, admin: str
) -> None:
    limit = db_settings.security.account_failures_before_lockout
    attacker = "198.51.100.7"
    assert [_attempt(db, db_settings, "not-it", attacker) for _ in range(limit)] == [
        "wrong"
    ] * limit
    assert _attempt(db, db_settings, STRONG, attacker) == "locked"  # even the right password
    assert _attempt(db, db_settings, STRONG, "203.0.113.5") == "ok"  # another network: in
    assert _attempt(db, db_settings, STRONG, OWNER_NETWORK) == "ok"


def test_a_spread_out_brute_force_meets_the_global_back_off_but_not_the_owner(
    db: Store, db_settings: Settings, admin: str
) -> None:
    backoff = db_settings.security.account_failures_before_backoff
    per_network = db_settings.security.account_failures_before_lockout - 1  # never locked each
    attackers = [f"198.51.100.{n}" for n in range(backoff // per_network + 1)]
    outcomes = [
        _attempt(db, db_settings, "not-it", attacker)
        for attacker in attackers
        for _ in range(per_network)
    ]
    assert outcomes[:backoff] == ["wrong"] * backoff  # bounded: then no more guesses checked
    assert set(outcomes[backoff:]) == {"locked"}
    assert _attempt(db, db_settings, STRONG, "203.0.113.99") == "locked"  # an unknown network
    assert _attempt(db, db_settings, STRONG, OWNER_NETWORK) == "ok"  # the owner's own one


def test_an_ipv6_host_is_one_network_across_its_prefix() -> None:
    assert network_of("2001:db8:1:2::1") == network_of("2001:db8:1:2:ffff::9")
    assert network_of("2001:db8:1:2::1") != network_of("2001:db8:1:3::1")
    assert network_of("192.0.2.1") != network_of("192.0.2.2")
    assert network_of(None) == "unknown"
