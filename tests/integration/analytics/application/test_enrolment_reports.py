"""The enrolment reports' fold against the real database: a seeded workload folded in order one
by one, and shuffled, partly repeated and batched, gives the same reports, equal to the figures
computed independently from the raw events; an erasure changes nothing in them."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_analytics.api.enrolment_reports import csv_rows, public
from crm_analytics.api.exports import csv_file
from crm_analytics.api.schemas import EnrolmentReportPublic
from crm_analytics.application.enrolment_reports import (
    EnrolmentReportFolder,
    UnknownSequence,
    enrolment_report,
)
from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.domain.timeseries import RangeError
from crm_shared import (
    EventEnvelope,
    MongoClient,
    PersonalDataEraser,
    Session,
    in_transaction,
)
from integration.analytics.enrolment_scenario import Ids, expected, scenario

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
IDS = Ids(tenant_id="acme", sequence_ids=("s-grads", "s-nurses"))


async def fold(
    mongo: MongoClient, storage: AnalyticsStorage, batches: list[list[EventEnvelope[Any]]]
) -> None:
    folder = EnrolmentReportFolder(storage)
    for batch in batches:

        async def apply(session: Session, batch: list[Any] = batch) -> None:
            await folder.record_batch(batch, session)

        await in_transaction(mongo, apply)


def shuffled_batches(events: list[EventEnvelope[Any]], seed: int) -> list[list[Any]]:
    """The events shuffled (ends before their starts), some twice, in batches of mixed sizes."""
    rng = random.Random(seed)
    mixed = events + rng.sample(events, 20)
    rng.shuffle(mixed)
    batches, at = [], 0
    while at < len(mixed):
        size = rng.choice((1, 5, 17))
        batches.append(mixed[at : at + size])
        at += size
    return batches


def figures(report: EnrolmentReportPublic) -> dict[str, Any]:
    totals = report.totals
    return {
        "entered": totals.entered,
        "completed": totals.completed,
        "exited": totals.exited,
        "entrants_completed": totals.entrants_completed,
        "entrants_exited": totals.entrants_exited,
        "entrants_still_enrolled": totals.entrants_still_enrolled,
        "exit_reasons": {r.reason: r.count for r in report.exit_reasons},
        "exit_steps": {s.step: s.count for s in report.exit_steps},
        "median_days_to_complete": totals.median_days_to_complete,
        "enrolled_now": report.enrolled_now,
    }


async def answer(
    storage: AnalyticsStorage, sequence_id: str, first: Any = None, last: Any = None
) -> EnrolmentReportPublic:
    return public(await enrolment_report(storage, IDS.tenant_id, sequence_id, first, last))


async def test_the_reports_equal_the_raw_figures_in_any_order_and_replayed(
    stores: list[tuple[MongoClient, AnalyticsStorage]],
) -> None:
    (mongo, in_order), (other_mongo, shuffled) = stores
    events = scenario(IDS, seed=3, start=START)
    await fold(mongo, in_order, [[e] for e in events])
    await fold(other_mongo, shuffled, shuffled_batches(events, seed=4))

    for sequence_id in IDS.sequence_ids:
        whole = await answer(in_order, sequence_id)
        assert whole == await answer(shuffled, sequence_id)
        # The default range is the first to the last active day.
        assert whole.start == START.date()
        assert figures(whole) == expected(events, sequence_id, whole.start, whole.end)
        assert sum(day.entered for day in whole.series) == whole.totals.entered
        assert sum(day.exited for day in whole.series) == whole.totals.exited
        assert len(whole.series) == (whole.end - whole.start).days + 1

        # A range: what happened on its days, and what became of its entrants since.
        first, last = START.date() + timedelta(days=3), START.date() + timedelta(days=6)
        week = await answer(in_order, sequence_id, first, last)
        assert figures(week) == expected(events, sequence_id, first, last)
        assert (week.start, week.end) == (first, last)

    grads = await answer(in_order, IDS.sequence_ids[0])
    nurses = await answer(in_order, IDS.sequence_ids[1])
    # The workload has what the report must tell apart, and the names as last told.
    totals = grads.totals
    assert totals.entered == 20  # c0 entered twice: two enrolments
    assert min(totals.completed, totals.exited, grads.enrolled_now) > 0
    assert totals.completion_rate == round(totals.entrants_completed / totals.entered, 4)
    assert {r.reason for r in grads.exit_reasons + nurses.exit_reasons} >= {"replied", "applied"}
    assert (grads.name, nurses.name) == ("Graduates 2027", "Nurses, Île-de-France")

    with pytest.raises(RangeError):
        await answer(in_order, IDS.sequence_ids[0], START.date(), START.date() - timedelta(days=1))
    with pytest.raises(UnknownSequence):
        await answer(in_order, "s-nobody")
    with pytest.raises(UnknownSequence):  # another tenant's sequence is unknown here
        await enrolment_report(in_order, "globex", IDS.sequence_ids[0], None, None)


async def test_an_erasure_leaves_the_figures_whole_and_a_late_end_still_counts(
    stores: list[tuple[MongoClient, AnalyticsStorage]],
) -> None:
    (mongo, storage), _ = stores
    events = scenario(IDS, seed=5, start=START)
    [late] = [e for e in events if e.type == "enrolment.ended"][:1]
    running = next(
        e
        for e in events
        if e.type == "enrolment.started" and e.data.enrolment_id == late.data.enrolment_id
    )
    await fold(mongo, storage, [[e for e in events if e is not late]])
    sequence_id = running.data.sequence_id
    before = await answer(storage, sequence_id)

    eraser = PersonalDataEraser(storage.database)
    collections, emails = await eraser.prepare(IDS.tenant_id, running.data.candidate_id)

    async def erase(session: Session) -> None:
        await eraser.erase(
            IDS.tenant_id,
            running.data.candidate_id,
            collections=collections,
            emails=emails,
            email_hashes=[],
            erased_at=datetime.now(UTC),
            session=session,
        )

    await in_transaction(mongo, erase)
    assert await answer(storage, sequence_id) == before
    assert not await storage.database["enrolment_index"].count_documents(
        {"candidate_id": running.data.candidate_id}
    )
    # The enrolment's end, told after the erasure (and twice), still counts, once.
    await fold(mongo, storage, [[late, late]])
    after = await answer(storage, sequence_id)
    assert after.enrolled_now == before.enrolled_now - 1
    assert figures(after) == expected(events, sequence_id, after.start, after.end)


async def test_the_csv_holds_every_figure_of_the_json(
    stores: list[tuple[MongoClient, AnalyticsStorage]],
) -> None:
    (mongo, storage), _ = stores
    events = scenario(IDS, seed=3, start=START)
    await fold(mongo, storage, [events])
    report = await answer(storage, IDS.sequence_ids[0])

    body = csv_file(csv_rows(report), "sequence-enrolments").body
    assert isinstance(body, bytes)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == ["figure", "key", "day", "value"]
    cells = {(figure, key, day): value for figure, key, day, value in rows[1:]}
    assert cells[("name", "", "")] == "Graduates 2027"
    assert cells[("from", "", "")] == report.start.isoformat()
    assert cells[("entered", "", "")] == str(report.totals.entered)
    assert cells[("enrolled_now", "", "")] == str(report.enrolled_now)
    assert cells[("completion_rate", "", "")] == str(report.totals.completion_rate)
    for reason in report.exit_reasons:
        assert cells[("exit_reason", reason.reason, "")] == str(reason.count)
    for day in report.series:
        assert cells[("exited", "", day.day.isoformat())] == str(day.exited)
    breakdown_rows = len(report.exit_reasons) + len(report.exit_steps) + len(report.completion_days)
    assert len(rows) == 1 + 4 + 9 + breakdown_rows + 3 * len(report.series)
