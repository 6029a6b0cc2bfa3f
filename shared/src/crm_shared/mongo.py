"""MongoDB access: one async client per service and the transaction helper every write path uses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC
from typing import Any, TypeVar

from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crm_shared.settings import ServiceSettings

Document = dict[str, Any]
MongoClient = AsyncMongoClient[Document]
Database = AsyncDatabase[Document]
Session = AsyncClientSession

ResultT = TypeVar("ResultT")


def create_mongo_client(
    settings: ServiceSettings, *, listeners: Sequence[monitoring.CommandListener] = ()
) -> MongoClient:
    """An async client for the service's MongoDB (or any MongoDB-wire server); connects lazily.

    `listeners` observe its commands (the service's database metrics)."""
    return AsyncMongoClient(
        settings.mongodb_uri,
        event_listeners=list(listeners),
        appname=settings.service_name,
        tz_aware=True,
        # The standard library's UTC object, the one our code stamps times with: comparing two
        # datetimes of one tzinfo object is a plain field compare, while bson's own `utc` makes
        # every comparison with our times ask both for their offsets (about 14x slower, a third
        # of pool health's time over 68,000 memberships).
        tzinfo=UTC,
        serverSelectionTimeoutMS=10_000,
        # Client-side operation timeout (CSOT): applies to every operation of this client.
        timeoutMS=round(settings.mongodb_operation_timeout_seconds * 1000),
    )


class KeptCollections(AsyncDatabase[Document]):
    """A database that makes each of its collection objects once.

    `database[name]` builds a new PyMongo collection (its name checked, its options resolved)
    on every call, and a request's repositories ask for theirs on every request: six a read in
    the candidates service. A collection object holds no state of its own, so one serves every
    request; the names are the code's own, a handful per service."""

    def __init__(self, client: AsyncMongoClient[Document], name: str) -> None:
        super().__init__(client, name)
        self._kept: dict[str, AsyncCollection[Document]] = {}

    def __getitem__(self, name: str) -> AsyncCollection[Document]:
        collection = self._kept.get(name)
        if collection is None:
            collection = self._kept[name] = super().__getitem__(name)
        return collection


def service_database(client: MongoClient, name: str) -> Database:
    """The service's database on `client`, its collection objects made once."""
    return KeptCollections(client, name)


async def in_transaction(
    client: MongoClient, work: Callable[[Session], Awaitable[ResultT]]
) -> ResultT:
    """Runs `work` in one multi-document transaction, retried by the driver on transient errors."""
    async with client.start_session() as session:
        return await session.with_transaction(work)
