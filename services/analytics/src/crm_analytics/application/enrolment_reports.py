"""Enrolment reports: `enrolment.started` and `enrolment.ended` folded into each enrolment's
facts and the daily rollup of its sequence, and the reports read from the rollup."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.domain.enrolment_report import (
    EnrolmentEnd,
    EnrolmentFacts,
    EnrolmentReport,
    change,
    report,
)
from crm_analytics.domain.timeseries import report_range
from crm_shared import (
    ENROLMENT_ENDED,
    EnrolmentEnded,
    EnrolmentStarted,
    EventEnvelope,
    Session,
)


def folded(envelope: EventEnvelope[Any]) -> EnrolmentFacts:
    """What the event tells of its enrolment: both topics tell its sequence and start."""
    data: EnrolmentStarted | EnrolmentEnded = envelope.data
    end = None
    named_at = data.enrolled_at
    if envelope.type == ENROLMENT_ENDED.name:
        ended: EnrolmentEnded = envelope.data
        end = EnrolmentEnd(
            ended_at=ended.ended_at,
            outcome=ended.outcome,
            exit_reason=ended.exit_reason,
            exit_step=ended.exit_step,
        )
        named_at = ended.ended_at
    return EnrolmentFacts(
        enrolment_id=data.enrolment_id,
        sequence_id=data.sequence_id,
        enrolled_at=data.enrolled_at,
        sequence_name=data.sequence_name,
        named_at=named_at,
        end=end,
    )


@dataclass(frozen=True)
class EnrolmentReportFolder:
    """Applies consumed enrolment events to the enrolment index and the daily rollup. Facts
    merge in any order and any number of times, and the rollup changes by the difference a
    batch makes to each enrolment's contribution, so a redelivery counts once. No candidate id
    is kept: an erasure leaves the figures whole, and an enrolment ended by one (`erased`)
    counts as such."""

    storage: AnalyticsStorage

    async def record_batch(self, envelopes: Sequence[EventEnvelope[Any]], session: Session) -> None:
        """Folds a batch with one read and two writes per tenant."""
        by_tenant: dict[str, list[EnrolmentFacts]] = {}
        for envelope in envelopes:
            by_tenant.setdefault(envelope.tenant_id, []).append(folded(envelope))
        for tenant_id, told in by_tenant.items():
            await self._fold(tenant_id, told, session)

    async def _fold(self, tenant_id: str, told: Sequence[EnrolmentFacts], session: Session) -> None:
        repository = self.storage.enrolment_reports(tenant_id)
        ids = list(dict.fromkeys(f.enrolment_id for f in told))
        known = await repository.facts(ids, session=session)
        merged = dict(known)
        for facts in told:
            before = merged.get(facts.enrolment_id)
            merged[facts.enrolment_id] = before.merged(facts) if before else facts
        changes: dict[tuple[str, date], dict[str, int]] = {}
        for enrolment_id in ids:
            after = merged[enrolment_id]
            for day, by in change(known.get(enrolment_id), after).items():
                row = changes.setdefault((after.sequence_id, day), {})
                for figure, n in by.items():
                    row[figure] = row.get(figure, 0) + n
        await repository.record_facts([merged[i] for i in ids], session=session)
        await repository.add(changes, session=session)


class UnknownSequence(Exception):
    """Analytics knows of no enrolment in this sequence here."""


async def enrolment_report(
    storage: AnalyticsStorage,
    tenant_id: str,
    sequence_id: str,
    first_day: date | None,
    last_day: date | None,
) -> EnrolmentReport:
    """The report of the days asked for (both included; `report_range` fills a missing end).
    `UnknownSequence` when nobody was ever enrolled in it, `RangeError` for a reversed or too
    long range."""
    repository = storage.enrolment_reports(tenant_id)
    rows = await repository.rows(sequence_id)
    if not rows:
        raise UnknownSequence(sequence_id)
    within = [
        row.day
        for row in rows
        if (first_day is None or row.day >= first_day) and (last_day is None or row.day <= last_day)
    ]
    active = (min(within), max(within)) if within else None
    first, last = report_range(active, first_day, last_day, date.today())
    return report(sequence_id, await repository.latest_name(sequence_id), rows, first, last)
