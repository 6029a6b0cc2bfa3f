"""Every list operation of every service refuses a query parameter it does not declare (422),
as the README promises: a misspelt filter (`/audit?actor_id=`, `/users?status=`) must not
silently answer the whole, unfiltered list."""

from __future__ import annotations

from typing import Any, get_origin

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from crm_devstack.permission_matrix import service_apps
from crm_shared import reject_unknown_query_params

# Browser redirects, whose query the identity provider writes (it may add `iss`,
# `session_state`, ...): not a list, and an extra parameter there is no misspelt filter.
NOT_LISTS = frozenset({"/auth/callback", "/auth/login"})


@pytest.fixture(scope="module")
def apps() -> dict[str, FastAPI]:
    return service_apps()


def _refuses_unknown(dependant: Dependant) -> bool:
    return any(
        sub.call is reject_unknown_query_params or _refuses_unknown(sub)
        for sub in dependant.dependencies
    )


def _is_list(route: APIRoute, query: list[Any]) -> bool:
    """A list operation: it answers a list or a page (`items`), or it takes filters."""
    model = route.response_model
    if get_origin(model) is list:
        return True
    if isinstance(model, type) and "items" in getattr(model, "model_fields", {}):
        return True
    return bool(query)


def test_every_list_operation_refuses_unknown_query_parameters(apps: dict[str, FastAPI]) -> None:
    lists: list[str] = []
    missing: list[str] = []
    for service, app in apps.items():
        for context in iter_route_contexts(app.routes):
            route = context.original_route
            path = str(context.path_format)
            if not isinstance(route, APIRoute) or "GET" not in (context.methods or ()):
                continue
            if path in NOT_LISTS or not _is_list(route, context.dependant.query_params):
                continue
            lists.append(f"{service}: GET {path}")
            if not _refuses_unknown(context.dependant):
                missing.append(f"{service}: GET {path}")
    # The walk finds the lists an admin try-out found unfiltered, and the candidates list.
    for expected in (
        "gateway: GET /api/v1/audit",
        "gateway: GET /api/v1/users",
        "gateway: GET /api/v1/api-keys",
        "candidates: GET /candidates",
    ):
        assert expected in lists
    assert missing == [], "add Depends(reject_unknown_query_params) to these list routes"
