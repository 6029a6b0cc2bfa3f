"""Changes to the campaigns service's stored data, each run once per database (versions never
change; append new ones)."""

from __future__ import annotations

from crm_campaigns.repositories.collections import BROADCASTS, SEQUENCES, TEMPLATES
from crm_shared import Migration, backfill_versions
from crm_shared.mongo import Database


async def _version_editable_resources(database: Database) -> None:
    await backfill_versions(database, [TEMPLATES, SEQUENCES, BROADCASTS])


MIGRATIONS = [Migration(1, "templates-sequences-broadcasts-versioned", _version_editable_resources)]
