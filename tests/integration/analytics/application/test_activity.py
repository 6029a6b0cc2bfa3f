"""The analytics use cases against SecantusDB, below Kafka and HTTP: an open counts once per
message and scores the candidate, a bot's open counts for nothing, and a score is explained
by the activities it counts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from crm_analytics.application.activity import ActivityRecorder
from crm_analytics.application.engagement import explain_engagement
from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.application.tallies import tenant_totals
from crm_analytics.config import AnalyticsSettings
from crm_analytics.domain.engagement import ActivityKind
from crm_analytics.domain.metrics import TenantMetric
from crm_analytics.repositories import ensure_indexes
from crm_shared import (
    ENGAGEMENT_SCORED,
    MESSAGE_OPENED,
    EventEnvelope,
    MessageOpened,
    MongoClient,
    Session,
    in_transaction,
)
from helpers import unique
from integration.service_storage import service_storage

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Setup:
    mongo: MongoClient
    storage: AnalyticsStorage
    recorder: ActivityRecorder


@pytest.fixture
async def setup(mongodb_uri: str) -> AsyncIterator[Setup]:
    settings = AnalyticsSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("analytics"))
    async with service_storage(settings, ensure_indexes) as built:
        storage = AnalyticsStorage(database=built.database, outbox=built.outbox)
        yield Setup(built.mongo, storage, ActivityRecorder(storage, settings.engagement_model()))


def _opened(setup: Setup, tenant_id: str, message_id: str, **data: Any) -> EventEnvelope[Any]:
    return setup.storage.outbox.envelope(
        MESSAGE_OPENED,
        tenant_id=tenant_id,
        subject="candidate-1",
        data=MessageOpened(message_id=message_id, candidate_id="candidate-1", **data),
    )


async def _apply(setup: Setup, envelope: EventEnvelope[Any]) -> None:
    async def work(session: Session) -> None:
        await setup.recorder.message_opened(envelope, session)

    await in_transaction(setup.mongo, work)


async def test_an_open_counts_once_per_message_and_scores_the_candidate(setup: Setup) -> None:
    tenant = unique("tenant")
    await _apply(setup, _opened(setup, tenant, "message-1"))
    await _apply(setup, _opened(setup, tenant, "message-1"))  # the same mail opened again
    await _apply(setup, _opened(setup, tenant, "message-2", automated=True))

    totals = await tenant_totals(setup.storage, tenant)
    assert totals[TenantMetric.MESSAGES_OPENED] == 1
    explained = await explain_engagement(setup.storage, setup.recorder.model, tenant, "candidate-1")
    assert [a.contribution.kind for a in explained.activities] == [ActivityKind.MESSAGE_OPENED]
    assert explained.score > 0
    assert explained.published_score is not None
    published = await setup.storage.outbox.records.count_documents(
        {"topic": ENGAGEMENT_SCORED.name, "tenant_id": tenant}
    )
    assert published == 1


async def test_a_candidate_with_no_activity_scores_zero(setup: Setup) -> None:
    explained = await explain_engagement(
        setup.storage, setup.recorder.model, unique("tenant"), "nobody"
    )
    assert explained.score == 0
    assert explained.activities == []
    assert explained.published_score is None
