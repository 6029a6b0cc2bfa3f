"""Tenant-defined custom fields through the gateway: the schema, and candidate values checked
against it on every write. (Its own module: a required field binds every later candidate of
the module's tenants.)"""

from __future__ import annotations

from typing import Any

import pytest

from helpers import read_events, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, GLOBEX_TOKEN, Stack

pytestmark = pytest.mark.integration

FIELDS: list[dict[str, Any]] = [
    {"key": "notice_weeks", "label": "Notice period (weeks)", "type": "number"},
    {"key": "clearance", "label": "Security clearance", "type": "boolean"},
    {"key": "available_from", "label": "Available from", "type": "date"},
    {
        "key": "level",
        "label": "Level",
        "type": "enum",
        "required": True,
        "allowed_values": ["Junior", "Senior"],
    },
    {
        "key": "languages",
        "label": "Languages",
        "type": "multi_enum",
        "allowed_values": ["de", "en"],
    },
]


def person(**fields: Any) -> dict[str, Any]:
    tag = unique("custom")
    return {"first_name": "Cus", "last_name": tag, "emails": [f"{tag}@example.org"], **fields}


def error_fields(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return sorted(error["field"] for error in response.json()["errors"])


async def test_custom_field_values_are_checked_against_the_tenants_schema(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    admin = stack.as_(ACME_ADMIN_TOKEN)
    for definition in FIELDS:
        created = await stack.gateway.post("/api/v1/custom-fields", json=definition, headers=admin)
        assert created.status_code == 201, created.text
    listed = await stack.gateway.get("/api/v1/custom-fields", headers=stack.as_(ACME_TOKEN))
    assert [field["key"] for field in listed.json()] == [field["key"] for field in FIELDS]
    level = await stack.gateway.get("/api/v1/custom-fields/level", headers=admin)
    assert level.json()["allowed_values"] == ["Junior", "Senior"]

    auth = stack.as_(ACME_TOKEN)
    response = await stack.gateway.post(
        "/api/v1/candidates",
        json=person(
            custom_fields={
                "notice_weeks": 4,
                "clearance": True,
                "available_from": "2026-03-01",
                "level": "senior",
                "languages": ["EN", "de"],
            }
        ),
        headers=auth,
    )
    assert response.status_code == 201, response.text
    candidate = response.json()
    stored_values = {
        "notice_weeks": 4,
        "clearance": True,
        "available_from": "2026-03-01",
        "level": "Senior",
        "languages": ["en", "de"],
    }
    assert candidate["custom_fields"] == stored_values
    [event] = await read_events(
        kafka_bootstrap_servers,
        "candidate.created",
        where=lambda e: e["subject"] == candidate["id"],
        count=1,
    )
    assert event["data"]["custom_fields"] == stored_values

    bad = await stack.gateway.post(
        "/api/v1/candidates",
        json=person(
            custom_fields={
                "notice_weeks": "four",
                "clearance": "yes",
                "available_from": "01/03/2026",
                "languages": ["fr"],
                "salary": 100,
            }
        ),
        headers=auth,
    )
    assert error_fields(bad) == [
        "custom_fields.available_from",
        "custom_fields.clearance",
        "custom_fields.languages",
        "custom_fields.level",
        "custom_fields.notice_weeks",
        "custom_fields.salary",
    ]
    missing = await stack.gateway.post("/api/v1/candidates", json=person(), headers=auth)
    assert error_fields(missing) == ["custom_fields.level"]

    # A change merges the keys sent; removing a required value is refused.
    path = f"/api/v1/candidates/{candidate['id']}"
    merged = await stack.gateway.patch(
        path, json={"custom_fields": {"notice_weeks": 2.5, "clearance": None}}, headers=auth
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["custom_fields"] == {
        "notice_weeks": 2.5,
        "available_from": "2026-03-01",
        "level": "Senior",
        "languages": ["en", "de"],
    }
    unrequired = await stack.gateway.patch(
        path, json={"custom_fields": {"level": None}}, headers=auth
    )
    assert error_fields(unrequired) == ["custom_fields.level"]
    not_allowed = await stack.gateway.patch(
        path, json={"custom_fields": {"level": "Principal"}}, headers=auth
    )
    assert error_fields(not_allowed) == ["custom_fields.level"]
    unchanged = await stack.gateway.get(path, headers=auth)
    assert unchanged.json()["custom_fields"]["level"] == "Senior"


async def test_a_custom_field_schema_must_make_sense(stack: Stack) -> None:
    admin = stack.as_(ACME_ADMIN_TOKEN)
    key = unique("k").lower()
    cases = [
        ({"key": key, "label": "L", "type": "enum"}, ["allowed_values"]),
        ({"key": key, "label": "L", "type": "string", "allowed_values": ["a"]}, ["allowed_values"]),
        ({"key": "Bad Key", "label": "L", "type": "string"}, ["key"]),
        ({"key": key, "label": "L", "type": "colour"}, ["type"]),
    ]
    for body, fields in cases:
        response = await stack.gateway.post("/api/v1/custom-fields", json=body, headers=admin)
        assert error_fields(response) == fields, body
    first = await stack.gateway.post(
        "/api/v1/custom-fields", json={"key": key, "label": "L", "type": "string"}, headers=admin
    )
    assert first.status_code == 201, first.text
    again = await stack.gateway.post(
        "/api/v1/custom-fields", json={"key": key, "label": "L", "type": "number"}, headers=admin
    )
    assert again.status_code == 409


async def test_custom_fields_belong_to_one_tenant(stack: Stack) -> None:
    globex = stack.as_(GLOBEX_TOKEN)
    key = unique("globex").lower()
    created = await stack.gateway.post(
        "/api/v1/custom-fields",
        json={"key": key, "label": "Globex only", "type": "boolean"},
        headers=globex,
    )
    assert created.status_code == 201, created.text
    acme_fields = await stack.gateway.get("/api/v1/custom-fields", headers=stack.as_(ACME_TOKEN))
    assert key not in {field["key"] for field in acme_fields.json()}
    hidden = await stack.gateway.get(f"/api/v1/custom-fields/{key}", headers=stack.as_(ACME_TOKEN))
    assert hidden.status_code == 404
    # Acme's schema does not bind Globex; Globex's field is unknown to Acme.
    ok = await stack.gateway.post(
        "/api/v1/candidates", json=person(custom_fields={key: True}), headers=globex
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["custom_fields"] == {key: True}
    refused = await stack.gateway.post(
        "/api/v1/candidates",
        json=person(custom_fields={key: True, "level": "Junior"}),
        headers=stack.as_(ACME_TOKEN),
    )
    assert f"custom_fields.{key}" in error_fields(refused)
