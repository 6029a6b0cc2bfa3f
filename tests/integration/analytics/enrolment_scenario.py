"""A seeded enrolment workload with a known answer: two sequences' enrolments over several days,
some completed after a few days, some exited for a reason (a held-back mail's at a step), some
still running, a candidate entering a sequence again, and a sequence renamed; and each report's
figures computed independently from the raw events (sets of enrolment ids, no folding)."""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from crm_shared import (
    ENROLMENT_ENDED,
    ENROLMENT_STARTED,
    EnrolmentEnded,
    EnrolmentStarted,
    EventEnvelope,
)

REASONS = ("replied", "applied", "unsubscribed", "no_marketing_consent", "removed")
# Reasons a held-back mail gives, with the step it was held back at.
MAIL_REASONS = frozenset({"no_marketing_consent"})


@dataclass(frozen=True)
class Ids:
    tenant_id: str
    sequence_ids: tuple[str, str]


def scenario(ids: Ids, seed: int, start: datetime) -> list[EventEnvelope[Any]]:
    """Every event of the workload: for each enrolment its start, then (most) its end; the
    second sequence is renamed half-way, and one candidate enters the first one twice."""
    rng = random.Random(seed)
    events: list[EventEnvelope[Any]] = []

    def add(data: EnrolmentStarted | EnrolmentEnded, at: datetime) -> None:
        spec = ENROLMENT_ENDED if isinstance(data, EnrolmentEnded) else ENROLMENT_STARTED
        events.append(
            EventEnvelope[Any](
                type=spec.name,
                source="test",
                tenant_id=ids.tenant_id,
                subject=data.candidate_id,
                schema_version=spec.schema_version,
                data=data,
                time=at,
            )
        )

    renamed_at = start + timedelta(hours=20 * 7)

    def name_of(sequence_id: str, at: datetime) -> str:
        """The name an event tells: the second sequence is renamed at `renamed_at`."""
        if sequence_id == ids.sequence_ids[0]:
            return "Graduates 2027"
        return "Nurses, Île-de-France" if at >= renamed_at else "Nurses"

    for n in range(40):
        sequence_id = ids.sequence_ids[n % 2]
        candidate = f"{ids.tenant_id}-c{n if n != 38 else 0}"  # c0 enters the first one again
        entry = 2 if n == 38 else 1
        enrolled_at = start + timedelta(hours=n * 7 + rng.randrange(0, 5))
        known = {
            "enrolment_id": f"{sequence_id}-e{n}",
            "sequence_id": sequence_id,
            "sequence_name": name_of(sequence_id, enrolled_at),
            "candidate_id": candidate,
            "entry": entry,
            "enrolled_at": enrolled_at,
        }
        add(EnrolmentStarted(**known), enrolled_at)
        fate = rng.random()
        if fate < 0.2:
            continue  # still running
        ended_at = enrolled_at + timedelta(hours=rng.randrange(1, 24 * 9))
        known["sequence_name"] = name_of(sequence_id, ended_at)
        if fate < 0.6:
            ended = EnrolmentEnded(**known, outcome="completed", ended_at=ended_at)
        else:
            reason = rng.choice(REASONS)
            step = rng.choice((0, 2)) if reason in MAIL_REASONS else None
            ended = EnrolmentEnded(
                **known, outcome="exited", exit_reason=reason, exit_step=step, ended_at=ended_at
            )
        add(ended, ended_at)
    return events


def _day(moment: datetime) -> date:
    return moment.date()


def expected(
    events: list[EventEnvelope[Any]], sequence_id: str, first: date, last: date
) -> dict[str, Any]:
    """The report's figures for the days `first` to `last`, from the raw events."""
    started = {
        e.data.enrolment_id: e.data
        for e in events
        if e.type == ENROLMENT_STARTED.name and e.data.sequence_id == sequence_id
    }
    ended = {
        e.data.enrolment_id: e.data
        for e in events
        if e.type == ENROLMENT_ENDED.name and e.data.sequence_id == sequence_id
    }

    def within(moment: datetime) -> bool:
        return first <= _day(moment) <= last

    entrants = {i for i, s in started.items() if within(s.enrolled_at)}
    completed = {i for i, e in ended.items() if e.outcome == "completed" and within(e.ended_at)}
    exited = {i for i, e in ended.items() if e.outcome == "exited" and within(e.ended_at)}
    reasons: dict[str, int] = {}
    steps: dict[int, int] = {}
    for i in exited:
        reason = ended[i].exit_reason or "unknown"
        reasons[reason] = reasons.get(reason, 0) + 1
        if ended[i].exit_step is not None:
            steps[ended[i].exit_step] = steps.get(ended[i].exit_step, 0) + 1
    taken = [(ended[i].ended_at - started[i].enrolled_at) // timedelta(days=1) for i in completed]
    entrants_completed = {i for i in entrants if i in ended and ended[i].outcome == "completed"}
    entrants_exited = {i for i in entrants if i in ended and ended[i].outcome == "exited"}
    return {
        "entered": len(entrants),
        "completed": len(completed),
        "exited": len(exited),
        "entrants_completed": len(entrants_completed),
        "entrants_exited": len(entrants_exited),
        "entrants_still_enrolled": len(entrants - entrants_completed - entrants_exited),
        "exit_reasons": reasons,
        "exit_steps": steps,
        "median_days_to_complete": statistics.median(taken) if taken else None,
        "enrolled_now": len(started.keys() - ended.keys()),
    }
