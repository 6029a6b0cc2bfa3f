"""The gateway's own calls to identity providers (discovery, keys, token endpoint), sent to
another address than the issuer's where the gateway cannot reach the issuer's host.

A browser and the gateway may reach one provider at different addresses: in compose the
browser uses `http://localhost:8180` (the published port), the gateway container
`http://keycloak:8080`. The issuer, and so every token's `iss`, stays the browser's URL; only
the gateway's back-channel requests are redirected."""

from __future__ import annotations

from collections.abc import Mapping

import httpx


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """Scheme, host and port (None: the scheme's default)."""
    return url.scheme, url.host, url.port


class BackchannelTransport(httpx.AsyncBaseTransport):
    """Sends a request whose origin is mapped to the mapped origin, path, query and Host
    header kept (as `curl --connect-to` does)."""

    def __init__(self, origins: Mapping[str, str], inner: httpx.AsyncBaseTransport) -> None:
        self._targets = {
            _origin(httpx.URL(source)): httpx.URL(target) for source, target in origins.items()
        }
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = self._targets.get(_origin(request.url))
        if target is None:
            return await self._inner.handle_async_request(request)
        # Connected elsewhere, addressed as before: the Host header stays the issuer's, so a
        # provider deriving its URLs from it (Keycloak without a fixed hostname) answers as it
        # does to browsers; and the caller's request (in errors, in cookies) is left as it was.
        rerouted = httpx.Request(
            request.method,
            request.url.copy_with(scheme=target.scheme, host=target.host, port=target.port),
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return await self._inner.handle_async_request(rerouted)

    async def aclose(self) -> None:
        await self._inner.aclose()


def identity_provider_client(timeout: float, backchannel: Mapping[str, str]) -> httpx.AsyncClient:
    """The HTTP client of every call to identity providers, through `backchannel` if any."""
    if not backchannel:
        return httpx.AsyncClient(timeout=timeout)
    return httpx.AsyncClient(
        timeout=timeout, transport=BackchannelTransport(backchannel, httpx.AsyncHTTPTransport())
    )
