"""One tenant's segments and their memberships."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from crm_candidates.domain.models import (
    DuplicateKeyInTenantError,
    Segment,
    SegmentStatus,
    segment_name_key,
)
from crm_candidates.domain.segments import SEGMENT_IDS
from crm_candidates.repositories.collections import (
    CANDIDATES_COLLECTION,
    MEMBERSHIPS_COLLECTION,
    SEGMENTS_COLLECTION,
)
from crm_shared import Database, Session, TenantScopedCollection, from_document, utc_now
from crm_shared.windows import page_in_id_windows

_NOT_DELETED: dict[str, Any] = {"status": {"$ne": SegmentStatus.DELETING.value}}
# The name as its uniqueness compares it (`Segment.name_key`), on segments not deleted: a
# unique index holds it under concurrent saves. Segments stored before it had one may share
# a name (`name_segments`) until one of them is renamed.
NAME_KEY = "name_key"
CATCH_UP_DUE_AT = "catch_up_due_at"


def _segment_from_document(document: dict[str, Any]) -> Segment:
    return from_document(Segment, document)


class SegmentRepository:
    """Stores one tenant's segments and their memberships."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._segments = TenantScopedCollection(database[SEGMENTS_COLLECTION], tenant_id)
        self._memberships = TenantScopedCollection(database[MEMBERSHIPS_COLLECTION], tenant_id)
        self._candidates = TenantScopedCollection(database[CANDIDATES_COLLECTION], tenant_id)

    async def add(self, segment: Segment) -> None:
        """Stores a new segment; `DuplicateKeyInTenantError` if another has its name."""
        document = segment.model_dump(exclude={"id"})
        document["_id"] = segment.id
        document[NAME_KEY] = segment.name_key
        try:
            await self._segments.insert_one(document)
        except DuplicateKeyError:
            raise DuplicateKeyInTenantError(segment.name) from None

    async def get(self, segment_id: str) -> Segment | None:
        """The segment with this id, if the tenant has it (and did not delete it)."""
        document = await self._segments.find_one({"_id": segment_id} | _NOT_DELETED)
        return _segment_from_document(document) if document else None

    async def all(self, *, session: Session | None = None) -> list[Segment]:
        """Every segment of the tenant that was not deleted."""
        documents = await self._segments.find(
            _NOT_DELETED, sort=[("_id", ASCENDING)], session=session
        )
        return [_segment_from_document(document) for document in documents]

    async def mark_deleted(self, segment_id: str) -> Segment | None:
        """Takes a segment out of every list and evaluation; None if it was gone already."""
        marked = await self._segments.update_one(
            {"_id": segment_id} | _NOT_DELETED,
            # A deleted segment frees its name for a new one.
            {
                "$set": {"status": SegmentStatus.DELETING.value, "updated_at": utc_now()},
                "$unset": {NAME_KEY: ""},
            },
        )
        if marked.modified_count != 1:
            return None
        document = await self._segments.find_one({"_id": segment_id})
        return _segment_from_document(document) if document else None

    async def remove(self, segment_id: str) -> None:
        """Removes a deleted segment whose members were all let go."""
        await self._segments.delete_one({"_id": segment_id, "status": SegmentStatus.DELETING.value})

    async def redefine(self, segment: Segment) -> None:
        """Stores a segment's new name and rule (its membership is recomputed afterwards);
        `DuplicateKeyInTenantError` if another segment has the name."""
        try:
            await self._segments.update_one(
                {"_id": segment.id},
                {
                    "$set": {
                        "name": segment.name,
                        NAME_KEY: segment.name_key,
                        "rule": segment.rule,
                        "status": segment.status.value,
                        "updated_at": segment.updated_at,
                    }
                },
            )
        except DuplicateKeyError:
            raise DuplicateKeyInTenantError(segment.name) from None

    async def replace_rule(
        self, segment_id: str, rule: dict[str, Any], *, session: Session
    ) -> None:
        """Stores a rule that selects the same candidates as before (a renamed pool stage), so
        the membership stands as it is."""
        await self._segments.update_one(
            {"_id": segment_id}, {"$set": {"rule": rule, "updated_at": utc_now()}}, session=session
        )

    async def set_status(self, segment_id: str, status: SegmentStatus) -> None:
        """Records where the segment's full evaluation stands."""
        # Never over a deletion: an evaluation finishing after it must not bring the segment back.
        await self._segments.update_one(
            {"_id": segment_id} | _NOT_DELETED, {"$set": {"status": status.value}}
        )

    async def set_catch_up_due(self, segment_id: str, at: datetime | None) -> None:
        """Records when the evaluation's catch-up pass is due (None: done), so a restart before
        it resumes the evaluation even though the segment is `ready` already."""
        change = {"$set": {CATCH_UP_DUE_AT: at}} if at else {"$unset": {CATCH_UP_DUE_AT: ""}}
        await self._segments.update_one({"_id": segment_id} | _NOT_DELETED, change)

    async def member_count(self, segment_id: str) -> int:
        """How many candidates are members of the segment."""
        return await self._memberships.count({"segment_id": segment_id})

    async def memberships_of(self, candidate_id: str, *, session: Session) -> set[str]:
        """The ids of the segments a candidate is a member of."""
        documents = await self._memberships.find({"candidate_id": candidate_id}, session=session)
        return {document["segment_id"] for document in documents}

    async def memberships_of_many(
        self, candidate_ids: list[str], *, session: Session
    ) -> dict[str, set[str]]:
        """`memberships_of` each of the candidates, in one query."""
        members: dict[str, set[str]] = {candidate_id: set() for candidate_id in candidate_ids}
        if candidate_ids:
            documents = await self._memberships.find(
                {"candidate_id": {"$in": candidate_ids}}, session=session
            )
            for document in documents:
                members[document["candidate_id"]].add(document["segment_id"])
        return members

    async def entries_of(self, candidate_id: str) -> dict[str, Any]:
        """Segment id -> when the candidate entered it, for every segment it is a member of."""
        documents = await self._memberships.find({"candidate_id": candidate_id})
        return {document["segment_id"]: document.get("entered_at") for document in documents}

    async def named(self, segment_ids: list[str]) -> list[Segment]:
        """The segments (not deleted) with these ids, in name order."""
        if not segment_ids:
            return []
        documents = await self._segments.find(
            {"_id": {"$in": segment_ids}} | _NOT_DELETED, sort=[("name", ASCENDING)]
        )
        return [_segment_from_document(document) for document in documents]

    async def member_ids(
        self, segment_id: str, *, after: str | None, limit: int, origin: str | None = None
    ) -> list[str]:
        """Member candidate ids of a segment, in id order after `after` (`origin`: see
        `page_in_id_windows`)."""
        documents = await page_in_id_windows(
            self._memberships,
            {"segment_id": segment_id},
            "candidate_id",
            after=after or None,
            origin=origin,
            limit=limit,
        )
        return [document["candidate_id"] for document in documents]

    async def member_id_batches(self, segment_id: str, *, batch: int) -> AsyncIterator[list[str]]:
        """Every member candidate id of a segment, `batch` at a time from one cursor (see
        `TenantScopedCollection.in_batches`)."""
        async for documents in self._memberships.in_batches(
            {"segment_id": segment_id},
            batch=batch,
            sort=[("candidate_id", ASCENDING)],
            projection={"candidate_id": 1},
        ):
            yield [document["candidate_id"] for document in documents]

    async def enter(self, segment_id: str, candidate_id: str, *, session: Session) -> bool:
        """Makes the candidate a member; False if it already was."""
        result = await self._memberships.update_one(
            {"segment_id": segment_id, "candidate_id": candidate_id},
            {"$setOnInsert": {"entered_at": utc_now()}},
            upsert=True,
            session=session,
        )
        if result.upserted_id is None:
            return False
        # Mirrored on the candidate so rules referring to this segment compile to a query.
        await self._candidates.update_one(
            {"_id": candidate_id}, {"$addToSet": {SEGMENT_IDS: segment_id}}, session=session
        )
        return True

    async def exit(self, segment_id: str, candidate_id: str, *, session: Session) -> bool:
        """Ends the candidate's membership; False if it was not a member."""
        result = await self._memberships.delete_one(
            {"segment_id": segment_id, "candidate_id": candidate_id}, session=session
        )
        if result.deleted_count != 1:
            return False
        await self._candidates.update_one(
            {"_id": candidate_id}, {"$pull": {SEGMENT_IDS: segment_id}}, session=session
        )
        return True

    async def apply_changes(
        self, changes: Sequence[tuple[str, str, bool]], *, session: Session
    ) -> None:
        """Writes (segment id, candidate id, entered) entries and exits, decided in this order
        against the memberships read in the caller's transaction, with three bulk writes.

        What `enter` and `exit` one by one leave: a membership whose last change is an entry
        is (re)created with this entry's time, one whose last change is an exit is gone, and
        the mirror on each candidate gets its additions and removals in their order (runs of
        one kind in one update; `$addToSet` and `$pull` of one field cannot share one).
        """
        if not changes:
            return
        last: dict[tuple[str, str], bool] = {}
        exited: dict[str, list[str]] = {}
        runs: dict[str, list[tuple[bool, list[str]]]] = {}
        for segment_id, candidate_id, entered in changes:
            last[(segment_id, candidate_id)] = entered
            if not entered:
                exited.setdefault(segment_id, []).append(candidate_id)
            candidate_runs = runs.setdefault(candidate_id, [])
            if candidate_runs and candidate_runs[-1][0] == entered:
                candidate_runs[-1][1].append(segment_id)
            else:
                candidate_runs.append((entered, [segment_id]))
        # Every membership that was left at some point goes first, so one entered again later
        # is created anew, as an exit and a new entry one by one would leave it.
        if exited:
            await self._memberships.delete_many(
                {
                    "$or": [
                        {"segment_id": segment_id, "candidate_id": {"$in": candidate_ids}}
                        for segment_id, candidate_ids in exited.items()
                    ]
                },
                session=session,
            )
        entered_at = utc_now()
        await self._memberships.update_each(
            [
                (
                    {"segment_id": segment_id, "candidate_id": candidate_id},
                    {"$setOnInsert": {"entered_at": entered_at}},
                )
                for (segment_id, candidate_id), entered in last.items()
                if entered
            ],
            upsert=True,
            session=session,
        )
        await self._candidates.update_in_order(
            [
                (
                    {"_id": candidate_id},
                    {"$addToSet": {SEGMENT_IDS: {"$each": segment_ids}}}
                    if entered
                    else {"$pull": {SEGMENT_IDS: {"$in": segment_ids}}},
                )
                for candidate_id, candidate_runs in runs.items()
                for entered, segment_ids in candidate_runs
            ],
            session=session,
        )


async def segments_awaiting_evaluation(database: Database) -> list[Segment]:
    """Segments of every tenant whose full evaluation (or its catch-up) has not finished.

    Deliberately cross-tenant: it runs once at service start to resume interrupted jobs, and
    each segment it returns is then evaluated within its own tenant.
    """
    documents = await (
        database[SEGMENTS_COLLECTION]
        .find(
            {
                "$or": [
                    {
                        "status": {
                            "$in": [SegmentStatus.COMPUTING.value, SegmentStatus.DELETING.value]
                        }
                    },
                    {CATCH_UP_DUE_AT: {"$exists": True}},
                ]
            }
        )
        .to_list()
    )
    return [_segment_from_document(document) for document in documents]


async def name_segments(database: Database) -> None:
    """Gives every segment not deleted its `name_key`, the oldest of several sharing a name
    first (the others keep none until renamed: they were made before names were unique, and
    renaming them here would change what other systems were told they are called)."""
    segments = database[SEGMENTS_COLLECTION]
    taken: set[tuple[str, str]] = set()
    documents = await segments.find(
        _NOT_DELETED, {"tenant_id": 1, "name": 1}, sort=[("created_at", ASCENDING)]
    ).to_list()
    for document in documents:
        key = (document["tenant_id"], segment_name_key(str(document.get("name") or "")))
        if key in taken:
            continue
        taken.add(key)
        await segments.update_one(
            {"_id": document["_id"], "tenant_id": document["tenant_id"]},
            {"$set": {NAME_KEY: key[1]}},
        )
