"""Staff passwords: argon2id hashes and a policy checked by a real strength estimator.

No truncation (argon2 hashes the whole password, unlike bcrypt's 72 bytes), long passphrases
welcome, a minimum length, and zxcvbn's estimate of how guessable the password is, with the
user's own e-mail and name as context so that "jane.doe2024" is weak for Jane Doe.
"""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from clientvault.errors import InvalidInput
from clientvault.settings import SecuritySettings

MIN_LENGTH = 12
MAX_LENGTH = 1024
MIN_SCORE = 3  # zxcvbn: 3 = "safely unguessable: moderate protection from offline attacks"
_ESTIMATED_PREFIX = 100  # zxcvbn is quadratic; beyond 100 characters strength only grows


@lru_cache(maxsize=4)
def hasher(time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 4) -> PasswordHasher:
    """An argon2id hasher with the given cost (the defaults follow RFC 9106's second choice)."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def hasher_for(policy: SecuritySettings) -> PasswordHasher:
    """The hasher configured for this installation."""
    return hasher(policy.argon2_time_cost, policy.argon2_memory_kib, policy.argon2_parallelism)


def check_policy(password: str, *, user_inputs: list[str]) -> None:
    """Refuse a password that is too short, too long or too guessable, saying why."""
    from zxcvbn import zxcvbn  # imported here: it loads large word lists

    if len(password) < MIN_LENGTH:
        raise InvalidInput(
            f"the password must have at least {MIN_LENGTH} characters",
            details={"field": "password"},
        )
    if len(password) > MAX_LENGTH:
        raise InvalidInput(
            f"the password must have at most {MAX_LENGTH} characters", details={"field": "password"}
        )
    estimate = zxcvbn(
        password[:_ESTIMATED_PREFIX], user_inputs=user_inputs, max_length=_ESTIMATED_PREFIX
    )
    if estimate["score"] < MIN_SCORE:
        advice = estimate["feedback"].get("warning") or "add more words or characters"
        raise InvalidInput(
            f"the password is too easy to guess: {advice}", details={"field": "password"}
        )


def hash_password(password: str, ph: PasswordHasher) -> str:
    """The argon2id hash to store."""
    return ph.hash(password)


def verify_password(stored_hash: str | None, password: str, ph: PasswordHasher) -> bool:
    """Whether ``password`` matches; with no stored hash, spends the same time and says no
    (so an unknown account cannot be told from a wrong password by timing)."""
    if stored_hash is None:
        stored_hash = _dummy_hash(ph)
        password = password + "\x00never"
    try:
        return ph.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _dummy_hash(ph: PasswordHasher) -> str:
    """A hash made once per hasher cost: an unknown account then pays one verification, as a
    known one does (hashing on every call would make it pay two, and give it away)."""
    key = (ph.time_cost, ph.memory_cost, ph.parallelism)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = ph.hash("clientvault-dummy")
    return _dummy_hashes[key]


_dummy_hashes: dict[tuple[int, int, int], str] = {}
