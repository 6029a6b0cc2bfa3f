"""Changes to the ats-sync service's stored data, each run once per database (versions never
change; append new ones)."""

from __future__ import annotations

from functools import partial

from crm_ats_sync.repositories.applications import link_stored_applications
from crm_ats_sync.repositories.connections import encrypt_plaintext_secrets
from crm_shared import KeyRing, Migration


def migrations(keyring: KeyRing) -> list[Migration]:
    """The service's migrations; some need the key ring the service was started with."""
    return [
        Migration(
            1, "connections-secrets-encrypted", partial(encrypt_plaintext_secrets, keyring=keyring)
        ),
        Migration(2, "applications-linked-to-imported-candidates", link_stored_applications),
    ]
