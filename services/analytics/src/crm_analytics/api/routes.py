"""Routes of the analytics API."""

from __future__ import annotations

from fastapi import APIRouter, Request

from crm_analytics.api.schemas import (
    EngagementContribution,
    EngagementExplanation,
    TenantSummary,
)
from crm_analytics.domain.engagement import EngagementModel
from crm_analytics.domain.metrics import TenantMetric
from crm_analytics.repository import CountersRepo, EngagementRepo
from crm_shared import utc_now

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


@router.get("/candidates/{candidate_id}/engagement", response_model=EngagementExplanation)
async def candidate_engagement(
    candidate_id: str, engagement: EngagementRepo, request: Request
) -> EngagementExplanation:
    """A candidate's engagement score now, explained: each counted activity with its weight and
    what it still contributes after its decay. A candidate with no activity scores 0."""
    model: EngagementModel = request.app.state.engagement_model
    now = utc_now()
    contributions = await engagement.of(candidate_id)
    published = await engagement.published(candidate_id)
    return EngagementExplanation(
        candidate_id=candidate_id,
        score=round(model.score(contributions, now), 4),
        as_of=now,
        half_life_days=model.half_life_days,
        weights={kind.value: weight for kind, weight in model.weights.items()},
        last_activity_at=max((c.occurred_at for c in contributions), default=None),
        published_score=published["score"] if published else None,
        published_at=published["scored_at"] if published else None,
        contributions=[
            EngagementContribution(
                kind=c.kind.value,
                reference=c.reference,
                occurred_at=c.occurred_at,
                weight=model.weights[c.kind],
                contribution=round(model.decayed(c, now), 4),
                event_id=c.event_id,
            )
            for c in reversed(contributions)
        ],
    )
