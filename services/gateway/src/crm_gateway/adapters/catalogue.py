"""The services' OpenAPI documents: the source of the combined `/docs` and of the route table."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from crm_gateway.domain.routing import MethodNotAllowed, Operation, Route, ServiceOperations

logger = logging.getLogger(__name__)

# A service whose document could not be fetched is not asked again for this long: requests
# answer 502 at once meanwhile. The fetch itself gives up sooner than an API call would.
FAILURE_HOLD_SECONDS = 2.0
FETCH_TIMEOUT_SECONDS = 5.0


class ServiceUnavailable(Exception):
    """A service's document could not be fetched, and none was fetched before."""


@dataclass(frozen=True)
class _Fetched:
    document: dict[str, Any] | None
    operations: ServiceOperations | None
    at: float


class ServiceCatalogue:
    """Fetches each service's OpenAPI document on first use and again once it is older than
    the age a caller accepts. A failed fetch keeps the document fetched before."""

    def __init__(
        self,
        urls: dict[str, str],
        routes: dict[str, Route],
        *,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._urls = urls
        self._routes = routes
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._fetched: dict[str, _Fetched] = {}
        # When fetching a service's document last failed with none cached: the requests queued
        # behind that fetch answer at once instead of each waiting for a fetch of its own.
        self._failed_at: dict[str, float] = {}
        self._locks = {service: asyncio.Lock() for service in urls}

    async def document(
        self, client: httpx.AsyncClient, service: str, *, max_age: float
    ) -> dict[str, Any] | None:
        """The service's document, fetched again if older than `max_age` seconds."""
        return (await self._current(client, service, max_age)).document

    async def match(
        self, client: httpx.AsyncClient, service: str, method: str, segments: tuple[str, ...]
    ) -> Operation | MethodNotAllowed | None:
        """The operation of `service` that serves `method` on the path `segments`.

        An unpublished path or method is looked up once more in a fresh document (at most one
        fetch per `refresh_seconds`), so an operation a service has just deployed is routed.
        """
        operations = (await self._current(client, service, float("inf"))).operations
        if operations is None:
            raise ServiceUnavailable(service)
        found = operations.match(method, segments)
        if not isinstance(found, Operation):
            operations = (await self._current(client, service, self._refresh_seconds)).operations
            found = operations.match(method, segments) if operations else found
        return found

    async def _current(self, client: httpx.AsyncClient, service: str, max_age: float) -> _Fetched:
        fetched = self._fetched.get(service)
        if fetched is not None and self._clock() - fetched.at < max_age:
            return fetched
        if fetched is None and self._failed_recently(service):
            return _Fetched(None, None, self._clock())
        async with self._locks[service]:
            # Whoever held the lock may just have fetched it, or failed to.
            fetched = self._fetched.get(service)
            if fetched is not None and self._clock() - fetched.at < max_age:
                return fetched
            if fetched is None and self._failed_recently(service):
                return _Fetched(None, None, self._clock())
            document = await self._fetch(client, service)
            if document is not None:
                operations = ServiceOperations.published(document, service, self._routes)
                fetched = _Fetched(document, operations, self._clock())
            elif fetched is not None:
                fetched = _Fetched(fetched.document, fetched.operations, self._clock())
            else:
                self._failed_at[service] = self._clock()
                return _Fetched(None, None, self._clock())
            self._fetched[service] = fetched
            return fetched

    def _failed_recently(self, service: str) -> bool:
        failed_at = self._failed_at.get(service)
        return failed_at is not None and self._clock() - failed_at < FAILURE_HOLD_SECONDS

    async def _fetch(self, client: httpx.AsyncClient, service: str) -> dict[str, Any] | None:
        base_url = self._urls[service]
        try:
            response = await client.get(f"{base_url}/openapi.json", timeout=FETCH_TIMEOUT_SECONDS)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as error:
            logger.warning("no OpenAPI document from %s: %r", base_url, error)
            return None
        if not isinstance(document, dict):
            logger.warning("the OpenAPI document of %s is not an object", base_url)
            return None
        return document
