"""Settings of the analytics service."""

from __future__ import annotations

from pydantic import Field

from crm_analytics.domain.engagement import ActivityKind, EngagementModel
from crm_shared import ServiceSettings


class AnalyticsSettings(ServiceSettings):
    """Analytics service settings, read from the environment."""

    service_name: str = "analytics"
    engagement_half_life_days: float = Field(
        default=30.0, gt=0, description="Days after which an activity counts half as much."
    )
    engagement_weight_message_opened: float = Field(default=1.0, ge=0)
    engagement_weight_message_clicked: float = Field(default=3.0, ge=0)
    engagement_weight_message_replied: float = Field(default=8.0, ge=0)
    engagement_weight_event_registered: float = Field(default=5.0, ge=0)
    engagement_weight_event_checked_in: float = Field(default=10.0, ge=0)

    weekly_report_interval_seconds: float = Field(
        default=300.0, gt=0, description="How often the weekly report job looks for due reports."
    )
    weekly_report_lease_seconds: float = Field(
        default=120.0, gt=0, description="The job's lease: one replica runs it at a time."
    )
    weekly_report_retry_seconds: float = Field(
        default=3600.0, gt=0, description="A report that failed to compile is tried again after."
    )

    def engagement_model(self) -> EngagementModel:
        """The engagement score's weights and half-life as configured."""
        return EngagementModel(
            weights={
                ActivityKind.MESSAGE_OPENED: self.engagement_weight_message_opened,
                ActivityKind.MESSAGE_CLICKED: self.engagement_weight_message_clicked,
                ActivityKind.MESSAGE_REPLIED: self.engagement_weight_message_replied,
                ActivityKind.EVENT_REGISTERED: self.engagement_weight_event_registered,
                ActivityKind.EVENT_CHECKED_IN: self.engagement_weight_event_checked_in,
            },
            half_life_days=self.engagement_half_life_days,
        )
