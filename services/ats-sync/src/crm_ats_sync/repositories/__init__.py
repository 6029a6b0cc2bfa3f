"""MongoDB access of the ats-sync service, one module per aggregate."""

from __future__ import annotations

from crm_ats_sync.repositories.applications import ensure_application_indexes
from crm_ats_sync.repositories.connections import ensure_connection_indexes
from crm_ats_sync.repositories.deliveries import ensure_delivery_indexes
from crm_ats_sync.repositories.jobs import ensure_job_indexes
from crm_ats_sync.repositories.known_candidates import ensure_known_candidate_indexes
from crm_ats_sync.repositories.pushes import ensure_push_indexes
from crm_ats_sync.repositories.rejected_payloads import ensure_rejected_payload_indexes
from crm_ats_sync.repositories.sync_runs import ensure_sync_run_indexes
from crm_ats_sync.repositories.webhook_log import ensure_webhook_log_indexes
from crm_shared import Database, ensure_directory_indexes


async def ensure_indexes(database: Database) -> None:
    """Creates the indexes of the service's collections."""
    await ensure_connection_indexes(database)
    await ensure_delivery_indexes(database)
    await ensure_webhook_log_indexes(database)
    await ensure_application_indexes(database)
    await ensure_sync_run_indexes(database)
    await ensure_job_indexes(database)
    await ensure_push_indexes(database)
    await ensure_known_candidate_indexes(database)
    await ensure_rejected_payload_indexes(database)
    await ensure_directory_indexes(database)
