"""What the events service's use cases work with: its database, its outbox, its repositories."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from crm_events.application.links import RegistrationLinks
from crm_events.repositories.embedding import EmbeddingSettingsRepository
from crm_events.repositories.events import EventRepository
from crm_events.repositories.registrations import RegistrationRepository
from crm_shared import (
    CandidateDirectory,
    Database,
    KeyedLocks,
    MongoClient,
    Outbox,
    Session,
    in_transaction,
)

ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class EventsStorage:
    """The service's MongoDB connection and outbox, its tenant-scoped repositories, and the
    registrants' signed links its events carry."""

    mongo: MongoClient
    database: Database
    outbox: Outbox
    links: RegistrationLinks
    # Registrations for one event take turns within this process: each holds the event's
    # document in its transaction, so a rush of them at once would otherwise retry one
    # another's transactions (twelve at once took more than the gateway's 10 s under load).
    seat_locks: KeyedLocks = field(default_factory=KeyedLocks)

    def events(self, tenant_id: str) -> EventRepository:
        return EventRepository(self.database, tenant_id)

    def registrations(self, tenant_id: str) -> RegistrationRepository:
        return RegistrationRepository(self.database, tenant_id)

    def embedding(self, tenant_id: str) -> EmbeddingSettingsRepository:
        return EmbeddingSettingsRepository(self.database, tenant_id)

    def directory(self, tenant_id: str) -> CandidateDirectory:
        return CandidateDirectory(self.database, tenant_id)

    async def in_transaction(self, work: Callable[[Session], Awaitable[ResultT]]) -> ResultT:
        """Runs `work` in one multi-document transaction."""
        return await in_transaction(self.mongo, work)
