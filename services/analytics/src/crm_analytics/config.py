"""Settings of the analytics service."""

from __future__ import annotations

from pydantic import Field

from crm_analytics.domain.decay import RepublishPolicy
from crm_analytics.domain.engagement import ActivityKind, EngagementModel
from crm_analytics.domain.pool_health import LATE_STAGE_WORDS
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
    engagement_republish_step: float = Field(
        default=1.0,
        gt=0,
        description="A decaying score is published again once it dropped by this many points "
        "(or by `engagement_republish_ratio` of itself, whichever is more).",
    )
    engagement_republish_ratio: float = Field(default=0.1, ge=0, lt=1)
    engagement_republish_floor: float = Field(
        default=0.5,
        gt=0,
        description="A score at or below it is 0, wherever it is shown or published; below "
        "the lightest activity's weight (an open, 1), so one activity counts until it has "
        "lost half its weight.",
    )
    engagement_republish_interval_seconds: float = Field(
        default=60.0, ge=0, description="Between two decay sweeps; 0 runs none."
    )
    engagement_republish_batch_size: int = Field(default=500, ge=1, le=10_000)
    engagement_republish_max_per_sweep: int = Field(default=5000, ge=1)
    engagement_republish_lease_seconds: float = Field(default=180.0, gt=0)
    pool_health_late_stage_words: list[str] = Field(
        default=list(LATE_STAGE_WORDS),
        description="An ATS stage whose name holds one of these words (ignoring case) is an "
        "interview or later: a rejection there makes a silver medallist.",
    )

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
            republish=RepublishPolicy(
                step=self.engagement_republish_step,
                ratio=self.engagement_republish_ratio,
                floor=self.engagement_republish_floor,
            ),
        )
