"""The journeys' fold against the real database: a seeded workload folded in order, and
shuffled, partly repeated and batched, gives the same funnels and attribution, equal to the
figures computed independently from the raw events, in the tenant's time zone; an erasure keeps
a late event out."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import pytest

from crm_analytics.application import funnels
from crm_analytics.application.funnels import (
    AttributionReport,
    FunnelReport,
    PeriodRefused,
    attribution_report,
    funnel_report,
)
from crm_analytics.application.journeys import JourneyFolder
from crm_analytics.application.merges import MergeFollower
from crm_analytics.application.settings import save_analytics_settings
from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.config import AnalyticsSettings
from crm_analytics.domain.attribution import Model, Outcome
from crm_analytics.domain.funnel import FunnelBy
from crm_shared import (
    CANDIDATE_MERGED,
    MESSAGE_OPENED,
    EventEnvelope,
    MessageOpened,
    MongoClient,
    PersonalDataEraser,
    Session,
    in_transaction,
)
from integration.analytics.journey_scenario import (
    ZONE,
    Ids,
    expected_attribution,
    expected_funnel,
    one_person,
    scenario,
    shuffled_with_repeats,
)

pytestmark = pytest.mark.integration

IDS = Ids(tenant_id="acme", broadcast_id="b-1", sequence_id="s-1", event_id="e-1")
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))


async def fold(
    mongo: MongoClient, storage: AnalyticsStorage, batches: list[list[EventEnvelope[Any]]]
) -> None:
    folder = JourneyFolder(storage)
    merges = MergeFollower(storage, AnalyticsSettings().engagement_model())
    for batch in batches:

        async def apply(session: Session, batch: list[Any] = batch) -> None:
            journeys = [e for e in batch if e.type != CANDIDATE_MERGED.name]
            if journeys:
                await folder.record_batch(journeys, session)
            for e in batch:
                if e.type == CANDIDATE_MERGED.name:
                    await merges.fold(e.tenant_id, e.data, session=session)

        await in_transaction(mongo, apply)


def steps_of(report: FunnelReport) -> dict[str | None, list[tuple[str, int, float | None]]]:
    return {
        f.key: [(s.step.value, s.count, s.median_hours_from_previous) for s in f.steps]
        for f in report.funnels
    }


def credits_of(report: AttributionReport) -> dict[tuple[str, str], float]:
    """The credited rows (a touch the model gave nothing is listed with 0)."""
    return {(c.kind, c.ref): c.credit for c in report.attribution.credits if c.credit}


async def test_funnels_and_attribution_equal_the_raw_events_in_any_order(
    stores: list[tuple[MongoClient, AnalyticsStorage]], monkeypatch: pytest.MonkeyPatch
) -> None:
    (mongo, in_order), (other_mongo, shuffled) = stores
    events = scenario(IDS, seed=4)
    await fold(mongo, in_order, [[e] for e in events])
    mixed = shuffled_with_repeats(events, seed=9)
    rng = random.Random(3)
    batches, at = [], 0
    while at < len(mixed):
        size = rng.choice((1, 5, 17))
        batches.append(mixed[at : at + size])
        at += size
    await fold(other_mongo, shuffled, batches)
    for storage in (in_order, shuffled):
        await save_analytics_settings(storage, "acme", ZONE.key, "u-admin")

    for by in FunnelBy:
        if by in (FunnelBy.POOL, FunnelBy.SEGMENT):
            continue  # the workload has none
        report = await funnel_report(in_order, "acme", *NOVEMBER, by)
        assert steps_of(report) == steps_of(await funnel_report(shuffled, "acme", *NOVEMBER, by))
        assert steps_of(report) == expected_funnel(events, by.value), by
    [everyone] = (await funnel_report(in_order, "acme", *NOVEMBER, FunnelBy.NONE)).funnels
    counts = [s.count for s in everyone.steps]
    # The workload reaches every step; the late-evening creation and the merged record are
    # not people of their own in November in New York.
    assert counts[0] == 13
    assert all(counts)
    assert counts == sorted(counts, reverse=True)

    for outcome in Outcome:
        for model in Model:
            found = await attribution_report(in_order, "acme", *NOVEMBER, outcome, model, 90)
            again = await attribution_report(shuffled, "acme", *NOVEMBER, outcome, model, 90)
            assert credits_of(found) == credits_of(again)
            want = expected_attribution(events, outcome.value, model.value, timedelta(days=90))
            assert credits_of(found) == want, (outcome, model)
            # Each credit is rounded to four decimals, so their sum is the outcomes to within
            # the rounding (thirds summed over people: 7.9999 for 8).
            total = found.attribution.outcomes
            assert sum(want.values()) == pytest.approx(total, abs=0.0001 * len(want))
    linear = await attribution_report(
        in_order, "acme", *NOVEMBER, Outcome.APPLICATION, Model.LINEAR, 90
    )
    kinds = {c.kind for c in linear.attribution.credits}
    assert {"broadcast", "sequence", "event", "source"} <= kinds
    short = await attribution_report(
        in_order, "acme", *NOVEMBER, Outcome.APPLICATION, Model.LAST, 1
    )
    assert credits_of(short) == expected_attribution(
        events, "application", "last", timedelta(days=1)
    )
    assert ("no touch", "no touch") in credits_of(short)

    # In UTC, the late-evening creation is a November candidate.
    await save_analytics_settings(in_order, "acme", "UTC", "u-admin")
    utc = await funnel_report(in_order, "acme", *NOVEMBER, FunnelBy.NONE)
    assert utc.cohort == 14
    with pytest.raises(PeriodRefused):
        await funnel_report(in_order, "acme", date(2026, 11, 2), date(2026, 11, 1), FunnelBy.NONE)
    # More records sourced in the period than a request folds: refused, shorter asked for.
    monkeypatch.setattr(funnels, "MAX_COHORT", utc.cohort - 1)
    with pytest.raises(PeriodRefused, match="shorten it"):
        await funnel_report(in_order, "acme", *NOVEMBER, FunnelBy.NONE)
    monkeypatch.setattr(funnels, "MAX_COHORT", utc.cohort + 1)  # the merged record too
    assert (await funnel_report(in_order, "acme", *NOVEMBER, FunnelBy.NONE)).cohort == utc.cohort


async def test_two_merged_records_of_one_person_are_attributed_as_one_record(
    stores: list[tuple[MongoClient, AnalyticsStorage]],
) -> None:
    """The same broadcast opened and the same source and event under both records count once:
    the reports after the merge equal those of one record having done it all."""
    (mongo, merged), (other_mongo, single) = stores
    two = one_person(IDS, two_records=True)
    await fold(mongo, merged, [[e] for e in two])
    await fold(other_mongo, single, [one_person(IDS, two_records=False)])
    for storage in (merged, single):
        await save_analytics_settings(storage, "acme", ZONE.key, "u-admin")
    for outcome in Outcome:
        for model in Model:
            found = await attribution_report(merged, "acme", *NOVEMBER, outcome, model, 90)
            alone = await attribution_report(single, "acme", *NOVEMBER, outcome, model, 90)
            assert found.attribution == alone.attribution, (outcome, model)
            want = expected_attribution(two, outcome.value, model.value, timedelta(days=90))
            assert credits_of(found) == want, (outcome, model)
    hires = await attribution_report(merged, "acme", *NOVEMBER, Outcome.HIRE, Model.LINEAR, 90)
    third = round(1 / 3, 4)
    assert credits_of(hires) == {
        ("broadcast", IDS.broadcast_id): third,
        ("event", IDS.event_id): third,
        ("source", "referral"): third,
    }
    applications = await attribution_report(
        merged, "acme", *NOVEMBER, Outcome.APPLICATION, Model.LINEAR, 90
    )
    assert applications.attribution.outcomes == 2
    assert set(credits_of(applications).values()) == {round(2 / 3, 4)}
    # The first touch is the person's sign-up, credited once though both records signed up.
    first = await attribution_report(merged, "acme", *NOVEMBER, Outcome.HIRE, Model.FIRST, 90)
    assert credits_of(first) == {("source", "referral"): 1.0}


async def test_an_erased_candidates_late_event_is_not_recorded(
    stores: list[tuple[MongoClient, AnalyticsStorage]],
) -> None:
    [(mongo, storage), _] = stores
    events = scenario(IDS, seed=4)
    await fold(mongo, storage, [events])
    person = IDS.candidate(2)
    eraser = PersonalDataEraser(storage.database)
    collections, emails = await eraser.prepare("acme", person)

    async def erase(session: Session) -> None:
        await eraser.erase(
            "acme",
            person,
            collections=collections,
            emails=emails,
            email_hashes=[],
            erased_at=events[-1].time,
            session=session,
        )

    await in_transaction(mongo, erase)
    for name in ("journeys", "journey_touches", "journey_messages"):
        assert await storage.database[name].count_documents({"candidate_id": person}) == 0
    late = EventEnvelope[Any](
        type=MESSAGE_OPENED.name,
        source="test",
        tenant_id="acme",
        subject=person,
        schema_version=1,
        time=events[-1].time,
        data=MessageOpened(message_id=f"{IDS.broadcast_id}-2", candidate_id=person),
    )
    await fold(mongo, storage, [[late]])
    for name in ("journeys", "journey_touches", "journey_messages"):
        assert await storage.database[name].count_documents({"candidate_id": person}) == 0
