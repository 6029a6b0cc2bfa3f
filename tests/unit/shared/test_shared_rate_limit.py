"""Shared rate limits: fixed windows per key, member limits inside a key's budget, the
`RateLimit-*` numbers, and counting in the process while the shared counters fail."""

from __future__ import annotations

import pytest
from pymongo.errors import NetworkTimeout

from crm_shared import (
    ClaimingWindowCounters,
    MemoryWindowCounters,
    RateLimitDecision,
    SharedRateLimiter,
)
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
            self, counter_id: str, key: str, member: str | None, expires_at: float, by: int = 1
        ) -> WindowCount:
            raise AssertionError("an unlimited key must not be counted")

    unlimited = SharedRateLimiter(Failing(), name="t", limit=0, clock=Clock())
    assert await unlimited.hit("acme", "key-1") is None


async def test_while_the_shared_counters_fail_the_process_counts_on_its_own() -> None:
    class Down:
        calls = 0

        async def increment(
            self, counter_id: str, key: str, member: str | None, expires_at: float, by: int = 1
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


class CountedCalls:
    """Shared counters in memory that count the round trips asked of them."""

    def __init__(self) -> None:
        self.counters = MemoryWindowCounters()
        self.calls = 0

    async def increment(
        self, counter_id: str, key: str, member: str | None, expires_at: float, by: int = 1
    ) -> WindowCount:
        self.calls += 1
        return await self.counters.increment(counter_id, key, member, expires_at, by)


def claiming(shared: CountedCalls, clock: Clock, **sizes: int) -> ClaimingWindowCounters:
    return ClaimingWindowCounters(
        shared,
        max_block=sizes.get("max_block", 100),
        max_member_block=sizes.get("max_member_block", 10),
        clock=clock,
    )


async def test_a_slow_key_is_counted_one_request_at_a_time() -> None:
    clock, shared = Clock(), CountedCalls()
    limits = SharedRateLimiter(claiming(shared, clock), name="t", limit=3, clock=clock)
    decisions = []
    for _ in range(4):
        decisions.append(await limits.hit("acme"))
        clock.now += 2  # slower than a block's lifetime
    assert [(d.allowed, d.remaining) for d in decisions if d] == [
        (True, 2),
        (True, 1),
        (True, 0),
        (False, 0),
    ]
    assert shared.calls == 4


async def test_a_busy_key_claims_blocks_and_replicas_never_exceed_the_limit_together() -> None:
    clock, shared = Clock(), CountedCalls()
    replicas = [
        SharedRateLimiter(claiming(shared, clock), name="t", limit=1000, clock=clock)
        for _ in range(2)
    ]
    decisions = []
    for request in range(1400):  # 1,000 requests a second, alternating between the replicas
        decisions.append(await replicas[request % 2].hit("acme"))
        clock.now += 0.001
    allowed = [d for d in decisions if d and d.allowed]
    # Counts claimed but not yet spent (at most a block per replica) only refuse a little early.
    assert 1000 - 2 * 100 <= len(allowed) <= 1000
    assert all(not d.allowed for d in decisions[len(allowed) + 2 * 100 :] if d)
    # Each request was told a count of its own, across both replicas.
    assert len({d.remaining for d in allowed}) == len(allowed)
    assert shared.calls < 1400 / 10


async def test_a_key_with_a_member_claims_at_most_the_member_block() -> None:
    clock, shared = Clock(), CountedCalls()
    counters = claiming(shared, clock, max_block=100, max_member_block=3)
    limits = SharedRateLimiter(counters, name="t", limit=1000, member_limit=30, clock=clock)
    decisions = []
    for _ in range(40):
        decisions.append(await limits.hit("acme", "key-1"))
        clock.now += 0.0001
    assert [d.allowed for d in decisions if d].count(True) == 30
    assert shared.calls >= 40 / 3


async def test_a_block_older_than_its_lifetime_is_claimed_anew() -> None:
    clock, shared = Clock(), CountedCalls()
    counters = claiming(shared, clock)
    limits = SharedRateLimiter(counters, name="t", limit=1000, clock=clock)
    for _ in range(50):
        await limits.hit("acme")
        clock.now += 0.001
    calls = shared.calls
    clock.now += 1.5
    late = await limits.hit("acme")
    assert shared.calls == calls + 1
    assert late is not None
    assert late.allowed
