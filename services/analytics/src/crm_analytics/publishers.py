"""Events the analytics service emits, staged in its outbox inside the handler's transaction."""

from __future__ import annotations

from datetime import datetime

from crm_shared import ENGAGEMENT_SCORED, EngagementScored, Outbox, Session


async def to_engagement_scored(
    outbox: Outbox,
    *,
    tenant_id: str,
    candidate_id: str,
    score: float,
    last_activity_at: datetime | None,
    contributions: dict[str, float],
    session: Session,
) -> None:
    """Stages `engagement.scored` with a candidate's recomputed score and what makes it up."""
    await outbox.stage(
        ENGAGEMENT_SCORED,
        tenant_id=tenant_id,
        subject=candidate_id,
        data=EngagementScored(
            candidate_id=candidate_id,
            score=score,
            last_activity_at=last_activity_at,
            contributions=contributions,
        ),
        session=session,
    )
