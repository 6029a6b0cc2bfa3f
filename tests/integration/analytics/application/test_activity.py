"""The analytics use cases against SecantusDB, below Kafka and HTTP: an open counts once per
message and scores the candidate, a bot's open counts for nothing, and a score is explained
by the activities it counts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest

from crm_analytics.application.activity import ActivityRecorder
from crm_analytics.application.engagement import UnknownCandidate, explain_engagement
from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.application.tallies import tenant_totals
from crm_analytics.config import AnalyticsSettings
from crm_analytics.domain.engagement import ActivityKind
from crm_analytics.domain.metrics import TenantMetric
from crm_analytics.repositories import ensure_indexes
from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_HIRED,
    CANDIDATE_CREATED,
    ENGAGEMENT_SCORED,
    MESSAGE_OPENED,
    AtsApplicationCreated,
    AtsApplicationHired,
    CandidateCreated,
    EventEnvelope,
    MessageOpened,
    MongoClient,
    Session,
    in_transaction,
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
        await setup.recorder.record(envelope, session)

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
    assert (explained.score or 0) > 0
    assert explained.published_score is not None
    published = await setup.storage.outbox.records.count_documents(
        {"topic": ENGAGEMENT_SCORED.name, "tenant_id": tenant}
    )
    assert published == 1


async def _created(setup: Setup, tenant_id: str, candidate_id: str) -> None:
    envelope = setup.storage.outbox.envelope(
        CANDIDATE_CREATED,
        tenant_id=tenant_id,
        subject=candidate_id,
        data=CandidateCreated(
            candidate_id=candidate_id,
            first_name="Quinn",
            last_name="Quiet",
            emails=[],
            source="sourced",
        ),
    )

    async def work(session: Session) -> None:
        await setup.recorder.record(envelope, session)

    await in_transaction(setup.mongo, work)


async def test_a_created_candidate_with_no_activity_scores_zero(setup: Setup) -> None:
    tenant = unique("tenant")
    await _created(setup, tenant, "quiet-1")

    explained = await explain_engagement(setup.storage, setup.recorder.model, tenant, "quiet-1")

    assert explained.score == 0
    assert explained.activities == []
    assert explained.published_score is None
    assert (await tenant_totals(setup.storage, tenant))[TenantMetric.CANDIDATES_CREATED] == 1


async def test_a_candidate_of_another_tenant_or_of_none_is_unknown(setup: Setup) -> None:
    acme, globex = unique("acme"), unique("globex")
    await _created(setup, acme, "acme-candidate")
    await _apply(setup, _opened(setup, acme, "message-1"))  # candidate-1 scores in acme

    for candidate in ("acme-candidate", "candidate-1", "nobody"):
        with pytest.raises(UnknownCandidate):
            await explain_engagement(setup.storage, setup.recorder.model, globex, candidate)
    with pytest.raises(UnknownCandidate):
        await explain_engagement(setup.storage, setup.recorder.model, acme, "nobody")
    # A candidate whose creation analytics never saw, but whose activity it counted, is known.
    scored = await explain_engagement(setup.storage, setup.recorder.model, acme, "candidate-1")
    assert (scored.score or 0) > 0


async def test_a_creation_arriving_after_the_erasure_does_not_bring_the_candidate_back(
    setup: Setup,
) -> None:
    tenant = unique("tenant")
    await setup.storage.database[ERASED_CANDIDATES_COLLECTION].insert_one(
        {"_id": tombstone_id(tenant, "erased-1"), "tenant_id": tenant, "candidate_id": "erased-1"}
    )
    await _created(setup, tenant, "erased-1")

    with pytest.raises(UnknownCandidate):
        await explain_engagement(setup.storage, setup.recorder.model, tenant, "erased-1")


async def test_a_hire_counts_once_per_application_on_the_day_it_happened(setup: Setup) -> None:
    """A hire is counted on its `occurred_at` day (an ATS backfill brings old hires in one
    afternoon); the same application's hire again, under a new envelope, is not a new one."""
    tenant = unique("tenant")
    hired_at = datetime(2024, 4, 9, 10, 0, tzinfo=UTC)

    def hired(ats_id: str, at: datetime) -> EventEnvelope[Any]:
        return setup.storage.outbox.envelope(
            ATS_APPLICATION_HIRED,
            tenant_id=tenant,
            subject=ats_id,
            data=AtsApplicationHired(
                provider="greenhouse",
                connection_id="c1",
                ats_application_id=ats_id,
                ats_candidate_id="7",
                occurred_at=at,
            ),
        )

    await _apply(setup, hired("a-1", hired_at))
    await _apply(setup, hired("a-1", hired_at))  # announced again: a new envelope id
    await _apply(setup, hired("a-2", datetime(2024, 4, 10, 8, 0, tzinfo=UTC)))
    totals = await tenant_totals(setup.storage, tenant)
    assert totals[TenantMetric.HIRES] == 2
    days = await setup.storage.daily(tenant).between(
        [TenantMetric.HIRES], date(2024, 1, 1), date(2030, 1, 1)
    )
    assert [(d.day, d.value) for d in days] == [(date(2024, 4, 9), 1), (date(2024, 4, 10), 1)]


async def test_an_application_counts_on_the_day_it_was_made_and_a_prospect_not_at_all(
    setup: Setup,
) -> None:
    tenant = unique("tenant")
    applied_at = datetime(2024, 3, 5, 14, 0, tzinfo=UTC)
    for ats_id, prospect in (("a-1", False), ("a-2", True)):
        await _apply(
            setup,
            setup.storage.outbox.envelope(
                ATS_APPLICATION_CREATED,
                tenant_id=tenant,
                subject=ats_id,
                data=AtsApplicationCreated(
                    provider="greenhouse",
                    connection_id="c1",
                    ats_application_id=ats_id,
                    ats_candidate_id="7",
                    applied_at=applied_at,
                    prospect=prospect,
                ),
            ),
        )
    totals = await tenant_totals(setup.storage, tenant)
    assert totals[TenantMetric.APPLICATIONS] == 1
    days = await setup.storage.daily(tenant).between(
        [TenantMetric.APPLICATIONS], date(2024, 1, 1), date(2030, 1, 1)
    )
    assert [(d.day, d.value) for d in days] == [(date(2024, 3, 5), 1)]
