"""The sealed-field format: round trips, binding to customer and column, tamper detection."""

from __future__ import annotations

import os
import uuid

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from clientvault.store.envelope import (
    HEADER_BYTES,
    UnreadableField,
    open_sealed,
    read_header,
    seal,
    seal_with,
)
from clientvault.store.keystore import DataKey
from clientvault.store.sealing import seal_fields

KEY = os.urandom(32)
KEY_ID = uuid.uuid4()
CUSTOMER = uuid.uuid4()


def _seal(text: str, *, customer: uuid.UUID = CUSTOMER, column: str = "email") -> bytes:
    return seal(
        key=KEY, key_id=KEY_ID, key_version=3, customer_id=customer, column=column, plaintext=text
    )


@given(st.text(max_size=300), st.sampled_from(["email", "phone", "last_name"]))
def test_round_trip_and_header(text: str, column: str) -> None:
    sealed = _seal(text, column=column)
    header = read_header(sealed)
    assert header.key_id == KEY_ID
    assert header.key_version == 3
    assert open_sealed(key=KEY, sealed=sealed, customer_id=CUSTOMER, column=column) == text


@given(st.text(min_size=1, max_size=100))
def test_same_plaintext_never_seals_the_same(text: str) -> None:
    assert _seal(text) != _seal(text)


@given(st.data())
def test_any_flipped_bit_is_detected(data: st.DataObject) -> None:
    sealed = bytearray(_seal("alice@example.com"))
    position = data.draw(st.integers(min_value=1, max_value=len(sealed) - 1))
    sealed[position] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
    with pytest.raises(UnreadableField):
        open_sealed(key=KEY, sealed=bytes(sealed), customer_id=CUSTOMER, column="email")


def test_wrong_customer_column_or_key_fails() -> None:
    sealed = _seal("alice@example.com")
    with pytest.raises(UnreadableField):
        open_sealed(key=KEY, sealed=sealed, customer_id=uuid.uuid4(), column="email")
    with pytest.raises(UnreadableField):
        open_sealed(key=KEY, sealed=sealed, customer_id=CUSTOMER, column="phone")
    with pytest.raises(UnreadableField):
        open_sealed(key=os.urandom(32), sealed=sealed, customer_id=CUSTOMER, column="email")


def test_truncated_or_unknown_format_is_unreadable() -> None:
    sealed = _seal("x")
    with pytest.raises(UnreadableField, match="truncated"):
        read_header(sealed[: HEADER_BYTES + 3])
    with pytest.raises(UnreadableField, match="format"):
        read_header(b"\x09" + sealed[1:])


def test_fields_sealed_together_each_get_their_own_nonce_and_open_alone() -> None:
    key = DataKey(key_id=KEY_ID, key_version=2, customer_id=CUSTOMER, key=KEY)
    fields = {"email": "a@b.fr", "phone": None, "first_name": "Zoé", "last_name": "Zoé"}
    sealed = seal_fields(key, fields)
    assert sealed["phone"] is None
    opened = {
        column: open_sealed(key=KEY, sealed=value, customer_id=CUSTOMER, column=column)
        for column, value in sealed.items()
        if value is not None
    }
    assert opened == {column: value for column, value in fields.items() if value is not None}
    nonces = [read_header(value).nonce for value in sealed.values() if value is not None]
    assert len(set(nonces)) == len(nonces)  # one nonce a field, even for equal plaintexts
    assert sealed["first_name"] != sealed["last_name"]
    # Sealed one at a time, the same field opens the same way (the format did not change).
    single = seal_with(
        AESGCM(KEY),
        key_id=KEY_ID,
        key_version=2,
        customer_id=CUSTOMER,
        column="email",
        plaintext="a@b.fr",
    )
    assert len(single) == len(sealed["email"] or b"")
    assert read_header(single).key_id == read_header(sealed["email"] or b"").key_id
