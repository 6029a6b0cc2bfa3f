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
