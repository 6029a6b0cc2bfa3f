"""MongoDB access to a tenant's event registrations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from crm_events.domain.models import Outcome, Registration, RegistrationStatus, new_door_code
from crm_shared import (
    Database,
    Session,
    TenantScopedCollection,
    from_document,
    give_back,
    link_by_address,
    move_to_survivor,
    to_document,
    utc_now,
)

REGISTRATIONS = "registrations"


async def ensure_registration_indexes(database: Database) -> None:
    """Creates the indexes of the registrations collection."""
    registrations = database[REGISTRATIONS]
    await registrations.create_index(
        [("tenant_id", ASCENDING), ("event_id", ASCENDING), ("email", ASCENDING)], unique=True
    )
    await registrations.create_index([("tenant_id", ASCENDING), ("email", ASCENDING)])
    await registrations.create_index([("tenant_id", ASCENDING), ("candidate_id", ASCENDING)])
    await registrations.create_index([("tenant_id", ASCENDING), ("merges.merge_id", ASCENDING)])
    # An event's registrations listed page by page, in the order they were made.
    await registrations.create_index(
        [("tenant_id", ASCENDING), ("event_id", ASCENDING), ("_id", ASCENDING)]
    )


async def backfill_door_codes(database: Database) -> None:
    """Registrations stored before door codes get one each (their code had been the start of
    their id, which is its creation time: alike for a second's registrations)."""
    registrations = database[REGISTRATIONS]
    async for document in registrations.find({"code": {"$exists": False}}, {"_id": 1}):
        await registrations.update_one(
            {"_id": document["_id"], "code": {"$exists": False}},
            {"$set": {"code": new_door_code()}},
        )


class DuplicateRegistrationError(Exception):
    """The email is already registered for the event."""


class RegistrationRepository:
    """One tenant's registrations for its events."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._registrations = TenantScopedCollection(database[REGISTRATIONS], tenant_id)

    async def any_for(self, event_id: str, *, session: Session) -> bool:
        """Whether anybody registered for the event (waitlist included)."""
        return bool(await self._registrations.count({"event_id": event_id}, session=session))

    async def waitlist(
        self, event_id: str, *, session_id: str | None = None, limit: int, session: Session
    ) -> list[Registration]:
        """The first `limit` people on the event's waitlist (for one of its sessions, if
        `session_id`), the longest waiting first."""
        if limit <= 0:
            return []
        query: dict[str, Any] = {
            "event_id": event_id,
            "status": RegistrationStatus.WAITLISTED.value,
        }
        if session_id is not None:
            query["session_id"] = session_id
        documents = await self._registrations.find(
            query,
            sort=[("registered_at", ASCENDING), ("_id", ASCENDING)],
            limit=limit,
            session=session,
        )
        return [from_document(Registration, d) for d in documents]

    async def promote(
        self, registrations: list[Registration], *, session: Session
    ) -> list[Registration]:
        """Gives each of `registrations` (waitlisted) a seat now."""
        if not registrations:
            return []
        now = utc_now()
        seated = {"status": RegistrationStatus.REGISTERED.value, "promoted_at": now}
        await self._registrations.update_many(
            {"_id": {"$in": [r.id for r in registrations]}}, {"$set": seated}, session=session
        )
        return [
            r.model_copy(update={"status": RegistrationStatus.REGISTERED, "promoted_at": now})
            for r in registrations
        ]

    async def reopen(
        self,
        registration_id: str,
        status: RegistrationStatus,
        at: datetime,
        *,
        first_name: str,
        last_name: str,
        session_id: str | None,
        session: Session,
    ) -> Registration | None:
        """A cancelled registration made anew at `at` with `status` (in `session_id`, which
        may be another session than before); None if it was not cancelled (any more)."""
        result = await self._registrations.update_one(
            {"_id": registration_id, "status": RegistrationStatus.CANCELLED.value},
            {
                "$set": {
                    "status": status.value,
                    "registered_at": at,
                    "cancelled_at": None,
                    "promoted_at": None,
                    "first_name": first_name,
                    "last_name": last_name,
                    "session_id": session_id,
                }
            },
            session=session,
        )
        if result.modified_count != 1:
            return None
        document = await self._registrations.find_one({"_id": registration_id}, session=session)
        return from_document(Registration, document) if document else None

    async def cancel(
        self, registration_id: str, at: datetime, *, session: Session
    ) -> Registration | None:
        """Cancels a registration; the registration as it is now, None if it was cancelled
        already (by another request at the same moment)."""
        result = await self._registrations.update_one(
            {"_id": registration_id, "status": {"$ne": RegistrationStatus.CANCELLED.value}},
            {"$set": {"status": RegistrationStatus.CANCELLED.value, "cancelled_at": at}},
            session=session,
        )
        if result.modified_count != 1:
            return None
        document = await self._registrations.find_one({"_id": registration_id}, session=session)
        return from_document(Registration, document) if document else None

    async def registered_count(
        self, event_id: str, *, session_id: str | None = None, session: Session | None = None
    ) -> int:
        """The seats taken at the event, or in one of its sessions."""
        query: dict[str, Any] = {
            "event_id": event_id,
            "status": RegistrationStatus.REGISTERED.value,
        }
        if session_id is not None:
            query["session_id"] = session_id
        return await self._registrations.count(query, session=session)

    async def by_session(
        self,
        event_id: str,
        status: RegistrationStatus | None = None,
        *,
        session: Session | None = None,
    ) -> dict[str | None, int]:
        """How many registrations with `status` (registered or waitlisted, if None) each
        session of the event has (None: those without a session)."""
        statuses = (
            [status.value]
            if status is not None
            else [RegistrationStatus.REGISTERED.value, RegistrationStatus.WAITLISTED.value]
        )
        documents = await self._registrations.find(
            {"event_id": event_id, "status": {"$in": statuses}},
            projection={"session_id": 1},
            session=session,
        )
        counts: dict[str | None, int] = {}
        for document in documents:
            key = document.get("session_id")
            counts[key] = counts.get(key, 0) + 1
        return counts

    async def register(self, registration: Registration, *, session: Session) -> None:
        """Stores a registration; raises `DuplicateRegistrationError` for a repeat."""
        try:
            await self._registrations.insert_one(to_document(registration), session=session)
        except DuplicateKeyError:
            raise DuplicateRegistrationError from None

    async def registration_of(self, event_id: str, email: str) -> Registration | None:
        document = await self._registrations.find_one({"event_id": event_id, "email": email})
        return from_document(Registration, document) if document else None

    async def by_codes(self, event_id: str, codes: list[str]) -> dict[str, list[Registration]]:
        """The event's registrations holding any of `codes` (one read for a door's upload), by
        code: more than one under a code is a collision the caller must not guess at."""
        documents = await self._registrations.find(
            {"event_id": event_id, "code": {"$in": sorted(set(codes))}},
            sort=[("_id", ASCENDING)],
        )
        found: dict[str, list[Registration]] = {}
        for document in documents:
            registration = from_document(Registration, document)
            found.setdefault(registration.code, []).append(registration)
        return found

    async def by_ids(self, event_id: str, ids: list[str]) -> dict[str, Registration]:
        """The event's registrations among `ids`, by id (one read)."""
        documents = await self._registrations.find(
            {"event_id": event_id, "_id": {"$in": sorted(set(ids))}}
        )
        return {d["_id"]: from_document(Registration, d) for d in documents}

    async def of_event(
        self, event_id: str, *, after: str | None = None, limit: int
    ) -> list[Registration]:
        """One page of the event's registrations (every status) in the order they were made:
        the first `limit` whose id comes after `after`."""
        query: dict[str, Any] = {"event_id": event_id}
        if after:
            query["_id"] = {"$gt": after}
        documents = await self._registrations.find(query, sort=[("_id", ASCENDING)], limit=limit)
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
        transaction, so a candidate linked meanwhile is seen), None if checked in already.
        Somebody waitlisted whom the door let in is seated as of `at` (over the capacity if
        it is full): they came, so every count and list has them among the registered, and
        the waitlist no longer offers them a seat."""
        result = await self._registrations.update_one(
            {"_id": registration.id, "checked_in_at": None},
            {"$set": {"checked_in_at": at}},
            session=session,
        )
        if result.modified_count != 1:
            return None
        await self._registrations.update_one(
            {"_id": registration.id, "status": RegistrationStatus.WAITLISTED.value},
            {"$set": {"status": RegistrationStatus.REGISTERED.value, "promoted_at": at}},
            session=session,
        )
        return await self.registration(registration.event_id, registration.id, session=session)

    async def mark_attendance_published(self, registration_id: str, *, session: Session) -> None:
        await self._registrations.update_one(
            {"_id": registration_id}, {"$set": {"attendance_published": True}}, session=session
        )

    async def unannounced_attendance_of(
        self, candidate_ids: Sequence[str], *, session: Session
    ) -> list[Registration]:
        """The candidates' check-ins not published yet (they were unknown when checked in),
        in the order of `candidate_ids`."""
        return await self._of_candidates(
            candidate_ids,
            {"checked_in_at": {"$ne": None}, "attendance_published": {"$ne": True}},
            session=session,
        )

    async def _of_candidates(
        self, candidate_ids: Sequence[str], query: Mapping[str, Any], *, session: Session
    ) -> list[Registration]:
        if not candidate_ids:
            return []
        documents = await self._registrations.find(
            {"candidate_id": {"$in": list(candidate_ids)}, **query},
            sort=[("_id", ASCENDING)],
            session=session,
        )
        rank = {candidate_id: index for index, candidate_id in enumerate(candidate_ids)}
        documents.sort(key=lambda document: rank[str(document["candidate_id"])])
        return [from_document(Registration, d) for d in documents]

    async def not_cancelled(self, event_id: str, *, session: Session) -> list[Registration]:
        """Every registration of the event still standing (registered or waitlisted), however
        many: whoever is told about a change of the event."""
        documents = await self._registrations.find(
            {"event_id": event_id, "status": {"$ne": RegistrationStatus.CANCELLED.value}},
            sort=[("_id", ASCENDING)],
            session=session,
        )
        return [from_document(Registration, d) for d in documents]

    async def seated(self, event_id: str, *, session: Session) -> list[Registration]:
        """Every registration of the event holding a seat (registered), however many."""
        documents = await self._registrations.find(
            {"event_id": event_id, "status": RegistrationStatus.REGISTERED.value},
            sort=[("_id", ASCENDING)],
            session=session,
        )
        return [from_document(Registration, d) for d in documents]

    async def settle(
        self, registration_id: str, outcome: Outcome, *, session: Session
    ) -> Registration | None:
        """Records a registration's outcome, unpublished; None if it had that outcome already
        (a retried completion, a second late check-in)."""
        result = await self._registrations.update_one(
            {"_id": registration_id, "outcome": {"$ne": outcome.value}},
            {"$set": {"outcome": outcome.value, "outcome_published": False}},
            session=session,
        )
        if result.modified_count != 1:
            return None
        document = await self._registrations.find_one({"_id": registration_id}, session=session)
        return from_document(Registration, document) if document else None

    async def mark_outcome_published(self, registration_id: str, *, session: Session) -> None:
        await self._registrations.update_one(
            {"_id": registration_id}, {"$set": {"outcome_published": True}}, session=session
        )

    async def unannounced_outcomes_of(
        self, candidate_ids: Sequence[str], *, session: Session
    ) -> list[Registration]:
        """The candidates' outcomes not published yet (they were unknown when it was set), in
        the order of `candidate_ids`."""
        return await self._of_candidates(
            candidate_ids,
            {"outcome": {"$ne": None}, "outcome_published": {"$ne": True}},
            session=session,
        )

    async def link_candidates(self, links: Sequence[tuple[str, str]], *, session: Session) -> None:
        """Links registrations made before the person was known as a candidate."""
        await link_by_address(self._registrations, links, session=session)
