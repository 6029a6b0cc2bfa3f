"""The indexes of the candidates, identities, segments, merges, timeline and profile collections."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING

from crm_candidates.domain.segments import SEGMENT_IDS
from crm_candidates.repositories.collections import (
    CANDIDATES_COLLECTION,
    CUSTOM_FIELDS_COLLECTION,
    EVALUATED_AT,
    IDENTITIES_COLLECTION,
    MEMBERSHIPS_COLLECTION,
    MERGES_COLLECTION,
    NOTES_COLLECTION,
    POOL_MEMBERSHIPS_COLLECTION,
    POOL_STAGE_CHANGES_COLLECTION,
    POOLS_COLLECTION,
    RECHECK_AT,
    SEGMENTS_COLLECTION,
    SEQUENCE_REFERENCES_COLLECTION,
    TIMELINE_COLLECTION,
)
from crm_candidates.repositories.segments import NAME_KEY
from crm_shared import Database

# The unique email index of the first version: merged records keep their addresses, so
# uniqueness now lives in the identity collection instead.
LEGACY_EMAIL_INDEX = "tenant_email_unique"


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
    # The list's location filter walks one of the place's words (`search_filter`).
    await candidates.create_index([("tenant_id", ASCENDING), ("location_words", ASCENDING)])
    await candidates.create_index([("tenant_id", ASCENDING), (SEGMENT_IDS, ASCENDING)])
    await candidates.create_index(
        RECHECK_AT,
        name="segments_recheck_due",
        partialFilterExpression={RECHECK_AT: {"$type": "date"}},
    )
    await candidates.create_index([("tenant_id", ASCENDING), (EVALUATED_AT, ASCENDING)])
    await database[SEGMENTS_COLLECTION].create_index([("tenant_id", ASCENDING), ("_id", ASCENDING)])
    # A segment's name is unique among the tenant's segments not deleted (`NAME_KEY`; a
    # deleted one, or one stored before names were unique and sharing one, has none).
    await database[SEGMENTS_COLLECTION].create_index(
        [("tenant_id", ASCENDING), (NAME_KEY, ASCENDING)],
        unique=True,
        partialFilterExpression={NAME_KEY: {"$type": "string"}},
        name="tenant_segment_name_unique",
    )
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
