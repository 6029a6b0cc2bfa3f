"""Engagement scores: each activity counted once, the score recomputed and published as
`engagement.scored`, and a candidate's score explained on request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.domain.engagement import ActivityKind, Contribution, EngagementModel
from crm_analytics.publishers import to_engagement_scored
from crm_shared import Session, utc_now


@dataclass(frozen=True)
class Activity:
    """One thing a candidate did that counts towards their engagement."""

    candidate_id: str
    kind: ActivityKind
    reference: str  # the message or event it is about
    occurred_at: datetime
    event_id: str  # the event that reported it


async def score_activity(
    storage: AnalyticsStorage,
    model: EngagementModel,
    tenant_id: str,
    activity: Activity,
    *,
    session: Session,
) -> None:
    """Counts the activity in the candidate's score (once) and publishes the new score."""
    engagement = storage.engagement(tenant_id)
    candidate_id = activity.candidate_id
    contribution = Contribution(
        candidate_id=candidate_id,
        kind=activity.kind,
        reference=activity.reference,
        occurred_at=activity.occurred_at,
        event_id=activity.event_id,
    )
    if not await engagement.add(contribution, session=session):
        return
    contributions = await engagement.of(candidate_id, session=session)
    now = utc_now()
    score = round(model.score(contributions, now), 4)
    await engagement.save_score(candidate_id, score, now, session=session)
    await to_engagement_scored(
        storage.outbox,
        tenant_id=tenant_id,
        candidate_id=candidate_id,
        score=score,
        last_activity_at=max(c.occurred_at for c in contributions),
        contributions={k: round(v, 4) for k, v in model.by_kind(contributions, now).items()},
        session=session,
    )


@dataclass(frozen=True)
class CountedActivity:
    """An activity in a score's explanation: its weight and what it contributes now."""

    contribution: Contribution
    weight: float
    decayed: float


@dataclass(frozen=True)
class EngagementExplained:
    """A candidate's score now, the model behind it and each activity it counts."""

    candidate_id: str
    score: float
    as_of: datetime
    model: EngagementModel
    last_activity_at: datetime | None
    published_score: float | None
    published_at: datetime | None
    activities: list[CountedActivity]  # newest first


class UnknownCandidate(Exception):
    """The tenant has no such candidate, as far as the events analytics consumed tell."""


async def explain_engagement(
    storage: AnalyticsStorage, model: EngagementModel, tenant_id: str, candidate_id: str
) -> EngagementExplained:
    """A candidate's engagement score now, explained: each counted activity with its weight and
    what it still contributes after its decay. A candidate with no activity scores 0; one the
    tenant does not have raises `UnknownCandidate`.

    A candidate is the tenant's when analytics consumed its `candidate.created`, or when it
    has counted activity of the candidate (candidates created before analytics learnt them,
    whose creation event it consumed before it kept the list)."""
    engagement = storage.engagement(tenant_id)
    now = utc_now()
    contributions = await engagement.of(candidate_id)
    published = await engagement.published(candidate_id)
    if (
        not contributions
        and published is None
        and not await storage.known_candidates(tenant_id).knows(candidate_id)
    ):
        raise UnknownCandidate(candidate_id)
    return EngagementExplained(
        candidate_id=candidate_id,
        score=round(model.score(contributions, now), 4),
        as_of=now,
        model=model,
        last_activity_at=max((c.occurred_at for c in contributions), default=None),
        published_score=published["score"] if published else None,
        published_at=published["scored_at"] if published else None,
        activities=[
            CountedActivity(
                contribution=c,
                weight=model.weights[c.kind],
                decayed=round(model.decayed(c, now), 4),
            )
            for c in reversed(contributions)
        ],
    )
