"""Which reminders an event sends and when: the pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_events.domain.models import (
    DueReminder,
    EventKind,
    RecruitingEvent,
    due_reminders,
    reminder_plan,
)
from crm_events.domain.sessions import EventSession

pytestmark = pytest.mark.unit

NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)


def event(
    starts_in: timedelta,
    reminders: list[int] | None = None,
    sessions: list[EventSession] | None = None,
) -> RecruitingEvent:
    fields = {"reminders": reminders} if reminders is not None else {}
    return RecruitingEvent(
        tenant_id="acme",
        name="Fair",
        kind=EventKind.CAREER_FAIR,
        starts_at=NOW + starts_in,
        ends_at=NOW + starts_in + timedelta(hours=8),
        capacity=10,
        created_by="u1",
        sessions=sessions or [],
        **fields,
    )


def slot(slot_id: str, starts_in: timedelta) -> EventSession:
    return EventSession(
        id=slot_id,
        name=slot_id.title(),
        starts_at=NOW + starts_in,
        ends_at=NOW + starts_in + timedelta(hours=1),
        capacity=5,
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
    assert due_reminders(planned, NOW)[0] == []
    # The worker wakes 30 minutes before the start: both are due, only the hour's is sent.
    late = NOW + timedelta(days=3) - timedelta(minutes=30)
    due, plan = due_reminders(planned, late)
    assert due == [DueReminder(None, 60)]
    assert plan == {"reminders_sent": [1440, 60], "next_reminder_at": None}
    on_time = NOW + timedelta(days=2)
    due, plan = due_reminders(planned, on_time)
    assert (due, plan["next_reminder_at"]) == (
        [DueReminder(None, 1440)],
        NOW + timedelta(days=3, hours=-1),
    )
    assert due_reminders(planned, NOW + timedelta(days=3, minutes=1))[0] == []


def test_an_event_with_sessions_reminds_each_session_before_its_own_start() -> None:
    fair = event(
        timedelta(days=3),
        sessions=[
            slot("morning", timedelta(days=3)),
            slot("afternoon", timedelta(days=3, hours=5)),
        ],
    )
    planned = fair.model_copy(update=reminder_plan(fair, NOW))
    assert planned.session_reminders_sent == {"morning": [], "afternoon": []}
    assert planned.next_reminder_at == NOW + timedelta(days=2)
    # An hour before the morning session: its hour's reminder; the afternoon's 24 h one too.
    at = NOW + timedelta(days=3, hours=-1)
    due, plan = due_reminders(planned, at)
    assert due == [DueReminder("morning", 60), DueReminder("afternoon", 1440)]
    assert plan["session_reminders_sent"] == {"morning": [1440, 60], "afternoon": [1440]}
    assert plan["next_reminder_at"] == NOW + timedelta(days=3, hours=4)
    after = planned.model_copy(update=plan)
    due, plan = due_reminders(after, NOW + timedelta(days=3, hours=4))
    assert due == [DueReminder("afternoon", 60)]
    assert plan["next_reminder_at"] is None
