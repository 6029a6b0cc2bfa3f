"""The platform's token buckets: a burst then the rate, per key, reservations in a queue,
forgetting only buckets that are full again, and the gateway's per-minute limits."""

from __future__ import annotations

import pytest

from crm_shared import RateLimiter, retry_after_header

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(10, 3, clock=clock)
    assert [limiter.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("k") == pytest.approx(0.1)
    clock.now += 0.1
    assert limiter.take("k") == 0.0
    clock.now += 10
    assert [limiter.take("k") for _ in range(4)][:3] == [0.0, 0.0, 0.0]  # refilled to capacity
    assert limiter.take("k") > 0


def test_each_key_has_its_own_bucket() -> None:
    limiter = RateLimiter(1, 2, clock=Clock())
    assert [limiter.take("a") for _ in range(2)] == [0.0, 0.0]
    assert limiter.take("a") > 0
    assert limiter.take("b") == 0.0


def test_reservations_queue_up_behind_each_other() -> None:
    limiter = RateLimiter(100, 1, clock=Clock())
    assert limiter.reserve("k") == 0.0
    assert limiter.reserve("k") == pytest.approx(0.01)
    assert limiter.reserve("k") == pytest.approx(0.02)


def test_a_zero_rate_is_unlimited() -> None:
    limiter = RateLimiter(0, 1, clock=Clock())
    assert all(limiter.take("k") == 0.0 for _ in range(1000))
    assert all(limiter.reserve("k") == 0.0 for _ in range(1000))


def test_past_the_key_limit_only_buckets_full_again_are_forgotten() -> None:
    clock = Clock()
    limiter = RateLimiter(1, 2, max_keys=3, clock=clock)
    limiter.take("old")
    limiter.reserve("indebted", 4)  # two tokens in debt: four seconds to be full again
    clock.now += 3  # "old" is full again, "indebted" is not
    assert [limiter.take("busy") for _ in range(2)] == [0.0, 0.0]
    limiter.take("new")
    assert len(limiter) == 3  # "old" went
    # The others kept what they had taken.
    assert limiter.take("busy") > 0
    assert limiter.take("indebted") == 0.0
    assert limiter.take("indebted") > 0


def test_per_minute_allows_a_quarter_minute_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter.per_minute(120, clock=clock)
    assert [limiter.take("k") for _ in range(30)] == [0.0] * 30
    assert limiter.take("k") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.take("k") == 0.0


def test_per_minute_keeps_a_burst_of_one_for_low_rates_and_zero_is_unlimited() -> None:
    clock = Clock()
    slow = RateLimiter.per_minute(2, clock=clock)
    assert slow.take("k") == 0.0
    assert slow.take("k") == pytest.approx(30.0)
    unlimited = RateLimiter.per_minute(0, clock=clock)
    assert all(unlimited.take("k") == 0.0 for _ in range(1000))


@pytest.mark.parametrize(("seconds", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"), (30.0, "30")])
def test_retry_after_is_whole_seconds_rounded_up_at_least_one(seconds: float, header: str) -> None:
    assert retry_after_header(seconds) == header


def test_the_gateways_per_minute_limit_allows_a_burst_then_the_rate() -> None:
    now = [1000.0]
    limiter = RateLimiter.per_minute(60, clock=lambda: now[0])  # one a second, bursts of 15
    assert [limiter.take("ip") for _ in range(15)] == [0.0] * 15
    wait = limiter.take("ip")
    assert wait == pytest.approx(1.0)
    assert limiter.take("other-ip") == 0.0
    now[0] += 1.0
    assert limiter.take("ip") == 0.0
    assert limiter.take("ip") > 0


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(2.2) == "3"
