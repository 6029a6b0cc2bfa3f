"""The public API's conventions through the gateway: authentication, problem+json, pagination,
tenant isolation; and the probes every service serves."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from crm_gateway.domain.routing import UPLOAD_OPERATIONS
from helpers import eventually
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, GLOBEX_TOKEN, Stack

pytestmark = pytest.mark.integration


def person(tag: str, **overrides: object) -> dict[str, object]:
    return {
        "first_name": "Grace",
        "last_name": f"Hopper {tag}",
        "emails": [f"grace.{tag}@example.org"],
        **overrides,
    }


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, object] = response.json()
    assert problem["status"] == status
    return problem


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-known-token", "Basic Zm9vOmJhcg=="])
async def test_the_gateway_rejects_unauthenticated_callers(
    stack: Stack, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await stack.gateway.get("/api/v1/candidates", headers=headers)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_service_rejects_a_caller_that_bypasses_the_gateway(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.candidates_url) as direct:
        assert_problem(await direct.get("/candidates"), 401)
        forged = await direct.get("/candidates", headers={"Authorization": f"Bearer {ACME_TOKEN}"})
        assert_problem(forged, 401)


async def test_invalid_input_is_a_422_naming_the_field(stack: Stack) -> None:
    response = await stack.gateway.post(
        "/api/v1/candidates",
        json=person("bad", emails=["grace@example.org", "not-an-email"], tenant_id="globex"),
        headers=stack.as_(ACME_TOKEN),
    )
    problem = assert_problem(response, 422)
    fields = {error["field"] for error in problem["errors"]}  # type: ignore[attr-defined]
    assert fields == {"emails.1", "tenant_id"}


async def test_a_known_email_returns_the_existing_candidate(stack: Stack) -> None:
    first = await stack.gateway.post(
        "/api/v1/candidates", json=person("dup"), headers=stack.as_(ACME_TOKEN)
    )
    assert first.status_code == 201
    again = await stack.gateway.post(
        "/api/v1/candidates",
        json=person("dup", emails=["  GRACE.DUP@example.org"]),
        headers=stack.as_(ACME_TOKEN),
    )
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == f"/api/v1/candidates/{first.json()['id']}"


async def test_tenants_never_see_each_others_candidates(stack: Stack) -> None:
    created = await stack.gateway.post(
        "/api/v1/candidates", json=person("iso"), headers=stack.as_(ACME_TOKEN)
    )
    candidate_id = created.json()["id"]
    own = await stack.gateway.get(
        f"/api/v1/candidates/{candidate_id}", headers=stack.as_(ACME_TOKEN)
    )
    assert own.status_code == 200
    other = await stack.gateway.get(
        f"/api/v1/candidates/{candidate_id}", headers=stack.as_(GLOBEX_TOKEN)
    )
    assert_problem(other, 404)
    # The same email is a different person in another tenant, not a duplicate.
    same_email = await stack.gateway.post(
        "/api/v1/candidates", json=person("iso"), headers=stack.as_(GLOBEX_TOKEN)
    )
    assert same_email.status_code == 201
    listed = await stack.gateway.get(
        "/api/v1/candidates", params={"limit": 200}, headers=stack.as_(GLOBEX_TOKEN)
    )
    assert candidate_id not in {c["id"] for c in listed.json()["items"]}


async def test_candidates_are_listed_page_by_page_in_creation_order(stack: Stack) -> None:
    token = GLOBEX_TOKEN
    created = []
    for n in range(5):
        response = await stack.gateway.post(
            "/api/v1/candidates", json=person(f"page{n}"), headers=stack.as_(token)
        )
        created.append(response.json()["id"])
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (
            await stack.gateway.get("/api/v1/candidates", params=params, headers=stack.as_(token))
        ).json()
        assert len(page["items"]) <= 2
        seen.extend(c["id"] for c in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [i for i in seen if i in created] == created
    assert seen == sorted(seen)
    bad = await stack.gateway.get(
        "/api/v1/candidates", params={"cursor": "!!"}, headers=stack.as_(token)
    )
    assert_problem(bad, 400)
    too_big = await stack.gateway.get(
        "/api/v1/candidates", params={"limit": 10_000}, headers=stack.as_(token)
    )
    assert_problem(too_big, 422)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/messages", {"candidate_id": "c1", "emial": "ada@example.org"}),
        ("/api/v1/suppressions", {"reasn": "bounced"}),
        ("/api/v1/events", {"stauts": "published"}),
    ],
)
async def test_a_misspelt_filter_of_campaigns_and_events_is_refused_not_ignored(
    stack: Stack, path: str, params: dict[str, str]
) -> None:
    """An unknown filter would list everything; it is a 422 naming it, as in candidates."""
    answer = await stack.gateway.get(path, params=params, headers=stack.as_(ACME_ADMIN_TOKEN))
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    misspelt = sorted(name for name in params if name != "candidate_id")
    assert [e["field"] for e in answer.json()["errors"]] == misspelt
    assert {e["source"] for e in answer.json()["errors"]} == {"query"}


async def test_unknown_resources_and_oversized_bodies_are_problems(stack: Stack) -> None:
    assert_problem(
        await stack.gateway.get("/api/v1/nothing-here", headers=stack.as_(ACME_TOKEN)), 404
    )
    huge = person("huge", headline="x" * 2_000_000)
    assert_problem(
        await stack.gateway.post("/api/v1/candidates", json=huge, headers=stack.as_(ACME_TOKEN)),
        413,
    )


async def test_every_service_serves_health_readiness_and_metrics(stack: Stack) -> None:
    for base in (stack.candidates_url, stack.analytics_url, str(stack.gateway.base_url)):
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/healthz")).status_code == 200
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            metrics = await client.get("/metrics")
            if base == str(stack.gateway.base_url):
                # The public port serves no metrics (METRICS_PORT has a listener of its own).
                assert metrics.status_code == 404
            else:
                assert "crm_http_requests_total" in metrics.text
    async with httpx.AsyncClient(base_url=stack.candidates_url) as client:
        checks = (await client.get("/readyz")).json()["checks"]
    assert checks == {"mongodb": "ok", "kafka": "ok"}

    # A consuming service shows its groups' lag, as Kafka counts it, in both.
    async with httpx.AsyncClient(base_url=stack.analytics_url) as client:

        async def lag_sampled() -> bool:
            consumers = (await client.get("/readyz")).json()["consumers"]
            return consumers["sampled_at"] is not None and bool(consumers["lag"])

        await eventually(lag_sampled, timeout=30, message="analytics never sampled its lag")
        lag = (await client.get("/readyz")).json()["consumers"]["lag"]
        exported = (await client.get("/metrics")).text
    assert any(".on_message_opened" in group for group in lag), lag
    assert "crm_consumer_lag_records{" in exported


async def raw_get(base_url: str, target: str, token: str) -> tuple[int, dict[str, str], bytes]:
    """A GET with `target` sent byte for byte (httpx would resolve `..` before sending)."""
    address = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(
            f"GET {target} HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {token}\r\n"
            "Connection: close\r\n\r\n".encode("ascii")
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=30)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines)
    }
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("/api/v1/candidates/../metrics", 400),
        ("/api/v1/candidates/%2e%2e/metrics", 400),
        ("/api/v1/candidates/..%2fmetrics", 400),
        ("/api/v1/candidates/../openapi.json", 400),
        ("/api/v1/ats/../docs", 400),
        ("/api/v1/candidates/../gdpr/candidates/c1", 400),
        ("/api/v1/candidates/c1%23x", 400),
        ("/api/v1/candidates/c1%3Fx=1", 400),
        ("/t/o/%00", 400),
        ("/api/v1/candidates/", 404),
        ("/api/v1/candidates/c1/metrics", 404),
    ],
)
async def test_the_gateway_reaches_no_internal_route(
    stack: Stack, target: str, status: int
) -> None:
    got, headers, body = await raw_get(stack.gateway_url, target, ACME_TOKEN)
    assert got == status, body
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["status"] == status
    assert b"crm_http_requests" not in body
    assert b"127.0.0.1" not in body
    assert "location" not in headers


async def test_a_service_problem_names_the_public_path_and_the_trace(
    stack: Stack, span_exporter: InMemorySpanExporter
) -> None:
    response = await stack.gateway.get(
        "/api/v1/candidates/no-such-candidate", headers=stack.as_(ACME_TOKEN)
    )
    problem = assert_problem(response, 404)
    assert problem["instance"] == "/api/v1/candidates/no-such-candidate"
    trace_id = response.headers["x-trace-id"]
    assert response.headers["traceparent"].split("-")[1] == trace_id
    # The candidates service's own span is in the same trace: searching the trace viewer for
    # this id shows the gateway and the service.
    served = [
        span.name
        for span in span_exporter.get_finished_spans()
        if span.context is not None
        and format(span.context.trace_id, "032x") == trace_id
        and span.kind is SpanKind.SERVER
    ]
    assert "GET /candidates/{candidate_id}" in served, served


async def test_the_combined_document_is_what_the_gateway_forwards(stack: Stack) -> None:
    paths = (await stack.gateway.get("/openapi.json")).json()["paths"]
    # The upload cap's one operation exists as the gateway names it.
    for method, template in UPLOAD_OPERATIONS:
        assert method.lower() in paths[f"/api/v1{template}"]
    assert not [path for path in paths if "gdpr/candidates/{candidate_id}" in path]
    responses = paths["/api/v1/candidates"]["post"]["responses"]
    assert {"400", "502", "504"} <= set(responses)
    created = await stack.gateway.post(
        "/api/v1/candidates", json=person("documented"), headers=stack.as_(ACME_TOKEN)
    )
    assert created.status_code == 201
    # A path the document lists is forwarded, one it does not is refused at the gateway.
    assert "/api/v1/candidates/{candidate_id}/timeline" in paths
    timeline = await stack.gateway.get(
        f"/api/v1/candidates/{created.json()['id']}/timeline", headers=stack.as_(ACME_TOKEN)
    )
    assert timeline.status_code == 200, timeline.text


async def test_no_span_of_any_service_carries_a_link_token(
    stack: Stack, span_exporter: InMemorySpanExporter
) -> None:
    token = "eyJzZWNyZXQtbGluay10b2tlbiJd.c2lnbmF0dXJl"
    response = await stack.gateway.get(f"/public/v1/preferences/{token}")
    assert response.status_code == 404
    trace_id = response.headers["x-trace-id"]
    spans = [
        span
        for span in span_exporter.get_finished_spans()
        if span.context is not None and format(span.context.trace_id, "032x") == trace_id
    ]
    # The gateway's server span, its call to candidates, and candidates' server span.
    kinds = {span.kind for span in spans}
    assert {SpanKind.SERVER, SpanKind.CLIENT} <= kinds, kinds
    for span in spans:
        text = f"{span.name} {dict(span.attributes or {})}"
        assert token not in text, text
    assert any("/preferences/\u2026" in str(dict(span.attributes or {})) for span in spans)
