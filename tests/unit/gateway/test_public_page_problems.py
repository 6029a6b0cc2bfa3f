"""The gateway's own problems on the public pages a person opens: a page for a browser, the
problem document for an API client. A try-out's first press of the unsubscribe button got the
504 problem's raw JSON in Chromium, though the withdrawal was recorded."""

from __future__ import annotations

import json

import httpx
import pytest

from unit.gateway.fakes import FakeServices, RawResponse, gateway_with, raw_request

pytestmark = pytest.mark.unit

# What Chromium sends for a page and for a form's POST.
BROWSER = {
    "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
    "origin": "null",
}
API_CLIENT = {"accept": "application/json"}
ONE_CLICK = b"List-Unsubscribe=One-Click"


def failing(error: type[httpx.TransportError]) -> FakeServices:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error("upstream failure", request=request)

    return FakeServices(respond=fail)


def is_page(response: RawResponse) -> str:
    headers = response.headers
    assert headers["content-type"].startswith("text/html"), headers
    assert headers["cache-control"] == "no-store"
    assert "content-security-policy" in headers
    page = response.body.decode()
    assert "{" not in page
    assert "urn:recruitcrm" not in page
    return page


async def test_a_timed_out_unsubscribe_button_is_a_page_saying_it_may_have_worked() -> None:
    app = gateway_with(failing(httpx.ReadTimeout))
    response = await raw_request(
        app, "POST", b"/public/v1/unsubscribe/tok", headers=BROWSER, body=ONE_CLICK
    )
    assert response.status == 504
    page = is_page(response)
    assert "try again in a minute" in page
    assert "you may already be unsubscribed" in page


async def test_an_api_client_keeps_the_problem_document() -> None:
    app = gateway_with(failing(httpx.ReadTimeout))
    response = await raw_request(
        app, "POST", b"/public/v1/unsubscribe/tok", headers=API_CLIENT, body=ONE_CLICK
    )
    assert response.status == 504
    assert response.headers["content-type"] == "application/problem+json"
    assert json.loads(response.body)["type"] == "urn:recruitcrm:problem:upstream-timeout"


@pytest.mark.parametrize(
    "target",
    [
        b"/public/v1/preferences/tok",
        b"/public/v1/community/confirm/tok",
        b"/public/v1/event-registrations/tok",
        b"/public/v1/unsubscribe/tok",
    ],
)
async def test_an_unavailable_service_behind_a_page_is_a_page(target: bytes) -> None:
    response = await raw_request(
        gateway_with(failing(httpx.ConnectError)), "GET", target, headers=BROWSER
    )
    assert response.status == 502
    assert "Nothing was changed" in is_page(response)


async def test_too_many_requests_is_a_page_for_a_browser_and_a_problem_for_a_client() -> None:
    app = gateway_with(FakeServices(), public_requests_per_minute_per_ip=1)
    statuses = []
    for _ in range(3):
        statuses.append((await raw_request(app, "GET", b"/public/v1/preferences/tok")).status)
    assert 429 in statuses
    page = await raw_request(app, "GET", b"/public/v1/preferences/tok", headers=BROWSER)
    assert page.status == 429
    assert "Please try again in a minute" in is_page(page)
    assert page.headers["retry-after"]
    problem = await raw_request(app, "GET", b"/public/v1/preferences/tok", headers=API_CLIENT)
    assert problem.status == 429
    assert problem.headers["content-type"] == "application/problem+json"


async def test_a_registration_form_too_large_is_a_page() -> None:
    app = gateway_with(FakeServices(), max_public_request_bytes=10)
    response = await raw_request(
        app,
        "POST",
        b"/public/v1/events/e1/registrations",
        headers={**BROWSER, "content-type": "application/x-www-form-urlencoded"},
        body=b"first_name=" + b"a" * 50,
    )
    assert response.status == 413
    assert "shorten what you entered" in is_page(response)


async def test_a_services_own_5xx_problem_behind_a_page_is_a_page_for_a_browser() -> None:
    def database_timeout(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            504,
            json={"type": "urn:recruitcrm:problem:database-timeout", "status": 504},
            headers={"Content-Type": "application/problem+json", "Retry-After": "5"},
        )

    app = gateway_with(FakeServices(respond=database_timeout))
    page = await raw_request(
        app, "POST", b"/public/v1/unsubscribe/tok", headers=BROWSER, body=ONE_CLICK
    )
    assert page.status == 504
    assert "you may already be unsubscribed" in is_page(page)
    assert page.headers["retry-after"] == "5"
    problem = await raw_request(
        app, "POST", b"/public/v1/unsubscribe/tok", headers=API_CLIENT, body=ONE_CLICK
    )
    assert json.loads(problem.body)["type"] == "urn:recruitcrm:problem:database-timeout"


async def test_paths_no_person_opens_keep_their_problems_even_for_a_browser() -> None:
    app = gateway_with(failing(httpx.ReadTimeout))
    response = await raw_request(app, "GET", b"/t/o/tok", headers=BROWSER)
    assert response.status == 504
    assert response.headers["content-type"] == "application/problem+json"
