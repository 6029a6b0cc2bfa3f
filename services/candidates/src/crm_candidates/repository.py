"""MongoDB access of the candidates service, always within one tenant."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from crm_candidates.domain.custom_fields import CustomFieldDefinition
from crm_candidates.domain.identity import block_keys, identity_keys, search_tokens
from crm_candidates.domain.models import (
    Candidate,
    CandidateImport,
    CandidateStatus,
    ImportCounts,
    ImportStatus,
    Merge,
    MergeSnapshot,
    Segment,
    SegmentStatus,
    TimelineEntry,
)
from crm_candidates.domain.notes import Note
from crm_candidates.domain.pools import FormerStage, Pool, PoolMembership, StageChange
from crm_candidates.domain.profile import DEFAULT_PHONE_REGION, ProfileRules, SkillVocabulary
from crm_candidates.domain.segments import SEGMENT_IDS, candidate_facets
from crm_shared import (
    CurrentPrincipal,
    Database,
    Session,
    TenantScopedCollection,
    from_document,
    new_id,
    to_document,
    utc_now,
)

logger = logging.getLogger(__name__)

CANDIDATES_COLLECTION = "candidates"
SEGMENTS_COLLECTION = "segments"
MEMBERSHIPS_COLLECTION = "segment_memberships"
# One re-normalisation of stored skills per tenant: the latest vocabulary's.
SKILL_RENORMALISATIONS_COLLECTION = "skill_renormalisations"
# What campaigns' sequences depend on, projected from `sequence.saved`.
SEQUENCE_REFERENCES_COLLECTION = "sequence_references"
PROFILE_SETTINGS_COLLECTION = "profile_settings"
SKILL_VOCABULARIES_COLLECTION = "skill_vocabularies"
VOCABULARY_CACHE_SIZE = 256
CUSTOM_FIELDS_COLLECTION = "custom_fields"
NOTES_COLLECTION = "candidate_notes"
POOLS_COLLECTION = "pools"
POOL_MEMBERSHIPS_COLLECTION = "pool_memberships"
POOL_STAGE_CHANGES_COLLECTION = "pool_stage_changes"
IDENTITIES_COLLECTION = "candidate_identities"
MERGES_COLLECTION = "candidate_merges"
# Fields derived from the profile and stored beside it for queries; never part of the model.
DERIVED_FIELDS = ("facets", "search_tokens", "block_keys")
ACTIVE = CandidateStatus.ACTIVE.value
DUPLICATE_KEY_CODE = 11000
# The unique email index of the first version: merged records keep their addresses, so
# uniqueness now lives in the identity collection instead.
LEGACY_EMAIL_INDEX = "tenant_email_unique"
TIMELINE_COLLECTION = "timeline"
# Kept by the segment machinery beside the candidate, never part of the model: the ids of
# the segments it is in, and when a relative date changes one of its memberships next.
RECHECK_AT = "segments_recheck_at"
SEGMENT_BOOKKEEPING = (SEGMENT_IDS, RECHECK_AT)


class IdentityTakenError(Exception):
    """Another candidate of the tenant already holds one of the identifiers."""

    def __init__(self, existing_id: str | None, key: str | None = None) -> None:
        super().__init__("another candidate already holds this identifier")
        self.existing_id = existing_id
        self.key = key


def _taken_or_reraise(error: BulkWriteError) -> Exception:
    """An identity key's unique index refused a write: which key, else the error itself."""
    failures = error.details.get("writeErrors", [])
    if failures and all(failure.get("code") == DUPLICATE_KEY_CODE for failure in failures):
        key = failures[0].get("op", {}).get("key")
        return IdentityTakenError(None, key)
    return error


async def ensure_indexes(database: Database) -> None:
    """Creates the indexes of the service's collections."""
    candidates = database[CANDIDATES_COLLECTION]
    if LEGACY_EMAIL_INDEX in await candidates.index_information():
        await candidates.drop_index(LEGACY_EMAIL_INDEX)
    # An identifier names one person within a tenant; the unique index makes that hold under
    # concurrent writes (two creates of the same person: one commits, the other finds it).
    await database[IDENTITIES_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("key", ASCENDING)], unique=True
    )
    await database[IDENTITIES_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("candidate_id", ASCENDING)]
    )
    await candidates.create_index([("tenant_id", ASCENDING), ("emails", ASCENDING)])
    await candidates.create_index([("tenant_id", ASCENDING), ("_id", ASCENDING)])
    await candidates.create_index(
        [("tenant_id", ASCENDING), ("status", ASCENDING), ("_id", ASCENDING)]
    )
    for sort_field in ("updated_at", "last_name"):
        await candidates.create_index(
            [
                ("tenant_id", ASCENDING),
                ("status", ASCENDING),
                (sort_field, ASCENDING),
                ("_id", ASCENDING),
            ]
        )
    # Keyword search walks one token's entries of the active records (see `search_filter`).
    await candidates.create_index(
        [
            ("tenant_id", ASCENDING),
            ("search_tokens", ASCENDING),
            ("status", ASCENDING),
            ("_id", ASCENDING),
        ]
    )
    await candidates.create_index([("tenant_id", ASCENDING), ("block_keys", ASCENDING)])
    for facet in ("skills", "location", "tags"):
        await candidates.create_index([("tenant_id", ASCENDING), (f"facets.{facet}", ASCENDING)])
    await candidates.create_index([("tenant_id", ASCENDING), (SEGMENT_IDS, ASCENDING)])
    await candidates.create_index(
        RECHECK_AT,
        name="segments_recheck_due",
        partialFilterExpression={RECHECK_AT: {"$type": "date"}},
    )
    await database[SEGMENTS_COLLECTION].create_index([("tenant_id", ASCENDING), ("_id", ASCENDING)])
    await database[SEQUENCE_REFERENCES_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("segment_ids", ASCENDING)]
    )
    await database[MERGES_COLLECTION].create_index([("tenant_id", ASCENDING), ("_id", ASCENDING)])
    memberships = database[MEMBERSHIPS_COLLECTION]
    await memberships.create_index(
        [("tenant_id", ASCENDING), ("segment_id", ASCENDING), ("candidate_id", ASCENDING)],
        unique=True,
    )
    await memberships.create_index([("tenant_id", ASCENDING), ("candidate_id", ASCENDING)])
    await database[TIMELINE_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("candidate_id", ASCENDING), ("sort_key", DESCENDING)]
    )
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
    # Serves the stage counts and a stage's members in candidate id order (the page cursor).
    await database[POOL_MEMBERSHIPS_COLLECTION].create_index(
        [
            ("tenant_id", ASCENDING),
            ("pool_id", ASCENDING),
            ("stage", ASCENDING),
            ("candidate_id", ASCENDING),
        ]
    )
    await database[POOL_STAGE_CHANGES_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("pool_id", ASCENDING), ("candidate_id", ASCENDING)]
    )


def candidate_identity_keys(candidate: Candidate) -> list[str]:
    """The identity keys a candidate holds (none once merged into another record)."""
    if candidate.status is CandidateStatus.MERGED:
        return []
    return identity_keys(candidate.emails, candidate.phones, candidate.profile_urls)


def derived_fields(candidate: Candidate) -> dict[str, Any]:
    """The query fields stored beside a candidate: segment facets, search tokens, block keys."""
    return {
        "facets": candidate_facets(candidate.model_dump()),
        "search_tokens": search_tokens(
            [
                candidate.first_name,
                candidate.last_name,
                candidate.current_title,
                candidate.current_company,
                *candidate.skills,
            ]
        ),
        "block_keys": block_keys(candidate.last_name),
    }


def candidate_document(candidate: Candidate) -> dict[str, Any]:
    """A candidate as stored, with its derived query fields."""
    return to_document(candidate) | derived_fields(candidate)


def new_candidate_document(candidate: Candidate) -> dict[str, Any]:
    """A new candidate as first stored: in no segment yet."""
    return candidate_document(candidate) | {SEGMENT_IDS: []}


def candidate_from_document(document: dict[str, Any]) -> Candidate:
    """A stored candidate document as the model."""
    stored_only = {*DERIVED_FIELDS, *SEGMENT_BOOKKEEPING}
    return from_document(Candidate, {k: v for k, v in document.items() if k not in stored_only})


@dataclass(frozen=True)
class SearchQuery:
    """A keyword search with filters, one page at a time."""

    tokens: list[str]
    tags: list[str]
    skills: list[str]
    source: str | None
    owner_id: str | None
    sort: str
    after: tuple[Any, str] | None
    limit: int
    # Set by an exact lookup (email, phone): only these records can match.
    candidate_ids: list[str] | None = None


# What matching and sorting a search read of each record holding the seed token.
SEARCH_PROJECTION = dict.fromkeys(
    ("status", "search_tokens", "tags", "skills", "source", "owner_id", "updated_at", "last_name"),
    1,
)
# Documents read per query while filling a search page (doubling up to the maximum).
SEARCH_BATCH = 50
MAX_SEARCH_BATCH = 1000


def seed_token(tokens: list[str]) -> str:
    """The query token the index is walked for: the longest (fewest records hold it)."""
    return max(tokens, key=lambda token: (len(token), token))


def search_filter(search: SearchQuery) -> dict[str, Any]:
    """The indexed part of a search, as a flat filter (tenant scoping is added by the caller).

    SecantusDB uses an index only for a filter without top-level operators whose equality
    fields lead a compound index, so a keyword search asks for the seed token and the status
    (`tenant_id, search_tokens, status, _id`) and `search_matches` checks the rest; a listing
    asks for the status (`tenant_id, status, <sort>, _id`) and its filters.
    """
    if search.tokens:
        return {"search_tokens": seed_token(search.tokens), "status": ACTIVE}
    # Without keywords the filters go to the database too: MongoDB applies them while walking
    # `tenant_id, status, <sort>, _id`; SecantusDB, which can then use no index but the
    # tenant's, would read the tenant either way.
    query: dict[str, Any] = {"status": ACTIVE}
    if search.tags:
        query["tags"] = {"$all": search.tags}
    if search.skills:
        query["skills"] = {"$all": search.skills}
    if search.source:
        query["source"] = search.source
    if search.owner_id:
        query["owner_id"] = search.owner_id
    return query


def search_matches(document: dict[str, Any], search: SearchQuery) -> bool:
    """Whether a stored candidate passes every condition of `search` (cursor aside)."""
    if document.get("status") != ACTIVE:
        return False
    held = set(document.get("search_tokens") or [])
    if not all(token in held for token in search.tokens):
        return False
    if not set(search.tags) <= set(document.get("tags") or []):
        return False
    if not set(search.skills) <= set(document.get("skills") or []):
        return False
    if search.source and document.get("source") != search.source:
        return False
    return not (search.owner_id and document.get("owner_id") != search.owner_id)


def _sort_key(document: dict[str, Any], sort_field: str) -> tuple[Any, str]:
    return (document.get(sort_field), document["_id"])


def _page_in_memory(
    documents: list[dict[str, Any]], search: SearchQuery, sort_field: str
) -> list[dict[str, Any]]:
    """One page of `documents` that match, sorted and cut after the cursor here."""
    matching = [d for d in documents if search_matches(d, search)]
    matching.sort(key=lambda d: _sort_key(d, sort_field))
    if search.after is not None:
        value, after_id = search.after
        cursor = (after_id, after_id) if sort_field == "_id" else (value, after_id)
        matching = [d for d in matching if _sort_key(d, sort_field) > cursor]
    return matching[: search.limit]


class CandidateRepository:
    """Stores and reads one tenant's candidates and the identifiers they hold."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self.database = database
        self._candidates = TenantScopedCollection(database[CANDIDATES_COLLECTION], tenant_id)
        self._identities = TenantScopedCollection(database[IDENTITIES_COLLECTION], tenant_id)

    async def add(self, candidate: Candidate, *, session: Session) -> None:
        """Stores a new candidate and its identity keys; raises `IdentityTakenError` if held."""
        await self.claim_keys(candidate.id, candidate_identity_keys(candidate), session=session)
        await self._candidates.insert_one(new_candidate_document(candidate), session=session)

    async def add_many(self, candidates: list[Candidate], *, session: Session) -> None:
        """Stores new candidates and their keys with one write each (the import's batches)."""
        if not candidates:
            return
        identities = [
            {"key": key, "candidate_id": candidate.id}
            for candidate in candidates
            for key in candidate_identity_keys(candidate)
        ]
        if identities:
            try:
                await self._identities.insert_batch(identities, session=session)
            except BulkWriteError as error:
                raise _taken_or_reraise(error) from None
        await self._candidates.insert_batch(
            [new_candidate_document(candidate) for candidate in candidates], session=session
        )

    async def replace(
        self, candidate: Candidate, *, session: Session, previous: Candidate | None = None
    ) -> None:
        """Stores a changed candidate, moving its identity keys with its identifiers.

        Raises `IdentityTakenError` if a new identifier belongs to another candidate.
        """
        before = previous or await self.get(candidate.id, session=session)
        held = set(candidate_identity_keys(before)) if before else set()
        wanted = candidate_identity_keys(candidate)
        await self.claim_keys(candidate.id, [k for k in wanted if k not in held], session=session)
        released = [key for key in held if key not in set(wanted)]
        if released:
            await self._identities.delete_many(
                {"key": {"$in": released}, "candidate_id": candidate.id}, session=session
            )
        changes = candidate_document(candidate)
        del changes["_id"]
        await self._candidates.update_one({"_id": candidate.id}, {"$set": changes}, session=session)

    async def restore(
        self, document: dict[str, Any], keys: list[str], *, session: Session
    ) -> Candidate:
        """Puts back a candidate and the identity keys it held exactly as a snapshot had them.

        Raises `IdentityTakenError` if another record took one of the keys meanwhile.
        """
        candidate = candidate_from_document(document)
        await self._identities.delete_many({"candidate_id": candidate.id}, session=session)
        await self.claim_keys(candidate.id, keys, session=session)
        # Segment bookkeeping stays as it is now: it mirrors the memberships, which the snapshot
        # does not restore (the caller re-evaluates the restored record).
        kept = {"_id", *SEGMENT_BOOKKEEPING}
        restored = {key: value for key, value in document.items() if key not in kept}
        current = await self._candidates.find_one({"_id": candidate.id}, session=session) or {}
        update: dict[str, Any] = {"$set": restored}
        if added_since := [key for key in current if key not in document and key not in kept]:
            update["$unset"] = dict.fromkeys(added_since, "")
        await self._candidates.update_one({"_id": candidate.id}, update, session=session)
        return candidate

    async def keys_of(self, candidate_id: str, *, session: Session | None = None) -> list[str]:
        """Every identity key a candidate holds."""
        documents = await self._identities.find(
            {"candidate_id": candidate_id}, sort=[("key", ASCENDING)], session=session
        )
        return [document["key"] for document in documents]

    async def claim_keys(self, candidate_id: str, keys: list[str], *, session: Session) -> None:
        """Records `keys` as the candidate's; raises `IdentityTakenError` if one is held."""
        if not keys:
            return
        holders = await self.holders_of(keys, session=session)
        taken = {key: holder for key, holder in holders.items() if holder != candidate_id}
        if taken:
            key, holder = next(iter(taken.items()))
            raise IdentityTakenError(holder, key)
        new_keys = [key for key in keys if key not in holders]
        if not new_keys:
            return
        try:
            await self._identities.insert_batch(
                [{"key": key, "candidate_id": candidate_id} for key in new_keys], session=session
            )
        except BulkWriteError as error:
            # A concurrent write claimed it between our read and insert.
            raise _taken_or_reraise(error) from None

    async def move_keys(self, from_id: str, to_id: str, *, session: Session) -> None:
        """Hands every identity key of one candidate to another (a merge)."""
        await self._identities.update_many(
            {"candidate_id": from_id}, {"$set": {"candidate_id": to_id}}, session=session
        )

    async def holders_of(
        self, keys: list[str], *, session: Session | None = None
    ) -> dict[str, str]:
        """Which candidate holds each of `keys` that is held."""
        if not keys:
            return {}
        documents = await self._identities.find({"key": {"$in": keys}}, session=session)
        return {document["key"]: document["candidate_id"] for document in documents}

    async def holding_all(self, keys: list[str]) -> list[str]:
        """The ids of the candidates holding every one of `keys` (one at most, or none)."""
        holders = await self.holders_of(keys)
        if any(key not in holders for key in keys):
            return []
        return sorted(set(holders.values())) if len(set(holders.values())) == 1 else []

    async def find_by_emails(
        self, emails: list[str], *, session: Session | None = None
    ) -> Candidate | None:
        """The candidate holding any of `emails`, if there is one."""
        holders = await self.holders_of(identity_keys(emails), session=session)
        for candidate_id in holders.values():
            return await self.get(candidate_id, session=session)
        return None

    async def get(self, candidate_id: str, *, session: Session | None = None) -> Candidate | None:
        """The candidate with this id, if the tenant has it (whatever its status)."""
        document = await self._candidates.find_one({"_id": candidate_id}, session=session)
        return candidate_from_document(document) if document else None

    async def get_document(
        self, candidate_id: str, *, session: Session | None = None
    ) -> dict[str, Any] | None:
        """The stored document of a candidate (for snapshots)."""
        return await self._candidates.find_one({"_id": candidate_id}, session=session)

    async def get_many(
        self, candidate_ids: list[str], *, session: Session | None = None
    ) -> dict[str, Candidate]:
        """The candidates with these ids, by id."""
        if not candidate_ids:
            return {}
        documents = await self._candidates.find({"_id": {"$in": candidate_ids}}, session=session)
        return {document["_id"]: candidate_from_document(document) for document in documents}

    async def rename_pool_stage(
        self, pool_id: str, stage: str, new_name: str, *, session: Session
    ) -> int:
        """Renames the stage in the `pools` (and their segment facets) of every candidate placed
        at it, whatever their status; returns how many there were."""
        documents = await self._candidates.find(
            {"pools": {"$elemMatch": {"pool_id": pool_id, "stage": stage}}},
            projection={"pools": 1},
            session=session,
        )
        for document in documents:
            pools = [
                {**placement, "stage": new_name}
                if placement.get("pool_id") == pool_id and placement.get("stage") == stage
                else placement
                for placement in document["pools"]
            ]
            await self._candidates.update_one(
                {"_id": document["_id"]},
                {
                    "$set": {
                        "pools": pools,
                        "facets.pools": candidate_facets({"pools": pools})["pools"],
                    }
                },
                session=session,
            )
        return len(documents)

    async def page(self, *, after: str | None, limit: int) -> list[Candidate]:
        """Up to `limit` active candidates in creation order, after the candidate id `after`."""
        query: dict[str, Any] = {"status": ACTIVE}
        if after:
            query["_id"] = {"$gt": after}
        documents = await self._candidates.find(query, sort=[("_id", ASCENDING)], limit=limit)
        return [candidate_from_document(document) for document in documents]

    async def search(self, search: SearchQuery) -> list[Candidate]:
        """Active candidates matching `search`, in its sort order, after its cursor.

        The database is asked only in shapes an index serves on MongoDB and on SecantusDB
        (whose planner uses an index only for flat filters: see `search_filter`); the conditions
        beyond the indexed one are checked here, reading on in batches until the page is full.
        """
        sort_field = SORT_FIELDS[search.sort]
        if search.candidate_ids is not None:
            ids = sorted(set(search.candidate_ids))
            documents = await self._candidates.find({"_id": {"$in": ids}}) if ids else []
            page = _page_in_memory(documents, search, sort_field)
            return [candidate_from_document(document) for document in page]
        base = search_filter(search)
        if search.tokens and sort_field != "_id":
            # Every record holding the seed token is read and sorted here: a multikey index
            # cannot give another order, so the database would sort them in memory as well.
            # Only what matching and sorting need is read; the page is then read whole.
            keys = await self._candidates.find(base, projection=SEARCH_PROJECTION)
            page_ids = [str(d["_id"]) for d in _page_in_memory(keys, search, sort_field)]
            by_id = await self.get_many(page_ids)
            return [by_id[candidate_id] for candidate_id in page_ids if candidate_id in by_id]
        found: list[dict[str, Any]] = []
        after = search.after
        batch = max(search.limit, SEARCH_BATCH)
        while True:
            documents = await self._keyset_batch(base, sort_field, after, batch)
            for document in documents:
                if search_matches(document, search):
                    found.append(document)
                    if len(found) == search.limit:
                        return [candidate_from_document(d) for d in found]
            if len(documents) < batch:
                return [candidate_from_document(d) for d in found]
            last = documents[-1]
            after = (last.get(sort_field), last["_id"])
            batch = min(batch * 2, MAX_SEARCH_BATCH)

    async def _keyset_batch(
        self, base: dict[str, Any], sort_field: str, after: tuple[Any, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        """Up to `limit` documents matching `base` after `(sort value, id)` in that order.

        Two flat queries rather than one `$or`: the ties of the cursor's value after its id,
        then the greater values; each is a prefix-plus-range walk of one compound index.
        """
        if sort_field == "_id":
            query = base if after is None else {**base, "_id": {"$gt": after[1]}}
            return await self._candidates.find(query, sort=[("_id", ASCENDING)], limit=limit)
        order = [(sort_field, ASCENDING), ("_id", ASCENDING)]
        if after is None:
            return await self._candidates.find(base, sort=order, limit=limit)
        value, after_id = after
        ties = await self._candidates.find(
            {**base, sort_field: value, "_id": {"$gt": after_id}},
            sort=[("_id", ASCENDING)],
            limit=limit,
        )
        if len(ties) == limit:
            return ties
        greater = await self._candidates.find(
            {**base, sort_field: {"$gt": value}}, sort=order, limit=limit - len(ties)
        )
        return ties + greater

    async def sharing_block_keys(
        self, keys: list[str], *, exclude_id: str, limit: int
    ) -> list[Candidate]:
        """Active candidates sharing a blocking key with a record (duplicate suspects)."""
        if not keys:
            return []
        documents = await self._candidates.find(
            {"block_keys": {"$in": keys}, "status": ACTIVE, "_id": {"$ne": exclude_id}},
            sort=[("_id", ASCENDING)],
            limit=limit,
        )
        return [candidate_from_document(document) for document in documents]

    async def count_matching(self, query: dict[str, Any]) -> int:
        """How many active candidates match a compiled segment query."""
        return await self._candidates.count({"$and": [query, {"status": ACTIVE}]})

    async def sample_matching(self, query: dict[str, Any], limit: int) -> list[Candidate]:
        """The first `limit` active candidates matching a compiled segment query."""
        if limit == 0:
            return []
        documents = await self._candidates.find(
            {"$and": [query, {"status": ACTIVE}]}, sort=[("_id", ASCENDING)], limit=limit
        )
        return [candidate_from_document(document) for document in documents]

    async def set_recheck_at(
        self, candidate_id: str, at: datetime | None, *, session: Session
    ) -> None:
        """Records when the candidate's segment membership changes next by time alone."""
        change = {"$set": {RECHECK_AT: at}} if at else {"$unset": {RECHECK_AT: ""}}
        await self._candidates.update_one({"_id": candidate_id}, change, session=session)

    async def bring_recheck_forward(self, candidate_id: str, at: datetime) -> None:
        """Makes the candidate's next time-driven re-evaluation no later than `at`."""
        await self._candidates.update_one(
            {
                "_id": candidate_id,
                "$or": [{RECHECK_AT: None}, {RECHECK_AT: {"$gt": at}}],
            },
            {"$set": {RECHECK_AT: at}},
        )

    async def facets_having(
        self, fields: list[str], *, after: str | None, limit: int
    ) -> list[tuple[str, dict[str, Any]]]:
        """(id, facets) of candidates with a value in any of `fields`, in id order."""
        query: dict[str, Any] = {
            "$or": [{f"facets.{field}": {"$exists": True, "$ne": None}} for field in fields]
        }
        if after:
            query = {"$and": [query, {"_id": {"$gt": after}}]}
        documents = await self._candidates.find(query, sort=[("_id", ASCENDING)], limit=limit)
        return [(document["_id"], document.get("facets") or {}) for document in documents]

    async def skills_after(self, after: str | None, *, limit: int) -> list[tuple[str, list[str]]]:
        """(id, skills) of the records holding skills, in id order after `after`."""
        query: dict[str, Any] = {"skills.0": {"$exists": True}}
        if after:
            query["_id"] = {"$gt": after}
        documents = await self._candidates.find(
            query, sort=[("_id", ASCENDING)], limit=limit, projection={"skills": 1}
        )
        return [(str(d["_id"]), list(d.get("skills") or [])) for d in documents]

    async def ids_matching(self, query: dict[str, Any], *, batch: int) -> AsyncIterator[list[str]]:
        """The ids of every active candidate matching a compiled query, in batches of `batch`."""
        after: str | None = None
        active = {"$and": [query, {"status": ACTIVE}]}
        while True:
            scoped = {"$and": [active, {"_id": {"$gt": after}}]} if after else active
            documents = await self._candidates.find(scoped, sort=[("_id", ASCENDING)], limit=batch)
            if not documents:
                return
            ids = [document["_id"] for document in documents]
            yield ids
            after = ids[-1]


# Sort orders of the candidate list: an indexed field, ties broken by id.
SORT_FIELDS = {
    "created_at": "_id",
    "updated_at": "updated_at",
    "name": "last_name",
}


async def backfill_segment_ids(database: Database, *, batch: int = 500) -> None:
    """Mirrors the stored segment memberships on candidates written before segment references
    (`segment_ids`), so rules referring to a segment see its existing members.

    Deliberately cross-tenant: it runs at service start over records of every tenant that lack
    the field (new candidates are stored with it), each written back within its own tenant.
    """
    candidates = database[CANDIDATES_COLLECTION]
    memberships = database[MEMBERSHIPS_COLLECTION]
    completed = 0
    while (
        documents := await candidates.find({SEGMENT_IDS: {"$exists": False}}, {"tenant_id": 1})
        .limit(batch)
        .to_list()
    ):
        for document in documents:
            scope = {"tenant_id": document["tenant_id"], "candidate_id": document["_id"]}
            segment_ids = sorted(m["segment_id"] for m in await memberships.find(scope).to_list())
            await candidates.update_one(
                {"_id": document["_id"], "tenant_id": document["tenant_id"]},
                {"$set": {SEGMENT_IDS: segment_ids}},
            )
            completed += 1
    if completed:
        logger.info("mirrored the segment memberships of %d older candidates", completed)


async def backfill_derived_fields(database: Database, *, batch: int = 500) -> None:
    """Gives records written before identity resolution their status, query fields and keys.

    Deliberately cross-tenant: it runs once at service start over records of every tenant,
    each written back within its own tenant.
    """
    collection = database[CANDIDATES_COLLECTION]
    completed = 0
    while (
        documents := await collection.find({"block_keys": {"$exists": False}})
        .limit(batch)
        .to_list()
    ):
        for document in documents:
            document.setdefault("status", ACTIVE)
            candidate = candidate_from_document(document)
            repository = CandidateRepository(database, candidate.tenant_id)
            for key in candidate_identity_keys(candidate):
                # An older duplicate already holds the key: keep the first holder.
                with contextlib.suppress(DuplicateKeyError):
                    await repository._identities.insert_one(
                        {"key": key, "candidate_id": candidate.id}
                    )
            await collection.update_one(
                {"_id": candidate.id, "tenant_id": candidate.tenant_id},
                {"$set": {"status": candidate.status.value, **derived_fields(candidate)}},
            )
            completed += 1
    if completed:
        logger.info("gave %d older candidate records their identity keys", completed)


_NOT_DELETED: dict[str, Any] = {"status": {"$ne": SegmentStatus.DELETING.value}}


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
        """Stores a new segment."""
        document = segment.model_dump(exclude={"id"})
        document["_id"] = segment.id
        await self._segments.insert_one(document)

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
            {"$set": {"status": SegmentStatus.DELETING.value, "updated_at": utc_now()}},
        )
        if marked.modified_count != 1:
            return None
        document = await self._segments.find_one({"_id": segment_id})
        return _segment_from_document(document) if document else None

    async def remove(self, segment_id: str) -> None:
        """Removes a deleted segment whose members were all let go."""
        await self._segments.delete_one({"_id": segment_id, "status": SegmentStatus.DELETING.value})

    async def redefine(self, segment: Segment) -> None:
        """Stores a segment's new name and rule; its membership is recomputed afterwards."""
        await self._segments.update_one(
            {"_id": segment.id},
            {
                "$set": {
                    "name": segment.name,
                    "rule": segment.rule,
                    "status": segment.status.value,
                    "updated_at": segment.updated_at,
                }
            },
        )

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


class SequenceReferenceRepository:
    """One tenant's sequences as far as segments are concerned: which ones each enrols from."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._references = TenantScopedCollection(
            database[SEQUENCE_REFERENCES_COLLECTION], tenant_id
        )

    async def save(
        self,
        sequence_id: str,
        *,
        name: str,
        live: bool,
        version: int,
        segment_ids: list[str],
        session: Session,
    ) -> None:
        """Keeps the sequence's latest state; an older one arriving late changes nothing."""
        state = {"name": name, "live": live, "version": version, "segment_ids": segment_ids}
        current = await self._references.find_one({"_id": sequence_id}, session=session)
        if current is None:
            await self._references.insert_one({"_id": sequence_id, **state}, session=session)
        elif int(current.get("version", 0)) < version:
            await self._references.update_one(
                {"_id": sequence_id}, {"$set": state}, session=session
            )

    async def live_using(self, segment_id: str) -> list[str]:
        """The names of the live (not archived) sequences that enrol from `segment_id`."""
        documents = await self._references.find(
            {"segment_ids": segment_id, "live": True}, sort=[("name", ASCENDING)]
        )
        return [str(d["name"]) for d in documents]


async def segments_awaiting_evaluation(database: Database) -> list[Segment]:
    """Segments of every tenant whose full evaluation has not finished.

    Deliberately cross-tenant: it runs once at service start to resume interrupted jobs, and
    each segment it returns is then evaluated within its own tenant.
    """
    documents = await (
        database[SEGMENTS_COLLECTION]
        .find({"status": {"$in": [SegmentStatus.COMPUTING.value, SegmentStatus.DELETING.value]}})
        .to_list()
    )
    return [_segment_from_document(document) for document in documents]


class DuplicateKeyInTenantError(Exception):
    """The tenant already has a record with this unique name or key."""


class ProfileRulesRepository:
    """One tenant's profile settings, skill vocabulary and custom field schema."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._settings = TenantScopedCollection(database[PROFILE_SETTINGS_COLLECTION], tenant_id)
        self._vocabularies = TenantScopedCollection(
            database[SKILL_VOCABULARIES_COLLECTION], tenant_id
        )
        self._fields = TenantScopedCollection(database[CUSTOM_FIELDS_COLLECTION], tenant_id)

    async def _settings_document(self, session: Session | None) -> dict[str, Any]:
        return await self._settings.find_one({"_id": self.tenant_id}, session=session) or {}

    async def rules(
        self, *, default_region: str | None = None, session: Session | None = None
    ) -> ProfileRules:
        """What the tenant's profile fields are normalised with; `default_region` overrides."""
        settings = await self._settings_document(session)
        definitions = await self.custom_fields(session=session)
        return ProfileRules(
            phone_region=default_region
            or settings.get("default_phone_region")
            or DEFAULT_PHONE_REGION,
            vocabulary=await self._vocabulary_version(settings.get("skill_vocabulary_version")),
            custom_fields={d.key: d for d in definitions if d.archived_at is None},
            archived_custom_fields=frozenset(
                d.key for d in definitions if d.archived_at is not None
            ),
        )

    async def _vocabulary_version(self, version: str | None) -> SkillVocabulary:
        # Every candidate write needs the vocabulary; the small settings document names its
        # current version, so the (possibly large) vocabulary is read and indexed once per
        # version and process. A new version is a new key: no cache is ever stale.
        if version is None:
            return SkillVocabulary()
        cached = _VOCABULARIES.get((self.tenant_id, version))
        if cached is not None:
            return cached
        document = await self._vocabularies.find_one({"_id": self.tenant_id}) or {}
        vocabulary = _vocabulary(document)
        if document.get("version") == version:
            while len(_VOCABULARIES) >= VOCABULARY_CACHE_SIZE:
                del _VOCABULARIES[next(iter(_VOCABULARIES))]
            _VOCABULARIES[(self.tenant_id, version)] = vocabulary
        return vocabulary

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
        return _vocabulary(await self._vocabularies.find_one({"_id": self.tenant_id}) or {})

    async def set_vocabulary(self, vocabulary: SkillVocabulary) -> str:
        """Replaces the tenant's skill vocabulary; returns the new version's id."""
        # A list, not a mapping: skill names like `node.js` cannot be MongoDB field names.
        entries = [
            {"canonical": name, "synonyms": list(synonyms)}
            for name, synonyms in vocabulary.synonyms.items()
        ]
        version = new_id()
        await self._vocabularies.update_one(
            {"_id": self.tenant_id},
            {"$set": {"skill_vocabulary": entries, "version": version}},
            upsert=True,
        )
        await self._settings.update_one(
            {"_id": self.tenant_id},
            {"$set": {"skill_vocabulary_version": version}},
            upsert=True,
        )
        return version

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

    async def replace_custom_field(self, definition: CustomFieldDefinition) -> None:
        """Stores an edited custom field (label, required, choices)."""
        await self._fields.update_one(
            {"_id": definition.id},
            {
                "$set": {
                    "label": definition.label,
                    "required": definition.required,
                    "allowed_values": definition.allowed_values,
                    "archived_at": definition.archived_at,
                }
            },
        )

    async def custom_field(self, key: str) -> CustomFieldDefinition | None:
        """The custom field with this key, if the tenant defined it."""
        document = await self._fields.find_one({"key": key})
        return from_document(CustomFieldDefinition, document) if document else None


_VOCABULARIES: dict[tuple[str, str], SkillVocabulary] = {}
"""Indexed vocabularies by (tenant, version), oldest first; bounded by VOCABULARY_CACHE_SIZE."""


def _vocabulary(document: dict[str, Any]) -> SkillVocabulary:
    return SkillVocabulary(
        {
            entry["canonical"]: tuple(entry["synonyms"])
            for entry in document.get("skill_vocabulary", [])
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
        """Stores a changed pool as its next version; raises `DuplicateKeyInTenantError` if the
        new name is taken."""
        try:
            await self._pools.update_one(
                {"_id": pool.id},
                {
                    "$set": pool.model_dump(include={"name", "description", "stages", "owner_ids"}),
                    "$inc": {"version": 1},
                },
            )
        except DuplicateKeyError:
            raise DuplicateKeyInTenantError(pool.name) from None

    async def replace_stages(
        self,
        pool: Pool,
        stages: list[str],
        expected_version: int,
        *,
        former: FormerStage | None = None,
        session: Session,
    ) -> bool:
        """Stores the pool's stages as its next version if it is still at `expected_version`,
        remembering the `former` name of a renamed stage."""
        update: dict[str, Any] = {"$set": {"stages": stages}, "$inc": {"version": 1}}
        if former is not None:
            update["$push"] = {"former_stages": former.model_dump()}
        result = await self._pools.update_one(
            {"_id": pool.id, "version": expected_version}, update, session=session
        )
        return result.modified_count == 1

    async def rename_stage_of_members(
        self, pool_id: str, stage: str, new_name: str, *, session: Session
    ) -> None:
        """Every member at `stage` is at `new_name` (the same stage, renamed)."""
        await self._members.update_many(
            {"pool_id": pool_id, "stage": stage}, {"$set": {"stage": new_name}}, session=session
        )

    async def get(self, pool_id: str, *, session: Session | None = None) -> Pool | None:
        """The pool with this id, if the tenant has it."""
        document = await self._pools.find_one({"_id": pool_id}, session=session)
        return from_document(Pool, document) if document else None

    async def all(self) -> list[Pool]:
        """Every pool of the tenant, in creation order."""
        documents = await self._pools.find({}, sort=[("_id", ASCENDING)])
        return [from_document(Pool, document) for document in documents]

    async def stage_counts(self, pool: Pool) -> dict[str, int]:
        """How many members are at each stage of the pool (one indexed count per stage)."""
        return {
            stage: await self._members.count({"pool_id": pool.id, "stage": stage})
            for stage in pool.stages
        }

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


class MergeRepository:
    """One tenant's merges, each with the snapshot an undo restores."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._merges = TenantScopedCollection(database[MERGES_COLLECTION], tenant_id)

    async def add(self, merge: Merge, snapshot: MergeSnapshot, *, session: Session) -> None:
        """Stores a merge with the records and identity keys as they were before it."""
        await self._merges.insert_one(
            to_document(merge) | {"snapshot": snapshot.as_document()}, session=session
        )

    async def get(self, merge_id: str, *, session: Session | None = None) -> Merge | None:
        """The merge with this id, if the tenant has it."""
        document = await self._merges.find_one({"_id": merge_id}, session=session)
        return _merge_from_document(document) if document else None

    async def snapshot(self, merge_id: str, *, session: Session) -> MergeSnapshot | None:
        """What the two records were before the merge."""
        document = await self._merges.find_one({"_id": merge_id}, session=session)
        return MergeSnapshot.from_document(document["snapshot"]) if document else None

    async def mark_undone(self, merge: Merge, *, session: Session) -> None:
        """Records that the merge was undone, and by whom."""
        await self._merges.update_one(
            {"_id": merge.id},
            {
                "$set": {
                    "status": merge.status.value,
                    "undone_at": merge.undone_at,
                    "undone_by": merge.undone_by,
                }
            },
            session=session,
        )


def _merge_from_document(document: dict[str, Any]) -> Merge:
    return from_document(Merge, {k: v for k, v in document.items() if k != "snapshot"})


async def candidates_due_for_recheck(
    database: Database, *, now: datetime, limit: int
) -> list[tuple[str, str]]:
    """(tenant id, candidate id) of candidates whose time-driven re-evaluation is due.

    Deliberately cross-tenant, like the other workers' claims: each candidate it returns is then
    re-evaluated within its own tenant.
    """
    documents = await (
        database[CANDIDATES_COLLECTION]
        .find({RECHECK_AT: {"$lte": now}}, {"tenant_id": 1}, sort=[(RECHECK_AT, ASCENDING)])
        .limit(limit)
        .to_list()
    )
    return [(document["tenant_id"], document["_id"]) for document in documents]


async def recheck_is_due(
    database: Database, tenant_id: str, candidate_id: str, *, now: datetime, session: Session
) -> bool:
    """Whether the candidate's time-driven re-evaluation is (still) due."""
    scoped = TenantScopedCollection(database[CANDIDATES_COLLECTION], tenant_id)
    due = await scoped.find_one({"_id": candidate_id, RECHECK_AT: {"$lte": now}}, session=session)
    return due is not None


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


ProfileRulesRepo = Annotated[ProfileRulesRepository, Depends(profile_rules_repository)]
NotesRepo = Annotated[NoteRepository, Depends(note_repository)]
PoolsRepo = Annotated[PoolRepository, Depends(pool_repository)]


def merge_repository(request: Request, principal: CurrentPrincipal) -> MergeRepository:
    """FastAPI dependency: the merges of the caller's tenant."""
    return MergeRepository(_database(request), principal.tenant_id)


CandidatesRepo = Annotated[CandidateRepository, Depends(candidate_repository)]
MergesRepo = Annotated[MergeRepository, Depends(merge_repository)]
SegmentsRepo = Annotated[SegmentRepository, Depends(segment_repository)]


class TimelineRepository:
    """One tenant's activity timelines: one entry per event about a candidate."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._entries = TenantScopedCollection(database[TIMELINE_COLLECTION], tenant_id)

    async def record(self, entry: TimelineEntry, *, session: Session) -> bool:
        """Adds an entry once (keyed by its event id); False if it was recorded before."""
        document = entry.model_dump(exclude={"event_id"}) | {"sort_key": entry.sort_key}
        result = await self._entries.update_one(
            {"_id": entry.event_id},
            {"$setOnInsert": document},
            upsert=True,
            session=session,
        )
        return result.upserted_id is not None

    async def page(
        self, candidate_id: str, *, before: str | None, limit: int
    ) -> list[TimelineEntry]:
        """Up to `limit` of the candidate's entries, newest first, older than the key `before`."""
        query: dict[str, Any] = {"candidate_id": candidate_id}
        if before:
            query["sort_key"] = {"$lt": before}
        documents = await self._entries.find(query, sort=[("sort_key", DESCENDING)], limit=limit)
        return [
            TimelineEntry.model_validate(
                {k: v for k, v in document.items() if k not in ("_id", "sort_key")}
                | {"event_id": document["_id"]}
            )
            for document in documents
        ]


def timeline_repository(request: Request, principal: CurrentPrincipal) -> TimelineRepository:
    """FastAPI dependency: the timelines of the caller's tenant."""
    return TimelineRepository(_database(request), principal.tenant_id)


TimelineRepo = Annotated[TimelineRepository, Depends(timeline_repository)]
IMPORTS_COLLECTION = "candidate_imports"
IMPORT_ERRORS_COLLECTION = "candidate_import_errors"
# Fields of an import document the job keeps, beside the model's.
_IMPORT_LEASE_FIELDS = (
    "lease_owner",
    "lease_until",
    "uploading",
    "upload_seen_at",
    "failures",
    "turn_at",
)
# An import taking up one of its tenant's concurrent-import slots.
_ACTIVE_IMPORT = {"status": {"$in": [ImportStatus.QUEUED.value, ImportStatus.RUNNING.value]}}


async def ensure_import_indexes(database: Database) -> None:
    """Indexes of imports and their row errors."""
    await database[IMPORTS_COLLECTION].create_index(
        [("status", ASCENDING), ("lease_until", ASCENDING)]
    )
    await database[IMPORTS_COLLECTION].create_index(
        [("status", ASCENDING), ("uploading", ASCENDING), ("turn_at", ASCENDING)]
    )
    await database[IMPORTS_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("status", ASCENDING)]
    )
    await database[IMPORTS_COLLECTION].create_index(
        [("status", ASCENDING), ("uploading", ASCENDING), ("upload_seen_at", ASCENDING)]
    )
    await database[IMPORTS_COLLECTION].create_index([("tenant_id", ASCENDING), ("_id", ASCENDING)])
    await database[IMPORT_ERRORS_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("import_id", ASCENDING), ("row", ASCENDING), ("_id", ASCENDING)]
    )


def _import_from_document(document: dict[str, Any]) -> CandidateImport:
    return from_document(
        CandidateImport, {k: v for k, v in document.items() if k not in _IMPORT_LEASE_FIELDS}
    )


class ImportRepository:
    """One tenant's CSV imports: the job with its progress, and its row errors (the file itself
    is in the upload store)."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._imports = TenantScopedCollection(database[IMPORTS_COLLECTION], tenant_id)
        self._errors = TenantScopedCollection(database[IMPORT_ERRORS_COLLECTION], tenant_id)

    async def add(self, job: CandidateImport) -> None:
        """Stores a new import."""
        await self._imports.insert_one(
            to_document(job) | {"lease_owner": None, "lease_until": None}
        )

    async def get(
        self, import_id: str, *, session: Session | None = None
    ) -> CandidateImport | None:
        """The import with this id, if the tenant has it."""
        document = await self._imports.find_one({"_id": import_id}, session=session)
        return _import_from_document(document) if document else None

    async def start_upload(self, import_id: str) -> bool:
        """Claims the import's one upload; False if a file was already sent."""
        result = await self._imports.update_one(
            {"_id": import_id, "status": ImportStatus.AWAITING_FILE.value},
            {
                "$set": {
                    "status": ImportStatus.QUEUED.value,
                    "uploading": True,
                    "upload_seen_at": utc_now(),
                }
            },
        )
        return result.modified_count == 1

    async def page(self, *, before: str | None, limit: int) -> list[CandidateImport]:
        """The tenant's imports, newest first, before the import id `before`."""
        query: dict[str, Any] = {} if before is None else {"_id": {"$lt": before}}
        documents = await self._imports.find(query, sort=[("_id", DESCENDING)], limit=limit)
        return [_import_from_document(document) for document in documents]

    async def active_count(self) -> int:
        """How many of the tenant's imports are uploading, queued or being processed."""
        return await self._imports.count(_ACTIVE_IMPORT)

    async def touch_upload(self, import_id: str) -> None:
        """Records that the upload is still receiving data."""
        await self._imports.update_one({"_id": import_id}, {"$set": {"upload_seen_at": utc_now()}})

    async def finish_upload(
        self, import_id: str, chunks_total: int, *, rows_read: int, delimiter: str, encoding: str
    ) -> None:
        """The whole file is stored: the job may process it. Records the dialect it was read in."""
        await self._imports.update_one(
            {"_id": import_id},
            {
                "$set": {
                    "chunks_total": chunks_total,
                    "counts.rows_read": rows_read,
                    "uploading": False,
                    "delimiter": delimiter,
                    "encoding": encoding,
                }
            },
        )

    async def fail(self, import_id: str, error: str, *, session: Session | None = None) -> None:
        """Ends the import with an error (its file is deleted by the caller)."""
        await self._imports.update_one(
            {"_id": import_id},
            {
                "$set": {
                    "status": ImportStatus.FAILED.value,
                    "error": error,
                    "uploading": False,
                    "finished_at": utc_now(),
                    "lease_until": None,
                }
            },
            session=session,
        )

    async def complete_chunk(
        self, job: CandidateImport, counts: ImportCounts, *, session: Session
    ) -> bool:
        """Records one processed chunk and its counts; False if another worker did it first."""
        increments = counts.model_dump()
        del increments["rows_read"]
        done = job.next_chunk + 1
        finished = job.chunks_total is not None and done >= job.chunks_total
        # The lease ends with the chunk: the next turn may go to another tenant.
        changes: dict[str, Any] = {"next_chunk": done, "lease_until": None}
        if finished:
            changes |= {
                "status": ImportStatus.COMPLETED.value,
                "finished_at": utc_now(),
                "lease_until": None,
            }
        result = await self._imports.update_one(
            {"_id": job.id, "next_chunk": job.next_chunk},
            {"$set": changes, "$inc": {f"counts.{k}": v for k, v in increments.items()}},
            session=session,
        )
        return result.modified_count == 1

    async def release(self, import_id: str) -> None:
        """Gives up the lease after a failed chunk; the import fails after repeated failures."""
        await self._imports.update_one(
            {"_id": import_id}, {"$inc": {"failures": 1}, "$set": {"lease_until": None}}
        )
        document = await self._imports.find_one({"_id": import_id})
        if document is not None and document.get("failures", 0) >= MAX_IMPORT_FAILURES:
            await self.fail(import_id, "processing failed repeatedly; see the service log")

    async def add_errors(self, errors: list[dict[str, Any]], *, session: Session) -> None:
        """Stores row errors of a chunk."""
        if errors:
            await self._errors.insert_batch(errors, session=session)

    async def errors(
        self, import_id: str, *, after: tuple[int, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        """Row errors of an import in row order, after `(row, id)`."""
        query: dict[str, Any] = {"import_id": import_id}
        if after is not None:
            row, error_id = after
            query["$or"] = [{"row": {"$gt": row}}, {"row": row, "_id": {"$gt": error_id}}]
        return await self._errors.find(
            query, sort=[("row", ASCENDING), ("_id", ASCENDING)], limit=limit
        )


IMPORT_LEASE = timedelta(seconds=60)
MAX_IMPORT_FAILURES = 3


async def claim_import(database: Database, owner: str) -> CandidateImport | None:
    """Leases the next chunk of any tenant's uploaded, unfinished import to `owner`.

    Deliberately cross-tenant: the import job serves every tenant; the claimed import is then
    processed within its own tenant. Tenants take turns: the import whose tenant waited longest
    (`turn_at`, stamped on all of a tenant's active imports at each of its turns; a new import
    has none and goes first) is claimed, so no tenant's big import holds back another tenant's
    small one. The lease lasts one chunk (`complete_chunk` ends it); a lease whose owner died
    expires, so a restarted or other replica resumes the import at its next chunk.
    """
    now = utc_now()
    document = await database[IMPORTS_COLLECTION].find_one_and_update(
        {
            **_ACTIVE_IMPORT,
            "uploading": False,
            "$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}],
        },
        {
            "$set": {
                "status": ImportStatus.RUNNING.value,
                "lease_owner": owner,
                "lease_until": now + IMPORT_LEASE,
            },
            "$min": {"started_at": now},
        },
        sort=[("turn_at", ASCENDING), ("_id", ASCENDING)],
        return_document=ReturnDocument.AFTER,
    )
    if document is None:
        return None
    # The tenant's turn is taken: its other imports wait behind every other tenant's too.
    await database[IMPORTS_COLLECTION].update_many(
        {"tenant_id": document["tenant_id"], **_ACTIVE_IMPORT}, {"$set": {"turn_at": now}}
    )
    if document.get("started_at") is None:
        # Set once, by the first claim: `$min` cannot do it, as null sorts before any date.
        await database[IMPORTS_COLLECTION].update_one(
            {"_id": document["_id"], "started_at": None}, {"$set": {"started_at": now}}
        )
        document["started_at"] = now
    return _import_from_document(document)


async def fail_stalled_uploads(
    database: Database, *, stalled_for: timedelta
) -> list[tuple[str, str]]:
    """Fails the uploads of any tenant that stored nothing for `stalled_for`; (tenant, id) of each.

    Deliberately cross-tenant, like `claim_import`: an upload whose process was killed leaves
    its import `queued` with `uploading` set, which no worker would ever take. Each is failed
    within its own tenant (the caller deletes whatever of its file was stored).
    """
    collection = database[IMPORTS_COLLECTION]
    uploading = {"status": ImportStatus.QUEUED.value, "uploading": True}
    # Uploads started before uploads were timed get the clock started now.
    await collection.update_many(
        {**uploading, "upload_seen_at": None}, {"$set": {"upload_seen_at": utc_now()}}
    )
    stalled = await collection.find(
        {**uploading, "upload_seen_at": {"$lt": utc_now() - stalled_for}},
        projection={"_id": 1, "tenant_id": 1},
    ).to_list()
    minutes = stalled_for.total_seconds() / 60
    reason = (
        f"the upload was interrupted: no data arrived for {minutes:g} minutes (the connection "
        "or the service went away); send the file again with a new import"
    )
    for document in stalled:
        await ImportRepository(database, document["tenant_id"]).fail(document["_id"], reason)
    return [(document["tenant_id"], document["_id"]) for document in stalled]


def import_repository(request: Request, principal: CurrentPrincipal) -> ImportRepository:
    """FastAPI dependency: the imports of the caller's tenant."""
    return ImportRepository(_database(request), principal.tenant_id)


ImportsRepo = Annotated[ImportRepository, Depends(import_repository)]


class SkillRenormalisationRepository:
    """The progress of re-normalising one tenant's stored skills after a vocabulary change."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._jobs = TenantScopedCollection(database[SKILL_RENORMALISATIONS_COLLECTION], tenant_id)

    async def start(self, version: str) -> None:
        """Starts the job of `version`, replacing any earlier one (its vocabulary is gone)."""
        job = {
            "version": version,
            "status": "running",
            "after": None,
            "processed": 0,
            "changed": 0,
            "started_at": utc_now(),
            "finished_at": None,
        }
        await self._jobs.update_one({"_id": self.tenant_id}, {"$set": job}, upsert=True)

    async def get(self) -> dict[str, Any] | None:
        return await self._jobs.find_one({"_id": self.tenant_id})

    async def advance(self, version: str, after: str, processed: int, changed: int) -> bool:
        """Records a batch done; False if a newer vocabulary replaced this job meanwhile."""
        result = await self._jobs.update_one(
            {"_id": self.tenant_id, "version": version, "status": "running"},
            {"$set": {"after": after}, "$inc": {"processed": processed, "changed": changed}},
        )
        return result.matched_count == 1

    async def finish(self, version: str) -> None:
        await self._jobs.update_one(
            {"_id": self.tenant_id, "version": version, "status": "running"},
            {"$set": {"status": "completed", "finished_at": utc_now()}},
        )


async def unfinished_skill_renormalisations(database: Database) -> list[tuple[str, str]]:
    """(tenant, version) of every running re-normalisation, to resume at service start.

    Deliberately cross-tenant, like the other jobs resumed at start.
    """
    documents = (
        await database[SKILL_RENORMALISATIONS_COLLECTION].find({"status": "running"}).to_list()
    )
    return [(str(d["tenant_id"]), str(d["version"])) for d in documents]
