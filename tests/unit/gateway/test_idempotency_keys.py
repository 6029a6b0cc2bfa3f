"""A POST with an `Idempotency-Key` runs once at the service; the gateway replays the rest."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from crm_gateway.application.idempotency import Claim, IdempotentRequests, KeyedTiming
from crm_gateway.config import DevIdentity, Tenant
from crm_gateway.domain.idempotency import KeyScope, RecordState, request_fingerprint
from unit.gateway.fakes import (
    RECRUITER,
    FakeServices,
    MemoryIdempotencyRecords,
    RawResponse,
    gateway_with,
    raw_request,
    settings,
    with_idempotency_records,
)

pytestmark = pytest.mark.unit

CANDIDATE = b'{"first_name": "Ada", "emails": ["ada@example.org"]}'


def created(request: httpx.Request) -> httpx.Response:
    number = request.extensions.get("number", 1)
    return httpx.Response(
        201,
        json={"id": f"c{number}"},
        headers={"Location": f"/candidates/c{number}", "ETag": '"1"', "Cache-Control": "no-store"},
    )


def numbered() -> FakeServices:
    """Services that create a new candidate, with a new id, for every request that reaches them."""
    counter = itertools.count(1)

    def respond(request: httpx.Request) -> httpx.Response:
        request.extensions["number"] = next(counter)
        return created(request)

    return FakeServices(respond=respond)


def gateway(services: FakeServices, records: MemoryIdempotencyRecords | None = None) -> FastAPI:
    tokens = {
        "tok-acme": DevIdentity(tenant_id="acme", user_id="rita", roles=["recruiter"]),
        "tok-ada": DevIdentity(tenant_id="acme", user_id="ada", roles=["admin"]),
        "tok-globex": DevIdentity(tenant_id="globex", user_id="rita", roles=["recruiter"]),
    }
    app = gateway_with(
        services,
        dev_tokens=tokens,
        tenants={"acme": Tenant(name="Acme"), "globex": Tenant(name="Globex")},
    )
    return with_idempotency_records(app, records or MemoryIdempotencyRecords())


async def post(
    app: FastAPI,
    key: str | None,
    body: bytes = CANDIDATE,
    *,
    target: bytes = b"/api/v1/candidates",
    token: str = "tok-acme",  # noqa: S107 - a test's development token
) -> RawResponse:
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return await raw_request(app, "POST", target, headers=headers, body=body)


async def test_the_same_request_again_replays_the_stored_response_without_running() -> None:
    services = numbered()
    app = gateway(services)
    first = await post(app, "k-1")
    again = await post(app, "k-1", b'{"emails":["ada@example.org"],"first_name":"Ada"}')
    assert first.status == again.status == 201
    assert json.loads(again.body) == json.loads(first.body) == {"id": "c1"}
    assert again.headers["location"] == first.headers["location"] == "/api/v1/candidates/c1"
    assert again.headers["etag"] == '"1"'
    assert again.headers["content-type"] == "application/json"
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(services.received) == 1


async def test_without_a_key_every_post_runs() -> None:
    services = numbered()
    app = gateway(services)
    bodies = [json.loads((await post(app, None)).body) for _ in range(2)]
    assert bodies == [{"id": "c1"}, {"id": "c2"}]


async def test_the_key_with_another_body_or_path_is_a_422_and_runs_nothing() -> None:
    services = numbered()
    app = gateway(services)
    assert (await post(app, "k-1")).status == 201
    other_body = await post(app, "k-1", b'{"first_name": "Bob"}')
    other_path = await post(app, "k-1", target=b"/api/v1/events")
    for refused in (other_body, other_path):
        assert refused.status == 422, refused.body
        assert refused.headers["content-type"] == "application/problem+json"
        assert json.loads(refused.body)["type"] == "urn:recruitcrm:problem:idempotency-key-reused"
    assert len(services.received) == 1


async def test_a_key_is_scoped_to_its_tenant_and_user() -> None:
    services = numbered()
    app = gateway(services)
    ids = [
        json.loads((await post(app, "shared-key", token=token)).body)["id"]
        for token in ("tok-acme", "tok-ada", "tok-globex")
    ]
    assert ids == ["c1", "c2", "c3"]


async def test_a_duplicate_sent_while_the_first_runs_is_a_409_and_runs_nothing() -> None:
    release = asyncio.Event()
    services = FakeServices()
    serve_document = services.handle

    arrived = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/openapi.json":
            return serve_document(request)
        services.received.append(request)
        arrived.set()
        await release.wait()
        return created(request)

    services.handle = slow  # type: ignore[method-assign,assignment]
    app = gateway(services)
    first = asyncio.create_task(post(app, "k-1"))
    await asyncio.wait_for(arrived.wait(), timeout=5)
    duplicate = await post(app, "k-1")
    release.set()
    assert (await first).status == 201
    assert duplicate.status == 409, duplicate.body
    assert json.loads(duplicate.body)["type"] == "urn:recruitcrm:problem:idempotency-key-in-use"
    assert duplicate.headers["retry-after"] == "1"
    assert len(services.received) == 1
    assert (await post(app, "k-1")).headers["idempotent-replayed"] == "true"


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(500, json={"detail": "boom"}),
        httpx.Response(503, json={"detail": "busy"}),
        httpx.Response(409, json={"detail": "conflict"}),
        httpx.Response(429, json={"detail": "slow down"}),
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("down"),
    ],
    ids=["500", "503", "409", "429", "timeout-504", "unreachable-502"],
)
async def test_a_failure_that_may_pass_next_time_is_not_stored(
    failure: httpx.Response | Exception,
) -> None:
    answers: list[httpx.Response | Exception] = [failure]

    def respond(request: httpx.Request) -> httpx.Response:
        if answers:
            answer = answers.pop()
            if isinstance(answer, Exception):
                raise answer
            return answer
        return created(request)

    services = FakeServices(respond=respond)
    app = gateway(services)
    failed = await post(app, "k-1")
    assert failed.status in (409, 429, 500, 502, 503, 504)
    retried = await post(app, "k-1")
    assert retried.status == 201, retried.body
    assert "idempotent-replayed" not in retried.headers
    assert (await post(app, "k-1")).headers["idempotent-replayed"] == "true"


async def test_a_request_that_outlives_its_504_is_not_run_again_but_replayed() -> None:
    """The caller gets a 504 when the service is slow, yet the gateway keeps waiting: a repeat
    with the key gets a 409 while the first still runs, then the first's response."""
    services = numbered()
    answered = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        if request.method != "POST":  # the services' OpenAPI documents
            return services.handle(request)
        await asyncio.sleep(0.6)
        response = services.handle(request)
        answered.set()
        return response

    app = gateway(services)
    app.state.container = dataclasses.replace(
        app.state.container,
        upstream=httpx.AsyncClient(transport=httpx.MockTransport(slow)),
        keyed_timing=KeyedTiming(answer_within_seconds=0.2, keep_waiting_seconds=5),
    )
    timed_out = await post(app, "k-1")
    assert timed_out.status == 504, timed_out.body
    assert json.loads(timed_out.body)["type"] == "urn:recruitcrm:problem:upstream-timeout"
    still_running = await post(app, "k-1")
    assert still_running.status == 409, still_running.body
    await asyncio.wait_for(answered.wait(), timeout=5)
    await asyncio.sleep(0.05)  # the outcome is recorded right after the service answered

    replayed = await post(app, "k-1")
    assert replayed.status == 201, replayed.body
    assert replayed.headers["idempotent-replayed"] == "true"
    assert json.loads(replayed.body) == {"id": "c1"}
    assert len(services.received) == 1


async def test_a_deterministic_client_error_is_replayed() -> None:
    calls = []

    def invalid(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(
            422,
            json={"type": "urn:recruitcrm:problem:validation", "instance": "/candidates"},
            headers={"Content-Type": "application/problem+json"},
        )

    app = gateway(FakeServices(respond=invalid))
    first, again = await post(app, "k-1"), await post(app, "k-1")
    assert first.status == again.status == 422
    assert again.body == first.body
    assert again.headers["idempotent-replayed"] == "true"
    assert len(calls) == 1


@pytest.mark.parametrize(
    "key", ["", "k" * 256, "cl\u00e9", '"two""quotes"'], ids=["empty", "long", "non-ascii", "q"]
)
async def test_a_malformed_key_is_a_400_problem_and_reaches_no_service(key: str) -> None:
    services = numbered()
    response = await post(gateway(services), key)
    assert response.status == 400, response.body
    assert json.loads(response.body)["type"] == "urn:recruitcrm:problem:invalid-idempotency-key"
    assert services.received == []


async def test_the_key_applies_to_post_only() -> None:
    services = numbered()
    app = gateway(services)
    headers = {**RECRUITER, "Idempotency-Key": "k-1"}
    for _ in range(2):
        response = await raw_request(
            app, "PUT", b"/api/v1/settings/retention", headers=headers, body=b"{}"
        )
        assert "idempotent-replayed" not in response.headers
    assert len(services.received) == 2


async def test_without_its_database_a_keyed_post_is_a_503_and_is_not_sent() -> None:
    services = numbered()
    app = gateway(services, MemoryIdempotencyRecords(failing=True))
    response = await post(app, "k-1")
    assert response.status == 503
    assert json.loads(response.body)["type"] == "urn:recruitcrm:problem:idempotency-unavailable"
    assert services.received == []
    assert (await post(app, None)).status == 201  # a POST without a key needs no database


async def test_a_key_held_by_a_gateway_that_died_is_taken_over_after_its_lease() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    records = MemoryIdempotencyRecords()
    requests = IdempotentRequests(
        records, lifetime=timedelta(hours=24), lease=timedelta(seconds=60), clock=lambda: now
    )
    scope = KeyScope("acme", "rita", "k-1")
    fingerprint = request_fingerprint("POST", "/candidates", "", CANDIDATE)
    dead = await requests.begin(scope, fingerprint)
    assert isinstance(dead, Claim)
    now += timedelta(seconds=61)
    taken_over = await requests.begin(scope, fingerprint)
    assert isinstance(taken_over, Claim)
    assert taken_over.record.claim != dead.record.claim
    # The dead attempt, were it to finish late, no longer records anything.
    await requests.finish(dead, 201, {}, b"late")
    await requests.finish(taken_over, 201, {}, b"on time")
    stored = records.records[scope.record_id]
    assert stored.state is RecordState.COMPLETED
    assert stored.response is not None
    assert stored.response.body == b"on time"


async def test_a_browser_console_may_send_the_key_and_read_the_replay_header() -> None:
    services = numbered()
    app = with_idempotency_records(
        gateway_with(services, cors_origins="https://console.example.com"),
        MemoryIdempotencyRecords(),
    )
    origin = {"origin": "https://console.example.com"}
    preflight = await raw_request(
        app,
        "OPTIONS",
        b"/api/v1/candidates",
        headers={
            **origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type, idempotency-key",
        },
    )
    assert preflight.status == 200, preflight.body
    assert "idempotency-key" in preflight.headers["access-control-allow-headers"].lower()
    headers = {**origin, **RECRUITER, "Idempotency-Key": "k-1"}
    for _ in range(2):
        response = await raw_request(
            app, "POST", b"/api/v1/candidates", headers=headers, body=CANDIDATE
        )
    assert response.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" in response.headers["access-control-expose-headers"].lower()


def test_a_lease_no_longer_than_the_upstream_timeout_is_refused() -> None:
    with pytest.raises(ValidationError, match="IDEMPOTENCY_LEASE_SECONDS"):
        settings(idempotency_lease_seconds=10, upstream_timeout_seconds=10)
    assert settings(idempotency_lease_seconds=11, upstream_timeout_seconds=10)
