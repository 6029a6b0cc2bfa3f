"""MongoDB access to a tenant's ATS connections."""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING

from crm_ats_sync.domain.models import Connection
from crm_shared import Database, TenantScopedCollection, from_document, to_document, utc_now

CONNECTIONS = "connections"


async def ensure_connection_indexes(database: Database) -> None:
    """Creates the indexes of the connections collection."""
    await database[CONNECTIONS].create_index([("tenant_id", ASCENDING), ("_id", ASCENDING)])


class ConnectionRepository:
    """One tenant's ATS connections."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._connections = TenantScopedCollection(database[CONNECTIONS], tenant_id)

    async def add_connection(self, connection: Connection) -> None:
        await self._connections.insert_one(to_document(connection))

    async def connections(self) -> list[Connection]:
        """The tenant's connections that were not deleted."""
        documents = await self._connections.find({"deleted_at": None}, sort=[("_id", ASCENDING)])
        return [from_document(Connection, d) for d in documents]

    async def connection(self, connection_id: str) -> Connection | None:
        """A connection that was not deleted."""
        document = await self._connections.find_one({"_id": connection_id, "deleted_at": None})
        return from_document(Connection, document) if document else None

    async def rotate_secret(
        self, connection: Connection, new_secret: str, previous_until: datetime
    ) -> bool:
        """Makes `new_secret` the connection's secret, the current one accepted until
        `previous_until`; False if the connection changed or was deleted meanwhile."""
        result = await self._connections.update_one(
            {"_id": connection.id, "webhook_secret": connection.webhook_secret, "deleted_at": None},
            {
                "$set": {
                    "webhook_secret": new_secret,
                    "previous_webhook_secret": connection.webhook_secret,
                    "previous_secret_until": previous_until,
                    "secret_rotated_at": utc_now(),
                }
            },
        )
        return result.modified_count == 1

    async def delete_connection(self, connection_id: str) -> bool:
        """Deletes a connection: its webhooks are refused from now on, and the applications it
        reported are kept. False if there was no such connection."""
        result = await self._connections.update_one(
            {"_id": connection_id, "deleted_at": None},
            {"$set": {"deleted_at": utc_now(), "previous_webhook_secret": None}},
        )
        return result.modified_count == 1


async def find_connection_anywhere(database: Database, connection_id: str) -> Connection | None:
    """The connection with this id in whichever tenant holds it.

    Deliberately cross-tenant: a webhook names only its connection, whose tenant then scopes
    everything the delivery does.
    """
    document = await database[CONNECTIONS].find_one({"_id": connection_id, "deleted_at": None})
    return from_document(Connection, document) if document else None


async def connections_with_api(database: Database) -> list[Connection]:
    """Every tenant's connections that have an API key (and were not deleted).

    Deliberately cross-tenant: the reconciliation schedule serves every tenant; each connection
    is then reconciled within its own tenant."""
    documents = (
        await database[CONNECTIONS].find({"deleted_at": None, "api_key": {"$ne": None}}).to_list()
    )
    return [from_document(Connection, document) for document in documents]
