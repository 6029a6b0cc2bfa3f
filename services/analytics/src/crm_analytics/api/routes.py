"""Routes of the analytics API."""

from __future__ import annotations

from fastapi import APIRouter

from crm_analytics.api.deps import Container
from crm_analytics.api.schemas import (
    EngagementContribution,
    EngagementExplanation,
    TenantSummary,
)
from crm_analytics.application.engagement import UnknownCandidate, explain_engagement
from crm_analytics.application.tallies import tenant_totals
from crm_analytics.domain.metrics import TenantMetric
from crm_shared import CurrentPrincipal, ProblemError, require_permission

router = APIRouter(prefix="/analytics", tags=["analytics"])


@router.get(
    "/summary", dependencies=[require_permission("analytics:read")], response_model=TenantSummary
)
async def tenant_summary(principal: CurrentPrincipal, container: Container) -> TenantSummary:
    """The caller's tenant's totals, as of the events analytics has consumed."""
    totals = await tenant_totals(container.storage, principal.tenant_id)
    return TenantSummary(
        candidates=totals[TenantMetric.CANDIDATES_CREATED],
        messages_sent=totals[TenantMetric.MESSAGES_SENT],
        messages_opened=totals[TenantMetric.MESSAGES_OPENED],
        messages_clicked=totals[TenantMetric.MESSAGES_CLICKED],
        event_registrations=totals[TenantMetric.EVENT_REGISTRATIONS],
        applications=totals[TenantMetric.APPLICATIONS],
    )


@router.get(
    "/candidates/{candidate_id}/engagement",
    dependencies=[require_permission("analytics:read")],
    response_model=EngagementExplanation,
)
async def candidate_engagement(
    candidate_id: str, principal: CurrentPrincipal, container: Container
) -> EngagementExplanation:
    """A candidate's engagement score now, explained: each counted activity with its weight and
    what it still contributes after its decay. A candidate with no activity scores 0; a
    candidate of another tenant, or one analytics has not seen created yet, is a 404."""
    try:
        explained = await explain_engagement(
            container.storage, container.engagement_model, principal.tenant_id, candidate_id
        )
    except UnknownCandidate:
        raise ProblemError(
            404, f"no candidate {candidate_id} in this tenant", problem_type="not-found"
        ) from None
    model = explained.model
    return EngagementExplanation(
        candidate_id=explained.candidate_id,
        score=explained.score,
        as_of=explained.as_of,
        half_life_days=model.half_life_days,
        weights={kind.value: weight for kind, weight in model.weights.items()},
        last_activity_at=explained.last_activity_at,
        published_score=explained.published_score,
        published_at=explained.published_at,
        contributions=[
            EngagementContribution(
                kind=counted.contribution.kind.value,
                reference=counted.contribution.reference,
                occurred_at=counted.contribution.occurred_at,
                weight=counted.weight,
                contribution=counted.decayed,
                event_id=counted.contribution.event_id,
            )
            for counted in explained.activities
        ],
    )
