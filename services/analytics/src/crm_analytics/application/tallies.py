"""The tenant's running totals: what each consumed event adds, and the summary."""

from __future__ import annotations

from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.domain.metrics import TenantMetric
from crm_shared import Session


async def count(
    storage: AnalyticsStorage, tenant_id: str, metric: TenantMetric, *, session: Session
) -> None:
    """Adds one to the tenant's `metric`."""
    await storage.counters(tenant_id).increment(metric, session=session)


async def count_once(
    storage: AnalyticsStorage, tenant_id: str, metric: TenantMetric, key: str, *, session: Session
) -> None:
    """Adds one to the tenant's `metric` the first time `key` (a message, say) is counted."""
    await storage.counters(tenant_id).increment_once(metric, key, session=session)


async def tenant_totals(storage: AnalyticsStorage, tenant_id: str) -> dict[TenantMetric, int]:
    """Every counter of the tenant, as of the events consumed; never counted reads as zero."""
    return await storage.counters(tenant_id).totals()
