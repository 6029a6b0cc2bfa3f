"""Envelope encryption of stored credentials: each owner (an ATS connection, say) gets a random
data key that encrypts its secrets with AES-GCM, and the data key is stored wrapped by a
key-encryption key from the settings.

The key ring holds one or more key-encryption keys with ids; the first wraps new data keys and
every one unwraps, so a master key is rotated by adding the new one, rewrapping what the old one
wrapped (`KeyRing.rewrap`, cheap: only the data keys change, never the sealed secrets) and then
dropping the old key. A ring's text form is `id:key[,id:key...]`, each key 32 random bytes in
URL-safe base64 (`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`).

Every ciphertext is bound to what it belongs to (associated data: the owner's id and the field's
name), so a sealed secret copied into another document or field does not open.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


class KeyRingError(ValueError):
    """The key ring's setting is missing or malformed; the message says what to set."""


class UnreadableSecret(Exception):
    """A stored secret cannot be opened: wrapped under a key the ring no longer holds, or
    altered."""


@dataclass(frozen=True)
class WrappedKey:
    """A data key as stored: encrypted under the key-encryption key `key_id`."""

    key_id: str
    ciphertext: bytes


def _decoded_key(key_id: str, text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise KeyRingError(f"key {key_id!r} is not URL-safe base64") from None
    if len(key) != KEY_BYTES:
        raise KeyRingError(f"key {key_id!r} must be {KEY_BYTES} bytes, is {len(key)}")
    return key


def _sealed(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def _opened(key: bytes, sealed: bytes, associated: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)
    except (InvalidTag, ValueError):
        raise UnreadableSecret("a stored secret does not open under its key") from None


class KeyRing:
    """Key-encryption keys by id; the first one wraps, all of them unwrap."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise KeyRingError("a key ring needs at least one key")
        ids = [key_id for key_id, _ in keys]
        if len(set(ids)) != len(ids):
            raise KeyRingError(f"two keys share an id: {ids}")
        for key_id, key in keys:
            if not _KEY_ID.match(key_id):
                raise KeyRingError(f"a key id is 1-16 of A-Z a-z 0-9 _ -, not {key_id!r}")
            if len(key) != KEY_BYTES:
                raise KeyRingError(f"key {key_id!r} must be {KEY_BYTES} bytes")
        self._keys = dict(keys)
        self.current_id = ids[0]

    @classmethod
    def parse(cls, text: str, *, setting: str) -> KeyRing:
        """The ring of `id:key[,id:key...]`; `KeyRingError` naming `setting` when it is empty or
        malformed."""
        entries = [entry.strip() for entry in text.split(",") if entry.strip()]
        if not entries:
            raise KeyRingError(
                f"{setting} is not set: give at least one key-encryption key as "
                f"`id:key` (32 random bytes, URL-safe base64)"
            )
        try:
            keys = []
            for entry in entries:
                key_id, separator, key = entry.partition(":")
                if not separator:
                    raise KeyRingError("each entry is `id:key`, got one without `:`")
                keys.append((key_id.strip(), _decoded_key(key_id.strip(), key.strip())))
            return cls(keys)
        except KeyRingError as bad:
            raise KeyRingError(f"{setting}: {bad}") from None

    def new_data_key(self, owner: str) -> tuple[bytes, WrappedKey]:
        """A fresh random data key for `owner`, and the same wrapped under the current key."""
        data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        return data_key, self._wrap(data_key, owner)

    def unwrap(self, wrapped: WrappedKey, owner: str) -> bytes:
        """The data key of `owner`; `UnreadableSecret` if its key is not in the ring."""
        key = self._keys.get(wrapped.key_id)
        if key is None:
            raise UnreadableSecret(
                f"data key wrapped under {wrapped.key_id!r}, which the key ring does not hold"
            )
        return _opened(key, wrapped.ciphertext, self._associated(wrapped.key_id, owner))

    def rewrap(self, wrapped: WrappedKey, owner: str) -> WrappedKey | None:
        """The data key wrapped under the current key; None when it already is."""
        if wrapped.key_id == self.current_id:
            return None
        return self._wrap(self.unwrap(wrapped, owner), owner)

    def _wrap(self, data_key: bytes, owner: str) -> WrappedKey:
        key_id = self.current_id
        return WrappedKey(
            key_id, _sealed(self._keys[key_id], data_key, self._associated(key_id, owner))
        )

    @staticmethod
    def _associated(key_id: str, owner: str) -> bytes:
        return f"data-key\x00{key_id}\x00{owner}".encode()


def seal(data_key: bytes, plaintext: str, *, owner: str, field: str) -> bytes:
    """`plaintext` encrypted under an owner's data key, bound to the owner and the field."""
    return _sealed(data_key, plaintext.encode(), f"{owner}\x00{field}".encode())


def open_sealed(data_key: bytes, sealed: bytes, *, owner: str, field: str) -> str:
    """The plaintext `seal` encrypted; `UnreadableSecret` if it was altered or moved."""
    return _opened(data_key, sealed, f"{owner}\x00{field}".encode()).decode()
