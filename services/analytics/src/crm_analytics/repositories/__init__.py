"""MongoDB access of the analytics service, one module per aggregate."""

from __future__ import annotations

from crm_analytics.repositories.ats_outcomes import ensure_outcome_indexes
from crm_analytics.repositories.candidates import ensure_known_candidate_indexes
from crm_analytics.repositories.counters import ensure_counter_indexes
from crm_analytics.repositories.daily import ensure_daily_count_indexes
from crm_analytics.repositories.engagement import ensure_engagement_indexes
from crm_analytics.repositories.enrolment_reports import ensure_enrolment_report_indexes
from crm_analytics.repositories.event_reports import ensure_event_report_indexes
from crm_analytics.repositories.journeys import ensure_journey_indexes
from crm_analytics.repositories.merged_candidates import ensure_merged_candidate_indexes
from crm_analytics.repositories.message_reports import ensure_message_report_indexes
from crm_analytics.repositories.milestones import ensure_milestone_indexes
from crm_analytics.repositories.pool_members import ensure_pool_member_indexes
from crm_analytics.repositories.settings import ensure_settings_indexes
from crm_analytics.repositories.week_figures import ensure_week_figure_indexes
from crm_analytics.repositories.weekly_reports import ensure_weekly_report_indexes
from crm_shared import Database


async def ensure_indexes(database: Database) -> None:
    """Creates the indexes of the service's collections."""
    await ensure_counter_indexes(database)
    await ensure_engagement_indexes(database)
    await ensure_merged_candidate_indexes(database)
    await ensure_known_candidate_indexes(database)
    await ensure_daily_count_indexes(database)
    await ensure_event_report_indexes(database)
    await ensure_milestone_indexes(database)
    await ensure_message_report_indexes(database)
    await ensure_enrolment_report_indexes(database)
    await ensure_journey_indexes(database)
    await ensure_settings_indexes(database)
    await ensure_pool_member_indexes(database)
    await ensure_outcome_indexes(database)
    await ensure_weekly_report_indexes(database)
    await ensure_week_figure_indexes(database)
