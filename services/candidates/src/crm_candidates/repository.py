"""MongoDB access of the candidates service, always within one tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from crm_candidates.domain.custom_fields import CustomFieldDefinition
from crm_candidates.domain.models import Candidate, Segment, SegmentStatus
from crm_candidates.domain.notes import Note
from crm_candidates.domain.pools import Pool, PoolMembership, StageChange
from crm_candidates.domain.profile import DEFAULT_PHONE_REGION, ProfileRules, SkillVocabulary
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
PROFILE_SETTINGS_COLLECTION = "profile_settings"
CUSTOM_FIELDS_COLLECTION = "custom_fields"
NOTES_COLLECTION = "candidate_notes"
POOLS_COLLECTION = "pools"
POOL_MEMBERSHIPS_COLLECTION = "pool_memberships"
POOL_STAGE_CHANGES_COLLECTION = "pool_stage_changes"


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
    await ensure_profile_indexes(database)


async def ensure_profile_indexes(database: Database) -> None:
    """Indexes of custom fields, notes and talent pools."""
    await database[CUSTOM_FIELDS_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("key", ASCENDING)], unique=True, name="tenant_key_unique"
    )
    await database[NOTES_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("candidate_id", ASCENDING), ("_id", DESCENDING)]
    )
    await database[POOLS_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("name", ASCENDING)], unique=True, name="tenant_name_unique"
    )
    await database[POOL_MEMBERSHIPS_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("pool_id", ASCENDING), ("candidate_id", ASCENDING)]
    )
    await database[POOL_MEMBERSHIPS_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("pool_id", ASCENDING), ("stage", ASCENDING)]
    )
    await database[POOL_STAGE_CHANGES_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("pool_id", ASCENDING), ("candidate_id", ASCENDING)]
    )


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


class DuplicateKeyInTenantError(Exception):
    """The tenant already has a record with this unique name or key."""


class ProfileRulesRepository:
    """One tenant's profile settings, skill vocabulary and custom field schema."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._settings = TenantScopedCollection(database[PROFILE_SETTINGS_COLLECTION], tenant_id)
        self._fields = TenantScopedCollection(database[CUSTOM_FIELDS_COLLECTION], tenant_id)

    async def _settings_document(self, session: Session | None) -> dict[str, Any]:
        return await self._settings.find_one({"_id": self.tenant_id}, session=session) or {}

    async def rules(
        self, *, default_region: str | None = None, session: Session | None = None
    ) -> ProfileRules:
        """What the tenant's profile fields are normalised with; `default_region` overrides."""
        settings = await self._settings_document(session)
        return ProfileRules(
            phone_region=default_region
            or settings.get("default_phone_region")
            or DEFAULT_PHONE_REGION,
            vocabulary=_vocabulary(settings),
            custom_fields={d.key: d for d in await self.custom_fields(session=session)},
        )

    async def default_phone_region(self) -> str:
        """The region national phone numbers are read in."""
        region = (await self._settings_document(None)).get("default_phone_region")
        return str(region or DEFAULT_PHONE_REGION)

    async def set_default_phone_region(self, region: str) -> None:
        """Sets the region national phone numbers are read in."""
        await self._settings.update_one(
            {"_id": self.tenant_id}, {"$set": {"default_phone_region": region}}, upsert=True
        )

    async def vocabulary(self) -> SkillVocabulary:
        """The tenant's canonical skills and their synonyms."""
        return _vocabulary(await self._settings_document(None))

    async def set_vocabulary(self, vocabulary: SkillVocabulary) -> None:
        """Replaces the tenant's skill vocabulary."""
        # A list, not a mapping: skill names like `node.js` cannot be MongoDB field names.
        entries = [
            {"canonical": name, "synonyms": list(synonyms)}
            for name, synonyms in vocabulary.synonyms.items()
        ]
        await self._settings.update_one(
            {"_id": self.tenant_id}, {"$set": {"skill_vocabulary": entries}}, upsert=True
        )

    async def add_custom_field(self, definition: CustomFieldDefinition) -> None:
        """Stores a new custom field; raises `DuplicateKeyInTenantError` if the key is taken."""
        try:
            await self._fields.insert_one(to_document(definition))
        except DuplicateKeyError:
            raise DuplicateKeyInTenantError(definition.key) from None

    async def custom_fields(self, *, session: Session | None = None) -> list[CustomFieldDefinition]:
        """The tenant's custom fields in creation order."""
        documents = await self._fields.find({}, sort=[("_id", ASCENDING)], session=session)
        return [from_document(CustomFieldDefinition, document) for document in documents]

    async def custom_field(self, key: str) -> CustomFieldDefinition | None:
        """The custom field with this key, if the tenant defined it."""
        document = await self._fields.find_one({"key": key})
        return from_document(CustomFieldDefinition, document) if document else None


def _vocabulary(settings: dict[str, Any]) -> SkillVocabulary:
    return SkillVocabulary(
        {
            entry["canonical"]: tuple(entry["synonyms"])
            for entry in settings.get("skill_vocabulary", [])
        }
    )


class NoteRepository:
    """One tenant's notes on candidates."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._notes = TenantScopedCollection(database[NOTES_COLLECTION], tenant_id)

    async def add(self, note: Note) -> None:
        """Stores a new note."""
        await self._notes.insert_one(to_document(note))

    async def page(self, candidate_id: str, *, before: str | None, limit: int) -> list[Note]:
        """Up to `limit` notes on a candidate, newest first, older than the note `before`."""
        query: dict[str, Any] = {"candidate_id": candidate_id}
        if before:
            query["_id"] = {"$lt": before}
        documents = await self._notes.find(query, sort=[("_id", DESCENDING)], limit=limit)
        return [from_document(Note, document) for document in documents]


def _membership_id(pool_id: str, candidate_id: str) -> str:
    return f"{pool_id}:{candidate_id}"


class PoolRepository:
    """One tenant's talent pools, their memberships and stage history."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._pools = TenantScopedCollection(database[POOLS_COLLECTION], tenant_id)
        self._members = TenantScopedCollection(database[POOL_MEMBERSHIPS_COLLECTION], tenant_id)
        self._changes = TenantScopedCollection(database[POOL_STAGE_CHANGES_COLLECTION], tenant_id)

    async def add(self, pool: Pool) -> None:
        """Stores a new pool; raises `DuplicateKeyInTenantError` if the name is taken."""
        try:
            await self._pools.insert_one(to_document(pool))
        except DuplicateKeyError:
            raise DuplicateKeyInTenantError(pool.name) from None

    async def replace(self, pool: Pool) -> None:
        """Stores a changed pool; raises `DuplicateKeyInTenantError` if the new name is taken."""
        try:
            await self._pools.update_one(
                {"_id": pool.id},
                {"$set": pool.model_dump(include={"name", "description", "stages", "owner_ids"})},
            )
        except DuplicateKeyError:
            raise DuplicateKeyInTenantError(pool.name) from None

    async def get(self, pool_id: str, *, session: Session | None = None) -> Pool | None:
        """The pool with this id, if the tenant has it."""
        document = await self._pools.find_one({"_id": pool_id}, session=session)
        return from_document(Pool, document) if document else None

    async def all(self) -> list[Pool]:
        """Every pool of the tenant, in creation order."""
        documents = await self._pools.find({}, sort=[("_id", ASCENDING)])
        return [from_document(Pool, document) for document in documents]

    async def stage_counts(self, pool_id: str) -> dict[str, int]:
        """How many members are at each stage of the pool."""
        documents = await self._members.find({"pool_id": pool_id})
        counts: dict[str, int] = {}
        for document in documents:
            counts[document["stage"]] = counts.get(document["stage"], 0) + 1
        return counts

    async def membership(
        self, pool_id: str, candidate_id: str, *, session: Session | None = None
    ) -> PoolMembership | None:
        """The candidate's place in the pool, if a member."""
        document = await self._members.find_one(
            {"_id": _membership_id(pool_id, candidate_id)}, session=session
        )
        return _membership(document) if document else None

    async def put_membership(self, membership: PoolMembership, *, session: Session) -> None:
        """Stores the candidate's (new) place in the pool."""
        await self._members.update_one(
            {"_id": _membership_id(membership.pool_id, membership.candidate_id)},
            {"$set": membership.model_dump()},
            upsert=True,
            session=session,
        )

    async def remove_membership(self, pool_id: str, candidate_id: str, *, session: Session) -> None:
        """Ends the candidate's membership of the pool."""
        await self._members.delete_one(
            {"_id": _membership_id(pool_id, candidate_id)}, session=session
        )

    async def members(
        self, pool_id: str, *, stage: str | None, after: str | None, limit: int
    ) -> list[PoolMembership]:
        """Up to `limit` members in candidate id order after `after`, optionally of one stage."""
        query: dict[str, Any] = {"pool_id": pool_id}
        if stage is not None:
            query["stage"] = stage
        if after:
            query["candidate_id"] = {"$gt": after}
        documents = await self._members.find(query, sort=[("candidate_id", ASCENDING)], limit=limit)
        return [_membership(document) for document in documents]

    async def record_change(self, change: StageChange, *, session: Session) -> None:
        """Appends a move to the pool's stage history."""
        await self._changes.insert_one(to_document(change), session=session)

    async def history(self, pool_id: str, candidate_id: str) -> list[StageChange]:
        """Every move of the candidate in the pool, oldest first (kept after removal)."""
        documents = await self._changes.find(
            {"pool_id": pool_id, "candidate_id": candidate_id}, sort=[("_id", ASCENDING)]
        )
        return [from_document(StageChange, document) for document in documents]


def _membership(document: dict[str, Any]) -> PoolMembership:
    return PoolMembership.model_validate(
        {key: value for key, value in document.items() if key not in ("_id", "tenant_id")}
    )


def _database(request: Request) -> Database:
    database: Database = request.app.state.platform.require_database()
    return database


def candidate_repository(request: Request, principal: CurrentPrincipal) -> CandidateRepository:
    """FastAPI dependency: the candidates of the caller's tenant."""
    return CandidateRepository(_database(request), principal.tenant_id)


def segment_repository(request: Request, principal: CurrentPrincipal) -> SegmentRepository:
    """FastAPI dependency: the segments of the caller's tenant."""
    return SegmentRepository(_database(request), principal.tenant_id)


def profile_rules_repository(
    request: Request, principal: CurrentPrincipal
) -> ProfileRulesRepository:
    """FastAPI dependency: the profile settings and custom fields of the caller's tenant."""
    return ProfileRulesRepository(_database(request), principal.tenant_id)


def note_repository(request: Request, principal: CurrentPrincipal) -> NoteRepository:
    """FastAPI dependency: the notes of the caller's tenant."""
    return NoteRepository(_database(request), principal.tenant_id)


def pool_repository(request: Request, principal: CurrentPrincipal) -> PoolRepository:
    """FastAPI dependency: the talent pools of the caller's tenant."""
    return PoolRepository(_database(request), principal.tenant_id)


CandidatesRepo = Annotated[CandidateRepository, Depends(candidate_repository)]
ProfileRulesRepo = Annotated[ProfileRulesRepository, Depends(profile_rules_repository)]
NotesRepo = Annotated[NoteRepository, Depends(note_repository)]
PoolsRepo = Annotated[PoolRepository, Depends(pool_repository)]
SegmentsRepo = Annotated[SegmentRepository, Depends(segment_repository)]
