"""Envelope encryption: a data key per owner seals its secrets, a ring of key-encryption keys
wraps the data keys, and a rotated ring still opens what the old key wrapped."""

from __future__ import annotations

import secrets

import pytest

from crm_shared import KeyRing, KeyRingError, UnreadableSecret, WrappedKey, open_sealed, seal

pytestmark = pytest.mark.unit


def a_key() -> str:
    return secrets.token_urlsafe(32)


def test_a_sealed_secret_opens_under_its_data_key_and_is_not_the_plaintext() -> None:
    ring = KeyRing.parse(f"k1:{a_key()}", setting="ATS_SECRET_KEYS")
    data_key, wrapped = ring.new_data_key("conn-1")
    sealed = seal(data_key, "hunter2-api-key", owner="conn-1", field="api_key")
    assert b"hunter2" not in sealed
    assert b"hunter2" not in wrapped.ciphertext
    assert wrapped.key_id == "k1"
    opened_key = ring.unwrap(wrapped, "conn-1")
    assert open_sealed(opened_key, sealed, owner="conn-1", field="api_key") == "hunter2-api-key"


def test_a_sealed_secret_moved_to_another_owner_or_field_does_not_open() -> None:
    ring = KeyRing.parse(f"k1:{a_key()}", setting="ATS_SECRET_KEYS")
    data_key, wrapped = ring.new_data_key("conn-1")
    sealed = seal(data_key, "secret", owner="conn-1", field="api_key")
    with pytest.raises(UnreadableSecret):
        open_sealed(data_key, sealed, owner="conn-1", field="webhook_secret")
    with pytest.raises(UnreadableSecret):
        open_sealed(data_key, sealed, owner="conn-2", field="api_key")
    with pytest.raises(UnreadableSecret):
        ring.unwrap(wrapped, "conn-2")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(UnreadableSecret):
        open_sealed(data_key, tampered, owner="conn-1", field="api_key")


def test_rotation_adds_a_key_rewraps_under_it_then_drops_the_old_one() -> None:
    old_key, new_key = a_key(), a_key()
    old = KeyRing.parse(f"old:{old_key}", setting="ATS_SECRET_KEYS")
    data_key, wrapped = old.new_data_key("conn-1")

    rotated = KeyRing.parse(f"new:{new_key},old:{old_key}", setting="ATS_SECRET_KEYS")
    assert rotated.unwrap(wrapped, "conn-1") == data_key
    rewrapped = rotated.rewrap(wrapped, "conn-1")
    assert rewrapped is not None
    assert rewrapped.key_id == "new"
    assert rotated.rewrap(rewrapped, "conn-1") is None

    new_only = KeyRing.parse(f"new:{new_key}", setting="ATS_SECRET_KEYS")
    assert new_only.unwrap(rewrapped, "conn-1") == data_key
    with pytest.raises(UnreadableSecret, match="'old'"):
        new_only.unwrap(wrapped, "conn-1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "ATS_SECRET_KEYS is not set"),
        (" , ", "ATS_SECRET_KEYS is not set"),
        ("no-colon", "each entry is `id:key`"),
        ("k1:c2hvcnQ", "must be 32 bytes"),
        ("k1:!!!not base64!!!", "URL-safe base64|must be 32 bytes"),
        (f"bad id:{secrets.token_urlsafe(32)}", "key id"),
    ],
    # Named, not by the random key: every test worker must collect the same cases.
    ids=["empty", "blank", "no-colon", "short", "not-base64", "bad-id"],
)
def test_a_missing_or_malformed_ring_is_refused_with_the_setting_named(
    text: str, message: str
) -> None:
    with pytest.raises(KeyRingError, match=message):
        KeyRing.parse(text, setting="ATS_SECRET_KEYS")


def test_two_keys_with_one_id_are_refused() -> None:
    with pytest.raises(KeyRingError, match="share an id"):
        KeyRing.parse(f"k1:{a_key()},k1:{a_key()}", setting="ATS_SECRET_KEYS")


def test_a_data_key_wrapped_under_an_unknown_key_is_unreadable() -> None:
    ring = KeyRing.parse(f"k1:{a_key()}", setting="ATS_SECRET_KEYS")
    with pytest.raises(UnreadableSecret, match="does not hold"):
        ring.unwrap(WrappedKey("k9", b"\0" * 60), "conn-1")
