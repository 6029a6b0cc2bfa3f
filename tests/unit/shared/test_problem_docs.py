"""Every operation documents the problems it answers, as application/problem+json."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel

from crm_analytics.config import AnalyticsSettings
from crm_analytics.main import create_app as create_analytics
from crm_ats_sync.config import AtsSyncSettings
from crm_ats_sync.main import create_app as create_ats_sync
from crm_campaigns.config import CampaignsSettings
from crm_campaigns.main import create_app as create_campaigns
from crm_candidates.config import CandidatesSettings
from crm_candidates.main import create_app as create_candidates
from crm_events.config import EventsSettings
from crm_events.main import create_app as create_events
from crm_shared import (
    PROBLEM_JSON,
    CurrentPrincipal,
    IfMatch,
    problem_responses,
    reject_unknown_query_params,
    require_permission,
)
from crm_shared.errors import install_problem_docs, install_problem_handlers
from helpers import ats_secret_keys
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY

pytestmark = pytest.mark.unit

SECRETS: dict[str, Any] = {
    "internal_token_public_key": INTERNAL_TOKEN_PUBLIC_KEY,
    "link_signing_secret": "unit-tests-link-signing-secret-0123456789",
}


class Note(BaseModel):
    text: str


def app_with_routes() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    install_problem_docs(app)
    router = APIRouter(prefix="/notes")

    @router.get("")
    async def list_notes(principal: CurrentPrincipal, cursor: str | None = None) -> list[Note]:
        return []

    @router.post(
        "", dependencies=[require_permission("settings:write")], responses=problem_responses(409)
    )
    async def add_note(note: Note, principal: CurrentPrincipal) -> Note:
        return note

    @router.patch("/{note_id}")
    async def edit_note(note_id: str, note: Note, if_match: IfMatch = None) -> Note:
        return note

    @router.get(
        "/{note_id}/page",
        response_class=HTMLResponse,
        responses={410: {"content": {"text/html": {}}, "description": "An expired page."}},
    )
    async def page(note_id: str) -> str:
        return "<p>note</p>"

    @router.get("/search", dependencies=[Depends(reject_unknown_query_params)])
    async def search() -> list[Note]:
        return []

    app.include_router(router)
    return app


def statuses(document: dict[str, Any], path: str, method: str) -> set[str]:
    return set(document["paths"][path][method]["responses"])


def test_problem_statuses_follow_from_how_a_route_is_declared() -> None:
    document = app_with_routes().openapi()

    # Authenticated: 401; a paging cursor: 400; validated query: 422.
    assert statuses(document, "/notes", "get") == {"200", "400", "401", "422"}
    # A role: 403; declared on the route: 409.
    assert statuses(document, "/notes", "post") == {"200", "401", "403", "409", "422"}
    # A path naming a resource: 404; If-Match: 412 and 428.
    assert statuses(document, "/notes/{note_id}", "patch") == {
        "200",
        "404",
        "412",
        "422",
        "428",
    }
    assert statuses(document, "/notes/search", "get") == {"200", "422"}


def test_every_problem_is_problem_json_and_fastapis_validation_schema_is_gone() -> None:
    document = app_with_routes().openapi()
    validation = document["paths"]["/notes"]["post"]["responses"]["422"]
    assert validation["content"] == {
        PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ValidationProblem"}}
    }
    conflict = document["paths"]["/notes"]["post"]["responses"]["409"]
    assert conflict["content"] == {
        PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert schemas["Problem"]["required"] == ["type", "title", "status", "detail", "instance"]
    # A response declared with content of its own (a page for a browser) keeps it.
    expired = document["paths"]["/notes/{note_id}/page"]["get"]["responses"]["410"]
    assert expired["content"] == {"text/html": {}}


def test_the_documented_422_is_what_a_bad_request_gets() -> None:
    app = app_with_routes()
    document = app.openapi()
    response = TestClient(app).patch("/notes/n1", json={"text": 3})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    documented = document["paths"]["/notes/{note_id}"]["patch"]["responses"]["422"]["content"]
    assert response.headers["content-type"] in documented
    assert {"type", "title", "status", "detail", "instance", "errors"} <= set(response.json())


SERVICES: dict[str, Callable[[], FastAPI]] = {
    "candidates": lambda: create_candidates(CandidatesSettings(**SECRETS)),
    "campaigns": lambda: create_campaigns(
        CampaignsSettings(tracking_secret="unit-tests-tracking-secret-0123456789", **SECRETS)
    ),
    "events": lambda: create_events(EventsSettings(**SECRETS)),
    "ats-sync": lambda: create_ats_sync(
        AtsSyncSettings(ats_secret_keys=ats_secret_keys(), **SECRETS)
    ),
    "analytics": lambda: create_analytics(AnalyticsSettings(**SECRETS)),
}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_error_response_of_every_service_is_a_documented_problem(service: str) -> None:
    document = SERVICES[service]().openapi()
    undocumented = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400 and PROBLEM_JSON not in response.get("content", {}):
                    undocumented.append(f"{method.upper()} {path} {status}")
            if not path.startswith("/public/") and "401" not in operation["responses"]:
                undocumented.append(f"{method.upper()} {path} 401")
    assert not undocumented
    assert "HTTPValidationError" not in document["components"]["schemas"]
