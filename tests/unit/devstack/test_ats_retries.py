"""The simulated ATSs send a webhook again when the receiver did not take it, as theirs do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest

from crm_devstack.ats.retries import deliver_with_retries

pytestmark = pytest.mark.unit

REQUEST = httpx.Request("POST", "http://crm.test/webhooks")
Send = Callable[[], Awaitable[httpx.Response]]


def answers(*outcomes: int | Exception) -> tuple[list[int], Send]:
    sent: list[int] = []
    pending: Iterator[int | Exception] = iter(outcomes)

    async def send() -> httpx.Response:
        outcome = next(pending)
        sent.append(len(sent) + 1)
        if isinstance(outcome, Exception):
            raise outcome
        return httpx.Response(outcome, request=REQUEST)

    return sent, send


async def test_a_delivery_not_taken_is_sent_again_until_it_is() -> None:
    sent, send = answers(504, httpx.ConnectError("refused", request=REQUEST), 429, 200)
    response = await deliver_with_retries(send, delays=(0, 0, 0))
    assert (response.status_code, len(sent)) == (200, 4)


async def test_a_refusal_is_not_sent_again() -> None:
    sent, send = answers(400, 200)
    response = await deliver_with_retries(send, delays=(0, 0, 0))
    assert (response.status_code, len(sent)) == (400, 1)


async def test_the_last_attempt_is_the_outcome() -> None:
    sent, send = answers(503, 503, 503, 502)
    response = await deliver_with_retries(send, delays=(0, 0, 0))
    assert (response.status_code, len(sent)) == (502, 4)
    sent, send = answers(503, 503, 503, httpx.ReadTimeout("late", request=REQUEST))
    with pytest.raises(httpx.ReadTimeout):
        await deliver_with_retries(send, delays=(0, 0, 0))
