"""Which route takes a request: the API's catch-all comes after every public and gateway-own
route, also where a forwarded request skips the walk (`ProxyShortcut`)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Match

from crm_gateway.api import proxy
from crm_gateway.api.routing_shortcut import ProxyShortcut
from unit.gateway.fakes import RECRUITER, FakeServices, gateway_with, raw_request

pytestmark = pytest.mark.unit

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


def _scope(method: str, path: str, root_path: str = "") -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": root_path + path,
        "root_path": root_path,
        "headers": [],
    }


def _walked(app: FastAPI, scope: dict[str, Any]) -> BaseRoute | None:
    """The route the whole table gives the request: the first full match, else the first that
    matches the path but not the method (a 405)."""
    partial = None
    for context in iter_route_contexts(app.router.routes):
        match, _ = context.original_route.matches(scope)
        if match == Match.FULL:
            return context.original_route
        if match == Match.PARTIAL and partial is None:
            partial = context.original_route
    return partial


def _paths(app: FastAPI) -> list[str]:
    """A path for every route of the table, and near misses of each under the API."""
    paths = ["/", "/api", "/api/v1", "/api/v1/", "/api/v1//", "/api/v2/x", "/apix/v1/x"]
    for context in iter_route_contexts(app.router.routes):
        template = context.path or ""
        path = re.sub(r"\{path:path\}", "candidates/c1", template)
        path = re.sub(r"\{[^}]+\}", "x1", path)
        paths += [path, path + "/", path + "/more", path.rstrip("/") + "x"]
    return paths


@pytest.fixture
def app() -> FastAPI:
    return gateway_with(FakeServices())


def test_a_request_skips_the_walk_only_where_the_catch_all_would_take_it(app: FastAPI) -> None:
    shortcut = app.router.middleware_stack
    assert isinstance(shortcut, ProxyShortcut)
    catch_all = proxy.router.routes[0]
    taken = 0
    for root_path in ("", "/crm"):
        for path in _paths(app):
            for method in METHODS:
                scope = _scope(method, path, root_path)
                if shortcut.takes(scope):
                    taken += 1
                    assert _walked(app, scope) is catch_all, (method, root_path + path)
    assert taken > 100
    # A forwarded read skips it; the gateway's own routes and the public ones never do.
    assert shortcut.takes(_scope("GET", "/api/v1/candidates/c1"))
    assert shortcut.takes(_scope("GET", "/api/v1/candidates/c1", "/crm"))
    for method, path in [
        ("GET", "/api/v1/users"),
        ("DELETE", "/api/v1/team"),
        ("GET", "/api/v1/candidates/c1/export"),
        ("POST", "/api/v1/platform/tenants/acme/suspend"),
        ("GET", "/healthz"),
        ("GET", "/auth/session"),
        ("GET", "/console/candidates"),
        ("GET", "/docs"),
        ("GET", "/api/v1"),
    ]:
        assert not shortcut.takes(_scope(method, path)), (method, path)


async def test_the_gateways_own_routes_still_come_before_the_catch_all() -> None:
    services = FakeServices()
    app = gateway_with(services)
    # The GDPR export is the gateway's own: a recruiter is refused it here, asking no service.
    export = await raw_request(app, "GET", b"/api/v1/candidates/c1/export", headers=RECRUITER)
    assert export.status == 403, export.body
    assert json.loads(export.body)["permission"] == "gdpr:read"
    health = await raw_request(app, "GET", b"/healthz")
    assert health.status == 200
    assert services.paths() == []
    # Beside it, a candidate's read is forwarded, also under a root path.
    read = await raw_request(app, "GET", b"/api/v1/candidates/c1", headers=RECRUITER)
    assert read.status == 200, read.body
    rooted = await raw_request(
        app, "GET", b"/api/v1/candidates/c2", headers=RECRUITER, root_path="/crm"
    )
    assert rooted.status == 200, rooted.body
    assert services.paths() == ["/candidates/c1", "/candidates/c2"]
    # A method the catch-all does not serve is a 405 problem, as from the whole table.
    refused = await raw_request(app, "TRACE", b"/api/v1/candidates/c1", headers=RECRUITER)
    assert refused.status == 405, refused.body
    assert refused.headers["content-type"] == "application/problem+json"
