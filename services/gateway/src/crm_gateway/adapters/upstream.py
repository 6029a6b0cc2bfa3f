"""The gateway's client for the services: one pool of kept-alive connections, bounded, with
httpx's interface over aiohttp's connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from http.cookiejar import CookieJar, DefaultCookiePolicy

import aiohttp
import httpx

from crm_shared import instrument_http_client, traced_transport


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


class _AiohttpBody(httpx.AsyncByteStream):
    """A response body read from aiohttp, its connection given back to the pool once closed."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        self._response.release()


class _SentBody:
    """A streamed request body, keeping what its own source raised (a 413 cut-off, say), which
    aiohttp would report as a failure of the connection."""

    def __init__(self, stream: httpx.AsyncByteStream) -> None:
        self._stream = stream
        self.failure: BaseException | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except BaseException as failure:
            self.failure = failure
            raise


@contextmanager
def _as_httpx_errors() -> Iterator[None]:
    """aiohttp's failures as the httpx errors the proxy tells apart: whether the request surely
    never reached the service (no connection) or may have (no answer, or not in time)."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as error:
        raise httpx.ConnectTimeout(str(error)) from error
    except aiohttp.ClientConnectorError as error:
        raise httpx.ConnectError(str(error)) from error
    except aiohttp.InvalidURL as error:
        raise httpx.UnsupportedProtocol(str(error)) from error
    except (aiohttp.ServerTimeoutError, TimeoutError) as error:
        raise httpx.ReadTimeout(str(error) or "no answer in time") from error
    except aiohttp.ClientPayloadError as error:
        raise httpx.ReadError(str(error)) from error
    except aiohttp.ClientError as error:
        # A connection lost or refused midway, or an answer that is not HTTP.
        raise httpx.RemoteProtocolError(str(error) or type(error).__name__) from error


# Headers aiohttp writes when a request has none: the proxy passes on only what it was given.
_NOT_ADDED = frozenset({"Content-Type", "Accept", "Accept-Encoding", "User-Agent"})


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx's requests sent over aiohttp's connection pool.

    httpcore spent about half of a forwarded read's CPU in the gateway (its pool's bookkeeping,
    its pure-Python HTTP parsing); aiohttp's pool and C parser cost a third less of the whole
    request (docs/performance.md). Bodies stream both ways and are passed on as they are (not
    decompressed); no cookie is kept between requests; an idempotent request whose kept-alive
    connection the service had closed is sent again once by aiohttp (RFC 9112, 9.3.1)."""

    def __init__(self, *, max_connections: int, keep_alive_seconds: float) -> None:
        self._max_connections = max_connections
        self._keep_alive_seconds = keep_alive_seconds
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running loop aiohttp binds it to.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._max_connections,
                    limit_per_host=0,
                    keepalive_timeout=self._keep_alive_seconds,
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        sent: _SentBody | None = None
        data: bytes | AsyncIterator[bytes] | None
        try:
            data = request.content or None
        except httpx.RequestNotRead:
            assert isinstance(request.stream, httpx.AsyncByteStream)
            sent = _SentBody(request.stream)
            data = sent.chunks()
        headers = [
            (name, value)
            for name, value in request.headers.multi_items()
            if name.lower() != "transfer-encoding"  # aiohttp frames the body itself
        ]
        try:
            with _as_httpx_errors():
                response = await self._client().request(
                    request.method,
                    str(request.url),
                    headers=headers,
                    data=data,
                    allow_redirects=False,
                    compress=False,
                    # The caller's headers as httpx built them, and nothing aiohttp would add
                    # (a body without a type is not `application/octet-stream` to the service).
                    skip_auto_headers=_NOT_ADDED,
                    timeout=aiohttp.ClientTimeout(
                        total=None,
                        sock_connect=timeouts.get("connect"),
                        sock_read=timeouts.get("read"),
                    ),
                )
        except httpx.HTTPError:
            if sent is not None and sent.failure is not None:
                raise sent.failure from None
            raise
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_AiohttpBody(response),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class _NoCookies(httpx.Cookies):
    """A cookie store that takes nothing from a response."""

    def extract_cookies(self, response: httpx.Response) -> None:
        # httpx hands every response to its client's store, which first rebuilds the request
        # and the headers as `urllib` objects for the standard library's jar (about 0.3 ms of
        # a forwarded read under the profiler) only for the jar to refuse every cookie.
        return None


class UpstreamClient(httpx.AsyncClient):
    """httpx's client with a cookie store that reads no response's `Set-Cookie`: one client
    serves every caller, so it keeps none (a cookie one service response sets must not go out
    with the next caller's request, as httpx's own jar would send it)."""

    # Built by the constructor as well, from a jar that refuses every cookie: whichever store
    # httpx consults, none is kept.
    _none = _NoCookies(CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])))

    @property
    def cookies(self) -> httpx.Cookies:
        return self._none

    @cookies.setter
    def cookies(
        self, cookies: httpx.Cookies | CookieJar | dict[str, str] | list[tuple[str, str]]
    ) -> None:
        raise TypeError("the upstream client keeps no cookies")


def upstream_client(
    *, max_connections: int, keep_alive_seconds: float, timeout_seconds: float
) -> httpx.AsyncClient:
    """The client the gateway forwards with: `max_connections` kept-alive connections at most
    (all services together), no redirects followed (a redirect is the caller's to follow), no
    cookies kept."""
    # Every connection the pool may open is kept alive (httpx's own pool kept 20, so past 20
    # concurrent requests each one was a new TCP connection, closed after use).
    bounded = BoundedTransport(
        AiohttpTransport(max_connections=max_connections, keep_alive_seconds=keep_alive_seconds),
        max_connections,
    )
    # Traced outermost, as OpenTelemetry's instrumentation traces the client: the span covers
    # the wait for a slot too.
    traced = traced_transport(bounded)
    client = UpstreamClient(
        transport=traced or bounded,
        timeout=timeout_seconds,
        follow_redirects=False,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
    )
    return client if traced is not None else instrument_http_client(client)
