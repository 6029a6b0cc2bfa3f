"""What the ats-sync service's use cases work with: its database, outbox and repositories."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from crm_ats_sync.repositories.applications import ApplicationRepository
from crm_ats_sync.repositories.breakers import BreakerRepository
from crm_ats_sync.repositories.connections import ConnectionRepository
from crm_ats_sync.repositories.deliveries import DeliveryRepository
from crm_ats_sync.repositories.jobs import JobRepository
from crm_ats_sync.repositories.known_candidates import KnownCandidateRepository
from crm_ats_sync.repositories.pushes import PushRepository
from crm_ats_sync.repositories.rejected_payloads import RejectedPayloadRepository
from crm_ats_sync.repositories.sync_runs import SyncRunRepository
from crm_ats_sync.repositories.webhook_log import WebhookLogRepository
from crm_shared import (
    CandidateDirectory,
    Database,
    KeyRing,
    MongoClient,
    Outbox,
    Session,
    in_transaction,
)

ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class AtsStorage:
    """The service's MongoDB connection and outbox, and its tenant-scoped repositories."""

    mongo: MongoClient
    database: Database
    outbox: Outbox
    # Wraps the data keys that seal each connection's secrets.
    keyring: KeyRing

    def connections(self, tenant_id: str) -> ConnectionRepository:
        return ConnectionRepository(self.database, tenant_id, self.keyring)

    def webhook_log(self, tenant_id: str) -> WebhookLogRepository:
        return WebhookLogRepository(self.database, tenant_id)

    def breakers(self, tenant_id: str) -> BreakerRepository:
        return BreakerRepository(self.database, tenant_id)

    def deliveries(self, tenant_id: str) -> DeliveryRepository:
        return DeliveryRepository(self.database, tenant_id)

    def applications(self, tenant_id: str) -> ApplicationRepository:
        return ApplicationRepository(self.database, tenant_id)

    def sync_runs(self, tenant_id: str) -> SyncRunRepository:
        return SyncRunRepository(self.database, tenant_id)

    def jobs(self, tenant_id: str) -> JobRepository:
        return JobRepository(self.database, tenant_id)

    def pushes(self, tenant_id: str) -> PushRepository:
        return PushRepository(self.database, tenant_id)

    def rejected_payloads(self, tenant_id: str) -> RejectedPayloadRepository:
        return RejectedPayloadRepository(self.database, tenant_id)

    def known_candidates(self, tenant_id: str) -> KnownCandidateRepository:
        return KnownCandidateRepository(self.database, tenant_id)

    def directory(self, tenant_id: str) -> CandidateDirectory:
        return CandidateDirectory(self.database, tenant_id)

    async def in_transaction(self, work: Callable[[Session], Awaitable[ResultT]]) -> ResultT:
        """Runs `work` in one multi-document transaction."""
        return await in_transaction(self.mongo, work)
