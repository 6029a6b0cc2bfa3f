"""MongoDB access to analytics' own record of recruiting events: each event as the topics
told it, and each of its registrations folded from the registrant topics."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from crm_analytics.domain.event_report import EventChange, Registrant
from crm_analytics.repositories.milestones import MILESTONES_COLLECTION
from crm_shared import (
    ADDRESS_DIGEST_FIELD,
    Database,
    Session,
    TenantScopedCollection,
    email_sha256,
)

REPORTED_EVENTS_COLLECTION = "reported_events"
EVENT_REGISTRANTS_COLLECTION = "event_registrants"

_EVENT_FIELDS = (
    "event_name",
    "told_at",
    "starts_at",
    "starts_told_at",
    "completed_at",
    "cancelled_at",
)


async def ensure_event_report_indexes(database: Database) -> None:
    """One document per tenant and event, found by start too; one per registration."""
    events = database[REPORTED_EVENTS_COLLECTION]
    await events.create_index([("tenant_id", ASCENDING), ("event_id", ASCENDING)], unique=True)
    await events.create_index([("tenant_id", ASCENDING), ("starts_at", ASCENDING)])
    await database[EVENT_REGISTRANTS_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("event_id", ASCENDING), ("registration_id", ASCENDING)],
        unique=True,
    )


async def backfill_address_digests(database: Database) -> None:
    """Registrations and milestones stored before they kept their address's digest get it,
    so the erasure finds those known only by address."""
    for name in (EVENT_REGISTRANTS_COLLECTION, MILESTONES_COLLECTION):
        collection = database[name]
        missing = {"email": {"$type": "string"}, ADDRESS_DIGEST_FIELD: {"$exists": False}}
        async for document in collection.find(missing, {"_id": 1, "email": 1}):
            await collection.update_one(
                {"_id": document["_id"], ADDRESS_DIGEST_FIELD: {"$exists": False}},
                {"$set": {ADDRESS_DIGEST_FIELD: email_sha256(document["email"])}},
            )


def _event(document: dict[str, Any]) -> EventChange:
    return EventChange(
        event_id=document["event_id"],
        event_name=document["event_name"],
        told_at=document["told_at"],
        starts_at=document.get("starts_at"),
        starts_told_at=document.get("starts_told_at"),
        completed_at=document.get("completed_at"),
        cancelled_at=document.get("cancelled_at"),
    )


def _registrant(document: dict[str, Any]) -> Registrant:
    return Registrant(
        event_id=document["event_id"],
        registration_id=document["registration_id"],
        candidate_id=document.get("candidate_id"),
        email=document.get("email"),
        seated_at=document.get("seated_at"),
        waitlisted_at=document.get("waitlisted_at"),
        cancelled_at=document.get("cancelled_at"),
        checked_in_at=document.get("checked_in_at"),
        walk_in=bool(document.get("walk_in")),
        attended=bool(document.get("attended")),
        no_show=bool(document.get("no_show")),
    )


def _registrant_update(change: Registrant) -> dict[str, Any]:
    """The change as operators that commute: applying it again, or before an older change,
    leaves the same document."""
    latest = {
        name: at
        for name, at in (
            ("seated_at", change.seated_at),
            ("waitlisted_at", change.waitlisted_at),
            ("cancelled_at", change.cancelled_at),
        )
        if at is not None
    }
    told: dict[str, Any] = {
        name: value
        for name, value in (
            ("candidate_id", change.candidate_id),
            ("email", change.email),
            # For the erasure of a registrant known only by address (crm_shared.gdpr).
            (ADDRESS_DIGEST_FIELD, email_sha256(change.email) if change.email else None),
            ("walk_in", change.walk_in or None),
            ("attended", change.attended or None),
            ("no_show", change.no_show or None),
        )
        if value is not None
    }
    update: dict[str, Any] = {}
    if latest:
        update["$max"] = latest
    if change.checked_in_at is not None:
        update["$min"] = {"checked_in_at": change.checked_in_at}
    if told:
        update["$set"] = told
    return update or {"$setOnInsert": {"walk_in": False}}


class EventReportRepository:
    """One tenant's recruiting events and their registrations, as analytics folded them."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._events = TenantScopedCollection(database[REPORTED_EVENTS_COLLECTION], tenant_id)
        self._registrants = TenantScopedCollection(
            database[EVENT_REGISTRANTS_COLLECTION], tenant_id
        )

    async def fold_events(self, changes: Sequence[EventChange], *, session: Session) -> None:
        """Merges each change into what was told of its event before (one read, one write)."""
        if not changes:
            return
        ids = list(dict.fromkeys(c.event_id for c in changes))
        found = await self._events.find({"event_id": {"$in": ids}}, session=session)
        merged = {d["event_id"]: _event(d) for d in found}
        for change in changes:
            before = merged.get(change.event_id)
            merged[change.event_id] = before.merged(change) if before else change
        await self._events.update_each(
            [
                (
                    {"event_id": event_id},
                    {"$set": {f: getattr(merged[event_id], f) for f in _EVENT_FIELDS}},
                )
                for event_id in ids
            ],
            upsert=True,
            session=session,
        )

    async def fold_registrants(self, changes: Sequence[Registrant], *, session: Session) -> None:
        """Applies the changes, those of one registration merged first, in one bulk write."""
        combined: dict[tuple[str, str], Registrant] = {}
        for change in changes:
            before = combined.get(change.key)
            combined[change.key] = before.merged(change) if before else change
        if combined:
            await self._registrants.update_each(
                [
                    (
                        {"event_id": event_id, "registration_id": registration_id},
                        _registrant_update(change),
                    )
                    for (event_id, registration_id), change in combined.items()
                ],
                upsert=True,
                session=session,
            )

    async def event(self, event_id: str) -> EventChange | None:
        document = await self._events.find_one({"event_id": event_id})
        return _event(document) if document else None

    async def starting_between(self, start: datetime, end: datetime) -> list[EventChange]:
        """The events whose start falls in [start, end), earliest first."""
        found = await self._events.find(
            {"starts_at": {"$gte": start, "$lt": end}}, sort=[("starts_at", ASCENDING)]
        )
        return [_event(d) for d in found]

    async def registrants(self, event_ids: Sequence[str]) -> dict[str, list[Registrant]]:
        """Every registration of each event, by event."""
        found = await self._registrants.find({"event_id": {"$in": list(event_ids)}})
        registrants: dict[str, list[Registrant]] = {event_id: [] for event_id in event_ids}
        for document in found:
            registrants[document["event_id"]].append(_registrant(document))
        return registrants
