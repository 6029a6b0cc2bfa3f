"""MongoDB access to a tenant's ATS connections; their secrets are stored sealed
(`repositories.connection_secrets`) and handed back in the clear."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from crm_ats_sync.domain.models import Connection
from crm_ats_sync.repositories.connection_secrets import (
    SEALED_FIELDS,
    SEALED_LISTS,
    SECRETS,
    opened_secrets,
    resealed,
    sealable,
    sealed_secrets,
    unsealed,
    wrapped_key,
)
from crm_shared import (
    Database,
    Document,
    KeyRing,
    Session,
    TenantScopedCollection,
    from_document,
    to_document,
    utc_now,
)

CONNECTIONS = "connections"

logger = logging.getLogger(__name__)


async def ensure_connection_indexes(database: Database) -> None:
    """Creates the indexes of the connections collection."""
    await database[CONNECTIONS].create_index([("tenant_id", ASCENDING), ("_id", ASCENDING)])
    await database[CONNECTIONS].create_index([("tenant_id", ASCENDING), ("account", ASCENDING)])


def _stored(connection: Connection, keyring: KeyRing) -> Document:
    document = to_document(connection)
    plaintext = {field: sealable(field, document.pop(field)) for field in SEALED_FIELDS}
    document[SECRETS] = sealed_secrets(keyring, connection.id, plaintext)
    return document


def _loaded(document: Mapping[str, Any], keyring: KeyRing) -> Connection:
    fields = dict(document)
    opened = opened_secrets(keyring, str(document["_id"]), fields.pop(SECRETS))
    fields |= {field: unsealed(field, text) for field, text in opened.items()}
    return from_document(Connection, fields)


class ConnectionRepository:
    """One tenant's ATS connections."""

    def __init__(self, database: Database, tenant_id: str, keyring: KeyRing) -> None:
        self._connections = TenantScopedCollection(database[CONNECTIONS], tenant_id)
        self._keyring = keyring

    async def add_connection(self, connection: Connection) -> None:
        await self._connections.insert_one(_stored(connection, self._keyring))

    async def connections(self) -> list[Connection]:
        """The tenant's connections that were not deleted."""
        documents = await self._connections.find({"deleted_at": None}, sort=[("_id", ASCENDING)])
        return [_loaded(d, self._keyring) for d in documents]

    async def connection_to_account(self, account: str) -> Connection | None:
        """The live connection to this ATS account (`Connection.account`), if any."""
        document = await self._connections.find_one({"account": account, "deleted_at": None})
        return _loaded(document, self._keyring) if document else None

    async def connection(self, connection_id: str) -> Connection | None:
        """A connection that was not deleted."""
        document = await self._connections.find_one({"_id": connection_id, "deleted_at": None})
        return _loaded(document, self._keyring) if document else None

    async def rotate_secret(
        self, connection: Connection, new_secret: str, previous_until: datetime
    ) -> bool:
        """Makes `new_secret` the connection's secret, the current one accepted until
        `previous_until`; False if the connection changed or was deleted meanwhile."""
        document = await self._connections.find_one({"_id": connection.id, "deleted_at": None})
        if document is None:
            return False
        secrets = document[SECRETS]
        current = opened_secrets(self._keyring, connection.id, secrets)["webhook_secret"]
        if current != connection.webhook_secret:
            return False
        changes = resealed(
            self._keyring,
            connection.id,
            secrets,
            {"webhook_secret": new_secret, "previous_webhook_secret": connection.webhook_secret},
        )
        # The sealed current secret is the version: a concurrent rotation replaced it.
        result = await self._connections.update_one(
            {
                "_id": connection.id,
                f"{SECRETS}.webhook_secret": secrets["webhook_secret"],
                "deleted_at": None,
            },
            {
                "$set": changes
                | {"previous_secret_until": previous_until, "secret_rotated_at": utc_now()}
            },
        )
        return result.modified_count == 1

    async def replace_ats_webhook_secrets(
        self,
        connection: Connection,
        ats_secrets: Sequence[str],
        previous_until: datetime | None,
    ) -> bool:
        """Makes `ats_secrets` the secrets the ATS signs with, the ones set before accepted
        until `previous_until`; False if they changed, or the connection was deleted, since
        `connection` was loaded."""
        document = await self._connections.find_one({"_id": connection.id, "deleted_at": None})
        if document is None:
            return False
        secrets = document[SECRETS]
        current = unsealed(
            "ats_webhook_secrets",
            opened_secrets(self._keyring, connection.id, secrets)["ats_webhook_secrets"],
        )
        if current != list(connection.ats_webhook_secrets):
            return False
        changes = resealed(
            self._keyring,
            connection.id,
            secrets,
            {
                field: sealable(field, value)
                for field, value in (
                    ("ats_webhook_secrets", ats_secrets),
                    ("previous_ats_webhook_secrets", connection.ats_webhook_secrets),
                )
            },
        )
        # The sealed current list is the version: a concurrent replacement changed it.
        result = await self._connections.update_one(
            {
                "_id": connection.id,
                f"{SECRETS}.ats_webhook_secrets": secrets.get("ats_webhook_secrets"),
                "deleted_at": None,
            },
            {
                "$set": changes
                | {"previous_ats_secrets_until": previous_until, "ats_secrets_set_at": utc_now()}
            },
        )
        return result.modified_count == 1

    async def replace_api_key(
        self, connection_id: str, api_key: str, api_base_url: str | None, account: str | None
    ) -> bool:
        """Replaces the API key and base URL; False if there is no such connection."""
        document = await self._connections.find_one({"_id": connection_id, "deleted_at": None})
        if document is None:
            return False
        changes = resealed(self._keyring, connection_id, document[SECRETS], {"api_key": api_key})
        result = await self._connections.update_one(
            {"_id": connection_id, "deleted_at": None},
            {"$set": changes | {"api_base_url": api_base_url, "account": account}},
        )
        return result.matched_count == 1

    async def delete_connection(
        self, connection_id: str, at: datetime, *, session: Session | None = None
    ) -> bool:
        """Deletes a connection: its webhooks are refused from now on, and the applications it
        reported are kept. False if there was no such connection."""
        result = await self._connections.update_one(
            {"_id": connection_id, "deleted_at": None},
            {
                "$set": {
                    "deleted_at": at,
                    f"{SECRETS}.previous_webhook_secret": None,
                    f"{SECRETS}.api_key": None,
                }
                | {f"{SECRETS}.{field}": None for field in SEALED_LISTS}
            },
            session=session,
        )
        return result.modified_count == 1

    async def hold_for_jobs(self, connection_id: str, *, session: Session) -> bool:
        """Writes the connection's `jobs_changed_at` in the transaction that stores one of its
        jobs; False if it was deleted. The write makes that transaction and the deletion's
        (which closes the connection's jobs) conflict, so one of them sees the other: a job
        is never stored open after its connection's deletion announced it closed."""
        result = await self._connections.update_one(
            {"_id": connection_id, "deleted_at": None},
            {"$set": {"jobs_changed_at": utc_now()}},
            session=session,
        )
        return result.matched_count == 1


async def find_connection_anywhere(
    database: Database, keyring: KeyRing, connection_id: str
) -> Connection | None:
    """The connection with this id in whichever tenant holds it.

    Deliberately cross-tenant: a webhook names only its connection, whose tenant then scopes
    everything the delivery does.
    """
    document = await database[CONNECTIONS].find_one({"_id": connection_id, "deleted_at": None})
    return _loaded(document, keyring) if document else None


async def connections_with_api(database: Database, keyring: KeyRing) -> list[Connection]:
    """Every tenant's connections that have an API key (and were not deleted).

    Deliberately cross-tenant: the reconciliation schedule serves every tenant; each connection
    is then reconciled within its own tenant."""
    documents = (
        await database[CONNECTIONS]
        .find({"deleted_at": None, f"{SECRETS}.api_key": {"$ne": None}})
        .to_list()
    )
    return [_loaded(document, keyring) for document in documents]


async def rewrap_connection_keys(database: Database, keyring: KeyRing) -> int:
    """Wraps every connection's data key under the key ring's current key (a start-up hook), so
    a key-encryption key that is no longer first can be dropped once every replica ran with the
    new ring; returns how many were rewrapped.

    Deliberately cross-tenant: key rotation is the operator's, not a tenant's."""
    rewrapped = 0
    stale = database[CONNECTIONS].find(
        {f"{SECRETS}.key_id": {"$ne": keyring.current_id}}, {SECRETS: 1}
    )
    async for document in stale:
        secrets = document[SECRETS]
        wrapped = keyring.rewrap(wrapped_key(secrets), str(document["_id"]))
        if wrapped is None:
            continue
        # Guarded by the old wrapping: a replica that rewrapped it first wins, nothing is lost
        # (the data key itself never changes).
        result = await database[CONNECTIONS].update_one(
            {"_id": document["_id"], f"{SECRETS}.data_key": secrets["data_key"]},
            {
                "$set": {
                    f"{SECRETS}.key_id": wrapped.key_id,
                    f"{SECRETS}.data_key": wrapped.ciphertext,
                }
            },
        )
        rewrapped += result.modified_count
    if rewrapped:
        logger.info("rewrapped %d connection data keys under %s", rewrapped, keyring.current_id)
    return rewrapped


async def encrypt_plaintext_secrets(database: Database, keyring: KeyRing) -> None:
    """Seals the secrets of connections stored before they were encrypted (a migration): the
    plaintext fields are replaced by the `secrets` sub-document in one update each."""
    plaintext = database[CONNECTIONS].find({SECRETS: {"$exists": False}})
    async for document in plaintext:
        connection_id = str(document["_id"])
        values = {field: document.get(field) for field in SEALED_FIELDS}
        await database[CONNECTIONS].update_one(
            {"_id": connection_id, SECRETS: {"$exists": False}},
            {
                "$set": {SECRETS: sealed_secrets(keyring, connection_id, values)},
                "$unset": dict.fromkeys(SEALED_FIELDS, ""),
            },
        )
