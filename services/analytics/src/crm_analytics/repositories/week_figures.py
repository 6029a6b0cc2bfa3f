"""What happened in a span of instants, counted by index from analytics' own stores (never raw
events): new candidate records by source (`journeys`), messages sent and first opened or
clicked by a person (`message_index`), registrations (`event_registrants`), applications and
hires (`journey_outcomes`), sequence enrolments started and ended (`enrolment_index`). The
weekly report's figures."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from crm_analytics.domain.attribution import Outcome
from crm_analytics.domain.weekly_report import WeekFigures
from crm_analytics.repositories.enrolment_reports import ENROLMENT_INDEX_COLLECTION
from crm_analytics.repositories.event_reports import EVENT_REGISTRANTS_COLLECTION
from crm_analytics.repositories.journeys import JOURNEY_OUTCOMES_COLLECTION, JOURNEYS_COLLECTION
from crm_analytics.repositories.message_reports import MESSAGE_INDEX_COLLECTION
from crm_shared import Database, TenantScopedCollection

# The times a week is counted by, beside the indexes their own repositories keep.
_MESSAGE_TIMES = ("sent_at", "opened_at", "clicked_at")
_REGISTRATION_TIMES = ("seated_at", "waitlisted_at")
_ENROLMENT_TIMES = ("enrolled_at", "ended_at")
UNKNOWN_SOURCE = "unknown"


async def ensure_week_figure_indexes(database: Database) -> None:
    """Tenant and time, for each time a week's figure is counted by."""
    for name in _MESSAGE_TIMES:
        await database[MESSAGE_INDEX_COLLECTION].create_index(
            [("tenant_id", ASCENDING), (name, ASCENDING)]
        )
    for name in _REGISTRATION_TIMES:
        await database[EVENT_REGISTRANTS_COLLECTION].create_index(
            [("tenant_id", ASCENDING), (name, ASCENDING)]
        )
    for name in _ENROLMENT_TIMES:
        await database[ENROLMENT_INDEX_COLLECTION].create_index(
            [("tenant_id", ASCENDING), (name, ASCENDING)]
        )


def _between(start: datetime, end: datetime) -> dict[str, Any]:
    return {"$gte": start, "$lt": end}


class WeekFigureReader:
    """One tenant's figures of a span [start, end)."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._journeys = TenantScopedCollection(database[JOURNEYS_COLLECTION], tenant_id)
        self._messages = TenantScopedCollection(database[MESSAGE_INDEX_COLLECTION], tenant_id)
        self._registrants = TenantScopedCollection(
            database[EVENT_REGISTRANTS_COLLECTION], tenant_id
        )
        self._outcomes = TenantScopedCollection(database[JOURNEY_OUTCOMES_COLLECTION], tenant_id)
        self._enrolments = TenantScopedCollection(database[ENROLMENT_INDEX_COLLECTION], tenant_id)

    async def figures(self, start: datetime, end: datetime) -> WeekFigures:
        span = _between(start, end)
        sourced = await self._journeys.find(
            {"sourced_at": span}, projection={"_id": 0, "source": 1}
        )
        by_source = Counter(str(d.get("source") or UNKNOWN_SOURCE) for d in sourced)
        messages = {name: await self._messages.count({name: span}) for name in _MESSAGE_TIMES}
        registrations = await self._registrants.count(
            {"$or": [{name: span} for name in _REGISTRATION_TIMES]}
        )
        outcomes = {
            kind: await self._outcomes.count({"kind": kind.value, "at": span})
            for kind in (Outcome.APPLICATION, Outcome.HIRE)
        }
        started = await self._enrolments.count({"enrolled_at": span})
        ended = await self._enrolments.find({"ended_at": span}, projection={"_id": 0, "outcome": 1})
        outcomes_of_ended = Counter(str(d.get("outcome")) for d in ended)
        return WeekFigures(
            new_candidates=len(sourced),
            by_source=dict(sorted(by_source.items())),
            messages_sent=messages["sent_at"],
            messages_opened=messages["opened_at"],
            messages_clicked=messages["clicked_at"],
            event_registrations=registrations,
            applications=outcomes[Outcome.APPLICATION],
            hires=outcomes[Outcome.HIRE],
            enrolments_started=started,
            enrolments_completed=outcomes_of_ended["completed"],
            enrolments_exited=outcomes_of_ended["exited"],
        )
