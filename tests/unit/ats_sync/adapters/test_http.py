"""The retry policy every ATS adapter calls its ATS with."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from crm_ats_sync.adapters.http import AtsHttp, retry_after_seconds
from crm_ats_sync.application.ports import AtsCredentialsRefused, AtsUnavailableError

pytestmark = pytest.mark.unit


def _client(answers: list[httpx.Response | Exception]) -> tuple[AtsHttp, list[float]]:
    pending = list(answers)
    waits: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        next_answer = pending.pop(0)
        if isinstance(next_answer, Exception):
            raise next_answer
        return next_answer

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="https://ats.test")
    return AtsHttp(client, attempts=3, sleep=sleep, jitter=lambda: 0.5), waits


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 12, 4, 10, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Fri, 04 Dec 2026 10:00:30 GMT", now=now) == 30.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


async def test_a_429_is_waited_out_for_its_retry_after_then_answered() -> None:
    http, waits = _client(
        [httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(200, json={"ok": 1})]
    )
    response = await http.request("GET", "/v1/applications")
    assert response.json() == {"ok": 1}
    assert waits == [2.0]


async def test_transient_failures_back_off_exponentially_then_give_up_with_the_reason() -> None:
    http, waits = _client([httpx.ConnectError("down"), httpx.Response(503), httpx.Response(502)])
    with pytest.raises(AtsUnavailableError, match="502"):
        await http.request("GET", "/v1/jobs")
    assert waits == [0.5, 1.0]


async def test_a_refused_key_is_not_retried() -> None:
    http, waits = _client([httpx.Response(401)])
    # A refusal of its own kind: a backfill it stops fails at once rather than asking again.
    with pytest.raises(AtsCredentialsRefused, match="API key"):
        await http.request("GET", "/v1/jobs")
    assert waits == []


async def test_a_client_error_is_returned_for_the_adapter_to_read() -> None:
    http, _ = _client([httpx.Response(422, json={"errors": ["email taken"]})])
    assert (await http.request("POST", "/v1/prospects")).status_code == 422


async def test_a_write_is_retried_after_a_429_only() -> None:
    # A 429 is refused before any work; a 5xx or a lost answer may follow a created person.
    http, waits = _client(
        [httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(201, json={"id": 7})]
    )
    response = await http.request("POST", "/v1/prospects", retry_transient=False)
    assert (response.status_code, waits) == (201, [1.0])

    for failure in (httpx.Response(503), httpx.ReadTimeout("no answer")):
        http, waits = _client([failure, httpx.Response(201, json={"id": 8})])
        with pytest.raises(AtsUnavailableError, match="may have made the change"):
            await http.request("POST", "/v1/prospects", retry_transient=False)
        assert waits == []
