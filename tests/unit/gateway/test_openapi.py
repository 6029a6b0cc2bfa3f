"""The gateway's combined OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest

from crm_gateway.domain.openapi import merge_documents
from crm_gateway.domain.routing import Route

pytestmark = pytest.mark.unit


def document(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    return {"openapi": "3.1.0", "paths": paths, "components": {"schemas": schemas}}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def test_routed_paths_are_published_under_the_api_prefix_with_bearer_security() -> None:
    services = {
        "candidates": document(
            {"/candidates": {"get": {"responses": {"200": ref("Page")}}}, "/healthz": {"get": {}}},
            {"Page": {"title": "candidates page"}},
        ),
        "campaigns": document(
            {"/templates": {"post": {"responses": {"201": ref("Page")}}}},
            {"Page": {"title": "campaigns page"}},
        ),
        "events": document(
            {"/public/events/{event_id}/registrations": {"post": {}}, "/events": {"get": {}}}, {}
        ),
    }
    routes = {
        "candidates": Route("candidates", "candidates", "http://c"),
        "templates": Route("templates", "campaigns", "http://m"),
        "events": Route("events", "events", "http://e"),
    }
    public = {
        "/public/events/{event_id}/registrations": (
            "events",
            "/public/v1/events/{event_id}/registrations",
        )
    }
    merged = merge_documents(document({"/t/o/{token}": {"get": {}}}, {}), services, routes, public)

    assert set(merged["paths"]) == {
        "/t/o/{token}",
        "/api/v1/candidates",
        "/api/v1/templates",
        "/api/v1/events",
        "/public/v1/events/{event_id}/registrations",
    }
    assert merged["paths"]["/api/v1/candidates"]["get"]["security"] == [{"bearerAuth": []}]
    assert "security" not in merged["paths"]["/public/v1/events/{event_id}/registrations"]["post"]
    # Same schema name, different schemas: each path still points at its own service's schema.
    candidates_ref = merged["paths"]["/api/v1/candidates"]["get"]["responses"]["200"]["$ref"]
    templates_ref = merged["paths"]["/api/v1/templates"]["post"]["responses"]["201"]["$ref"]
    schemas = merged["components"]["schemas"]
    assert schemas[candidates_ref.rsplit("/", 1)[1]]["title"] == "candidates page"
    assert schemas[templates_ref.rsplit("/", 1)[1]]["title"] == "campaigns page"
    assert merged["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
