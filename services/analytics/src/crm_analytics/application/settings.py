"""The tenant's analytics settings: the time zone whose days the funnel and attribution periods
are (UTC until an admin sets one). `tenant_time_zone` is the small reader other use cases call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from crm_analytics.application.report_schedule import reschedule_weekly_report
from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.domain.time_zone import DEFAULT_TIME_ZONE
from crm_shared import valid_time_zone


@dataclass(frozen=True)
class TenantAnalyticsSettings:
    time_zone: str = DEFAULT_TIME_ZONE
    updated_at: datetime | None = None


async def analytics_settings(storage: AnalyticsStorage, tenant_id: str) -> TenantAnalyticsSettings:
    """The tenant's settings (the defaults until an admin saved some)."""
    stored = await storage.settings(tenant_id).stored()
    if stored is None:
        return TenantAnalyticsSettings()
    return TenantAnalyticsSettings(
        time_zone=stored.get("time_zone") or DEFAULT_TIME_ZONE, updated_at=stored.get("updated_at")
    )


async def tenant_time_zone(storage: AnalyticsStorage, tenant_id: str) -> ZoneInfo:
    """The zone the tenant's analytics periods are days in."""
    return ZoneInfo((await analytics_settings(storage, tenant_id)).time_zone)


async def save_analytics_settings(
    storage: AnalyticsStorage, tenant_id: str, time_zone: str, updated_by: str
) -> TenantAnalyticsSettings:
    """Saves the tenant's time zone (`ValueError` for a name that is no IANA zone)."""
    zone = valid_time_zone(time_zone)
    now = datetime.now(UTC)
    await storage.settings(tenant_id).save(zone, updated_by, now)
    await reschedule_weekly_report(storage.database, tenant_id)
    return TenantAnalyticsSettings(time_zone=zone, updated_at=now)
