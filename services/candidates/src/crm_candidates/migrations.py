"""Changes to the candidates service's stored data, each run once per database (versions never
change; append new ones)."""

from __future__ import annotations

from crm_candidates.application.consent_flags import backfill_consent_expiry
from crm_candidates.application.custom_field_values import backfill_custom_field_values
from crm_candidates.application.pools import announce_pools
from crm_candidates.application.profile_settings import announce_custom_fields
from crm_candidates.repositories.candidates import (
    backfill_derived_fields,
    backfill_segment_ids,
    refresh_search_fields,
)
from crm_candidates.repositories.collections import POOLS_COLLECTION
from crm_candidates.repositories.segments import name_segments
from crm_shared import Migration, MongoClient, Outbox, backfill_versions
from crm_shared.mongo import Database

CUSTOM_FIELDS_ANNOUNCED = 9
CUSTOM_FIELD_VALUES_BACKFILLED = 10


async def _version_pools(database: Database) -> None:
    await backfill_versions(database, [POOLS_COLLECTION])


def migrations(mongo: MongoClient, outbox: Outbox) -> list[Migration]:
    """The service's migrations; those that stage events need the client (for their
    transactions) and the outbox the service was started with."""

    async def announce_fields(database: Database) -> None:
        await announce_custom_fields(mongo, database, outbox)

    async def announce_every_pool(database: Database) -> None:
        await announce_pools(mongo, database, outbox)

    async def backfill_values(database: Database) -> None:
        await backfill_custom_field_values(
            mongo, database, outbox, version=CUSTOM_FIELD_VALUES_BACKFILLED
        )

    return [
        Migration(1, "candidates-derived-fields", backfill_derived_fields),
        Migration(2, "candidates-segment-ids", backfill_segment_ids),
        Migration(3, "pools-versioned", _version_pools),
        Migration(4, "candidates-search-folding", refresh_search_fields),
        # Words in Greek, Cyrillic, CJK and other scripts became search tokens (December 2026).
        Migration(5, "candidates-search-any-script", refresh_search_fields),
        # Umlauts spelt out became search tokens too: Müller found by `mueller` (December 2026).
        Migration(6, "candidates-search-umlauts", refresh_search_fields),
        # Words beginning with a, o or u got the key a query word beginning with an umlaut is
        # searched by: `özil` finds Oezil (December 2026).
        Migration(7, "candidates-search-umlaut-keys", refresh_search_fields),
        # Consent set on the profile or by an import reached no ledger and never lapsed; grants
        # without an expiry never did either (December 2026).
        Migration(8, "consent-expiry-for-every-grant", backfill_consent_expiry),
        # Custom fields defined before `profile.custom_field_changed` existed reach campaigns
        # (was a start-up task scanning at every start of every replica, December 2026).
        Migration(CUSTOM_FIELDS_ANNOUNCED, "custom-fields-announced", announce_fields),
        # Values stored before campaigns kept them reach its recipients (December 2026).
        Migration(
            CUSTOM_FIELD_VALUES_BACKFILLED, "custom-field-values-backfilled", backfill_values
        ),
        # Pools defined before `pool.saved` existed reach campaigns, which checks the stages
        # sequences name against them (December 2026).
        Migration(11, "pools-announced", announce_every_pool),
        # The location filter matches a place's words, accents and case ignored: `montreal`
        # finds Montréal, `berlin` Berlin, Germany (was the whole place as typed, December 2026).
        Migration(12, "candidates-location-words", refresh_search_fields),
        # A segment's name is unique in its tenant (was not: two alike could not be told apart
        # in pickers, December 2026). Segments already sharing one keep it until renamed.
        Migration(13, "segments-unique-names", name_segments),
    ]
