"""Settings of the analytics service."""

from __future__ import annotations

from crm_shared import ServiceSettings


class AnalyticsSettings(ServiceSettings):
    """Analytics service settings, read from the environment."""

    service_name: str = "analytics"
