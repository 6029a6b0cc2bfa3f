"""Changes to the campaigns service's stored data, each run once per database (versions never
change; append new ones)."""

from __future__ import annotations

from crm_campaigns.repositories.collections import BROADCASTS, SEQUENCES, TEMPLATES
from crm_shared import Migration, backfill_versions
from crm_shared.mongo import Database


async def _version_editable_resources(database: Database) -> None:
    await backfill_versions(database, [TEMPLATES, SEQUENCES, BROADCASTS])


async def _announce_sequences_again(database: Database) -> None:
    # Deliberately cross-tenant, once per database: the start-up announcement
    # (`announce_sequences`) stages `sequence.saved` again for each, now with the pool stages
    # it names, so the candidates service refuses to delete a stage a sequence uses.
    await database[SEQUENCES].update_many({}, {"$set": {"announced": False}})


MIGRATIONS = [
    Migration(1, "templates-sequences-broadcasts-versioned", _version_editable_resources),
    Migration(2, "sequences-announced-with-pool-stages", _announce_sequences_again),
]
