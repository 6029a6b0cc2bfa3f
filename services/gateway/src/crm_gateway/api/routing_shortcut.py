"""The route table walked once per API request instead of route by route.

FastAPI matches a request against each route in turn, and the API's catch-all (`proxy.router`)
comes after the public, sign-in and gateway-own routes: every forwarded request was matched
against 44 routes first (about a tenth of the gateway's CPU on a read, docs/performance.md).
None of the public routes can match a path under `/api/v1/`, so such a path that none of the
gateway's own API routes matches either (whatever the method) ends at the catch-all anyway;
it is sent to a router holding the catch-all alone. Every other request walks the whole table
as before, so precedence, 404s and 405s, the OpenAPI document and the problem handlers (the
app's, around the router) are unchanged.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Route, compile_path
from starlette.types import ASGIApp, Receive, Scope, Send


def _route_path(scope: Scope) -> str:
    """The path routes are matched against: the request's, less the root path the app is
    mounted under (as Starlette's routes read it)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path != root and path[len(root)] == "/":
        return path[len(root) :]
    return path


class ProxyShortcut:
    """The router's own walk, except for a request the API's catch-all takes in any case."""

    def __init__(self, app: FastAPI, *, proxy: APIRouter) -> None:
        if len(proxy.routes) != 1 or not isinstance(proxy.routes[0], APIRoute):
            raise ValueError("the proxy router holds one catch-all route")
        catch_all = proxy.routes[0]
        # The table in the order the router walks it, each route at its full path.
        walk = list(iter_route_contexts(app.router.routes))
        position = next(n for n, route in enumerate(walk) if route.original_route is catch_all)
        path = walk[position].path
        if path is None or not path.endswith("/{path:path}"):
            raise ValueError(f"the proxy's route {path!r} is no catch-all")
        self._prefix = path.removesuffix("{path:path}")
        # Every route before the catch-all that could match a path under its prefix: a path one
        # of them matches (with any method) walks the whole table. A route whose fixed start
        # leads elsewhere (`/healthz`, `/auth/...`) never can.
        patterns: dict[str, re.Pattern[str]] = {}
        for route in walk[:position]:
            route_path = route.path
            if route_path is None:
                raise TypeError(f"a route with no path comes before the catch-all: {route!r}")
            fixed = route_path.partition("{")[0]
            if not (fixed.startswith(self._prefix) or self._prefix.startswith(fixed)):
                continue
            if not isinstance(route.original_route, Route):
                # A mount or a host: not a single pattern to test.
                raise TypeError(f"{route_path!r} comes before the catch-all and may overlap it")
            pattern = compile_path(route_path)[0]
            patterns[pattern.pattern] = pattern
        self._own = tuple(patterns.values())
        self._router = app.router
        self._everything: ASGIApp = app.router.middleware_stack
        self._proxy = APIRouter()
        self._proxy.include_router(proxy)

    def takes(self, scope: Scope) -> bool:
        """Whether the request goes to the catch-all without the walk."""
        if scope["type"] != "http":
            return False
        path = _route_path(scope)
        return path.startswith(self._prefix) and not any(
            pattern.match(path) for pattern in self._own
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.takes(scope):
            # As the whole table's router would have left it, for `url_for`.
            scope.setdefault("router", self._router)
            await self._proxy(scope, receive, send)
            return
        await self._everything(scope, receive, send)


def install_proxy_shortcut(app: FastAPI, *, proxy: APIRouter) -> ProxyShortcut:
    """Puts the shortcut in front of `app`'s route walk, inside its middleware and exception
    handlers (Starlette's place for a router's own middleware). Call it once every route is
    in place: the routes before `proxy`'s catch-all are read now."""
    shortcut = ProxyShortcut(app, proxy=proxy)
    app.router.middleware_stack = shortcut
    return shortcut
