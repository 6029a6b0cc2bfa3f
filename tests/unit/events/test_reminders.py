"""Which reminders an event sends and when: the pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_events.domain.models import EventKind, RecruitingEvent, due_reminder, reminder_plan

pytestmark = pytest.mark.unit

NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)


def event(starts_in: timedelta, reminders: list[int] | None = None) -> RecruitingEvent:
    fields = {"reminders": reminders} if reminders is not None else {}
    return RecruitingEvent(
        tenant_id="acme",
        name="Fair",
        kind=EventKind.CAREER_FAIR,
        starts_at=NOW + starts_in,
        capacity=10,
        created_by="u1",
        **fields,
    )


def test_reminders_whose_time_passed_when_the_event_is_created_are_skipped() -> None:
    assert reminder_plan(event(timedelta(days=3)), NOW) == {
        "reminders_sent": [],
        "next_reminder_at": NOW + timedelta(days=2),
    }
    # Two hours ahead: no "24 hours" reminder, the hour's one is pending.
    assert reminder_plan(event(timedelta(hours=2)), NOW) == {
        "reminders_sent": [1440],
        "next_reminder_at": NOW + timedelta(hours=1),
    }
    assert reminder_plan(event(timedelta(days=3), []), NOW) == {
        "reminders_sent": [],
        "next_reminder_at": None,
    }


def test_a_late_worker_sends_the_nearest_reminder_once_and_none_after_the_start() -> None:
    ahead = event(timedelta(days=3))
    planned = ahead.model_copy(update=reminder_plan(ahead, NOW))
    assert due_reminder(planned, NOW)[0] is None
    # The worker wakes 30 minutes before the start: both are due, only the hour's is sent.
    late = NOW + timedelta(days=3) - timedelta(minutes=30)
    minutes, plan = due_reminder(planned, late)
    assert minutes == 60
    assert plan == {"reminders_sent": [1440, 60], "next_reminder_at": None}
    on_time = NOW + timedelta(days=2)
    minutes, plan = due_reminder(planned, on_time)
    assert (minutes, plan["next_reminder_at"]) == (1440, NOW + timedelta(days=3, hours=-1))
    assert due_reminder(planned, NOW + timedelta(days=3, minutes=1))[0] is None
