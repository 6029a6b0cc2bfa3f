"""Everything `create_app` builds for the analytics service's routes and subscribers."""

from __future__ import annotations

from dataclasses import dataclass

from crm_analytics.application.activity import ActivityRecorder
from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.domain.engagement import EngagementModel


@dataclass(frozen=True)
class AnalyticsContainer:
    """The analytics service's wiring: its storage, the engagement model, the recorder."""

    storage: AnalyticsStorage
    engagement_model: EngagementModel
    recorder: ActivityRecorder
