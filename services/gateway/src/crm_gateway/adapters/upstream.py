"""The gateway's client for the services: one pool of kept-alive connections, bounded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx


class _ReleasingStream(httpx.AsyncByteStream):
    """A response body that gives its request's slot back once it is closed."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._release is not None:
                self._release()
                self._release = None


class BoundedTransport(httpx.AsyncBaseTransport):
    """At most `slots` requests inside the connection pool at once; the others wait here.

    httpcore's pool looks through every waiting request and every connection (polling each
    idle socket) whenever one is taken or given back: with hundreds of requests queued inside
    it, that search cost a forwarded request more CPU than everything else the gateway does.
    Waiting on a semaphore costs nothing, and the wait is bounded by the request's pool
    timeout, after which it fails as httpx's own pool would (`httpx.PoolTimeout`)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, slots: int) -> None:
        if slots <= 0:
            raise ValueError("the upstream pool needs at least one slot")
        self._inner = inner
        self._slots = asyncio.Semaphore(slots)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no upstream connection was free in time") from None
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException:
            self._slots.release()
            raise
        if not isinstance(response.stream, httpx.AsyncByteStream):
            # No asynchronous body to wait for (not what an asynchronous transport answers).
            self._slots.release()
            return response
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_ReleasingStream(response.stream, self._slots.release),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def upstream_client(
    *, max_connections: int, keep_alive_seconds: float, timeout_seconds: float
) -> httpx.AsyncClient:
    """The client the gateway forwards with: `max_connections` kept-alive connections at most
    (all services together), no redirects followed (a redirect is the caller's to follow)."""
    # httpx keeps 20 idle connections by default: past 20 concurrent requests each one was a
    # new TCP connection, closed after use. Every connection the pool may open is kept.
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=keep_alive_seconds,
    )
    return httpx.AsyncClient(
        transport=BoundedTransport(httpx.AsyncHTTPTransport(limits=limits), max_connections),
        timeout=timeout_seconds,
        follow_redirects=False,
    )
