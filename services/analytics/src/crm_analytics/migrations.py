"""Changes to the analytics service's stored data, each run once per database (versions never
change; append new ones)."""

from __future__ import annotations

from crm_analytics.application.message_reports import rate_messages_folded_before
from crm_analytics.repositories.engagement import schedule_unscheduled_scores
from crm_analytics.repositories.event_reports import backfill_address_digests
from crm_shared import Migration

MIGRATIONS = [
    Migration(1, "event-reports-address-digests", backfill_address_digests),
    Migration(2, "engagement-scores-republished", schedule_unscheduled_scores),
    Migration(3, "message-reports-rated-reactions", rate_messages_folded_before),
]
