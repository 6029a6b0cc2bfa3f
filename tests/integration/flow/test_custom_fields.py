"""Tenant-defined custom fields through the gateway: the schema, and candidate values checked
against it on every write. (Its own module: a required field binds every later candidate of
the module's tenants.)"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from helpers import eventually, read_events, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, GLOBEX_ADMIN_TOKEN, Stack

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
    globex = stack.as_(GLOBEX_ADMIN_TOKEN)
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


async def test_a_custom_field_is_edited_and_deleted_keeping_the_values_held(
    stack: Stack,
) -> None:
    globex = stack.as_(GLOBEX_ADMIN_TOKEN)
    notice, team = unique("notice").lower(), unique("team").lower()
    for definition in (
        {"key": notice, "label": "Notice", "type": "string"},
        {"key": team, "label": "Team", "type": "enum", "allowed_values": ["Data", "Web"]},
    ):
        created = await stack.gateway.post("/api/v1/custom-fields", json=definition, headers=globex)
        assert created.status_code == 201, created.text
    candidate = await stack.gateway.post(
        "/api/v1/candidates",
        json=person(custom_fields={notice: "Drei Monate", team: "Data"}),
        headers=globex,
    )
    assert candidate.status_code == 201, candidate.text
    url = f"/api/v1/candidates/{candidate.json()['id']}"

    grown = await stack.gateway.patch(
        f"/api/v1/custom-fields/{team}",
        json={"label": "Team (Abteilung)", "allowed_values": ["Data", "Web", "Qualität"]},
        headers=globex,
    )
    assert grown.status_code == 200, grown.text
    assert grown.json()["allowed_values"] == ["Data", "Web", "Qualität"]
    shrunk = await stack.gateway.patch(
        f"/api/v1/custom-fields/{team}", json={"allowed_values": ["Web"]}, headers=globex
    )
    assert error_fields(shrunk) == ["allowed_values"]

    long_notice = unique("Long notice")
    segment = await stack.gateway.post(
        "/api/v1/segments",
        json={
            "name": long_notice,
            "rule": {"all": [{"field": f"custom_fields.{notice}", "op": "equals", "value": "x"}]},
        },
        headers=globex,
    )
    assert segment.status_code == 201, segment.text
    in_use = await stack.gateway.delete(f"/api/v1/custom-fields/{notice}", headers=globex)
    assert in_use.status_code == 409, in_use.text
    assert long_notice in in_use.json()["detail"]
    gone = await stack.gateway.delete(f"/api/v1/segments/{segment.json()['id']}", headers=globex)
    assert gone.status_code == 204, gone.text
    deleted = await stack.gateway.delete(f"/api/v1/custom-fields/{notice}", headers=globex)
    assert deleted.status_code == 204, deleted.text

    listed = await stack.gateway.get("/api/v1/custom-fields", headers=globex)
    assert notice not in [f["key"] for f in listed.json()]
    everything = await stack.gateway.get(
        "/api/v1/custom-fields?include_archived=true", headers=globex
    )
    assert notice in [f["key"] for f in everything.json()]
    held = await stack.gateway.get(url, headers=globex)
    assert held.json()["custom_fields"][notice] == "Drei Monate"
    refused = await stack.gateway.patch(
        url, json={"custom_fields": {notice: "Ein Monat"}}, headers=globex
    )
    assert error_fields(refused) == [f"custom_fields.{notice}"]
    changed = await stack.gateway.patch(
        url, json={"custom_fields": {team: "Qualität"}}, headers=globex
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["custom_fields"] == {notice: "Drei Monate", team: "Qualität"}

    restored = await stack.gateway.post(f"/api/v1/custom-fields/{notice}/restore", headers=globex)
    assert restored.status_code == 200, restored.text
    again = await stack.gateway.patch(
        url, json={"custom_fields": {notice: "Ein Monat"}}, headers=globex
    )
    assert again.status_code == 200, again.text


async def test_a_template_merges_a_custom_field_campaigns_learnt_of(stack: Stack) -> None:
    """The try-out's case: a text field defined, a candidate holding it, and a template merging
    it as `candidate.custom_fields.<key>`, rendered by the preview once campaigns has both the
    definition (`profile.custom_field_changed`) and the value (`candidate.created`); deleted,
    the field is refused at the next save."""
    globex = stack.as_(GLOBEX_ADMIN_TOKEN)
    key = unique("preferred_stack").lower()
    created = await stack.gateway.post(
        "/api/v1/custom-fields",
        json={"key": key, "label": "Preferred stack", "type": "string"},
        headers=globex,
    )
    assert created.status_code == 201, created.text
    candidate = await stack.gateway.post(
        "/api/v1/candidates",
        json=person(first_name="Ada", custom_fields={key: "Go & Rust"}),
        headers=globex,
    )
    assert candidate.status_code == 201, candidate.text
    draft = {
        "candidate_id": candidate.json()["id"],
        "subject": f"Your {{{{ candidate.custom_fields.{key} | default('stack') }}}} roles",
        "html": f"<p>Hi {{{{ candidate.first_name }}}},</p>\n"
        f"<p>{{{{ candidate.custom_fields.{key} }}}}</p>",
        "text": "Hi",
    }
    previews: list[httpx.Response] = []

    async def rendered() -> bool:
        previews.append(
            await stack.gateway.post("/api/v1/templates/preview", json=draft, headers=globex)
        )
        return previews[-1].status_code == 200

    await eventually(rendered, timeout=60, message="campaigns never merged the custom field")
    preview = previews[-1].json()
    assert preview["subject"] == "Your Go & Rust roles"
    assert "<p>Go &amp; Rust</p>" in preview["html"]
    picker = await stack.gateway.get("/api/v1/templates/merge-fields", headers=globex)
    assert f"candidate.custom_fields.{key}" in {f["name"] for f in picker.json()["fields"]}

    deleted = await stack.gateway.delete(f"/api/v1/custom-fields/{key}", headers=globex)
    assert deleted.status_code == 204, deleted.text
    template = {"name": unique("stack"), **{k: v for k, v in draft.items() if k != "candidate_id"}}
    answers: list[httpx.Response] = []

    async def refused() -> bool:
        answers.append(await stack.gateway.post("/api/v1/templates", json=template, headers=globex))
        return answers[-1].status_code == 422

    await eventually(refused, timeout=60, message="campaigns never learnt of the deletion")
    assert f"custom field candidate.custom_fields.{key} was deleted" in answers[-1].text
