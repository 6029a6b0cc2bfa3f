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


def test_forwarded_operations_document_the_gateways_own_problems() -> None:
    services = {"candidates": document({"/candidates/{candidate_id}": {"get": {}}}, {})}
    routes = {"candidates": Route("candidates", "candidates", "http://c")}
    merged = merge_documents(document({}, {}), services, routes, {})
    responses = merged["paths"]["/api/v1/candidates/{candidate_id}"]["get"]["responses"]
    assert {"400", "401", "403", "413", "429", "502", "504"} <= set(responses)
    assert "unknown-tenant" in responses["403"]["description"]
    assert "never reached" in responses["502"]["description"]
    assert "may have taken effect" in responses["504"]["description"]
    problem_ref = responses["504"]["content"]["application/problem+json"]["schema"]["$ref"]
    assert merged["components"]["schemas"][problem_ref.rsplit("/", 1)[1]]["required"] == [
        "type",
        "title",
        "status",
        "detail",
        "instance",
    ]


def test_public_endpoints_document_the_gateways_limits_and_the_captcha() -> None:
    services = {
        "candidates": document(
            {"/public/community/signups": {"post": {}}, "/public/preferences/{token}": {"get": {}}},
            {},
        )
    }
    routes = {"candidates": Route("candidates", "candidates", "http://c")}
    public = {
        "/public/community/signups": ("candidates", "/public/v1/community/signups"),
        "/public/preferences/{token}": ("candidates", "/public/v1/preferences/{token}"),
    }
    merged = merge_documents(document({}, {}), services, routes, public)
    signup = merged["paths"]["/public/v1/community/signups"]["post"]["responses"]
    assert {"429", "503"} <= set(signup)
    assert "captcha-unavailable" in signup["503"]["description"]
    preferences = merged["paths"]["/public/v1/preferences/{token}"]["get"]["responses"]
    assert "429" in preferences
    assert "503" not in preferences


def test_every_forwarded_post_documents_the_idempotency_key() -> None:
    validation = {"description": "Validation Error", "content": {"application/json": {}}}
    services = {
        "events": document(
            {
                "/events": {
                    "get": {"responses": {"200": {"description": "OK"}}},
                    "post": {
                        "parameters": [{"name": "x", "in": "query"}],
                        "responses": {"201": {"description": "Created"}, "422": validation},
                    },
                },
                "/public/events/{event_id}/registrations": {"post": {}},
            },
            {},
        )
    }
    routes = {"events": Route("events", "events", "http://e")}
    public = {
        "/public/events/{event_id}/registrations": (
            "events",
            "/public/v1/events/{event_id}/registrations",
        )
    }
    merged = merge_documents(document({}, {}), services, routes, public)
    post = merged["paths"]["/api/v1/events"]["post"]
    assert [p["name"] for p in post["parameters"]] == ["x", "Idempotency-Key"]
    key = post["parameters"][1]
    assert (key["in"], key["required"], key["schema"]["maxLength"]) == ("header", False, 255)
    responses = post["responses"]
    assert "Idempotent-Replayed" in responses["201"]["headers"]
    assert "idempotency-key-in-use" in responses["409"]["description"]
    # The service's validation 422 stays, and says the gateway's 422 too.
    assert responses["422"]["description"].startswith("Validation Error")
    assert "idempotency-key-reused" in responses["422"]["description"]
    assert "application/json" in responses["422"]["content"]
    assert "invalid-path" in responses["400"]["description"]
    assert "invalid-idempotency-key" in responses["400"]["description"]
    assert "idempotency-unavailable" in responses["503"]["description"]
    # Only authenticated POSTs: not GET, not the public endpoints (no caller to scope keys to).
    get = merged["paths"]["/api/v1/events"]["get"]
    assert "parameters" not in get
    assert "409" not in get["responses"]
    public_post = merged["paths"]["/public/v1/events/{event_id}/registrations"]["post"]
    assert "parameters" not in public_post


def test_a_services_own_reason_for_a_status_is_kept_beside_the_gateways() -> None:
    forbidden = {"description": "Requires the admin role (`forbidden`).", "content": {}}
    services = {
        "candidates": document(
            {"/candidates/{candidate_id}": {"delete": {"responses": {"403": forbidden}}}}, {}
        )
    }
    routes = {"candidates": Route("candidates", "candidates", "http://c")}
    merged = merge_documents(document({}, {}), services, routes, {})
    responses = merged["paths"]["/api/v1/candidates/{candidate_id}"]["delete"]["responses"]
    assert "admin role" in responses["403"]["description"]
    assert "unknown-tenant" in responses["403"]["description"]


def test_the_gateways_own_endpoints_document_its_problems() -> None:
    gateway = document(
        {
            "/t/o/{token}": {"get": {"responses": {"200": {"description": "pixel"}}}},
            "/api/v1/candidates/{candidate_id}/export": {"get": {"responses": {}}},
        },
        {},
    )
    merged = merge_documents(gateway, {}, {}, {})
    pixel = merged["paths"]["/t/o/{token}"]["get"]["responses"]
    assert {"200", "400", "413", "429", "502", "504"} <= set(pixel)
    assert "401" not in pixel
    export = merged["paths"]["/api/v1/candidates/{candidate_id}/export"]["get"]["responses"]
    assert {"401", "403", "429"} <= set(export)
