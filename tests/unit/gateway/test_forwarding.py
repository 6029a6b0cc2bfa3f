"""The gateway forwards only what it routes: the security review's findings, one test each."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from unit.gateway.fakes import RECRUITER, FakeServices, gateway_with, raw_request

pytestmark = pytest.mark.unit

TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.mark.parametrize(
    "target",
    [
        b"/api/v1/candidates/../metrics",
        b"/api/v1/candidates/%2e%2e/metrics",
        b"/api/v1/candidates/%2E%2E/openapi.json",
        b"/api/v1/candidates/..%2fmetrics",
        b"/api/v1/candidates/x/..%2F..%2Fmetrics",
        b"/api/v1/candidates/./x",
        b"/api/v1/ats/../docs",
        b"/api/v1/candidates/../gdpr/candidates/c1",
        b"/api/v1/candidates/c1%23fragment",
        b"/api/v1/candidates/c1%3Fx=1",
        b"/api/v1/candidates/c1%00",
        b"/api/v1/candidates/c1%0d%0aX-Injected:%201",
        b"/api/v1/candidates/c1%5c..%5cmetrics",
        b"/api/v1/candidates/%zz",
        b"/api/v1/candidates/%ff",
        b"/t/o/%00",
        b"/t/o/%2e%2e",
        b"/t/c/..%2F..%2Fmetrics",
        b"/public/v1/preferences/%2e%2e",
    ],
)
async def test_a_malformed_path_is_a_400_problem_and_reaches_no_service(target: bytes) -> None:
    services = FakeServices()
    response = await raw_request(gateway_with(services), "GET", target, headers=RECRUITER)
    assert response.status == 400, response.body
    assert response.headers["content-type"] == "application/problem+json"
    assert json.loads(response.body)["type"] == "urn:recruitcrm:problem:invalid-path"
    assert services.received == []


@pytest.mark.parametrize(
    "target",
    [
        b"/api/v1/candidates/c1/metrics",
        b"/api/v1/candidates/c1/notes/n1",
        b"/api/v1/gdpr/candidates/c1",
        b"/api/v1/candidates/openapi.json/x",
        b"/api/v1/candidates/c1/",
        b"/api/v1/candidates//notes",
        b"/api/v1/settings",
        b"/api/v1/settings/other",
        b"/api/v1/metrics",
    ],
)
async def test_a_path_no_service_publishes_is_a_404_problem(target: bytes) -> None:
    services = FakeServices()
    response = await raw_request(gateway_with(services), "GET", target, headers=RECRUITER)
    assert response.status == 404, response.body
    assert json.loads(response.body)["type"] == "urn:recruitcrm:problem:not-found"
    assert services.received == []


async def test_a_published_path_is_forwarded_with_each_segment_percent_encoded() -> None:
    services = FakeServices()
    app = gateway_with(services)
    for target in (
        b"/api/v1/candidates/a%20b%25c%3a",
        b"/api/v1/candidates/%C3%A9l%C3%A8ve/notes?limit=2",
        b"/api/v1/settings/retention",
        b"/api/v1/settings/contact-policy",
    ):
        assert (await raw_request(app, "GET", target, headers=RECRUITER)).status == 200
    assert services.paths() == [
        "/candidates/a%20b%25c%3A",
        "/candidates/%C3%A9l%C3%A8ve/notes",
        "/settings/retention",
        "/settings/contact-policy",
    ]
    assert [r.url.host for r in services.received[2:]] == [
        "candidates.internal",
        "campaigns.internal",
    ]
    assert services.received[1].url.query == b"limit=2"


async def test_a_gateway_mounted_under_a_root_path_routes_the_same_paths() -> None:
    services = FakeServices()
    app = gateway_with(services)
    for target in (b"/api/v1/candidates/c1/notes", b"/api/v1/settings/retention"):
        response = await raw_request(app, "GET", target, headers=RECRUITER, root_path="/crm")
        assert response.status == 200, response.body
    assert services.paths() == ["/candidates/c1/notes", "/settings/retention"]


async def test_a_root_path_a_proxy_already_stripped_is_not_stripped_again() -> None:
    services = FakeServices()
    app = gateway_with(services)
    scope_root = "/crm"
    response = await raw_request(
        app,
        "GET",
        b"/api/v1/candidates/c1/notes",
        headers=RECRUITER,
        root_path=scope_root,
        root_in_raw_path=False,
    )
    assert response.status == 200, response.body
    assert services.paths() == ["/candidates/c1/notes"]


async def test_a_method_a_published_path_does_not_serve_is_a_405_problem() -> None:
    services = FakeServices()
    response = await raw_request(
        gateway_with(services), "DELETE", b"/api/v1/candidates/c1", headers=RECRUITER
    )
    assert response.status == 405
    assert response.headers["allow"] == "GET, PATCH"
    assert services.received == []


async def test_the_upload_cap_serves_only_the_upload_route() -> None:
    services = FakeServices()
    app = gateway_with(services)
    big = b"x" * 5000  # over the 1000-byte request cap, under the 100,000-byte upload cap
    sidestep = await raw_request(
        app, "POST", b"/api/v1/imports/..%2Fcandidates", headers=RECRUITER, body=big
    )
    assert sidestep.status == 400
    capped = await raw_request(app, "POST", b"/api/v1/imports", headers=RECRUITER, body=big)
    assert capped.status == 413
    other_put = await raw_request(
        app, "PUT", b"/api/v1/settings/retention", headers=RECRUITER, body=big
    )
    assert other_put.status == 413
    assert services.received == []
    upload = await raw_request(app, "PUT", b"/api/v1/imports/i1/file", headers=RECRUITER, body=big)
    assert upload.status == 200
    assert services.paths() == ["/imports/i1/file"]
    assert services.received[0].content == big


async def test_a_redirect_to_an_internal_address_never_reaches_the_client() -> None:
    locations = iter(
        [
            "http://candidates.internal/candidates",
            "http://campaigns.internal/sequences?x=1",
            "http://candidates.internal/metrics",
            "/gdpr/candidates/c1",
            "//candidates.internal/candidates",
        ]
    )

    def redirect(request: httpx.Request) -> httpx.Response:
        return httpx.Response(307, headers={"Location": next(locations)})

    services = FakeServices(respond=redirect)
    app = gateway_with(services)
    seen = [
        (await raw_request(app, "GET", b"/api/v1/candidates", headers=RECRUITER)).headers.get(
            "location"
        )
        for _ in range(5)
    ]
    assert seen == ["/api/v1/candidates", "/api/v1/sequences?x=1", None, None, "/api/v1/candidates"]
    # Never followed: each redirect is one request upstream.
    assert len(services.received) == 5


async def test_a_tracked_link_still_redirects_to_its_external_destination() -> None:
    services = FakeServices(
        respond=lambda request: httpx.Response(
            302, headers={"Location": "https://jobs.example.org/apply?ref=mail"}
        )
    )
    response = await raw_request(gateway_with(services), "GET", b"/t/c/a-token")
    assert response.status == 302
    assert response.headers["location"] == "https://jobs.example.org/apply?ref=mail"
    assert services.paths() == ["/tracking/click/a-token"]


async def test_a_problem_from_a_service_names_the_public_path() -> None:
    def not_found(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            404,
            json={
                "type": "urn:recruitcrm:problem:not-found",
                "title": "Not Found",
                "status": 404,
                "detail": "no candidate x",
                "instance": request.url.path,
            },
            headers={"Content-Type": "application/problem+json"},
        )

    services = FakeServices(respond=not_found)
    response = await raw_request(
        gateway_with(services), "GET", b"/api/v1/candidates/x", headers=RECRUITER
    )
    assert response.status == 404
    problem = json.loads(response.body)
    assert problem["instance"] == "/api/v1/candidates/x"
    assert problem["detail"] == "no candidate x"
    assert response.headers["content-type"] == "application/problem+json"


def failing(error: type[httpx.TransportError]) -> FakeServices:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error("upstream failure", request=request)

    return FakeServices(respond=fail)


@pytest.mark.parametrize("error", [httpx.ReadTimeout, httpx.WriteTimeout])
async def test_an_upstream_timeout_is_a_504_as_the_request_may_have_succeeded(
    error: type[httpx.TransportError],
) -> None:
    services = failing(error)
    response = await raw_request(
        gateway_with(services), "POST", b"/api/v1/candidates", headers=RECRUITER, body=b"{}"
    )
    assert response.status == 504
    assert json.loads(response.body)["type"] == "urn:recruitcrm:problem:upstream-timeout"
    assert len(services.received) == 1  # a request that may have taken effect is never repeated


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
async def test_a_request_that_never_reached_the_service_is_a_502(
    error: type[httpx.TransportError],
) -> None:
    services = failing(error)
    response = await raw_request(
        gateway_with(services), "POST", b"/api/v1/candidates", headers=RECRUITER, body=b"{}"
    )
    assert response.status == 502
    assert json.loads(response.body)["type"] == "urn:recruitcrm:problem:upstream-unavailable"


async def test_a_dropped_connection_is_retried_once_for_an_idempotent_request_only() -> None:
    attempts: list[str] = []

    def drop_first(request: httpx.Request) -> httpx.Response:
        attempts.append(request.method)
        if len(attempts) in (1, 3, 4):
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        return httpx.Response(200, json={"ok": True})

    app = gateway_with(FakeServices(respond=drop_first))
    get = await raw_request(app, "GET", b"/api/v1/candidates/c1", headers=RECRUITER)
    assert get.status == 200
    assert attempts == ["GET", "GET"]
    post = await raw_request(app, "POST", b"/api/v1/candidates", headers=RECRUITER, body=b"{}")
    assert post.status == 504
    assert json.loads(post.body)["type"] == "urn:recruitcrm:problem:upstream-no-response"
    assert attempts == ["GET", "GET", "POST"]


@pytest.mark.parametrize(
    ("method", "target", "headers", "status"),
    [
        ("GET", b"/api/v1/candidates", RECRUITER, 200),
        ("GET", b"/api/v1/candidates", {}, 401),
        ("GET", b"/api/v1/nothing", RECRUITER, 404),
        ("GET", b"/api/v1/candidates/..%2fdocs", RECRUITER, 400),
        ("GET", b"/api/v1/candidates/..%2fmetrics", RECRUITER, 400),
        ("GET", b"/api/v1/candidates/c1/metrics", RECRUITER, 404),
        ("GET", b"/docs", {}, 200),
        ("GET", b"/docs/assets/favicon-32x32.png", {}, 200),
        ("GET", b"/no-such-page", {}, 404),
    ],
)
async def test_every_response_carries_its_trace_id(
    method: str, target: bytes, headers: dict[str, str], status: int
) -> None:
    services = FakeServices()
    response = await raw_request(gateway_with(services), method, target, headers=headers)
    assert response.status == status
    trace_id = response.headers["x-trace-id"]
    assert TRACE_ID.match(trace_id)
    version, traced, _span, _flags = response.headers["traceparent"].split("-")
    assert (version, traced) == ("00", trace_id)


async def test_throttled_unavailable_and_failed_responses_carry_the_trace_id() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("a bug in the gateway's forwarding")

    app = gateway_with(FakeServices(respond=boom), public_requests_per_minute_per_ip=1)
    failed = await raw_request(app, "GET", b"/api/v1/candidates", headers=RECRUITER)
    assert failed.status == 500
    assert TRACE_ID.match(failed.headers["x-trace-id"])
    statuses = [(await raw_request(app, "GET", b"/t/o/tok")).status for _ in range(3)]
    throttled = await raw_request(app, "GET", b"/t/o/tok")
    assert throttled.status == 429, statuses
    assert TRACE_ID.match(throttled.headers["x-trace-id"])
    unavailable = await raw_request(
        gateway_with(failing(httpx.ConnectError)), "GET", b"/api/v1/candidates", headers=RECRUITER
    )
    assert unavailable.status == 502
    assert TRACE_ID.match(unavailable.headers["x-trace-id"])


@pytest.mark.parametrize("probe", [b"/healthz", b"/readyz"])
async def test_the_probes_stay_untraced(probe: bytes) -> None:
    response = await raw_request(gateway_with(FakeServices()), "GET", probe)
    assert response.status == 200
    assert "x-trace-id" not in response.headers
