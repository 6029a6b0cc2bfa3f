"""MongoDB access of the events service, one module per aggregate."""

from __future__ import annotations

from crm_events.repositories.events import ensure_event_indexes
from crm_events.repositories.registrations import ensure_registration_indexes
from crm_shared import Database, ensure_directory_indexes


async def ensure_indexes(database: Database) -> None:
    """Creates the indexes of the service's collections."""
    await ensure_event_indexes(database)
    await ensure_registration_indexes(database)
    await ensure_directory_indexes(database)
