"""Routes of the analytics API."""

from __future__ import annotations

from fastapi import APIRouter

from crm_analytics.api.schemas import TenantSummary
from crm_analytics.domain.metrics import TenantMetric
from crm_analytics.repository import CountersRepo

router = APIRouter(prefix="/analytics", tags=["analytics"])


@router.get("/summary", response_model=TenantSummary)
async def tenant_summary(counters: CountersRepo) -> TenantSummary:
    """The caller's tenant's totals, as of the events analytics has consumed."""
    totals = await counters.totals()
    return TenantSummary(
        candidates=totals[TenantMetric.CANDIDATES_CREATED],
        messages_sent=totals[TenantMetric.MESSAGES_SENT],
        messages_opened=totals[TenantMetric.MESSAGES_OPENED],
        messages_clicked=totals[TenantMetric.MESSAGES_CLICKED],
        event_registrations=totals[TenantMetric.EVENT_REGISTRATIONS],
        applications=totals[TenantMetric.APPLICATIONS],
    )
