"""A database of its own, indexed, with an outbox, for a test of one service's use cases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from crm_shared import Database, MongoClient, Outbox, ServiceSettings, create_mongo_client


@dataclass(frozen=True)
class ServiceStorage:
    mongo: MongoClient
    database: Database
    outbox: Outbox


@asynccontextmanager
async def service_storage(
    settings: ServiceSettings, ensure_indexes: Callable[[Database], Awaitable[None]]
) -> AsyncIterator[ServiceStorage]:
    """The database `settings` name, indexed by `ensure_indexes`, and the service's outbox."""
    mongo = create_mongo_client(settings)
    database = mongo[settings.mongodb_database]
    await ensure_indexes(database)
    outbox = Outbox(database, settings.service_name)
    await outbox.ensure_indexes()
    try:
        yield ServiceStorage(mongo, database, outbox)
    finally:
        await mongo.close()
