"""Broadcast rules: A/B assignment, per-recipient send times, winner selection."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from crm_campaigns.domain.broadcasts import (
    ALL_GROUP,
    REST_GROUP,
    TEST_GROUP,
    MessageTally,
    VariantResult,
    assign_variants,
    pick_winner,
    queued_so_far,
    send_time,
    unmade_rest,
)
from crm_campaigns.domain.models import (
    AbMetric,
    AbTest,
    AbVariant,
    Broadcast,
    BroadcastStatus,
    ListAudience,
    SendAt,
    SendAtLocalTime,
    SendNow,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def ab(percentage: int, variants: int = 2) -> AbTest:
    return AbTest(
        variants=[AbVariant(name=chr(65 + i), subject=f"s{i}") for i in range(variants)],
        test_percentage=percentage,
        decide_after_minutes=60,
    )


def test_without_a_test_everyone_gets_the_template() -> None:
    assignments = assign_variants("b", ["c1", "c2"], None)
    assert {(a.group, a.variant) for a in assignments} == {(ALL_GROUP, None)}


def test_the_test_group_is_the_percentage_split_evenly_and_stable() -> None:
    audience = [f"c{i}" for i in range(1000)]
    assignments = assign_variants("b1", audience, ab(20, variants=2))
    test = [a for a in assignments if a.group == TEST_GROUP]
    assert len(test) == 200
    assert sorted(a.variant or "" for a in test).count("A") == 100
    assert len([a for a in assignments if a.group == REST_GROUP]) == 800
    assert assign_variants("b1", list(reversed(audience)), ab(20)) == assignments
    other = {a.candidate_id for a in assign_variants("b2", audience, ab(20)) if a.group == "test"}
    assert other != {a.candidate_id for a in test}  # each broadcast draws its own sample


def test_a_small_audience_still_gets_every_variant() -> None:
    assignments = assign_variants("b", ["c1", "c2", "c3"], ab(1, variants=3))
    assert sorted(a.variant or "" for a in assignments) == ["A", "B", "C"]


def test_local_time_is_per_recipient_zone_with_a_fallback() -> None:
    schedule = SendAtLocalTime(date=date(2026, 3, 10), local_time=time(9, 0))
    berlin = send_time(schedule, now=NOW, time_zone="Europe/Berlin", fallback_zone="UTC")
    new_york = send_time(schedule, now=NOW, time_zone="America/New_York", fallback_zone="UTC")
    unknown = send_time(schedule, now=NOW, time_zone="Mars/Olympus", fallback_zone="Asia/Tokyo")
    assert berlin == datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
    assert new_york == datetime(2026, 3, 10, 13, 0, tzinfo=UTC)  # already summer time
    assert unknown == datetime(2026, 3, 10, 0, 0, tzinfo=UTC)


def test_a_moment_already_past_means_now() -> None:
    past = SendAt(send_at=datetime(2020, 1, 1, tzinfo=UTC))
    assert send_time(past, now=NOW, time_zone=None, fallback_zone="UTC") == NOW
    assert send_time(SendNow(), now=NOW, time_zone=None, fallback_zone="UTC") == NOW


def result(name: str, sent: int, opened: int, clicked: int) -> VariantResult:
    return VariantResult(name, f"subject {name}", sent, sent, sent, opened, clicked)


def test_rates_are_of_the_delivered_messages() -> None:
    # 4 sent, 1 bounced: the 3 delivered all opened is 100 %, never above.
    bounced = VariantResult("A", "s", 4, 4, 3, 3, 1)
    assert (bounced.open_rate, bounced.click_rate) == (1.0, 1 / 3)
    assert VariantResult("B", "s", 1, 1, 0, 0, 0).open_rate == 0.0


def test_the_winner_has_the_best_rate_on_the_metric() -> None:
    results = [result("A", 100, 30, 1), result("B", 50, 20, 0), result("C", 10, 2, 5)]
    assert pick_winner(results, AbMetric.OPEN_RATE) == "B"
    assert pick_winner(results, AbMetric.CLICK_RATE) == "C"


def test_ties_go_to_the_other_rate_then_to_the_first_variant() -> None:
    assert pick_winner([result("A", 10, 5, 0), result("B", 10, 5, 1)], AbMetric.OPEN_RATE) == "B"
    assert pick_winner([result("A", 10, 5, 1), result("B", 10, 5, 1)], AbMetric.OPEN_RATE) == "A"
    assert pick_winner([result("A", 0, 0, 0), result("B", 0, 0, 0)], AbMetric.CLICK_RATE) == "A"


def broadcast(
    status: BroadcastStatus,
    *,
    ab_test: AbTest | None,
    materialized: bool,
    paused_from: BroadcastStatus | None = None,
) -> Broadcast:
    return Broadcast(
        paused_from=paused_from,
        tenant_id="t",
        name="b",
        template_id="tpl",
        audience=ListAudience(candidate_ids=["c"]),
        ab_test=ab_test,
        status=status,
        created_by="u",
        audience_size=10,
        materialized=materialized,
    )


# Of ten: a test group of four with messages, one unknown to campaigns, five in the rest.
TEST_GROUP_TALLY = MessageTally({"sent": 3, "queued": 1}, {}, {})


def test_the_rest_waits_for_the_winner_until_its_mail_is_made() -> None:
    waiting = unmade_rest(
        broadcast(BroadcastStatus.SENDING, ab_test=ab(40), materialized=False), TEST_GROUP_TALLY, 1
    )
    assert (waiting.awaiting_winner, waiting.cancelled) == (5, 0)
    made = unmade_rest(
        broadcast(BroadcastStatus.SENDING, ab_test=ab(40), materialized=True), TEST_GROUP_TALLY, 1
    )
    assert (made.awaiting_winner, made.cancelled) == (0, 0)


def test_a_rest_still_waiting_when_the_broadcast_is_cancelled_counts_as_cancelled() -> None:
    cancelled = unmade_rest(
        broadcast(BroadcastStatus.CANCELLED, ab_test=ab(40), materialized=False),
        TEST_GROUP_TALLY,
        1,
    )
    assert (cancelled.awaiting_winner, cancelled.cancelled) == (0, 5)


def test_a_broadcast_without_a_test_has_no_rest() -> None:
    plain = unmade_rest(
        broadcast(BroadcastStatus.SENDING, ab_test=None, materialized=False), TEST_GROUP_TALLY, 1
    )
    assert (plain.awaiting_winner, plain.cancelled) == (0, 0)


# Of ten, paused or cancelled while prepared: four messages made, one unknown, five not reached.
@pytest.mark.parametrize("ab_test", [None, ab(40)], ids=["plain", "ab-test"])
def test_a_broadcast_stopped_while_prepared_counts_those_it_had_not_reached(
    ab_test: AbTest | None,
) -> None:
    for status, paused_from in (
        (BroadcastStatus.PREPARING, None),
        (BroadcastStatus.PAUSED, BroadcastStatus.PREPARING),
    ):
        stopped = broadcast(status, ab_test=ab_test, materialized=False, paused_from=paused_from)
        rest = unmade_rest(stopped, TEST_GROUP_TALLY, 1)
        assert (rest.unprepared, rest.awaiting_winner, rest.cancelled) == (5, 0, 0)
    cancelled = broadcast(BroadcastStatus.CANCELLED, ab_test=ab_test, materialized=False)
    rest = unmade_rest(cancelled, TEST_GROUP_TALLY, 1)
    assert (rest.unprepared, rest.awaiting_winner, rest.cancelled) == (0, 0, 5)


def test_an_ab_test_paused_while_sending_still_waits_for_its_winner() -> None:
    paused = broadcast(
        BroadcastStatus.PAUSED,
        ab_test=ab(40),
        materialized=False,
        paused_from=BroadcastStatus.SENDING,
    )
    rest = unmade_rest(paused, TEST_GROUP_TALLY, 1)
    assert (rest.unprepared, rest.awaiting_winner) == (0, 5)


def test_queued_is_the_messages_made_until_the_runner_counted_them() -> None:
    preparing = broadcast(BroadcastStatus.PAUSED, ab_test=None, materialized=False)
    assert queued_so_far(preparing, TEST_GROUP_TALLY) == 4
    counted = preparing.model_copy(update={"queued": 9})
    assert queued_so_far(counted, TEST_GROUP_TALLY) == 9
