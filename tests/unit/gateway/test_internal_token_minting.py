"""The gateway mints each forwarded request's internal token for the one service it calls,
with the caller's request id, and puts the caller's rate-limit budget on the response."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from crm_devstack.infra import free_ports
from crm_shared import InternalTokenVerifier, InvalidTokenError, load_public_key
from helpers import wait_out_a_minutes_end
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY
from unit.gateway.fakes import RECRUITER, FakeServices, gateway_with

pytestmark = pytest.mark.unit

PATHS = {
    "candidates": "/api/v1/candidates",
    "campaigns": "/api/v1/sequences",
    "events": "/api/v1/events",
    "ats-sync": "/api/v1/ats/connections",
    "analytics": "/api/v1/analytics/summary",
}


def verifier(service: str) -> InternalTokenVerifier:
    return InternalTokenVerifier(load_public_key(INTERNAL_TOKEN_PUBLIC_KEY), service)


@pytest.mark.parametrize("service", sorted(PATHS))
def test_each_service_gets_a_token_for_itself_alone(service: str) -> None:
    services = FakeServices()
    with TestClient(gateway_with(services)) as client:
        response = client.get(PATHS[service], headers=RECRUITER)
    assert response.status_code == 200
    [forwarded] = services.received
    token = forwarded.headers["authorization"].removeprefix("Bearer ")
    principal = verifier(service).verify(token)
    assert (principal.tenant_id, principal.user_id) == ("acme", "rita")
    for other in set(PATHS) - {service}:
        with pytest.raises(InvalidTokenError):
            verifier(other).verify(token)


def test_the_token_carries_the_request_id_the_caller_sees() -> None:
    services = FakeServices()
    with TestClient(gateway_with(services)) as client:
        response = client.get("/api/v1/candidates", headers=RECRUITER)
    token = services.received[0].headers["authorization"].removeprefix("Bearer ")
    assert verifier("candidates").verify(token).request_id == response.headers["X-Trace-Id"]


def test_authenticated_responses_carry_the_budget_left_public_ones_none() -> None:
    wait_out_a_minutes_end()  # the budget is per wall-clock minute
    with TestClient(gateway_with(FakeServices(), tenant_requests_per_minute=10)) as client:
        first = client.get("/api/v1/candidates", headers=RECRUITER)
        second = client.get("/api/v1/candidates", headers=RECRUITER)
        public = client.get("/healthz")
    assert first.headers["RateLimit-Limit"] == "10"
    assert (first.headers["RateLimit-Remaining"], second.headers["RateLimit-Remaining"]) == (
        "9",
        "8",
    )
    assert 0 < int(first.headers["RateLimit-Reset"]) <= 60
    assert "RateLimit-Limit" not in public.headers


def test_a_spent_budget_is_a_429_problem_that_reaches_no_service() -> None:
    wait_out_a_minutes_end()  # the budget is per wall-clock minute
    services = FakeServices()
    with TestClient(gateway_with(services, tenant_requests_per_minute=1)) as client:
        client.get("/api/v1/candidates", headers=RECRUITER)
        refused = client.get("/api/v1/candidates", headers=RECRUITER)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["Retry-After"] == refused.headers["RateLimit-Reset"]
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert len(services.received) == 1


def test_without_mongodb_the_gateway_counts_in_its_own_process() -> None:
    """The shared counters are unreachable (nothing listens on the port): the first request
    waits out `RATE_LIMIT_TIMEOUT_SECONDS` once, and the process counts on its own after."""
    [port] = free_ports(1)
    app = gateway_with(
        FakeServices(),
        mongodb_uri=f"mongodb://127.0.0.1:{port}/?directConnection=true",
        rate_limit_storage="mongodb",
        rate_limit_timeout_seconds=0.2,
        tenant_requests_per_minute=3,
    )
    wait_out_a_minutes_end()  # the budget is per wall-clock minute
    started = time.perf_counter()
    with TestClient(app) as client:
        responses = [client.get("/api/v1/candidates", headers=RECRUITER) for _ in range(4)]
    assert time.perf_counter() - started < 3
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r.headers["RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert app.state.container.tenant_limiter.counting_in_process
