"""The engagement score republished as it decays, against SecantusDB with an injected clock:
each score is due again at the instant it has dropped by a step, a sweep publishes the due
ones through the outbox and schedules them anew, down to 0; one replica sweeps at a time, a
sweep is bounded, a new activity resets the schedule, and neither an erased candidate nor a
merged record is ever published again."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_analytics.application.activity import ActivityRecorder
from crm_analytics.application.decay import DECAY_LEASE, DecaySweep
from crm_analytics.application.engagement import explain_engagement
from crm_analytics.application.merges import MergeFollower
from crm_analytics.application.pool_health import _engagement as pool_engagement
from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.config import AnalyticsSettings
from crm_analytics.domain.decay import decayed, reaches_at
from crm_analytics.domain.pool_health import (
    HealthRules,
    Membership,
    as_people,
    health,
    score_bucket,
)
from crm_analytics.repositories import ensure_indexes
from crm_analytics.repositories.engagement import SCORES_COLLECTION
from crm_shared import (
    ENGAGEMENT_SCORED,
    MESSAGE_OPENED,
    MESSAGE_REPLIED,
    CandidateMerged,
    CandidateProfile,
    EventEnvelope,
    MessageOpened,
    MessageReplied,
    MongoClient,
    NamedLease,
    PersonalDataEraser,
    Session,
    in_transaction,
    utc_now,
)
from helpers import unique
from integration.service_storage import service_storage

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HALF_LIFE = 30.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class Setup:
    mongo: MongoClient
    storage: AnalyticsStorage
    settings: AnalyticsSettings
    clock: Clock
    recorder: ActivityRecorder
    follower: MergeFollower

    def sweep(self, owner: str = "replica-1", **limits: int) -> DecaySweep:
        lease = NamedLease(
            self.storage.database, DECAY_LEASE, owner=owner, lease=timedelta(minutes=5)
        )
        return DecaySweep(
            self.storage,
            self.mongo,
            self.recorder.model,
            lease,
            clock=self.clock,
            **limits,
        )


@pytest.fixture
async def setup(mongodb_uri: str) -> AsyncIterator[Setup]:
    # A database of its own: the sweep works across tenants.
    settings = AnalyticsSettings(
        mongodb_uri=mongodb_uri,
        mongodb_database=unique("analytics_decay"),
        engagement_half_life_days=HALF_LIFE,
    )
    async with service_storage(settings, ensure_indexes) as built:
        storage = AnalyticsStorage(database=built.database, outbox=built.outbox)
        model = settings.engagement_model()
        clock = Clock()
        yield Setup(
            built.mongo,
            storage,
            settings,
            clock,
            ActivityRecorder(storage, model, clock=clock),
            MergeFollower(storage, model, clock=clock),
        )


def _replied(setup: Setup, tenant: str, candidate_id: str, at: datetime) -> EventEnvelope[Any]:
    return setup.storage.outbox.envelope(
        MESSAGE_REPLIED,
        tenant_id=tenant,
        subject=candidate_id,
        data=MessageReplied(message_id=unique("m"), candidate_id=candidate_id, received_at=at),
    )


async def _record(setup: Setup, *envelopes: EventEnvelope[Any]) -> None:
    async def run(session: Session) -> None:
        await setup.recorder.record_batch(list(envelopes), session)

    await in_transaction(setup.mongo, run)


async def _published(setup: Setup, tenant: str, candidate_id: str) -> list[float]:
    """The scores staged for the candidate on `engagement.scored`, in order."""
    records = await (
        setup.storage.outbox.records.find(
            {"topic": ENGAGEMENT_SCORED.name, "tenant_id": tenant, "key": candidate_id}
        )
        .sort([("_id", 1)])
        .to_list()
    )
    return [float(json.loads(r["value"])["data"]["score"]) for r in records]


async def _stored(setup: Setup, tenant: str, candidate_id: str) -> dict[str, Any] | None:
    return await setup.storage.database[SCORES_COLLECTION].find_one(
        {"tenant_id": tenant, "candidate_id": candidate_id}
    )


async def test_a_score_is_published_again_at_each_step_of_its_decay_down_to_zero(
    setup: Setup,
) -> None:
    tenant = unique("tenant")
    await _record(setup, _replied(setup, tenant, "ada", T0))
    stored = await _stored(setup, tenant, "ada")
    assert stored is not None
    assert stored["score"] == 8.0
    # 8 drops by one point (more than 10% of it) to 7 at the closed form's instant.
    first_due = reaches_at(8.0, T0, 7.0, HALF_LIFE)
    assert stored["republish_at"].replace(tzinfo=UTC) == first_due
    assert stored["last_activity_at"].replace(tzinfo=UTC) == T0
    assert stored["peak_score"] == 8.0

    sweep = setup.sweep()
    setup.clock.now = first_due - timedelta(seconds=1)
    assert await sweep.run() == 0
    assert await _published(setup, tenant, "ada") == [8.0]

    # Each sweep at the due instant publishes one step lower, until the floor is published 0.
    rounds = 0
    while (stored := await _stored(setup, tenant, "ada")) and stored["republish_at"]:
        setup.clock.now = stored["republish_at"].replace(tzinfo=UTC)
        assert await sweep.run() == 1
        rounds += 1
        assert rounds < 20
    assert await _published(setup, tenant, "ada") == [
        8.0,
        7.0,
        6.0,
        5.0,
        4.0,
        3.0,
        2.0,
        1.0,
        0.0,
    ]
    assert stored is not None
    assert stored["score"] == 0.0
    # 8 to the floor of 0.5 is four half-lives.
    assert setup.clock.now - T0 == pytest.approx(timedelta(days=4 * HALF_LIFE), abs=timedelta(1))
    setup.clock.now += timedelta(days=3650)
    assert await sweep.run() == 0


async def test_a_late_sweep_publishes_the_score_as_it_stands_and_a_new_activity_reschedules(
    setup: Setup,
) -> None:
    tenant = unique("tenant")
    await _record(setup, _replied(setup, tenant, "bea", T0))
    setup.clock.now = T0 + timedelta(days=HALF_LIFE)  # far past the first step: 8 is now 4
    assert await setup.sweep().run() == 1
    assert await _published(setup, tenant, "bea") == [8.0, 4.0]
    stored = await _stored(setup, tenant, "bea")
    assert stored is not None
    assert stored["republish_at"].replace(tzinfo=UTC) == reaches_at(
        4.0, setup.clock.now, 3.0, HALF_LIFE
    )

    # A reply a day later is published at once, with the decayed 4 in it, and reschedules.
    setup.clock.now += timedelta(days=1)
    await _record(setup, _replied(setup, tenant, "bea", setup.clock.now))
    expected = round(8 + decayed(4.0, setup.clock.now - timedelta(days=1), setup.clock.now, 30), 4)
    assert (await _published(setup, tenant, "bea"))[-1] == expected
    stored = await _stored(setup, tenant, "bea")
    assert stored is not None
    assert stored["republish_at"].replace(tzinfo=UTC) == reaches_at(
        expected, setup.clock.now, expected * 0.9, HALF_LIFE
    )
    assert stored["peak_score"] == pytest.approx(expected, abs=1e-3)


async def test_one_replica_sweeps_at_a_time_and_a_sweep_is_bounded(setup: Setup) -> None:
    tenant, other = unique("tenant"), unique("tenant")
    await _record(
        setup,
        *[_replied(setup, tenant, f"c-{n}", T0) for n in range(5)],
        _replied(setup, other, "c-x", T0),
    )
    setup.clock.now = T0 + timedelta(days=10)
    first, second = (
        setup.sweep("replica-1", max_per_sweep=4, batch_size=3),
        setup.sweep("replica-2"),
    )
    assert await first.run() == 4  # a batch of 3, then one
    assert await second.run() == 0  # the first holds the lease
    assert await first.run() == 2
    for candidate_id in [f"c-{n}" for n in range(5)]:
        assert len(await _published(setup, tenant, candidate_id)) == 2
    assert len(await _published(setup, other, "c-x")) == 2


async def test_neither_an_erased_candidate_nor_a_merged_record_is_published_again(
    setup: Setup,
) -> None:
    tenant = unique("tenant")
    await _record(
        setup,
        _replied(setup, tenant, "gone", T0),
        _replied(setup, tenant, "kept", T0),
        _replied(setup, tenant, "merged", T0),
    )
    eraser = PersonalDataEraser(setup.storage.database)
    collections, emails = await eraser.prepare(tenant, "gone")

    async def erase(session: Session) -> None:
        await eraser.erase(
            tenant,
            "gone",
            collections=collections,
            emails=emails,
            email_hashes=[],
            erased_at=T0,
            session=session,
        )
        await setup.follower.fold(
            tenant,
            CandidateMerged(
                merge_id="merge-1",
                survivor_candidate_id="kept",
                merged_candidate_id="merged",
                survivor=CandidateProfile(
                    candidate_id="kept",
                    first_name="K",
                    last_name="Ept",
                    emails=[],
                    source="import",
                ),
            ),
            session=session,
        )

    await in_transaction(setup.mongo, erase)
    assert await _stored(setup, tenant, "gone") is None
    assert await _stored(setup, tenant, "merged") is None
    # The survivor counts both replies: 16, published again at the merge.
    assert await _published(setup, tenant, "kept") == [8.0, 16.0]

    setup.clock.now = T0 + timedelta(days=5 * HALF_LIFE)
    assert await setup.sweep().run() == 1
    # 16 decayed by five half-lives is 0.5: at the floor, published as 0.
    assert await _published(setup, tenant, "kept") == [8.0, 16.0, 0.0]
    assert await _published(setup, tenant, "gone") == []
    assert await _published(setup, tenant, "merged") == [8.0]


async def test_one_open_is_the_same_score_wherever_it_is_shown(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A candidate who opened one mail: what is published (the candidates list, its filters,
    segments), the profile's explanation and pool health follow one rule: the open's 1, down
    to the floor (0.5), then 0."""
    tenant = unique("tenant")
    setup.clock.now = utc_now()
    monkeypatch.setattr("crm_analytics.application.engagement.utc_now", setup.clock)
    opened = setup.storage.outbox.envelope(
        MESSAGE_OPENED,
        tenant_id=tenant,
        subject="ivy",
        data=MessageOpened(message_id=unique("m"), candidate_id="ivy"),
    )
    await _record(setup, opened)
    model = setup.recorder.model

    async def shown() -> tuple[float | None, float, str]:
        explained = await explain_engagement(setup.storage, model, tenant, "ivy")
        health = await pool_engagement(setup.storage, model, tenant, ["ivy"], setup.clock.now)
        pool_score = round(health["ivy"].score, 4)
        return explained.score, pool_score, score_bucket(pool_score)

    assert await _published(setup, tenant, "ivy") == [1.0]
    assert await shown() == (1.0, 1.0, "1-9")
    # Decaying, it stays published as 1 (within a step) until it reaches the floor.
    setup.clock.now += timedelta(days=HALF_LIFE / 2)
    assert await setup.sweep().run() == 0
    explained, pool_score, label = await shown()
    assert explained == pool_score == pytest.approx(0.5**0.5, abs=1e-3)
    assert label == "1-9"  # still published as 1: not yet 0 anywhere
    stored = await _stored(setup, tenant, "ivy")
    assert stored is not None
    setup.clock.now = stored["republish_at"].replace(tzinfo=UTC)
    assert await setup.sweep().run() == 1
    assert await _published(setup, tenant, "ivy") == [1.0, 0.0]
    assert await shown() == (0.0, 0.0, "0")


async def test_a_score_just_decayed_below_1_is_the_same_in_every_figure(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Minutes after one open the score is 0.9999: the explanation and pool health show it,
    pool health counts it in `1-9` (not `0`, which is the score 0 alone) and its median is
    it, while the published score (the candidates list, "Engagement at least 1", segments)
    is still the open's 1, one step above at most. A half-life on, it is 0 in all of them."""
    tenant = unique("tenant")
    setup.clock.now = utc_now()
    monkeypatch.setattr("crm_analytics.application.engagement.utc_now", setup.clock)
    opened_at = setup.clock.now
    await _record(
        setup,
        setup.storage.outbox.envelope(
            MESSAGE_OPENED,
            tenant_id=tenant,
            subject="soren",
            data=MessageOpened(message_id=unique("m"), candidate_id="soren"),
        ),
    )
    model = setup.recorder.model
    people = as_people(
        [
            Membership("pool", "soren", "Sourced", opened_at, (opened_at,)),
            Membership("pool", "never", "Sourced", opened_at, (opened_at,)),
        ],
        {},
    )

    async def figures() -> tuple[float, float, dict[str, int], float | None]:
        explained = await explain_engagement(setup.storage, model, tenant, "soren")
        scores = await pool_engagement(
            setup.storage, model, tenant, ["soren", "never"], setup.clock.now
        )
        pool = health(people, scores, {}, setup.clock.now, HealthRules())
        assert explained.score is not None  # not a merged-away record
        return (
            explained.score,
            scores["soren"].score,
            pool.engagement_buckets,
            pool.engagement_median,
        )

    setup.clock.now = opened_at + timedelta(minutes=5)
    assert await setup.sweep().run() == 0  # within a step of the 1 published
    just_below = round(decayed(1.0, opened_at, setup.clock.now, HALF_LIFE), 4)
    assert just_below == 0.9999
    explained, pool_score, buckets, median = await figures()
    assert explained == pool_score == just_below
    assert buckets == {"0": 1, "1-9": 1, "10-24": 0, "25-49": 0, "50+": 0}
    assert median == round(just_below / 2, 4)  # with the member never engaged, 0
    published = await _published(setup, tenant, "soren")
    assert published == [1.0]
    assert published[-1] >= 1  # the candidates list's "Engagement at least 1" has him
    assert score_bucket(published[-1]) == score_bucket(pool_score)

    # An hour before the open has lost half its weight: still above the floor everywhere.
    setup.clock.now = opened_at + timedelta(days=HALF_LIFE) - timedelta(hours=1)
    assert await setup.sweep().run() == 0
    explained, pool_score, buckets, _ = await figures()
    assert explained == pool_score > 0.5
    assert buckets["1-9"] == 1
    assert await _published(setup, tenant, "soren") == [1.0]

    # Once it has: 0 in every figure, and published as 0.
    stored = await _stored(setup, tenant, "soren")
    assert stored is not None
    setup.clock.now = stored["republish_at"].replace(tzinfo=UTC)
    assert await setup.sweep().run() == 1
    assert await _published(setup, tenant, "soren") == [1.0, 0.0]
    assert await figures() == (0.0, 0.0, {"0": 2, "1-9": 0, "10-24": 0, "25-49": 0, "50+": 0}, 0.0)
