"""Changes to the events service's stored data, each run once per database (versions never
change; append new ones)."""

from __future__ import annotations

from crm_events.repositories.events import (
    backfill_formats,
    backfill_lifecycle,
    backfill_reminders,
)
from crm_events.repositories.registrations import backfill_door_codes
from crm_shared import Migration

MIGRATIONS = [
    Migration(1, "events-lifecycle", backfill_lifecycle),
    Migration(2, "events-formats-and-time-zones", backfill_formats),
    Migration(3, "registrations-door-codes", backfill_door_codes),
    Migration(4, "events-reminders", backfill_reminders),
]
