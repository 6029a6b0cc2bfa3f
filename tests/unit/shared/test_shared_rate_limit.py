"""Shared rate limits: fixed windows per key, member limits inside a key's budget, the
`RateLimit-*` numbers, and counting in the process while the shared counters fail."""

from __future__ import annotations

import pytest
from pymongo.errors import NetworkTimeout

from crm_shared import MemoryWindowCounters, RateLimitDecision, SharedRateLimiter
from crm_shared.shared_rate_limit import WindowCount

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self, now: float = 1_000_040.0) -> None:  # 20 s into a minute
        self.now = now

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock, limit: int = 3, member_limit: int = 0) -> SharedRateLimiter:
    return SharedRateLimiter(
        MemoryWindowCounters(), name="t", limit=limit, member_limit=member_limit, clock=clock
    )


async def test_a_key_spends_its_budget_then_is_refused_until_the_window_ends() -> None:
    clock = Clock()
    limits = limiter(clock)
    decisions = [await limits.hit("acme") for _ in range(4)]
    assert [d.allowed for d in decisions if d] == [True, True, True, False]
    assert [d.remaining for d in decisions if d] == [2, 1, 0, 0]
    assert {d.reset_seconds for d in decisions if d} == {40}
    assert decisions[0] == RateLimitDecision(True, 3, 2, 40)
    assert decisions[0].headers() == {
        "RateLimit-Limit": "3",
        "RateLimit-Remaining": "2",
        "RateLimit-Reset": "40",
    }
    clock.now += 40  # the next window
    assert await limits.hit("acme") == RateLimitDecision(True, 3, 2, 60)


async def test_keys_have_budgets_of_their_own() -> None:
    limits = limiter(Clock(), limit=1)
    first, second = await limits.hit("acme"), await limits.hit("globex")
    assert first == second == RateLimitDecision(True, 1, 0, 40)


async def test_a_member_is_limited_on_its_own_within_its_keys_budget() -> None:
    limits = limiter(Clock(), limit=4, member_limit=2)
    key_one = [await limits.hit("acme", "key-1") for _ in range(3)]
    assert [d.allowed for d in key_one if d] == [True, True, False]
    # The member's budget is the tighter one, so the headers show it.
    assert [(d.limit, d.remaining) for d in key_one if d] == [(2, 1), (2, 0), (2, 0)]
    # Another key of the tenant has two of its own, but the tenant's four are spent first.
    key_two = [await limits.hit("acme", "key-2") for _ in range(2)]
    assert [d.allowed for d in key_two if d] == [True, False]
    assert key_two[1] == RateLimitDecision(False, 4, 0, 40)


async def test_no_limit_costs_no_count() -> None:
    class Failing:
        async def increment(
            self, counter_id: str, key: str, member: str | None, expires_at: float
        ) -> WindowCount:
            raise AssertionError("an unlimited key must not be counted")

    unlimited = SharedRateLimiter(Failing(), name="t", limit=0, clock=Clock())
    assert await unlimited.hit("acme", "key-1") is None


async def test_while_the_shared_counters_fail_the_process_counts_on_its_own() -> None:
    class Down:
        calls = 0

        async def increment(
            self, counter_id: str, key: str, member: str | None, expires_at: float
        ) -> WindowCount:
            self.calls += 1
            raise NetworkTimeout("no answer")

    clock, down = Clock(), Down()
    limits = SharedRateLimiter(down, name="t", limit=2, fallback_seconds=5, clock=clock)
    decisions = [await limits.hit("acme") for _ in range(3)]
    assert [d.allowed for d in decisions if d] == [True, True, False]
    # One failed attempt, then the process's own counts until the back-off ends.
    assert down.calls == 1
    assert limits.counting_in_process
    clock.now += 5
    assert not limits.counting_in_process
    await limits.hit("acme")
    assert down.calls == 2


def test_the_tighter_decision_is_a_refusal_then_the_smaller_budget() -> None:
    roomy = RateLimitDecision(True, 100, 50, 10)
    tight = RateLimitDecision(True, 5, 1, 10)
    refused = RateLimitDecision(False, 100, 0, 10)
    assert roomy.tighter(tight) == tight
    assert tight.tighter(refused) == refused
    assert roomy.tighter(None) == roomy
