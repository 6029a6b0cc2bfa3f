"""The message reports' fold against the real database: a seeded workload folded in order one
by one, and shuffled, partly repeated and batched, gives the same reports, equal to the counts
computed independently from the raw events; an erasure keeps a late event out."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_analytics.api.exports import csv_file
from crm_analytics.api.message_reports import csv_rows
from crm_analytics.application.message_reports import (
    MessageReportFolder,
    ReportScope,
    UnknownSource,
    message_report,
    rate_messages_folded_before,
)
from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.domain.message_report import MessageFigures, MessageReport
from crm_analytics.domain.timeseries import RangeError
from crm_shared import (
    MESSAGE_COMPLAINED,
    MESSAGE_SUPPRESSED,
    EventEnvelope,
    MessageComplained,
    MessageSuppressed,
    MongoClient,
    PersonalDataEraser,
    Session,
    in_transaction,
)
from integration.analytics.message_scenario import FIGURES, Ids, expected, scenario

pytestmark = pytest.mark.integration

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
IDS = Ids(tenant_id="acme", broadcast_id="b-1", sequence_id="s-1", template_id="t-1")


async def fold(
    mongo: MongoClient, storage: AnalyticsStorage, batches: list[list[EventEnvelope[Any]]]
) -> None:
    folder = MessageReportFolder(storage)
    for batch in batches:

        async def apply(session: Session, batch: list[Any] = batch) -> None:
            await folder.record_batch(batch, session)

        await in_transaction(mongo, apply)


def counts(figures: MessageFigures) -> dict[str, int]:
    found = figures.counts()
    return {figure: found[figure] for figure in FIGURES}


def as_groups(report: MessageReport) -> dict[str, dict[str, int]]:
    return {"total": counts(report.totals)} | {g.key: counts(g.figures) for g in report.groups}


async def reports(storage: AnalyticsStorage) -> list[MessageReport]:
    return [
        await message_report(storage, "acme", scope, None, None)
        for scope in (
            ReportScope.broadcast(IDS.broadcast_id),
            ReportScope.sequence(IDS.sequence_id),
            ReportScope.template(IDS.template_id),
        )
    ]


async def test_the_reports_equal_the_raw_counts_in_any_order_and_replayed(
    stores: list[tuple[MongoClient, AnalyticsStorage]],
) -> None:
    (mongo, in_order), (other_mongo, shuffled) = stores
    events = scenario(IDS, seed=7, start=START)
    await fold(mongo, in_order, [[e] for e in events])
    rng = random.Random(11)
    mixed = events + rng.sample(events, 25) + events  # a replay, some twice more
    rng.shuffle(mixed)
    batches, at = [], 0
    while at < len(mixed):
        size = rng.choice((1, 4, 16))
        batches.append(mixed[at : at + size])
        at += size
    await fold(other_mongo, shuffled, batches)

    broadcast, sequence, template = await reports(in_order)
    assert [broadcast, sequence, template] == await reports(shuffled)

    by_variant = expected(
        events, lambda s: s.variant if s.broadcast_id == IDS.broadcast_id else None
    )
    assert as_groups(broadcast) == by_variant
    by_step = expected(
        events, lambda s: str(s.step_index) if s.sequence_id == IDS.sequence_id else None
    )
    assert as_groups(sequence) == by_step
    assert [(g.key, g.label) for g in sequence.groups] == [("0", "Hello"), ("2", "Follow-up")]
    by_source = expected(
        events,
        lambda s: (
            f"broadcast:{s.broadcast_id}"
            if s.broadcast_id
            else f"sequence:{s.sequence_id}:{s.step_index}"
        ),
    )
    assert as_groups(template) == by_source
    total = by_variant["total"]
    # The workload has what the report must tell apart.
    assert total["bounced_hard"] == 2
    assert total["bounced_soft"] == 1
    assert total["machine_opened"] > 0
    assert total["opened"] > 0
    assert (total["unsubscribed"], total["complained"]) == (1, 1)
    # A message opened by a person and then hard-bounced: opened, but not in the open rate.
    assert total["opened"] == total["delivered_opened"] + 1
    # Every rate over `delivered` is of the delivered messages: at most 1, in every group and
    # on every day.
    for found in (broadcast, sequence, template):
        for figures in [found.totals, *found.series] + [
            f for g in found.groups for f in [g.figures, *g.series]
        ]:
            rates = figures.rates()
            assert all(rate is None or 0 <= rate <= 1 for rate in rates.values()), rates
    assert broadcast.totals.open_rate == round(total["delivered_opened"] / total["delivered"], 4)
    # The daily series adds up to the totals, and the range is the active days.
    assert sum(day.sent for day in broadcast.series) == broadcast.totals.sent
    assert broadcast.first_day == START.date()
    assert len(broadcast.series) == (broadcast.last_day - broadcast.first_day).days + 1

    # A range: only what happened on its days.
    first = await message_report(
        in_order,
        "acme",
        ReportScope.broadcast(IDS.broadcast_id),
        START.date(),
        START.date(),
    )
    assert first.totals == broadcast.series[0]
    with pytest.raises(RangeError):
        await message_report(
            in_order,
            "acme",
            ReportScope.broadcast(IDS.broadcast_id),
            START.date(),
            START.date() - timedelta(days=1),
        )
    with pytest.raises(UnknownSource):
        await message_report(
            in_order, "globex", ReportScope.broadcast(IDS.broadcast_id), None, None
        )

    # The CSV holds the same figures: a totals row, then one per day, for each group.
    rows = list(
        csv.DictReader(
            io.StringIO(bytes(csv_file(csv_rows(broadcast, "variant"), "r").body).decode()[1:])
        )
    )
    whole = {r["variant"]: r for r in rows if r["day"] == ""}
    assert set(whole) == {"total", "A", "B"}
    assert {k: int(v) for k, v in whole["A"].items() if k in FIGURES} == by_variant["A"]
    assert whole["total"]["open_rate"] == str(broadcast.totals.open_rate)
    assert len(rows) == 3 * (1 + len(broadcast.series))


def stopped(message_id: str, at: datetime, **source: Any) -> EventEnvelope[Any]:
    """`message.suppressed` for a message of the scenario's template."""
    return EventEnvelope[Any](
        type=MESSAGE_SUPPRESSED.name,
        source="test",
        tenant_id="acme",
        subject=f"c-{message_id}",
        schema_version=MESSAGE_SUPPRESSED.schema_version,
        time=at + timedelta(seconds=5),
        data=MessageSuppressed(
            message_id=message_id,
            candidate_id=f"c-{message_id}",
            template_id=IDS.template_id,
            subject="Hi",
            reason="no_marketing_consent",
            suppressed_at=at,
            **source,
        ),
    )


async def test_messages_a_send_rule_stopped_count_apart_from_the_sent_ones(
    stores: list[tuple[MongoClient, AnalyticsStorage]],
) -> None:
    (mongo, with_stops), (other_mongo, without) = stores
    events = scenario(IDS, seed=7, start=START)
    later = START + timedelta(days=2)
    stops = [
        stopped("b-1-held-1", START, broadcast_id=IDS.broadcast_id, variant="A"),
        stopped("b-1-held-2", later, broadcast_id=IDS.broadcast_id, variant="B"),
        stopped("s-1-held", later, sequence_id=IDS.sequence_id, step_index=2, step_label="Later"),
        stopped("b-2-held", START, broadcast_id="b-2"),
    ]
    rng = random.Random(5)
    mixed = events + stops + stops  # each stop delivered twice
    rng.shuffle(mixed)
    await fold(mongo, with_stops, [mixed[at : at + 7] for at in range(0, len(mixed), 7)])
    await fold(other_mongo, without, [events])

    broadcast, sequence, template = await reports(with_stops)
    plain_broadcast, plain_sequence, _ = await reports(without)
    # Counted once each, on the day stopped, in its A/B variant.
    assert broadcast.totals.suppressed == 2
    assert {g.key: g.figures.suppressed for g in broadcast.groups} == {"A": 1, "B": 1}
    held_days = {
        broadcast.first_day + timedelta(days=n): day.suppressed
        for n, day in enumerate(broadcast.series)
        if day.suppressed
    }
    assert held_days == {START.date(): 1, later.date(): 1}
    # Never sent: every other figure and rate is what it is without them.
    assert broadcast.totals.counts() == plain_broadcast.totals.counts() | {"suppressed": 2}
    assert broadcast.totals.rates() == plain_broadcast.totals.rates()
    assert [replace(g.figures, suppressed=0) for g in broadcast.groups] == [
        g.figures for g in plain_broadcast.groups
    ]
    # A sequence's stopped mail counts in its step's group.
    assert {g.key: g.figures.suppressed for g in sequence.groups} == {"0": 0, "2": 1}
    assert sequence.totals.sent == plain_sequence.totals.sent
    assert template.totals.suppressed == 4
    # A broadcast all of whose mail was stopped has a report (all suppressed), not a 404.
    only_stopped = await message_report(
        with_stops, "acme", ReportScope.broadcast("b-2"), None, None
    )
    assert (only_stopped.totals.sent, only_stopped.totals.suppressed) == (0, 1)
    assert only_stopped.totals.delivery_rate is None
    rows = list(
        csv.DictReader(
            io.StringIO(bytes(csv_file(csv_rows(broadcast, "variant"), "r").body).decode()[1:])
        )
    )
    assert {r["variant"]: r["suppressed"] for r in rows if r["day"] == ""} == {
        "total": "2",
        "A": "1",
        "B": "1",
    }


async def test_the_migration_adds_the_rates_numerators_of_messages_folded_before(
    stores: list[tuple[MongoClient, AnalyticsStorage]],
) -> None:
    [(mongo, storage), _] = stores
    await fold(mongo, storage, [scenario(IDS, seed=7, start=START)])
    folded_now = await reports(storage)
    # As the index and rollup were before the numerators existed.
    database = storage.database
    await database["message_index"].update_many({}, {"$unset": {"rated": ""}})
    numerators = [f"delivered_{n}" for n in ("opened", "clicked", "replied")]
    numerators += ["delivered_unsubscribed", "delivered_complained"]
    await database["message_report_days"].update_many({}, {"$unset": dict.fromkeys(numerators, "")})
    [before, _, _] = await reports(storage)
    assert before.totals.delivered_opened == 0
    await rate_messages_folded_before(database, batch_size=7)
    await rate_messages_folded_before(database)  # run again: nothing left to add
    assert await reports(storage) == folded_now


async def test_an_erased_candidates_late_event_is_not_counted(
    stores: list[tuple[MongoClient, AnalyticsStorage]],
) -> None:
    [(mongo, storage), _] = stores
    events = scenario(IDS, seed=3, start=START)
    await fold(mongo, storage, [events])
    [before, _, _] = await reports(storage)
    # c-13 (variant B) is erased; a late complaint about their message arrives afterwards.
    eraser = PersonalDataEraser(storage.database)
    collections, emails = await eraser.prepare("acme", "acme-c13")

    async def erase(session: Session) -> None:
        await eraser.erase(
            "acme",
            "acme-c13",
            collections=collections,
            emails=emails,
            email_hashes=[],
            erased_at=START,
            session=session,
        )

    await in_transaction(mongo, erase)
    index = storage.database["message_index"]
    assert await index.count_documents({"candidate_id": "acme-c13"}) == 0
    late = EventEnvelope[Any](
        type=MESSAGE_COMPLAINED.name,
        source="test",
        tenant_id="acme",
        subject="acme-c13",
        schema_version=1,
        time=START + timedelta(days=3),
        data=MessageComplained(
            message_id=f"{IDS.broadcast_id}-m13",
            candidate_id="acme-c13",
            feedback_type="abuse",
            source="ses",
        ),
    )
    await fold(mongo, storage, [[late]])
    [after, _, _] = await reports(storage)
    # The aggregate counts stay as they were (no personal data), and nothing is recreated.
    assert after.totals == before.totals
    assert after.totals.complained == 1  # the scenario's own complaint only
    assert await index.count_documents({"candidate_id": "acme-c13"}) == 0
