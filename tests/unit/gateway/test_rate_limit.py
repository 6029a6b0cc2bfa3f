"""The token bucket allows a burst, then the configured rate."""

from __future__ import annotations

import pytest

from crm_gateway.domain.rate_limit import RateLimiter, retry_after_header

pytestmark = pytest.mark.unit


def test_a_burst_then_the_rate() -> None:
    now = [1000.0]
    limiter = RateLimiter(per_minute=60, clock=lambda: now[0])  # one a second, bursts of 15
    assert [limiter.acquire("ip") for _ in range(15)] == [0.0] * 15
    wait = limiter.acquire("ip")
    assert wait == pytest.approx(1.0)
    assert limiter.acquire("other-ip") == 0.0
    now[0] += 1.0
    assert limiter.acquire("ip") == 0.0
    assert limiter.acquire("ip") > 0


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(2.2) == "3"
