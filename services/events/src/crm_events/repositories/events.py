"""MongoDB access to a tenant's recruiting events."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING

from crm_events.domain.models import (
    DEFAULT_REMINDERS,
    EventFormat,
    EventStatus,
    RecruitingEvent,
    reminders_from,
)
from crm_shared import (
    LEASE_RELEASED,
    Database,
    Session,
    TenantScopedCollection,
    backfill_versions,
    claim_next,
    from_document,
    to_document,
    utc_now,
)

EVENTS = "events"


async def backfill_lifecycle(database: Database) -> None:
    """Events stored before they had a status and a version are published at version 1."""
    await backfill_versions(database, [EVENTS])
    await database[EVENTS].update_many(
        {"status": {"$exists": False}}, {"$set": {"status": EventStatus.PUBLISHED.value}}
    )


async def backfill_formats(database: Database) -> None:
    """Events stored before formats and time zones are in-person events in UTC, organised by
    nobody named (their creator still manages them as before)."""
    await database[EVENTS].update_many(
        {"format": {"$exists": False}}, {"$set": {"format": EventFormat.IN_PERSON.value}}
    )
    await database[EVENTS].update_many(
        {"time_zone": {"$exists": False}}, {"$set": {"time_zone": "UTC"}}
    )
    await database[EVENTS].update_many(
        {"organisers": {"$exists": False}}, {"$set": {"organisers": []}}
    )


async def backfill_reminders(database: Database) -> None:
    """Events stored before reminders get the default ones, those whose time has not passed
    yet pending (an event already under way or over gets none)."""
    now = utc_now()
    reminders = list(DEFAULT_REMINDERS)
    async for document in database[EVENTS].find({"reminders": {"$exists": False}}):
        starts_at = document.get("starts_at")
        plan = (
            reminders_from(starts_at, reminders, now)
            if isinstance(starts_at, datetime)
            else {"reminders_sent": reminders, "next_reminder_at": None}  # no start: no reminder
        )
        await database[EVENTS].update_one(
            {"_id": document["_id"], "reminders": {"$exists": False}},
            {"$set": {"reminders": reminders} | plan},
        )


# An event can be edited, cancelled (and registered for, if published) until it is final.
_OPEN = [EventStatus.DRAFT.value, EventStatus.PUBLISHED.value]


async def ensure_event_indexes(database: Database) -> None:
    """Creates the indexes of the events collection."""
    await database[EVENTS].create_index([("tenant_id", ASCENDING), ("starts_at", ASCENDING)])
    await database[EVENTS].create_index([("status", ASCENDING), ("next_reminder_at", ASCENDING)])


class EventRepository:
    """One tenant's events."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._events = TenantScopedCollection(database[EVENTS], tenant_id)

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
        """Applies an edit if the event is still a draft or published, at `version`."""
        result = await self._events.update_one(
            {"_id": event_id, "version": version, "status": {"$in": _OPEN}},
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

    async def move(
        self,
        event_id: str,
        source: EventStatus,
        target: EventStatus,
        changes: dict[str, Any],
        *,
        session: Session | None = None,
    ) -> bool:
        """Moves the event from `source` to `target` status (a new version); False if it was
        not at `source` any more."""
        result = await self._events.update_one(
            {"_id": event_id, "status": source.value},
            {
                "$set": changes | {"status": target.value, "updated_at": utc_now()},
                "$inc": {"version": 1},
            },
            session=session,
        )
        return result.modified_count == 1

    async def cancel(
        self, event_id: str, reason: str | None, *, session: Session | None = None
    ) -> bool:
        """Cancels a draft or published event; False if it was final already."""
        now = utc_now()
        result = await self._events.update_one(
            {"_id": event_id, "status": {"$in": _OPEN}},
            {
                "$set": {
                    "status": EventStatus.CANCELLED.value,
                    "cancelled_at": now,
                    "cancellation_reason": reason,
                    "updated_at": now,
                },
                "$inc": {"version": 1},
            },
            session=session,
        )
        return result.modified_count == 1

    async def hold(self, event_id: str, *, session: Session) -> None:
        """Writes the event's document in a registration change's transaction (a cancellation),
        so it is serialised with registrations and capacity edits like they are with each
        other: a freed seat goes to exactly one waitlisted person."""
        await self._events.update_one(
            {"_id": event_id}, {"$inc": {"registration_changes": 1}}, session=session
        )

    async def touch(self, event_id: str, *, session: Session) -> None:
        """Writes the event's document, so a registration under way conflicts with `session`."""
        await self._events.update_one(
            {"_id": event_id}, {"$set": {"updated_at": utc_now()}}, session=session
        )

    async def delete(self, event_id: str, *, session: Session) -> bool:
        result = await self._events.delete_one({"_id": event_id}, session=session)
        return result.deleted_count == 1


async def find_event_anywhere(database: Database, event_id: str) -> RecruitingEvent | None:
    """The event with this id in whichever tenant holds it.

    Deliberately cross-tenant: public registration knows only the event id, and the event
    found decides the tenant everything else is scoped to.
    """
    document: dict[str, Any] | None = await database[EVENTS].find_one({"_id": event_id})
    return from_document(RecruitingEvent, document) if document else None


async def claim_due_reminder(
    database: Database, *, owner: str, lease: timedelta, now: datetime
) -> RecruitingEvent | None:
    """Leases to `owner` the published event (of any tenant) whose next reminder is the most
    overdue; None when no reminder is due."""
    document = await claim_next(
        database[EVENTS],
        {"status": EventStatus.PUBLISHED.value, "next_reminder_at": {"$lte": now}},
        owner=owner,
        lease=lease,
        sort=[("next_reminder_at", ASCENDING)],
        now=now,
    )
    return from_document(RecruitingEvent, document) if document else None


async def settle_reminder(
    database: Database,
    event: RecruitingEvent,
    owner: str,
    plan: dict[str, Any],
    *,
    session: Session | None = None,
) -> bool:
    """Records the reminders done and releases `owner`'s lease; False if the lease was lost
    or the event changed since it was claimed (its next claim reads it anew)."""
    result = await database[EVENTS].update_one(
        {"_id": event.id, "version": event.version, "lease_owner": owner},
        {"$set": plan | LEASE_RELEASED},
        session=session,
    )
    return result.matched_count == 1


async def release_reminder(database: Database, event_id: str, owner: str) -> None:
    """Gives up `owner`'s lease without recording anything (the event changed meanwhile)."""
    await database[EVENTS].update_one(
        {"_id": event_id, "lease_owner": owner}, {"$set": LEASE_RELEASED}
    )
