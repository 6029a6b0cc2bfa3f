"""The message reports' pure folding: a message's facts merge in any order and any number of
times, its contribution waits for its sending, a hard bounce overrides a soft one, and a report
totals, groups and zero-fills its days."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from crm_analytics.api.message_reports import csv_rows
from crm_analytics.domain.message_report import (
    Breakdown,
    Figure,
    MessageFacts,
    MessageFigures,
    MessageSource,
    RollupRow,
    SourceKind,
    change,
    report,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DAY0 = T0.date()
SOURCE = MessageSource(SourceKind.BROADCAST, "b1", "t1", variant="A")


def told() -> list[MessageFacts]:
    """One message: sent, opened by a bot, opened twice by a person the next day, clicked."""
    return [
        MessageFacts("m1", "c1", source=SOURCE, sent_at=T0),
        MessageFacts("m1", "c1", machine_opened_at=T0 + timedelta(minutes=1)),
        MessageFacts("m1", "c1", opened_at=T0 + timedelta(days=1, hours=2)),
        MessageFacts("m1", "c1", opened_at=T0 + timedelta(days=1)),
        MessageFacts("m1", "c1", clicked_at=T0 + timedelta(days=1, hours=1)),
    ]


def merged(facts: list[MessageFacts]) -> MessageFacts:
    result = facts[0]
    for each in facts[1:]:
        result = result.merged(each)
    return result


def test_facts_merge_to_the_same_in_every_order_and_repetition() -> None:
    results = {merged(list(order)) for order in itertools.permutations(told())}
    assert len(results) == 1
    [result] = results
    assert result == merged(told() + told())
    assert result.opened_at == T0 + timedelta(days=1)  # the first human open
    assert dict(result.contributions()) == {
        (DAY0, Figure.SENT): 1,
        (DAY0, Figure.DELIVERED): 1,
        (DAY0, Figure.MACHINE_OPENED): 1,
        (DAY0 + timedelta(days=1), Figure.OPENED): 1,
        (DAY0 + timedelta(days=1), Figure.CLICKED): 1,
    }


def test_an_open_before_its_sending_counts_when_the_sending_is_folded() -> None:
    pending = MessageFacts("m1", "c1", opened_at=T0 + timedelta(hours=1))
    assert change(None, pending) == {}
    sent = pending.merged(MessageFacts("m1", "c1", source=SOURCE, sent_at=T0))
    assert change(pending, sent) == {
        (SOURCE, DAY0): {Figure.SENT: 1, Figure.DELIVERED: 1, Figure.OPENED: 1}
    }


def test_a_repeated_fact_changes_nothing() -> None:
    sent = MessageFacts("m1", "c1", source=SOURCE, sent_at=T0)
    opened = sent.merged(MessageFacts("m1", "c1", opened_at=T0))
    assert change(opened, opened.merged(MessageFacts("m1", "c1", opened_at=T0))) == {}
    # A later open of a message opened before moves nothing either.
    later = MessageFacts("m1", "c1", opened_at=T0 + timedelta(days=3))
    assert change(opened, opened.merged(later)) == {}


def test_a_hard_bounce_after_a_soft_one_moves_the_message_to_hard() -> None:
    sent = MessageFacts("m1", "c1", source=SOURCE, sent_at=T0)
    soft = sent.merged(MessageFacts("m1", "c1", soft_bounced_at=T0 + timedelta(days=1)))
    assert change(sent, soft) == {
        (SOURCE, DAY0): {Figure.DELIVERED: -1},
        (SOURCE, DAY0 + timedelta(days=1)): {Figure.BOUNCED_SOFT: 1},
    }
    hard = soft.merged(MessageFacts("m1", "c1", hard_bounced_at=T0 + timedelta(days=2)))
    assert change(soft, hard) == {
        (SOURCE, DAY0 + timedelta(days=1)): {Figure.BOUNCED_SOFT: -1},
        (SOURCE, DAY0 + timedelta(days=2)): {Figure.BOUNCED_HARD: 1},
    }


def test_an_open_then_a_hard_bounce_leaves_the_rates_numerator() -> None:
    sent = MessageFacts("m1", "c1", source=SOURCE, sent_at=T0, rated=True)
    opened = sent.merged(MessageFacts("m1", "c1", opened_at=T0 + timedelta(hours=1), rated=True))
    assert change(sent, opened) == {(SOURCE, DAY0): {Figure.OPENED: 1, Figure.DELIVERED_OPENED: 1}}
    bounced = opened.merged(
        MessageFacts("m1", "c1", hard_bounced_at=T0 + timedelta(days=1), rated=True)
    )
    # Out of `delivered` and of the open rate's numerator on the day sent; still `opened`.
    assert change(opened, bounced) == {
        (SOURCE, DAY0): {Figure.DELIVERED: -1, Figure.DELIVERED_OPENED: -1},
        (SOURCE, DAY0 + timedelta(days=1)): {Figure.BOUNCED_HARD: 1},
    }
    counted = bounced.contributions()
    assert counted[(DAY0, Figure.OPENED)] == 1
    assert counted[(DAY0, Figure.DELIVERED)] == counted[(DAY0, Figure.DELIVERED_OPENED)] == 0


def test_a_message_folded_before_the_numerators_gains_them_once_rated() -> None:
    facts = merged(told())
    assert not facts.rated
    rated = replace(facts, rated=True)
    assert change(facts, rated) == {
        (SOURCE, DAY0): {Figure.DELIVERED_OPENED: 1, Figure.DELIVERED_CLICKED: 1}
    }
    assert facts.merged(rated) == rated.merged(facts) == rated
    assert change(rated, rated.merged(facts)) == {}


def figures(**counts: int) -> MessageFigures:
    return MessageFigures.of(counts)


def test_a_report_totals_groups_and_zero_fills_its_days() -> None:
    b = MessageSource(SourceKind.BROADCAST, "b1", "t1", variant="B")
    rows = [
        RollupRow(
            SOURCE,
            DAY0,
            figures(
                sent=10,
                delivered=9,
                bounced_hard=1,
                opened=4,
                delivered_opened=3,  # one open was of the message that bounced
                delivered_clicked=2,  # clicked two days later, counted on the day sent
            ),
        ),
        RollupRow(
            b, DAY0, figures(sent=10, delivered=10, opened=2, machine_opened=5, delivered_opened=2)
        ),
        RollupRow(SOURCE, DAY0 + timedelta(days=2), figures(opened=1, clicked=2)),
        RollupRow(SOURCE, DAY0 + timedelta(days=9), figures(opened=7)),  # outside the range
    ]
    found = report(rows, Breakdown.VARIANT, DAY0, DAY0 + timedelta(days=2))
    assert found.days == [DAY0 + timedelta(days=n) for n in range(3)]
    assert found.totals == figures(
        sent=20,
        delivered=19,
        bounced_hard=1,
        opened=7,
        clicked=2,
        machine_opened=5,
        delivered_opened=5,
        delivered_clicked=2,
    )
    assert found.series[1] == MessageFigures()
    assert [(g.key, g.figures.sent, g.figures.opened) for g in found.groups] == [
        ("A", 10, 5),
        ("B", 10, 2),
    ]
    a = found.groups[0].figures
    # Rates over `delivered` count the delivered messages only: 3 of 9, not 5 opens of 9.
    assert (a.bounced, a.open_rate, a.click_rate, a.bounce_rate) == (1, 0.3333, 0.2222, 0.1)
    assert MessageFigures().open_rate is None
    # A day of late reactions alone has no delivered messages, hence no rates.
    assert found.groups[0].series[2].open_rate is None


def test_a_sequence_report_orders_its_steps_by_index_with_their_labels() -> None:
    def step(index: int, label: str | None) -> MessageSource:
        return MessageSource(SourceKind.SEQUENCE, "s1", "t1", step_index=index, step_label=label)

    rows = [
        RollupRow(step(10, None), DAY0, figures(sent=1)),
        RollupRow(step(2, "Hello"), DAY0, figures(sent=3)),
        RollupRow(step(2, "Welcome"), DAY0 + timedelta(days=1), figures(sent=2)),
    ]
    found = report(rows, Breakdown.STEP, DAY0, DAY0 + timedelta(days=1))
    assert [(g.key, g.label, g.figures.sent) for g in found.groups] == [
        ("2", "Welcome", 5),
        ("10", None, 1),
    ]
    by_source = report(rows, Breakdown.SOURCE, DAY0, DAY0)
    assert [g.key for g in by_source.groups] == ["sequence:s1:10", "sequence:s1:2"]
    # The CSV names each step's label beside its key, as the JSON does.
    exported = list(csv_rows(found, "step"))
    assert exported[0][:3] == ["step", "label", "day"]
    assert [(r[0], r[1]) for r in exported[1:] if r[2] == ""] == [
        ("total", ""),
        ("2", "Welcome"),
        ("10", ""),
    ]


def test_days_are_utc_days() -> None:
    late = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    facts = MessageFacts("m1", None, source=SOURCE, sent_at=late)
    assert {day for day, _ in facts.contributions()} == {date(2026, 12, 1)}


def test_a_time_with_another_offset_counts_on_its_utc_day_whoever_read_it() -> None:
    # 20:30 in New York on 1 December is 01:30 UTC on the 2nd. A fact as an event states it
    # (with its offset) and as the database gives it back (in UTC) count on the same day, so
    # the difference a later fold makes never moves a figure to another day.
    new_york = timezone(timedelta(hours=-5))
    evening = datetime(2026, 12, 1, 20, 30, tzinfo=new_york)
    told = MessageFacts("m1", None, source=SOURCE, sent_at=evening, opened_at=evening)
    stored = MessageFacts(
        "m1",
        None,
        source=SOURCE,
        sent_at=evening.astimezone(UTC),
        opened_at=evening.astimezone(UTC),
    )
    assert {day for day, _ in told.contributions()} == {date(2026, 12, 2)}
    assert told.contributions() == stored.contributions()
    assert change(stored, told) == {}
