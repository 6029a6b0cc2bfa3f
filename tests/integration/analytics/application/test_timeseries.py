"""The time series against SecantusDB, fed by the same use cases the Kafka subscribers call:
per UTC day, a second open of one mail counted once, new candidates by source, other tenants
never seen."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from crm_analytics.application.activity import ActivityRecorder
from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.application.tallies import tenant_totals, time_series
from crm_analytics.config import AnalyticsSettings
from crm_analytics.domain.metrics import TenantMetric
from crm_analytics.domain.timeseries import Interval
from crm_analytics.repositories import ensure_indexes
from crm_shared import (
    CANDIDATE_CREATED,
    MESSAGE_OPENED,
    MESSAGE_SENT,
    CandidateCreated,
    EventEnvelope,
    MessageOpened,
    MessageSent,
    MongoClient,
    Session,
    TopicSpec,
    in_transaction,
)
from helpers import unique
from integration.service_storage import service_storage

pytestmark = pytest.mark.integration

Apply = Callable[[EventEnvelope[Any], Session], Awaitable[None]]


@pytest.fixture
async def recorded(
    mongodb_uri: str,
) -> AsyncIterator[tuple[MongoClient, AnalyticsStorage, ActivityRecorder]]:
    settings = AnalyticsSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("analytics"))
    async with service_storage(settings, ensure_indexes) as built:
        storage = AnalyticsStorage(database=built.database, outbox=built.outbox)
        yield built.mongo, storage, ActivityRecorder(storage, settings.engagement_model())


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


async def feed(
    mongo: MongoClient,
    storage: AnalyticsStorage,
    apply: Apply,
    spec: TopicSpec,
    tenant: str,
    when: datetime,
    data: Any,
) -> None:
    envelope = storage.outbox.envelope(spec, tenant_id=tenant, subject="s", data=data)
    envelope = envelope.model_copy(update={"time": when})

    async def work(session: Session) -> None:
        await apply(envelope, session)

    await in_transaction(mongo, work)


def created(candidate_id: str, source: str) -> CandidateCreated:
    return CandidateCreated(
        candidate_id=candidate_id, first_name="A", last_name="B", emails=[], source=source
    )


def sent(message_id: str) -> MessageSent:
    return MessageSent(message_id=message_id, candidate_id="c", template_id="t", subject="Hello")


async def test_the_series_counts_seeded_events_per_day_and_per_source(
    recorded: tuple[MongoClient, AnalyticsStorage, ActivityRecorder],
) -> None:
    mongo, storage, recorder = recorded
    tenant, other = unique("tenant"), unique("tenant")
    # Candidates: 2 referrals on the 2nd, 1 event sign-up on the 2nd, 1 referral on the 4th
    # (23:30 UTC: still the 4th), 1 referral of another tenant.
    for n, (day, hour, source) in enumerate(
        [(2, 9, "referral"), (2, 17, "referral"), (2, 11, "event"), (4, 23, "referral")]
    ):
        await feed(
            mongo,
            storage,
            recorder.record,
            CANDIDATE_CREATED,
            tenant,
            at(day, hour),
            created(f"c{n}", source),
        )
    await feed(
        mongo,
        storage,
        recorder.record,
        CANDIDATE_CREATED,
        other,
        at(2),
        created("x", "referral"),
    )
    # Mails: 3 sent on the 3rd; m1 opened twice (the 3rd, again the 4th), m2 once on the 4th,
    # a bot's open of m3 counted never.
    for m in ("m1", "m2", "m3"):
        await feed(mongo, storage, recorder.record, MESSAGE_SENT, tenant, at(3), sent(m))
    for message_id, day, automated in [
        ("m1", 3, False),
        ("m1", 4, False),
        ("m2", 4, False),
        ("m3", 4, True),
    ]:
        await feed(
            mongo,
            storage,
            recorder.record,
            MESSAGE_OPENED,
            tenant,
            at(day),
            MessageOpened(message_id=message_id, candidate_id="c", automated=automated),
        )

    metrics = [
        TenantMetric.CANDIDATES_CREATED,
        TenantMetric.MESSAGES_SENT,
        TenantMetric.MESSAGES_OPENED,
    ]
    daily = await time_series(
        storage, tenant, metrics, date(2026, 11, 1), date(2026, 11, 5), Interval.DAY
    )
    assert daily.periods == [date(2026, 11, d) for d in range(1, 6)]
    assert [(s.metric.value, s.dimension, s.values) for s in daily.series] == [
        ("candidates_created", "", [0, 3, 0, 1, 0]),
        ("messages_sent", "", [0, 0, 3, 0, 0]),
        ("messages_opened", "", [0, 0, 1, 1, 0]),
        ("candidates_created", "event", [0, 1, 0, 0, 0]),
        ("candidates_created", "referral", [0, 2, 0, 1, 0]),
    ]
    # The series and the running totals agree.
    totals = await tenant_totals(storage, tenant)
    assert totals[TenantMetric.CANDIDATES_CREATED] == 4
    assert totals[TenantMetric.MESSAGES_OPENED] == 2

    # Weeks start on Monday: 2 Nov 2026 is one; Sunday 1 Nov belongs to the week of 26 Oct.
    weekly = await time_series(
        storage, tenant, metrics[:1], date(2026, 11, 1), date(2026, 11, 8), Interval.WEEK
    )
    assert weekly.periods == [date(2026, 10, 26), date(2026, 11, 2)]
    assert [(s.dimension, s.values) for s in weekly.series] == [
        ("", [0, 4]),
        ("event", [0, 1]),
        ("referral", [0, 3]),
    ]
    # A range outside the events is all zeros; another tenant only sees its own.
    empty = await time_series(
        storage, tenant, metrics[:1], date(2026, 10, 1), date(2026, 10, 3), Interval.DAY
    )
    assert [s.values for s in empty.series] == [[0, 0, 0]]
    theirs = await time_series(
        storage, other, metrics[:1], date(2026, 11, 1), date(2026, 11, 5), Interval.DAY
    )
    assert [(s.dimension, s.values) for s in theirs.series] == [
        ("", [0, 1, 0, 0, 0]),
        ("referral", [0, 1, 0, 0, 0]),
    ]
