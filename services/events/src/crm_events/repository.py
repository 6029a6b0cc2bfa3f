"""MongoDB access of the events service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from crm_events.domain.models import (
    EventStatus,
    RecruitingEvent,
    Registration,
    RegistrationStatus,
)
from crm_shared import (
    CurrentPrincipal,
    Database,
    Session,
    TenantScopedCollection,
    backfill_versions,
    ensure_directory_indexes,
    from_document,
    give_back,
    move_to_survivor,
    to_document,
    utc_now,
)

EVENTS = "events"
REGISTRATIONS = "registrations"


async def backfill_lifecycle(database: Database) -> None:
    """Events stored before they had a status and a version are published at version 1."""
    await backfill_versions(database, [EVENTS])
    await database[EVENTS].update_many(
        {"status": {"$exists": False}}, {"$set": {"status": EventStatus.PUBLISHED.value}}
    )


async def ensure_indexes(database: Database) -> None:
    """Creates the indexes of the service's collections."""
    await database[EVENTS].create_index([("tenant_id", ASCENDING), ("starts_at", ASCENDING)])
    registrations = database[REGISTRATIONS]
    await registrations.create_index(
        [("tenant_id", ASCENDING), ("event_id", ASCENDING), ("email", ASCENDING)], unique=True
    )
    await registrations.create_index([("tenant_id", ASCENDING), ("email", ASCENDING)])
    await registrations.create_index([("tenant_id", ASCENDING), ("candidate_id", ASCENDING)])
    await registrations.create_index([("tenant_id", ASCENDING), ("merges.merge_id", ASCENDING)])
    await ensure_directory_indexes(database)


class DuplicateRegistrationError(Exception):
    """The email is already registered for the event."""


class EventRepository:
    """One tenant's events and registrations."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._events = TenantScopedCollection(database[EVENTS], tenant_id)
        self._registrations = TenantScopedCollection(database[REGISTRATIONS], tenant_id)

    async def add(self, event: RecruitingEvent) -> None:
        await self._events.insert_one(to_document(event))

    async def get(self, event_id: str, *, session: Session | None = None) -> RecruitingEvent | None:
        document = await self._events.find_one({"_id": event_id}, session=session)
        return from_document(RecruitingEvent, document) if document else None

    async def all(self) -> list[RecruitingEvent]:
        documents = await self._events.find({}, sort=[("starts_at", ASCENDING)])
        return [from_document(RecruitingEvent, d) for d in documents]

    async def replace(
        self, event_id: str, version: int, changes: dict[str, Any], *, session: Session
    ) -> bool:
        """Applies an edit if the event is still published at `version`."""
        result = await self._events.update_one(
            {"_id": event_id, "version": version, "status": EventStatus.PUBLISHED.value},
            {"$set": changes | {"updated_at": utc_now()}, "$inc": {"version": 1}},
            session=session,
        )
        return result.modified_count == 1

    async def hold_open(self, event_id: str, *, session: Session) -> bool:
        """Writes the published event in a registration's transaction; False if it is not
        published any more.

        Registration, edits, cancelling and deleting all write the event's document, so MongoDB
        serialises them: no registration commits beside a cancel or deletion, and two
        registrations (or one and a capacity change) never both take the last seat.
        """
        result = await self._events.update_one(
            {"_id": event_id, "status": EventStatus.PUBLISHED.value},
            {"$inc": {"registrations_received": 1}},
            session=session,
        )
        return result.matched_count == 1

    async def cancel(self, event_id: str, reason: str | None) -> bool:
        """Cancels a published event; False if it was not published."""
        now = utc_now()
        result = await self._events.update_one(
            {"_id": event_id, "status": EventStatus.PUBLISHED.value},
            {
                "$set": {
                    "status": EventStatus.CANCELLED.value,
                    "cancelled_at": now,
                    "cancellation_reason": reason,
                    "updated_at": now,
                },
                "$inc": {"version": 1},
            },
        )
        return result.modified_count == 1

    async def delete_if_unregistered(self, event_id: str, *, session: Session) -> bool:
        """Deletes an event nobody registered for (waitlist included); False otherwise."""
        # Written first, so a registration under way conflicts with this transaction.
        await self._events.update_one(
            {"_id": event_id}, {"$set": {"updated_at": utc_now()}}, session=session
        )
        if await self._registrations.count({"event_id": event_id}, session=session):
            return False
        result = await self._events.delete_one({"_id": event_id}, session=session)
        return result.deleted_count == 1

    async def promote_waitlisted(
        self, event_id: str, seats: int, *, session: Session
    ) -> list[Registration]:
        """Registers up to `seats` waitlisted people, first come first served."""
        if seats <= 0:
            return []
        documents = await self._registrations.find(
            {"event_id": event_id, "status": RegistrationStatus.WAITLISTED.value},
            sort=[("registered_at", ASCENDING), ("_id", ASCENDING)],
            limit=seats,
            session=session,
        )
        promoted = [
            from_document(Registration, d | {"status": RegistrationStatus.REGISTERED.value})
            for d in documents
        ]
        if promoted:
            await self._registrations.update_many(
                {"_id": {"$in": [r.id for r in promoted]}},
                {"$set": {"status": RegistrationStatus.REGISTERED.value}},
                session=session,
            )
        return promoted

    async def registered_count(self, event_id: str, *, session: Session | None = None) -> int:
        return await self._registrations.count(
            {"event_id": event_id, "status": RegistrationStatus.REGISTERED.value}, session=session
        )

    async def register(self, registration: Registration, *, session: Session) -> None:
        """Stores a registration; raises `DuplicateRegistrationError` for a repeat."""
        try:
            await self._registrations.insert_one(to_document(registration), session=session)
        except DuplicateKeyError:
            raise DuplicateRegistrationError from None

    async def registration_of(self, event_id: str, email: str) -> Registration | None:
        document = await self._registrations.find_one({"event_id": event_id, "email": email})
        return from_document(Registration, document) if document else None

    async def registrations(self, event_id: str) -> list[Registration]:
        documents = await self._registrations.find(
            {"event_id": event_id}, sort=[("_id", ASCENDING)], limit=5000
        )
        return [from_document(Registration, d) for d in documents]

    async def fold_into(
        self, merged_id: str, survivor_id: str, merge_id: str, *, session: Session
    ) -> None:
        """A merge: the merged candidate's registrations become the survivor's."""
        await move_to_survivor(
            self._registrations, merged_id, survivor_id, merge_id, session=session
        )

    async def unfold(self, merge_id: str, *, session: Session) -> None:
        """An undone merge: the registrations it moved go back to their own candidate."""
        await give_back(self._registrations, merge_id, session=session)

    async def registration(
        self, event_id: str, registration_id: str, *, session: Session | None = None
    ) -> Registration | None:
        document = await self._registrations.find_one(
            {"_id": registration_id, "event_id": event_id}, session=session
        )
        return from_document(Registration, document) if document else None

    async def check_in(
        self, registration: Registration, at: datetime, *, session: Session
    ) -> Registration | None:
        """Marks a registrant as attended; the registration as it is now (read in the same
        transaction, so a candidate linked meanwhile is seen), None if checked in already."""
        result = await self._registrations.update_one(
            {"_id": registration.id, "checked_in_at": None},
            {"$set": {"checked_in_at": at}},
            session=session,
        )
        if result.modified_count != 1:
            return None
        return await self.registration(registration.event_id, registration.id, session=session)

    async def mark_attendance_published(self, registration_id: str, *, session: Session) -> None:
        await self._registrations.update_one(
            {"_id": registration_id}, {"$set": {"attendance_published": True}}, session=session
        )

    async def unannounced_attendance(
        self, candidate_id: str, *, session: Session
    ) -> list[Registration]:
        """The candidate's check-ins not published yet (they were unknown when checked in)."""
        documents = await self._registrations.find(
            {
                "candidate_id": candidate_id,
                "checked_in_at": {"$ne": None},
                "attendance_published": {"$ne": True},
            },
            session=session,
        )
        return [from_document(Registration, d) for d in documents]

    async def link_candidate(self, email: str, candidate_id: str, *, session: Session) -> None:
        """Links registrations made before the person was known as a candidate."""
        await self._registrations.update_many(
            {"email": email, "candidate_id": None},
            {"$set": {"candidate_id": candidate_id}},
            session=session,
        )


async def find_event_anywhere(database: Database, event_id: str) -> RecruitingEvent | None:
    """The event with this id in whichever tenant holds it.

    Deliberately cross-tenant: public registration knows only the event id, and the event
    found decides the tenant everything else is scoped to.
    """
    document: dict[str, Any] | None = await database[EVENTS].find_one({"_id": event_id})
    return from_document(RecruitingEvent, document) if document else None


def event_repository(request: Request, principal: CurrentPrincipal) -> EventRepository:
    """FastAPI dependency: the caller's tenant's events."""
    return EventRepository(request.app.state.platform.require_database(), principal.tenant_id)


EventsRepo = Annotated[EventRepository, Depends(event_repository)]
