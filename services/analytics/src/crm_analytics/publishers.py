"""Events the analytics service emits, staged in its outbox inside the handler's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from crm_shared import ENGAGEMENT_SCORED, EngagementScored, EventEnvelope, Outbox, Session


def engagement_scored(
    outbox: Outbox,
    *,
    tenant_id: str,
    candidate_id: str,
    score: float,
    last_activity_at: datetime | None,
    contributions: dict[str, float],
) -> EventEnvelope[Any]:
    """`engagement.scored` with a candidate's recomputed score and what makes it up."""
    return outbox.envelope(
        ENGAGEMENT_SCORED,
        tenant_id=tenant_id,
        subject=candidate_id,
        data=EngagementScored(
            candidate_id=candidate_id,
            score=score,
            last_activity_at=last_activity_at,
            contributions=contributions,
        ),
    )


async def to_engagement_scored_each(
    outbox: Outbox, envelopes: Sequence[EventEnvelope[Any]], *, session: Session
) -> None:
    """Stages `engagement.scored` events (built by `engagement_scored`) with one write."""
    await outbox.add_many(list(envelopes), session=session)
