"""The figures of imports in progress that the candidates service samples for /metrics, read
from the database as several replicas would share it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry

from crm_candidates.application.import_metrics import ImportMetrics
from crm_candidates.config import CandidatesSettings
from crm_candidates.domain.models import CandidateImport, ImportStatus
from crm_candidates.repositories.collections import IMPORTS_COLLECTION
from crm_candidates.repositories.imports import ImportRepository, active_import_figures
from crm_candidates.repositories.indexes import ensure_indexes
from crm_shared import Database, create_mongo_client, utc_now
from helpers import unique

pytestmark = pytest.mark.integration


@pytest.fixture
async def database(mongodb_uri: str) -> AsyncIterator[Database]:
    settings = CandidatesSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("imports"))
    mongo = create_mongo_client(settings)
    database = mongo[settings.mongodb_database]
    await ensure_indexes(database)
    yield database
    await mongo.close()


async def stored_import(
    database: Database, tenant: str, status: ImportStatus, **fields: object
) -> str:
    job = CandidateImport(tenant_id=tenant, mapping=[("E-mail", "emails")], created_by="rita")
    await ImportRepository(database, tenant).add(job)
    await database[IMPORTS_COLLECTION].update_one(
        {"_id": job.id}, {"$set": {"status": status.value, **fields}}
    )
    return job.id


async def test_the_longest_an_import_went_without_progress_is_what_an_alert_needs(
    database: Database,
) -> None:
    assert await active_import_figures(database) == (
        {ImportStatus.QUEUED: 0, ImportStatus.RUNNING: 0},
        0.0,
    )
    now = utc_now()
    # Across tenants: a running import whose last chunk was 20 minutes ago, one progressing, a
    # queued one whose upload finished 2 minutes ago, one still uploading (its own watchdog
    # fails it), and finished ones, which never count.
    await stored_import(
        database,
        "t1",
        ImportStatus.RUNNING,
        uploading=False,
        progressed_at=now - timedelta(minutes=20),
    )
    await stored_import(
        database,
        "t2",
        ImportStatus.RUNNING,
        uploading=False,
        progressed_at=now - timedelta(seconds=3),
    )
    await stored_import(
        database,
        "t2",
        ImportStatus.QUEUED,
        uploading=False,
        progressed_at=now - timedelta(minutes=2),
    )
    await stored_import(database, "t3", ImportStatus.QUEUED, uploading=True)
    await stored_import(
        database, "t3", ImportStatus.COMPLETED, progressed_at=now - timedelta(days=1)
    )
    await stored_import(database, "t4", ImportStatus.FAILED, progressed_at=now - timedelta(days=1))

    by_status, longest = await active_import_figures(database)
    assert by_status == {ImportStatus.QUEUED: 2, ImportStatus.RUNNING: 2}
    assert 20 * 60 <= longest < 21 * 60

    registry = CollectorRegistry()
    await ImportMetrics(database, registry).sample()
    assert registry.get_sample_value("crm_imports_active", {"status": "running"}) == 2
    assert registry.get_sample_value("crm_imports_active", {"status": "queued"}) == 2
    sampled = registry.get_sample_value("crm_import_longest_without_progress_seconds")
    assert sampled is not None
    assert 20 * 60 <= sampled < 21 * 60


async def test_an_import_stored_before_progress_was_recorded_counts_from_its_start(
    database: Database,
) -> None:
    started = utc_now() - timedelta(hours=1)
    await stored_import(database, "t1", ImportStatus.RUNNING, uploading=False, started_at=started)
    _, longest = await active_import_figures(database)
    assert 3600 <= longest < 3660
