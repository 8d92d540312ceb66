"""The credential module: the stored form of high-entropy secrets is plain SHA-256 (hex), and
new secrets carry 256 random bits behind their kind's prefix."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from clientvault.security.credentials import SECRET_BYTES, hash_secret, new_secret


def test_the_stored_form_is_sha256_hex() -> None:
    # FIPS 180-2's test vectors: the digests every secret stored so far was written with.
    assert hash_secret("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert hash_secret("") == ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


@given(st.text(max_size=200))
def test_hashing_is_deterministic_and_fits_the_columns(secret: str) -> None:
    digest = hash_secret(secret)
    assert digest == hash_secret(secret)
    assert len(digest) == 64  # the width of the token_hash / write_key_hash columns
    assert int(digest, 16) >= 0


def test_new_secrets_carry_their_prefix_and_256_random_bits() -> None:
    drawn = {new_secret("cvat_") for _ in range(200)}
    assert len(drawn) == 200
    for secret in drawn:
        assert secret.startswith("cvat_")
        body = secret.removeprefix("cvat_")
        assert len(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))) == SECRET_BYTES
