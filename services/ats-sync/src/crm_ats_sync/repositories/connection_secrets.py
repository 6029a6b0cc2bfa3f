"""How a connection's secrets are stored: sealed under the connection's own data key, which is
stored wrapped by the service's key-encryption key (`crm_shared.envelope`).

The stored `secrets` sub-document is `{key_id, data_key, webhook_secret,
previous_webhook_secret, api_key, ats_webhook_secrets, previous_ats_webhook_secrets}`, every
value but `key_id` ciphertext (a list of secrets sealed as one JSON array); the plaintext exists
only in the `Connection` a repository hands back after loading.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from crm_shared import Document, KeyRing, WrappedKey, open_sealed, seal

SECRETS = "secrets"
# The connection's fields held sealed in `secrets`, never in the clear.
SEALED_FIELDS = (
    "webhook_secret",
    "previous_webhook_secret",
    "api_key",
    "ats_webhook_secrets",
    "previous_ats_webhook_secrets",
)
# The sealed fields that hold several secrets: sealed as one JSON array, an empty one as null.
SEALED_LISTS = frozenset({"ats_webhook_secrets", "previous_ats_webhook_secrets"})


def sealable(field: str, value: str | Sequence[str] | None) -> str | None:
    """A connection field's value as the text that is sealed (None: nothing to seal)."""
    if field in SEALED_LISTS:
        return json.dumps(list(value)) if value else None
    assert value is None or isinstance(value, str), field
    return value


def unsealed(field: str, text: str | None) -> str | list[str] | None:
    """A sealed field's opened text as the connection's value."""
    if field in SEALED_LISTS:
        return [str(secret) for secret in json.loads(text)] if text else []
    return text


def wrapped_key(secrets: Mapping[str, Any]) -> WrappedKey:
    """The data key of a stored `secrets` sub-document."""
    return WrappedKey(str(secrets["key_id"]), bytes(secrets["data_key"]))


def sealed_secrets(
    keyring: KeyRing, connection_id: str, plaintext: Mapping[str, str | None]
) -> Document:
    """A new `secrets` sub-document: a fresh data key sealing each of `plaintext`."""
    data_key, wrapped = keyring.new_data_key(connection_id)
    document: Document = {"key_id": wrapped.key_id, "data_key": wrapped.ciphertext}
    for field in SEALED_FIELDS:
        value = plaintext.get(field)
        document[field] = (
            None if value is None else seal(data_key, value, owner=connection_id, field=field)
        )
    return document


def resealed(
    keyring: KeyRing,
    connection_id: str,
    secrets: Mapping[str, Any],
    changes: Mapping[str, str | None],
) -> Document:
    """`$set` operations replacing some sealed fields, under the connection's existing data key."""
    data_key = keyring.unwrap(wrapped_key(secrets), connection_id)
    return {
        f"{SECRETS}.{field}": (
            None if value is None else seal(data_key, value, owner=connection_id, field=field)
        )
        for field, value in changes.items()
    }


def opened_secrets(
    keyring: KeyRing, connection_id: str, secrets: Mapping[str, Any]
) -> dict[str, str | None]:
    """The plaintext of each sealed field of a stored `secrets` sub-document."""
    data_key = keyring.unwrap(wrapped_key(secrets), connection_id)
    return {
        field: (
            None
            if secrets.get(field) is None
            else open_sealed(data_key, bytes(secrets[field]), owner=connection_id, field=field)
        )
        for field in SEALED_FIELDS
    }
