"""What the analytics service's use cases work with: its database, outbox and repositories."""

from __future__ import annotations

from dataclasses import dataclass

from crm_analytics.repositories.ats_outcomes import OutcomeRepository
from crm_analytics.repositories.candidates import KnownCandidateRepository
from crm_analytics.repositories.counters import CounterRepository
from crm_analytics.repositories.daily import DailyCountRepository
from crm_analytics.repositories.engagement import EngagementRepository
from crm_analytics.repositories.enrolment_reports import EnrolmentReportRepository
from crm_analytics.repositories.event_reports import EventReportRepository
from crm_analytics.repositories.journeys import JourneyRepository
from crm_analytics.repositories.merged_candidates import MergedCandidateRepository
from crm_analytics.repositories.message_reports import MessageReportRepository
from crm_analytics.repositories.milestones import MilestoneRepository
from crm_analytics.repositories.pool_members import PoolMemberRepository
from crm_analytics.repositories.settings import AnalyticsSettingsRepository
from crm_shared import Database, Outbox


@dataclass(frozen=True)
class AnalyticsStorage:
    """The service's database and outbox, and its tenant-scoped repositories."""

    database: Database
    outbox: Outbox

    def counters(self, tenant_id: str) -> CounterRepository:
        return CounterRepository(self.database, tenant_id)

    def daily(self, tenant_id: str) -> DailyCountRepository:
        return DailyCountRepository(self.database, tenant_id)

    def engagement(self, tenant_id: str) -> EngagementRepository:
        return EngagementRepository(self.database, tenant_id)

    def merged_candidates(self, tenant_id: str) -> MergedCandidateRepository:
        return MergedCandidateRepository(self.database, tenant_id)

    def known_candidates(self, tenant_id: str) -> KnownCandidateRepository:
        return KnownCandidateRepository(self.database, tenant_id)

    def event_reports(self, tenant_id: str) -> EventReportRepository:
        return EventReportRepository(self.database, tenant_id)

    def milestones(self, tenant_id: str) -> MilestoneRepository:
        return MilestoneRepository(self.database, tenant_id)

    def message_reports(self, tenant_id: str) -> MessageReportRepository:
        return MessageReportRepository(self.database, tenant_id)

    def enrolment_reports(self, tenant_id: str) -> EnrolmentReportRepository:
        return EnrolmentReportRepository(self.database, tenant_id)

    def journeys(self, tenant_id: str) -> JourneyRepository:
        return JourneyRepository(self.database, tenant_id)

    def settings(self, tenant_id: str) -> AnalyticsSettingsRepository:
        return AnalyticsSettingsRepository(self.database, tenant_id)

    def pool_members(self, tenant_id: str) -> PoolMemberRepository:
        return PoolMemberRepository(self.database, tenant_id)

    def ats_outcomes(self, tenant_id: str) -> OutcomeRepository:
        return OutcomeRepository(self.database, tenant_id)
