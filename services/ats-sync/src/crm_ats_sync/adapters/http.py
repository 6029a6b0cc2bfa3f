"""Calling an ATS's HTTP API politely: 429s waited out after their `Retry-After`, transient
failures retried with exponential backoff and jitter, and a clear `AtsUnavailableError` when
the retry budget is spent. Every adapter calls its ATS through this."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from crm_ats_sync.application.ports import AtsCredentialsRefused, AtsUnavailableError

Sleep = Callable[[float], Awaitable[None]]

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
UNKNOWN_OUTCOME = "not retried: the ATS may have made the change"


def retry_after_seconds(header: str | None, *, now: datetime | None = None) -> float | None:
    """The wait a `Retry-After` header asks for, in seconds: delta-seconds or an HTTP date
    (RFC 9110 section 10.2.3); None when absent or unreadable."""
    if not header:
        return None
    value = header.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


class AtsHttp:
    """An HTTP client for one ATS account, with the retry policy above."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        attempts: int = 5,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        sleep: Sleep = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        wait_hint: Callable[[httpx.Response], float | None] | None = None,
    ) -> None:
        self.client = client
        self._attempts = attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._sleep = sleep
        self._jitter = jitter
        # How long the ATS asks to wait when it says so other than by `Retry-After` (Workable's
        # `X-Rate-Limit-Reset`).
        self._wait_hint = wait_hint

    async def request(
        self, method: str, url: str, *, retry_transient: bool = True, **options: Any
    ) -> httpx.Response:
        """The ATS's answer to one request, retried while it is transient; raises
        `AtsUnavailableError` for a refusal (401/403) or when the attempts are spent. Other
        4xx answers are returned for the adapter to read.

        A write that creates something passes `retry_transient=False`: after a 5xx or a lost
        answer the ATS may have created it already, so only a 429 (refused before any work) is
        retried, and the other failures are raised at once, saying the outcome is unknown."""
        problem = ""
        wait = 0.0
        for attempt in range(self._attempts):
            if attempt:
                await self._sleep(wait)
            try:
                response = await self.client.request(method, url, **options)
            except httpx.TransportError as error:
                problem = f"{method} {url} failed: {type(error).__name__}"
                if not retry_transient:
                    raise AtsUnavailableError(f"{problem}; {UNKNOWN_OUTCOME}") from error
                wait = self._backoff(attempt)
                continue
            if response.status_code in (401, 403):
                raise AtsCredentialsRefused(
                    f"{method} {url} was refused ({response.status_code}): check the API key"
                )
            if response.status_code not in TRANSIENT_STATUSES:
                return response
            problem = f"{method} {url} answered {response.status_code}"
            if response.status_code != 429 and not retry_transient:
                raise AtsUnavailableError(f"{problem}; {UNKNOWN_OUTCOME}")
            asked = retry_after_seconds(response.headers.get("retry-after"))
            if asked is None and self._wait_hint is not None:
                asked = self._wait_hint(response)
            wait = self._backoff(attempt) if asked is None else min(asked, self._max_delay)
        raise AtsUnavailableError(f"{problem} ({self._attempts} attempts)")

    def _backoff(self, attempt: int) -> float:
        delay: float = min(self._max_delay, self._base_delay * 2**attempt)
        return delay * (0.5 + self._jitter())

    async def aclose(self) -> None:
        await self.client.aclose()
