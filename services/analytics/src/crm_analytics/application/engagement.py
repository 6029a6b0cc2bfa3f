"""Engagement scores: each activity counted once, the score recomputed and published as
`engagement.scored`, and a candidate's score explained on request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.domain.decay import next_republish, published_value
from crm_analytics.domain.engagement import ActivityKind, Contribution, EngagementModel
from crm_analytics.publishers import engagement_scored, to_engagement_scored_each
from crm_analytics.repositories.engagement import ScoreRecord
from crm_shared import EventEnvelope, Session, erased_among, utc_now


@dataclass(frozen=True)
class Activity:
    """One thing a candidate did that counts towards their engagement."""

    candidate_id: str
    kind: ActivityKind
    reference: str  # the message or event it is about
    occurred_at: datetime
    event_id: str  # the event that reported it


def _contribution(activity: Activity) -> Contribution:
    return Contribution(
        candidate_id=activity.candidate_id,
        kind=activity.kind,
        reference=activity.reference,
        occurred_at=activity.occurred_at,
        event_id=activity.event_id,
    )


async def score_activity(
    storage: AnalyticsStorage,
    model: EngagementModel,
    tenant_id: str,
    activity: Activity,
    *,
    now: datetime,
    session: Session,
) -> None:
    """Counts the activity in the candidate's score (once) and publishes the new score."""
    engagement = storage.engagement(tenant_id)
    [current] = await _current_activities(storage, tenant_id, [activity], session)
    if current is None:
        return
    candidate_id = current.candidate_id
    if not await engagement.add(_contribution(current), session=session):
        return
    contributions = await engagement.of(candidate_id, session=session)
    record, envelope = published_score(storage, model, tenant_id, candidate_id, contributions, now)
    await engagement.save_scores([record], session=session)
    await to_engagement_scored_each(storage.outbox, [envelope], session=session)


async def _current_activities(
    storage: AnalyticsStorage, tenant_id: str, activities: Sequence[Activity], session: Session
) -> list[Activity | None]:
    """The activities as they count now: one of a record merged away is the survivor's (it
    arrived late, or was reported under the old id), and one of an erased person counts for
    nobody (None), so no late event recreates what the erasure removed."""
    named = list(dict.fromkeys(a.candidate_id for a in activities))
    survivors = await storage.merged_candidates(tenant_id).survivors_of(named, session=session)
    current = [
        replace(a, candidate_id=survivors.get(a.candidate_id, a.candidate_id)) for a in activities
    ]
    erased = await erased_among(
        storage.database,
        tenant_id,
        list(dict.fromkeys([*named, *survivors.values()])),
        session=session,
    )
    return [None if a.candidate_id in erased else a for a in current]


async def rescore(
    storage: AnalyticsStorage,
    model: EngagementModel,
    tenant_id: str,
    candidate_ids: Sequence[str],
    *,
    now: datetime,
    session: Session,
) -> None:
    """Scores the candidates again from what is counted for them now (after a merge or its
    undo moved activities) and publishes each score; one with nothing counted is skipped."""
    engagement = storage.engagement(tenant_id)
    counted = await engagement.of_each(list(dict.fromkeys(candidate_ids)), session=session)
    scores: list[ScoreRecord] = []
    envelopes: list[EventEnvelope[Any]] = []
    for candidate_id, contributions in counted.items():
        if not contributions:
            continue
        record, envelope = published_score(
            storage, model, tenant_id, candidate_id, contributions, now
        )
        scores.append(record)
        envelopes.append(envelope)
    await engagement.save_scores(scores, session=session)
    await to_engagement_scored_each(storage.outbox, envelopes, session=session)


def published_score(
    storage: AnalyticsStorage,
    model: EngagementModel,
    tenant_id: str,
    candidate_id: str,
    contributions: list[Contribution],
    now: datetime,
) -> tuple[ScoreRecord, EventEnvelope[Any]]:
    """The candidate's score at `now` as it is published (at an activity, a merge or a step
    of its decay): to 4 decimals, 0 at or below the floor (`published_value`, the one rule of
    every figure of the score), kept with the score itself, and its `engagement.scored`."""
    exact = round(model.score(contributions, now), 4)
    score = published_value(exact, model.republish)
    record = scored_record(model, candidate_id, score, contributions, now, exact)
    envelope = scored_event(storage, model, tenant_id, candidate_id, score, contributions, now)
    return record, envelope


def scored_record(
    model: EngagementModel,
    candidate_id: str,
    score: float,
    contributions: list[Contribution],
    now: datetime,
    exact: float | None = None,
) -> ScoreRecord:
    """The score published at `now` (`exact`: the score itself, when published as 0 at the
    floor), kept with when it is to be published again as it decays, the candidate's last
    activity and the highest their score has been."""
    return ScoreRecord(
        candidate_id=candidate_id,
        score=score,
        exact_score=score if exact is None else exact,
        scored_at=now,
        republish_at=next_republish(score, now, model.half_life_days, model.republish),
        last_activity_at=max((c.occurred_at for c in contributions), default=None),
        peak_score=round(model.peak(contributions), 4),
    )


def scored_event(
    storage: AnalyticsStorage,
    model: EngagementModel,
    tenant_id: str,
    candidate_id: str,
    score: float,
    contributions: list[Contribution],
    now: datetime,
) -> EventEnvelope[Any]:
    """`engagement.scored` with the score published at `now` and its split by kind (all 0 when
    the score is published as 0: decayed to the floor)."""
    by_kind = model.by_kind(contributions, now)
    return engagement_scored(
        storage.outbox,
        tenant_id=tenant_id,
        candidate_id=candidate_id,
        score=score,
        last_activity_at=max(c.occurred_at for c in contributions),
        contributions={k: round(v, 4) if score else 0.0 for k, v in by_kind.items()},
    )


async def score_activities(
    storage: AnalyticsStorage,
    model: EngagementModel,
    activities: Sequence[tuple[str, Activity]],
    *,
    now: datetime,
    session: Session,
) -> None:
    """Counts a batch of (tenant, activity) as `score_activity` of each in turn would, with one
    read and one write per collection and tenant; each candidate is scored (and its score
    published) once, with every activity of the batch."""
    for tenant_id in dict.fromkeys(tenant for tenant, _ in activities):
        current = await _current_activities(
            storage, tenant_id, [a for tenant, a in activities if tenant == tenant_id], session
        )
        mine = [_contribution(a) for a in current if a is not None]
        engagement = storage.engagement(tenant_id)
        counted = await engagement.of_each(
            list(dict.fromkeys(c.candidate_id for c in mine)), session=session
        )
        seen = {(c.candidate_id, c.kind, c.reference) for cs in counted.values() for c in cs}
        new: list[Contribution] = []
        for contribution in mine:
            key = (contribution.candidate_id, contribution.kind, contribution.reference)
            if key not in seen:  # counted before, or earlier in the batch
                seen.add(key)
                new.append(contribution)
        if not new:
            continue
        await engagement.add_all(new, session=session)
        scores: list[ScoreRecord] = []
        envelopes: list[EventEnvelope[Any]] = []
        # Grouped once: picking each candidate's out of the whole batch was quadratic in it.
        new_of: dict[str, list[Contribution]] = {}
        for contribution in new:
            new_of.setdefault(contribution.candidate_id, []).append(contribution)
        for candidate_id, added in new_of.items():
            # Oldest first, as `of` reads them (a stable sort keeps ties in the order counted).
            contributions = sorted([*counted[candidate_id], *added], key=lambda c: c.occurred_at)
            record, envelope = published_score(
                storage, model, tenant_id, candidate_id, contributions, now
            )
            scores.append(record)
            envelopes.append(envelope)
        await engagement.save_scores(scores, session=session)
        await to_engagement_scored_each(storage.outbox, envelopes, session=session)


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
    score: float | None  # None: a record merged away keeps no score (see `merged_into`)
    as_of: datetime
    model: EngagementModel
    last_activity_at: datetime | None
    published_score: float | None
    published_at: datetime | None
    activities: list[CountedActivity]  # newest first
    merged_into: str | None = None  # the record it was merged into, whose score counts it


class UnknownCandidate(Exception):
    """The tenant has no such candidate, as far as the events analytics consumed tell."""


async def explain_engagement(
    storage: AnalyticsStorage, model: EngagementModel, tenant_id: str, candidate_id: str
) -> EngagementExplained:
    """A candidate's engagement score now, explained: each counted activity with its weight and
    what it still contributes after its decay. A candidate with no activity scores 0; one the
    tenant does not have raises `UnknownCandidate`; a record merged away has no score and
    names the record it stands for now (`merged_into`, following merges of merges).

    A candidate is the tenant's when analytics consumed its `candidate.created`, or when it
    has counted activity of the candidate (candidates created before analytics learnt them,
    whose creation event it consumed before it kept the list)."""
    engagement = storage.engagement(tenant_id)
    now = utc_now()
    survivor = (await storage.merged_candidates(tenant_id).survivors_of([candidate_id])).get(
        candidate_id
    )
    if survivor is not None:
        # Its activities count in the survivor's score; those both records had stay under the
        # merged id for an undo, and scoring them here answered a score the record no longer
        # has (docs/engagement.md, "Merges").
        return EngagementExplained(
            candidate_id=candidate_id,
            score=None,
            as_of=now,
            model=model,
            last_activity_at=None,
            published_score=None,
            published_at=None,
            activities=[],
            merged_into=survivor,
        )
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
        score=published_value(model.score(contributions, now), model.republish),
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
