"""The gateway's upstream pool: bounded, every slot given back, a full pool times out."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from http.cookiejar import CookieJar

import httpx
import pytest
from aiohttp import web

from crm_gateway.adapters.upstream import BoundedTransport, upstream_client
from crm_shared.telemetry import ClientSpans


def _echo(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=request.url.path.encode())


async def test_at_most_the_slots_are_in_flight_and_each_is_given_back() -> None:
    in_flight = 0
    most = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return _echo(request)

    transport = BoundedTransport(httpx.MockTransport(slow), slots=3)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        responses = await asyncio.gather(*(client.get(f"/{n}") for n in range(20)))
        assert [r.text for r in responses] == [f"/{n}" for n in range(20)]
        assert most == 3
        # Every slot came back: three more fit at once.
        again = await asyncio.gather(*(client.get("/again") for _ in range(3)))
        assert all(r.status_code == 200 for r in again)


async def test_a_request_waits_no_longer_than_its_pool_timeout() -> None:
    transport = BoundedTransport(httpx.MockTransport(_echo), slots=1)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        request = client.build_request("GET", "/held")
        held = await client.send(request, stream=True)  # its slot is taken until closed
        with pytest.raises(httpx.PoolTimeout):
            await client.get("/waiting", timeout=httpx.Timeout(5.0, pool=0.05))
        await held.aclose()
        assert (await client.get("/after", timeout=httpx.Timeout(5.0, pool=0.05))).text == "/after"


async def test_a_failed_request_gives_its_slot_back() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    transport = BoundedTransport(httpx.MockTransport(refuse), slots=1)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        for _ in range(3):
            with pytest.raises(httpx.ConnectError):
                await client.get("/", timeout=httpx.Timeout(5.0, pool=0.05))


def test_the_client_follows_no_redirects() -> None:
    client = upstream_client(max_connections=4, keep_alive_seconds=5, timeout_seconds=3)
    assert client.follow_redirects is False
    assert client.timeout.read == 3


def test_the_clients_spans_are_recorded_by_the_lean_transport() -> None:
    # OpenTelemetry's httpx instrumentation records the same spans for more CPU
    # (docs/performance.md); it is used only where an OTEL_* setting asks for more.
    client = upstream_client(max_connections=4, keep_alive_seconds=5, timeout_seconds=3)
    assert isinstance(client._transport, ClientSpans)
    assert not getattr(client, "_is_instrumented_by_opentelemetry", False)


@pytest.fixture
async def service() -> AsyncIterator[str]:
    """A local HTTP service: echoes bodies, streams, sets cookies, takes its time."""

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        response = web.Response(
            body=body,
            headers={
                "X-Method": request.method,
                "X-Cookie": request.headers.get("Cookie", ""),
                "X-Content-Type": request.headers.get("Content-Type", "(none)"),
            },
        )
        response.headers.add("X-Seen", "one")
        response.headers.add("X-Seen", "two")
        response.set_cookie("session", "someone-else")
        return response

    async def streamed(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for part in (b"first ", b"second ", b"third"):
            await response.write(part)
        await response.write_eof()
        return response

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/streamed", streamed)
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_bodies_and_headers_pass_both_ways_and_no_cookie_is_kept(service: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"Zo\xc3\xab ", b"Andr\xc3\xa9 ", b"Bj\xc3\xb6rk"):
            yield part

    async with upstream_client(max_connections=2, keep_alive_seconds=5, timeout_seconds=3) as c:
        posted = await c.post(f"{service}/echo", content=b'{"name": "Zo\xc3\xab"}')
        assert posted.status_code == 200
        assert posted.content == b'{"name": "Zo\xc3\xab"}'
        assert posted.headers.get_list("x-seen") == ["one", "two"]
        streamed_up = await c.put(f"{service}/echo", content=chunks())
        assert streamed_up.text == "Zoë André Björk"
        assert streamed_up.headers["x-method"] == "PUT"
        # The service's cookie is not sent back on the next request (another caller's).
        assert streamed_up.headers["x-cookie"] == ""
        async with c.stream("GET", f"{service}/streamed") as down:
            assert b"".join([part async for part in down.aiter_bytes()]) == b"first second third"
        # A body without a type reaches the service without one, as it was sent.
        untyped = await c.post(f"{service}/echo", content=b"\x00\x01")
        assert untyped.headers["x-content-type"] == "(none)"
        typed = await c.post(f"{service}/echo", json={"a": 1})
        assert typed.headers["x-content-type"] == "application/json"
        many = await asyncio.gather(*(c.get(f"{service}/echo") for _ in range(10)))
        assert {r.status_code for r in many} == {200}


async def test_a_responses_cookies_are_not_even_read(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No cookie is kept, so none is parsed: reading them cost every forwarded request.
    def refuse(*_: object) -> None:
        raise AssertionError("a response's cookies were read")

    monkeypatch.setattr(CookieJar, "extract_cookies", refuse)
    async with upstream_client(max_connections=2, keep_alive_seconds=5, timeout_seconds=3) as c:
        answer = await c.get(f"{service}/echo")
        assert answer.headers["set-cookie"].startswith("session=someone-else")
        assert not c.cookies
        again = await c.get(f"{service}/echo")
        assert again.headers["x-cookie"] == ""
        with pytest.raises(TypeError):
            c.cookies = {"session": "mine"}


async def test_no_connection_is_an_error_that_says_the_request_never_left() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    async with upstream_client(max_connections=2, keep_alive_seconds=5, timeout_seconds=3) as c:
        with pytest.raises(httpx.ConnectError):
            await c.get(f"http://127.0.0.1:{port}/echo")


async def test_no_answer_in_time_is_a_read_timeout(service: str) -> None:
    async with upstream_client(max_connections=2, keep_alive_seconds=5, timeout_seconds=3) as c:
        with pytest.raises(httpx.ReadTimeout):
            await c.get(f"{service}/slow", timeout=0.2)


async def test_a_connection_closed_without_an_answer_may_have_taken_effect() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with upstream_client(max_connections=2, keep_alive_seconds=5, timeout_seconds=3) as c:
            with pytest.raises(httpx.HTTPError) as raised:
                await c.post(f"http://127.0.0.1:{port}/echo", content=b"{}")
            # Not one of the errors that mean "never sent": the proxy answers 504 for it.
            assert not isinstance(raised.value, httpx.ConnectError | httpx.ConnectTimeout)
            assert not isinstance(raised.value, httpx.TimeoutException)
    finally:
        server.close()
        await server.wait_closed()


async def test_a_streamed_body_that_fails_raises_its_own_error(service: str) -> None:
    class TooLarge(Exception):
        pass

    async def chunks() -> AsyncIterator[bytes]:
        yield b"the first part"
        raise TooLarge

    async with upstream_client(max_connections=2, keep_alive_seconds=5, timeout_seconds=3) as c:
        with pytest.raises(TooLarge):
            await c.post(f"{service}/echo", content=chunks())
        assert (await c.get(f"{service}/echo")).status_code == 200
