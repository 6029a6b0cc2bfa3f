"""Sending a webhook again when the receiver did not take it, as the ATSs do.

Greenhouse, Lever and Workable each send a delivery the receiver answered with a 5xx or a 429,
or did not answer at all, again later (hours apart, with backoff). The simulated accounts do
the same within seconds, so a gateway that answered 504 on a loaded machine (the request may
have been taken, and the CRM deduplicates a delivery sent twice) does not fail the demo or a
test. A 4xx other than 429 is the receiver refusing the delivery: it is not sent again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx

# The waits before each further attempt.
RETRY_DELAYS_SECONDS = (1.0, 3.0, 9.0)


def taken_or_refused(response: httpx.Response) -> bool:
    """Whether the receiver answered for good: taken (2xx) or refused (a 4xx but 429)."""
    return response.status_code < 500 and response.status_code != 429


async def deliver_with_retries(
    send: Callable[[], Awaitable[httpx.Response]],
    delays: tuple[float, ...] = RETRY_DELAYS_SECONDS,
) -> httpx.Response:
    """`send()`'s answer, sent again after each of `delays` while the receiver neither took
    nor refused it; the last attempt's answer (or its error) is the outcome."""
    for delay in delays:
        try:
            response = await send()
        except httpx.TransportError:
            pass
        else:
            if taken_or_refused(response):
                return response
        await asyncio.sleep(delay)
    return await send()
