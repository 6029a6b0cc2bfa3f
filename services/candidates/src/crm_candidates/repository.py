"""MongoDB access of the candidates service, always within one tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from crm_candidates.domain.models import Candidate, Segment, SegmentStatus
from crm_candidates.domain.segments import candidate_facets
from crm_shared import (
    CurrentPrincipal,
    Database,
    Session,
    TenantScopedCollection,
    from_document,
    to_document,
    utc_now,
)

CANDIDATES_COLLECTION = "candidates"
SEGMENTS_COLLECTION = "segments"
MEMBERSHIPS_COLLECTION = "segment_memberships"


class DuplicateEmailError(Exception):
    """Another candidate of the tenant already has one of the email addresses."""

    def __init__(self, existing_id: str | None) -> None:
        super().__init__("a candidate with this email already exists")
        self.existing_id = existing_id


async def ensure_indexes(database: Database) -> None:
    """Creates the indexes of the service's collections."""
    candidates = database[CANDIDATES_COLLECTION]
    # An email identifies one person within a tenant; the index makes that hold under races.
    await candidates.create_index(
        [("tenant_id", ASCENDING), ("emails", ASCENDING)], unique=True, name="tenant_email_unique"
    )
    await candidates.create_index([("tenant_id", ASCENDING), ("_id", ASCENDING)])
    for facet in ("skills", "location", "tags"):
        await candidates.create_index([("tenant_id", ASCENDING), (f"facets.{facet}", ASCENDING)])
    await database[SEGMENTS_COLLECTION].create_index([("tenant_id", ASCENDING), ("_id", ASCENDING)])
    memberships = database[MEMBERSHIPS_COLLECTION]
    await memberships.create_index(
        [("tenant_id", ASCENDING), ("segment_id", ASCENDING), ("candidate_id", ASCENDING)],
        unique=True,
    )
    await memberships.create_index([("tenant_id", ASCENDING), ("candidate_id", ASCENDING)])


def _to_document(candidate: Candidate) -> dict[str, Any]:
    # The normalised facets are stored beside the profile for segment queries to use.
    return to_document(candidate) | {"facets": candidate_facets(candidate.profile())}


def _from_document(document: dict[str, Any]) -> Candidate:
    return from_document(Candidate, {k: v for k, v in document.items() if k != "facets"})


class CandidateRepository:
    """Stores and reads one tenant's candidates."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._candidates = TenantScopedCollection(database[CANDIDATES_COLLECTION], tenant_id)

    async def add(self, candidate: Candidate, *, session: Session) -> None:
        """Stores a new candidate; raises `DuplicateEmailError` if an email is taken."""
        try:
            await self._candidates.insert_one(_to_document(candidate), session=session)
        except DuplicateKeyError:
            existing = await self._candidates.find_one({"emails": {"$in": candidate.emails}})
            raise DuplicateEmailError(existing["_id"] if existing else None) from None

    async def replace(self, candidate: Candidate, *, session: Session) -> None:
        """Stores a changed candidate; raises `DuplicateEmailError` if a new email is taken."""
        changes = _to_document(candidate)
        del changes["_id"]
        try:
            await self._candidates.update_one(
                {"_id": candidate.id}, {"$set": changes}, session=session
            )
        except DuplicateKeyError:
            existing = await self._candidates.find_one(
                {"emails": {"$in": candidate.emails}, "_id": {"$ne": candidate.id}}
            )
            raise DuplicateEmailError(existing["_id"] if existing else None) from None

    async def find_by_emails(
        self, emails: list[str], *, session: Session | None = None
    ) -> Candidate | None:
        """The candidate holding any of `emails`, if there is one."""
        document = await self._candidates.find_one({"emails": {"$in": emails}}, session=session)
        return _from_document(document) if document else None

    async def get(self, candidate_id: str, *, session: Session | None = None) -> Candidate | None:
        """The candidate with this id, if the tenant has it."""
        document = await self._candidates.find_one({"_id": candidate_id}, session=session)
        return _from_document(document) if document else None

    async def page(self, *, after: str | None, limit: int) -> list[Candidate]:
        """Up to `limit` candidates in creation order, after the candidate id `after`."""
        query: dict[str, Any] = {"_id": {"$gt": after}} if after else {}
        documents = await self._candidates.find(query, sort=[("_id", ASCENDING)], limit=limit)
        return [_from_document(document) for document in documents]

    async def count_matching(self, query: dict[str, Any]) -> int:
        """How many candidates match a compiled segment query."""
        return await self._candidates.count(query)

    async def sample_matching(self, query: dict[str, Any], limit: int) -> list[Candidate]:
        """The first `limit` candidates matching a compiled segment query."""
        if limit == 0:
            return []
        documents = await self._candidates.find(query, sort=[("_id", ASCENDING)], limit=limit)
        return [_from_document(document) for document in documents]

    async def ids_matching(self, query: dict[str, Any], *, batch: int) -> AsyncIterator[list[str]]:
        """The ids of every candidate matching a compiled query, in batches of `batch`."""
        after: str | None = None
        while True:
            scoped = {"$and": [query, {"_id": {"$gt": after}}]} if after else query
            documents = await self._candidates.find(scoped, sort=[("_id", ASCENDING)], limit=batch)
            if not documents:
                return
            ids = [document["_id"] for document in documents]
            yield ids
            after = ids[-1]


def _segment_from_document(document: dict[str, Any]) -> Segment:
    return from_document(Segment, document)


class SegmentRepository:
    """Stores one tenant's segments and their memberships."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._segments = TenantScopedCollection(database[SEGMENTS_COLLECTION], tenant_id)
        self._memberships = TenantScopedCollection(database[MEMBERSHIPS_COLLECTION], tenant_id)

    async def add(self, segment: Segment) -> None:
        """Stores a new segment."""
        document = segment.model_dump(exclude={"id"})
        document["_id"] = segment.id
        await self._segments.insert_one(document)

    async def get(self, segment_id: str) -> Segment | None:
        """The segment with this id, if the tenant has it."""
        document = await self._segments.find_one({"_id": segment_id})
        return _segment_from_document(document) if document else None

    async def all(self, *, session: Session | None = None) -> list[Segment]:
        """Every segment of the tenant."""
        documents = await self._segments.find({}, sort=[("_id", ASCENDING)], session=session)
        return [_segment_from_document(document) for document in documents]

    async def set_status(self, segment_id: str, status: SegmentStatus) -> None:
        """Records where the segment's full evaluation stands."""
        await self._segments.update_one({"_id": segment_id}, {"$set": {"status": status.value}})

    async def member_count(self, segment_id: str) -> int:
        """How many candidates are members of the segment."""
        return await self._memberships.count({"segment_id": segment_id})

    async def memberships_of(self, candidate_id: str, *, session: Session) -> set[str]:
        """The ids of the segments a candidate is a member of."""
        documents = await self._memberships.find({"candidate_id": candidate_id}, session=session)
        return {document["segment_id"] for document in documents}

    async def member_ids(self, segment_id: str, *, after: str | None, limit: int) -> list[str]:
        """Member candidate ids of a segment, in id order after `after`."""
        query: dict[str, Any] = {"segment_id": segment_id}
        if after:
            query["candidate_id"] = {"$gt": after}
        documents = await self._memberships.find(
            query, sort=[("candidate_id", ASCENDING)], limit=limit
        )
        return [document["candidate_id"] for document in documents]

    async def enter(self, segment_id: str, candidate_id: str, *, session: Session) -> bool:
        """Makes the candidate a member; False if it already was."""
        result = await self._memberships.update_one(
            {"segment_id": segment_id, "candidate_id": candidate_id},
            {"$setOnInsert": {"entered_at": utc_now()}},
            upsert=True,
            session=session,
        )
        return result.upserted_id is not None

    async def exit(self, segment_id: str, candidate_id: str, *, session: Session) -> bool:
        """Ends the candidate's membership; False if it was not a member."""
        result = await self._memberships.delete_one(
            {"segment_id": segment_id, "candidate_id": candidate_id}, session=session
        )
        return result.deleted_count == 1


async def segments_awaiting_evaluation(database: Database) -> list[Segment]:
    """Segments of every tenant whose full evaluation has not finished.

    Deliberately cross-tenant: it runs once at service start to resume interrupted jobs, and
    each segment it returns is then evaluated within its own tenant.
    """
    documents = await (
        database[SEGMENTS_COLLECTION].find({"status": SegmentStatus.COMPUTING.value}).to_list()
    )
    return [_segment_from_document(document) for document in documents]


def _database(request: Request) -> Database:
    database: Database = request.app.state.platform.require_database()
    return database


def candidate_repository(request: Request, principal: CurrentPrincipal) -> CandidateRepository:
    """FastAPI dependency: the candidates of the caller's tenant."""
    return CandidateRepository(_database(request), principal.tenant_id)


def segment_repository(request: Request, principal: CurrentPrincipal) -> SegmentRepository:
    """FastAPI dependency: the segments of the caller's tenant."""
    return SegmentRepository(_database(request), principal.tenant_id)


CandidatesRepo = Annotated[CandidateRepository, Depends(candidate_repository)]
SegmentsRepo = Annotated[SegmentRepository, Depends(segment_repository)]
