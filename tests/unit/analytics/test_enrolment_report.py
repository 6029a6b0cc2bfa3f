"""The enrolment report's pure rules: what one enrolment contributes, in any order of its
facts, the median of a histogram, and the report over a range."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from crm_analytics.domain.enrolment_report import (
    EnrolmentDay,
    EnrolmentEnd,
    EnrolmentFacts,
    breakdown_key,
    change,
    median_of,
    report,
)

pytestmark = pytest.mark.unit

START = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
STARTED = EnrolmentFacts("e1", "s1", START, sequence_name="Grads", named_at=START)
ENDED = EnrolmentFacts(
    "e1",
    "s1",
    START,
    end=EnrolmentEnd(START + timedelta(days=2, hours=1), "exited", "no_marketing_consent", 2),
)


def test_an_enrolment_counts_its_start_and_end_on_their_days_in_either_order() -> None:
    both = STARTED.merged(ENDED)
    assert both == ENDED.merged(STARTED).merged(ENDED)
    entered, ended = date(2026, 12, 1), date(2026, 12, 4)
    assert change(None, both) == {
        entered: {"entered": 1, "entered_exited": 1},
        ended: {"exited": 1, "exit_reasons.no_marketing_consent": 1, "exit_steps.2": 1},
    }
    # The end told after the start adds only the end; told again, nothing.
    assert change(STARTED, both) == {
        entered: {"entered_exited": 1},
        ended: {"exited": 1, "exit_reasons.no_marketing_consent": 1, "exit_steps.2": 1},
    }
    assert change(both, both.merged(ENDED)) == {}


def test_the_name_told_last_wins_whatever_the_order_it_arrives_in() -> None:
    renamed = replace(ENDED, sequence_name="Graduates", named_at=START + timedelta(days=2))
    assert STARTED.merged(renamed).sequence_name == "Graduates"
    assert renamed.merged(STARTED).sequence_name == "Graduates"


def test_a_completion_counts_the_whole_days_it_took() -> None:
    done = STARTED.merged(
        EnrolmentFacts("e1", "s1", START, end=EnrolmentEnd(START + timedelta(days=6), "completed"))
    )
    assert change(None, done)[date(2026, 12, 7)] == {"completed": 1, "completion_days.6": 1}


def test_a_reason_becomes_a_safe_field_name() -> None:
    assert breakdown_key("replied") == "replied"
    assert breakdown_key("a.b$c") == "a_b_c"
    assert breakdown_key("") == "unknown"


@pytest.mark.parametrize(
    ("histogram", "median"),
    [({}, None), ({3: 1}, 3), ({1: 1, 5: 1}, 3), ({0: 2, 9: 1}, 0), ({2: 2, 4: 2}, 3)],
)
def test_the_median_of_a_histogram(histogram: dict[int, int], median: float | None) -> None:
    assert median_of(histogram) == median


def test_the_report_sums_its_days_and_counts_the_enrolled_now_over_all_days() -> None:
    def row(day: int, **counts: int) -> EnrolmentDay:
        return EnrolmentDay(date(2026, 12, day), counts, {"exit_reasons": {}})

    rows = [
        row(1, entered=3),
        row(2, entered=2, entered_completed=1, completed=1),
        row(5, exited=1, entered_exited=1),
    ]
    found = report("s1", "New", rows, date(2026, 12, 2), date(2026, 12, 3))
    assert found.sequence_name == "New"
    assert (found.totals["entered"], found.totals["completed"], found.totals["exited"]) == (2, 1, 0)
    assert [day["entered"] for day in found.series] == [2, 0]
    assert (found.completion_rate, found.still_enrolled) == (0.5, 1)
    assert found.enrolled_now == 3  # 5 entered, 1 completed, 1 exited, whenever
