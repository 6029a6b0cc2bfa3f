"""MongoDB access of the ats-sync service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from crm_ats_sync.domain.greenhouse import ApplicationChange, ChangeKind, is_stale
from crm_ats_sync.domain.models import Application, ApplicationStatus, Connection
from crm_shared import (
    CurrentPrincipal,
    Database,
    Session,
    TenantScopedCollection,
    ensure_directory_indexes,
    from_document,
    give_back,
    move_to_survivor,
    to_document,
    utc_now,
)

CONNECTIONS = "connections"
DELIVERIES = "webhook_deliveries"
APPLICATIONS = "applications"


async def ensure_indexes(database: Database) -> None:
    """Creates the indexes of the service's collections."""
    await database[CONNECTIONS].create_index([("tenant_id", ASCENDING), ("_id", ASCENDING)])
    # A delivery id is seen once per connection: the ATS retries, we record it once.
    await database[DELIVERIES].create_index(
        [("tenant_id", ASCENDING), ("connection_id", ASCENDING), ("delivery_id", ASCENDING)],
        unique=True,
    )
    await database[APPLICATIONS].create_index(
        [("tenant_id", ASCENDING), ("connection_id", ASCENDING), ("ats_application_id", ASCENDING)],
        unique=True,
    )
    for moved in ("candidate_id", "merges.merge_id"):
        await database[APPLICATIONS].create_index([("tenant_id", ASCENDING), (moved, ASCENDING)])
    await ensure_directory_indexes(database)


class DuplicateDeliveryError(Exception):
    """This webhook delivery was received before: `duplicate` (its id) or `replayed` (its
    signed body, under another id)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class AtsRepository:
    """One tenant's connections, deliveries and applications."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._connections = TenantScopedCollection(database[CONNECTIONS], tenant_id)
        self._deliveries = TenantScopedCollection(database[DELIVERIES], tenant_id)
        self._applications = TenantScopedCollection(database[APPLICATIONS], tenant_id)

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

    async def record_delivery(
        self,
        connection_id: str,
        delivery_id: str,
        content_id: str,
        action: str,
        *,
        session: Session,
    ) -> None:
        """Records a delivery by its id and by its content; raises `DuplicateDeliveryError` if
        either was seen before (a retry, or a signed body replayed under a new id)."""
        received_at = utc_now()
        for kind, identifier in (("duplicate", delivery_id), ("replayed", content_id)):
            try:
                await self._deliveries.insert_one(
                    {
                        "connection_id": connection_id,
                        "delivery_id": identifier,
                        "action": action,
                        "received_at": received_at,
                    },
                    session=session,
                )
            except DuplicateKeyError:
                raise DuplicateDeliveryError(kind) from None

    async def add_application(self, application: Application, *, session: Session) -> bool:
        """Stores an application unless the ATS reported it before; True if new."""
        result = await self._applications.update_one(
            {
                "connection_id": application.connection_id,
                "ats_application_id": application.ats_application_id,
            },
            {
                "$setOnInsert": {
                    k: v
                    for k, v in to_document(application).items()
                    if k not in ("connection_id", "ats_application_id", "tenant_id")
                }
            },
            upsert=True,
            session=session,
        )
        return result.upserted_id is not None

    async def fold_into(
        self, merged_id: str, survivor_id: str, merge_id: str, *, session: Session
    ) -> None:
        """A merge: the merged candidate's applications become the survivor's."""
        await move_to_survivor(
            self._applications, merged_id, survivor_id, merge_id, session=session
        )

    async def unfold(self, merge_id: str, *, session: Session) -> None:
        """An undone merge: the applications it moved go back to their own candidate."""
        await give_back(self._applications, merge_id, session=session)

    async def apply_change(
        self,
        connection: Connection,
        change: ApplicationChange,
        candidate_id: str | None,
        email: str | None,
        *,
        session: Session,
    ) -> tuple[Application, str | None] | None:
        """Records a stage change, rejection or hire; the application after it and the stage
        it was in before (None when unknown), or None for a change older than what is recorded.
        An application first heard of here is stored."""
        key = {"connection_id": connection.id, "ats_application_id": change.ats_application_id}
        before = await self._applications.find_one(key, session=session)
        if before is not None and is_stale(change.occurred_at, before.get("ats_changed_at")):
            return None
        status = {
            ChangeKind.REJECTED: ApplicationStatus.REJECTED,
            ChangeKind.HIRED: ApplicationStatus.HIRED,
        }.get(change.kind, ApplicationStatus.ACTIVE)
        now = utc_now()
        changes: dict[str, Any] = {"status": status.value, "updated_at": now}
        if change.occurred_at is not None:
            changes["ats_changed_at"] = change.occurred_at
        if change.stage is not None:
            changes["stage"] = change.stage
        if before is None:
            application = Application(
                tenant_id=connection.tenant_id,
                connection_id=connection.id,
                provider=connection.provider,
                ats_application_id=change.ats_application_id,
                ats_candidate_id=change.ats_candidate_id,
                candidate_id=candidate_id,
                email=email,
                job_name=change.job_name,
                applied_at=None,
                stage=change.stage,
                status=status,
                updated_at=now,
                ats_changed_at=change.occurred_at,
            )
            await self._applications.insert_one(to_document(application), session=session)
            return application, None
        if before.get("candidate_id") is None and candidate_id is not None:
            changes["candidate_id"] = candidate_id
        await self._applications.update_one(key, {"$set": changes}, session=session)
        return from_document(Application, before | changes), before.get("stage")

    async def applications(self, *, candidate_id: str | None) -> list[Application]:
        query: dict[str, Any] = {"candidate_id": candidate_id} if candidate_id else {}
        documents = await self._applications.find(query, sort=[("_id", ASCENDING)], limit=1000)
        return [from_document(Application, d) for d in documents]


async def find_connection_anywhere(database: Database, connection_id: str) -> Connection | None:
    """The connection with this id in whichever tenant holds it.

    Deliberately cross-tenant: a webhook names only its connection, whose tenant then scopes
    everything the delivery does.
    """
    document = await database[CONNECTIONS].find_one({"_id": connection_id, "deleted_at": None})
    return from_document(Connection, document) if document else None


def ats_repository(request: Request, principal: CurrentPrincipal) -> AtsRepository:
    """FastAPI dependency: the caller's tenant's ATS records."""
    return AtsRepository(request.app.state.platform.require_database(), principal.tenant_id)


AtsRepo = Annotated[AtsRepository, Depends(ats_repository)]
