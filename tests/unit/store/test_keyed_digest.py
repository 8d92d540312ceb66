"""Keyed digests (blind indexes, tombstones) from a copied keyed state equal plain HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from clientvault.store.sealing import blind_index, keyed_digest


@given(st.lists(st.tuples(st.binary(min_size=1, max_size=64), st.binary(max_size=200)), max_size=8))
def test_keyed_digest_is_hmac_sha256(pairs: list[tuple[bytes, bytes]]) -> None:
    for key, message in pairs:  # several keys in turn: each keeps its own state
        assert keyed_digest(key, message) == hmac.new(key, message, hashlib.sha256).digest()


def test_blind_indexes_separate_kinds_and_keys() -> None:
    assert blind_index(b"k" * 32, "email", "a@b.c") != blind_index(b"k" * 32, "user_id", "a@b.c")
    assert blind_index(b"k" * 32, "email", "a@b.c") != blind_index(b"j" * 32, "email", "a@b.c")
    assert (
        blind_index(b"k" * 32, "email", "a@b.c")
        == hmac.new(b"k" * 32, b"email\x00a@b.c", hashlib.sha256).digest()
    )
