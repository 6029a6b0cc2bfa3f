"""Merges in analytics against SecantusDB: the survivor's engagement counts the merged
record's history (an activity both had counted once), a late activity of the merged id counts
for the survivor, an undo gives each record back its own, and an erased person's late
activity recreates nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from crm_analytics.application.activity import ActivityRecorder
from crm_analytics.application.engagement import explain_engagement
from crm_analytics.application.merges import MergeFollower
from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.config import AnalyticsSettings
from crm_analytics.domain.engagement import ActivityKind
from crm_analytics.repositories import ensure_indexes
from crm_shared import (
    ENGAGEMENT_SCORED,
    EVENT_REGISTERED,
    MESSAGE_OPENED,
    CandidateMerged,
    CandidateProfile,
    CandidateUnmerged,
    EventEnvelope,
    EventRegistered,
    MessageOpened,
    MongoClient,
    Session,
    in_transaction,
    utc_now,
)
from crm_shared.tombstones import ERASED_CANDIDATES_COLLECTION, tombstone_id
from helpers import unique
from integration.service_storage import service_storage

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Setup:
    mongo: MongoClient
    storage: AnalyticsStorage
    recorder: ActivityRecorder
    follower: MergeFollower


@pytest.fixture
async def setup(mongodb_uri: str) -> AsyncIterator[Setup]:
    settings = AnalyticsSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("analytics"))
    async with service_storage(settings, ensure_indexes) as built:
        storage = AnalyticsStorage(database=built.database, outbox=built.outbox)
        model = settings.engagement_model()
        yield Setup(
            built.mongo, storage, ActivityRecorder(storage, model), MergeFollower(storage, model)
        )


def _profile(candidate_id: str) -> CandidateProfile:
    return CandidateProfile(
        candidate_id=candidate_id,
        first_name="Zoë",
        last_name="Ångström",
        emails=[f"{candidate_id}@example.org"],
        source="import",
    )


def _opened(setup: Setup, tenant: str, candidate_id: str, message_id: str) -> EventEnvelope[Any]:
    return setup.storage.outbox.envelope(
        MESSAGE_OPENED,
        tenant_id=tenant,
        subject=candidate_id,
        data=MessageOpened(message_id=message_id, candidate_id=candidate_id),
    )


def _registered(setup: Setup, tenant: str, candidate_id: str) -> EventEnvelope[Any]:
    return setup.storage.outbox.envelope(
        EVENT_REGISTERED,
        tenant_id=tenant,
        subject=candidate_id,
        data=EventRegistered(
            event_id="career-fair",
            registration_id=unique("registration"),
            candidate_id=candidate_id,
            email=f"{candidate_id}@example.org",
            first_name="Zoë",
            last_name="Ångström",
            event_name="Career fair",
            registered_at=utc_now(),
        ),
    )


async def _in_transaction(setup: Setup, work: Any) -> None:
    async def run(session: Session) -> None:
        await work(session)

    await in_transaction(setup.mongo, run)


async def _record(setup: Setup, envelope: EventEnvelope[Any]) -> None:
    await _in_transaction(setup, lambda session: setup.recorder.record(envelope, session))


async def _kinds(setup: Setup, tenant: str, candidate_id: str) -> list[str]:
    explained = await explain_engagement(setup.storage, setup.recorder.model, tenant, candidate_id)
    return sorted(f"{a.contribution.kind}:{a.contribution.reference}" for a in explained.activities)


async def test_a_merge_folds_history_into_the_survivor_and_an_undo_gives_it_back(
    setup: Setup,
) -> None:
    tenant = unique("tenant")
    await _record(setup, _opened(setup, tenant, "survivor", "m-1"))
    await _record(setup, _registered(setup, tenant, "survivor"))
    await _record(setup, _opened(setup, tenant, "merged", "m-2"))
    # The same person registered for the career fair under both records.
    await _record(setup, _registered(setup, tenant, "merged"))

    merged = CandidateMerged(
        merge_id="merge-1",
        survivor_candidate_id="survivor",
        merged_candidate_id="merged",
        survivor=_profile("survivor"),
    )
    await _in_transaction(setup, lambda s: setup.follower.fold(tenant, merged, session=s))
    after_merge = ["event_registered:career-fair", "message_opened:m-1", "message_opened:m-2"]
    assert await _kinds(setup, tenant, "survivor") == after_merge
    assert await setup.storage.engagement(tenant).published("merged") is None
    survivor_scored = await setup.storage.outbox.records.find_one(
        {"topic": ENGAGEMENT_SCORED.name, "tenant_id": tenant, "key": "survivor"},
        sort=[("_id", -1)],
    )
    assert survivor_scored is not None
    # The score published after the merge counts both records' opens.
    scored = json.loads(survivor_scored["value"])["data"]
    explained = await explain_engagement(setup.storage, setup.recorder.model, tenant, "survivor")
    assert scored["score"] == pytest.approx(explained.score, abs=0.01)
    assert scored["contributions"][ActivityKind.MESSAGE_OPENED.value] > 0

    # A late open of a mail sent to the merged record counts for the survivor.
    await _record(setup, _opened(setup, tenant, "merged", "m-3"))
    assert "message_opened:m-3" in await _kinds(setup, tenant, "survivor")
    assert await setup.storage.engagement(tenant).of("merged") != []  # only the shared one
    # ...yet the merged record keeps no score: it names the survivor instead of scoring the
    # shared activity left under its id for an undo.
    gone = await explain_engagement(setup.storage, setup.recorder.model, tenant, "merged")
    assert (gone.score, gone.merged_into, gone.activities) == (None, "survivor", [])
    assert gone.published_score is None

    unmerged = CandidateUnmerged(
        merge_id="merge-1",
        survivor_candidate_id="survivor",
        restored_candidate_id="merged",
        survivor=_profile("survivor"),
        restored=_profile("merged"),
    )
    await _in_transaction(setup, lambda s: setup.follower.unfold(tenant, unmerged, session=s))
    assert await _kinds(setup, tenant, "survivor") == [
        "event_registered:career-fair",
        "message_opened:m-1",
        "message_opened:m-3",
    ]
    assert await _kinds(setup, tenant, "merged") == [
        "event_registered:career-fair",
        "message_opened:m-2",
    ]
    assert await setup.storage.engagement(tenant).published("merged") is not None
    restored = await explain_engagement(setup.storage, setup.recorder.model, tenant, "merged")
    assert (restored.merged_into, bool(restored.score)) == (None, True)
    # After the undo the merged id's activities are its own again.
    await _record(setup, _opened(setup, tenant, "merged", "m-4"))
    assert "message_opened:m-4" in await _kinds(setup, tenant, "merged")


async def test_a_merge_of_a_survivor_is_followed_and_each_undo_removes_its_own_step(
    setup: Setup,
) -> None:
    tenant = unique("tenant")
    for candidate_id in ("a", "b", "c"):
        await _record(setup, _opened(setup, tenant, candidate_id, f"m-{candidate_id}"))
    for merge_id, merged_id, survivor_id in (("ab", "a", "b"), ("bc", "b", "c")):
        merge = CandidateMerged(
            merge_id=merge_id,
            survivor_candidate_id=survivor_id,
            merged_candidate_id=merged_id,
            survivor=_profile(survivor_id),
        )
        await _in_transaction(setup, lambda s, m=merge: setup.follower.fold(tenant, m, session=s))
    await _record(setup, _opened(setup, tenant, "a", "m-late"))
    assert await _kinds(setup, tenant, "c") == [
        "message_opened:m-a",
        "message_opened:m-b",
        "message_opened:m-c",
        "message_opened:m-late",
    ]
    # A record merged away twice names the record it stands for now.
    first = await explain_engagement(setup.storage, setup.recorder.model, tenant, "a")
    assert (first.score, first.merged_into) == (None, "c")
    undo = CandidateUnmerged(
        merge_id="bc",
        survivor_candidate_id="c",
        restored_candidate_id="b",
        survivor=_profile("c"),
        restored=_profile("b"),
    )
    await _in_transaction(setup, lambda s: setup.follower.unfold(tenant, undo, session=s))
    # "a" is still folded into "b": its history, and what it does later, are b's.
    await _record(setup, _opened(setup, tenant, "a", "m-later"))
    assert await _kinds(setup, tenant, "b") == [
        "message_opened:m-a",
        "message_opened:m-b",
        "message_opened:m-later",
    ]
    assert await _kinds(setup, tenant, "c") == ["message_opened:m-c", "message_opened:m-late"]


async def test_a_late_activity_of_an_erased_person_recreates_nothing(setup: Setup) -> None:
    tenant = unique("tenant")
    await setup.storage.database[ERASED_CANDIDATES_COLLECTION].insert_one(
        {"_id": tombstone_id(tenant, "erased-1"), "tenant_id": tenant, "candidate_id": "erased-1"}
    )
    await _record(setup, _opened(setup, tenant, "erased-1", "m-1"))
    batch = [_opened(setup, tenant, "erased-1", "m-2"), _opened(setup, tenant, "kept", "m-3")]
    await _in_transaction(setup, lambda s: setup.recorder.record_batch(batch, s))

    assert await setup.storage.engagement(tenant).of("erased-1") == []
    assert await setup.storage.engagement(tenant).published("erased-1") is None
    assert await setup.storage.engagement(tenant).of("kept") != []
    assert not await setup.storage.outbox.records.count_documents(
        {"topic": ENGAGEMENT_SCORED.name, "tenant_id": tenant, "key": "erased-1"}
    )
