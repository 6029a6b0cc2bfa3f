"""Candidate profiles through the gateway: normalised fields, notes, talent pools and the
changes other services request, on the real broker and database."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from conftest import SmtpSink
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient

from crm_shared import (
    CANDIDATE_CHANGE_REFUSED,
    CANDIDATE_CHANGE_REQUESTED,
    POOL_STAGE_CHANGED,
    CandidateChangeRequested,
    EventEnvelope,
)
from helpers import eventually, read_events, unique
from integration.flow.conftest import (
    ACME_ADMIN_TOKEN,
    ACME_TOKEN,
    GLOBEX_ADMIN_TOKEN,
    GLOBEX_TOKEN,
    Stack,
)
from integration.flow.sequencing import create_candidate, create_template, pool_move, publish

pytestmark = pytest.mark.integration


def person(tag: str, **fields: Any) -> dict[str, Any]:
    return {"first_name": "Pro", "last_name": tag, "emails": [f"{tag}@example.org"], **fields}


async def create(stack: Stack, token: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await stack.gateway.post("/api/v1/candidates", json=body, headers=stack.as_(token))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def error_fields(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [error["field"] for error in response.json()["errors"]]


async def test_messy_input_is_stored_normalised_and_the_event_carries_it(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    admin = stack.as_(ACME_ADMIN_TOKEN)
    region = await stack.gateway.put(
        "/api/v1/profile-settings", json={"default_phone_region": "de"}, headers=admin
    )
    assert region.status_code == 200, region.text
    assert region.json() == {"default_phone_region": "DE"}
    vocabulary = await stack.gateway.put(
        "/api/v1/skills/vocabulary",
        json={"skills": [{"canonical": "JavaScript", "synonyms": ["JS", "ECMAScript"]}]},
        headers=stack.as_(ACME_ADMIN_TOKEN),
    )
    assert vocabulary.status_code == 200, vocabulary.text
    assert vocabulary.json()["skills"] == [
        {"canonical": "javascript", "synonyms": ["js", "ecmascript"]}
    ]

    tag = unique("messy")
    created = await create(
        stack,
        ACME_TOKEN,
        person(
            tag,
            emails=[f" {tag.upper()}@Example.ORG "],
            phones=["030 12345678", "+1 (415) 555-0100", "+49 30 1234 5678"],
            profile_urls=[
                "http://www.LinkedIn.com/in/Ada-Lovelace/?utm_source=share",
                "github.com/AdaL/",
            ],
            skills=["JS", "Java Script", "ecmascript", "Python "],
            time_zone="Europe/Berlin",
            locale="en_gb",
            seniority="Senior",
            desired_roles=["Staff Engineer", " Staff  Engineer"],
            work_preferences={"arrangements": ["remote", "hybrid"], "open_to_relocation": True},
        ),
    )
    expected = {
        "emails": [f"{tag}@example.org"],
        "phones": ["+493012345678", "+14155550100"],
        "profile_urls": ["https://linkedin.com/in/ada-lovelace", "https://github.com/adal"],
        "skills": ["javascript", "python"],
        "time_zone": "Europe/Berlin",
        "locale": "en-GB",
        "seniority": "Senior",
        "desired_roles": ["Staff Engineer"],
        "work_preferences": {
            "arrangements": ["remote", "hybrid"],
            "open_to_relocation": True,
            "relocation_locations": [],
        },
        "custom_fields": {},
        "pools": [],
    }
    assert {key: created[key] for key in expected} == expected
    stored = await stack.gateway.get(
        f"/api/v1/candidates/{created['id']}", headers=stack.as_(ACME_TOKEN)
    )
    assert {key: stored.json()[key] for key in expected} == expected

    [event] = await read_events(
        kafka_bootstrap_servers,
        "candidate.created",
        where=lambda e: e["subject"] == created["id"],
        count=1,
    )
    assert {key: event["data"][key] for key in expected} == expected

    # A change is normalised the same way; this request reads national numbers as British.
    changed = await stack.gateway.patch(
        f"/api/v1/candidates/{created['id']}",
        json={"phones": ["020 7946 0958"], "default_region": "GB", "skills": ["js", "Go"]},
        headers=stack.as_(ACME_TOKEN),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["phones"] == ["+442079460958"]
    assert changed.json()["skills"] == ["javascript", "go"]
    [updated] = await read_events(
        kafka_bootstrap_servers,
        "candidate.updated",
        where=lambda e: e["subject"] == created["id"],
        count=1,
    )
    assert updated["data"]["phones"] == ["+442079460958"]
    assert updated["data"]["time_zone"] == "Europe/Berlin"

    # A new vocabulary applies to the next write at once.
    replaced = await stack.gateway.put(
        "/api/v1/skills/vocabulary",
        json={"skills": [{"canonical": "TypeScript", "synonyms": ["TS"]}]},
        headers=stack.as_(ACME_ADMIN_TOKEN),
    )
    assert replaced.status_code == 200, replaced.text
    retyped = await stack.gateway.patch(
        f"/api/v1/candidates/{created['id']}",
        json={"skills": ["TS", "JS"]},
        headers=stack.as_(ACME_TOKEN),
    )
    assert retyped.json()["skills"] == ["typescript", "js"]


async def test_fields_that_cannot_be_normalised_are_422s_naming_them(stack: Stack) -> None:
    auth = stack.as_(ACME_TOKEN)
    tag = unique("bad")
    response = await stack.gateway.post(
        "/api/v1/candidates",
        json=person(
            tag,
            phones=["+49 30 12345678", "call me maybe"],
            profile_urls=["ftp://files.example.org/cv"],
            time_zone="Berlin",
            locale="english",
        ),
        headers=auth,
    )
    assert error_fields(response) == ["phones.1", "profile_urls.0", "time_zone", "locale"]
    unknown_region = await stack.gateway.post(
        "/api/v1/candidates", json=person(tag, default_region="XX"), headers=auth
    )
    assert error_fields(unknown_region) == ["default_region"]
    # Nothing was stored by the refused requests.
    listed = await stack.gateway.get("/api/v1/candidates?limit=200", headers=auth)
    assert tag not in {c["last_name"] for c in listed.json()["items"]}

    created = await create(stack, ACME_TOKEN, person(unique("ok"), phones=["+14155550100"]))
    refused = await stack.gateway.patch(
        f"/api/v1/candidates/{created['id']}",
        json={"phones": ["0"], "time_zone": "Mars/Base"},
        headers=auth,
    )
    assert error_fields(refused) == ["phones.0", "time_zone"]
    unchanged = await stack.gateway.get(f"/api/v1/candidates/{created['id']}", headers=auth)
    assert unchanged.json()["phones"] == ["+14155550100"]

    clash = await stack.gateway.put(
        "/api/v1/skills/vocabulary",
        json={"skills": [{"canonical": "Go", "synonyms": ["golang"]}, {"canonical": "Golang"}]},
        headers=stack.as_(ACME_ADMIN_TOKEN),
    )
    assert error_fields(clash) == ["skills.1.canonical"]


async def test_every_text_field_is_bounded_on_create_and_change(stack: Stack) -> None:
    """The limits docs/identity.md lists hold for the API as they do for imports."""
    auth = stack.as_(ACME_TOKEN)
    tag = unique("long")
    response = await stack.gateway.post(
        "/api/v1/candidates",
        json=person(
            tag,
            first_name="A" * 5_200,
            current_title="T" * 301,
            owner_id="o" * 101,
            tags=["t" * 101],
            phones=["1" * 41],
            emails=[f"{'e' * 250}@x.org"],
        ),
        headers=auth,
    )
    assert response.status_code == 422
    assert set(error_fields(response)) == {
        "first_name",
        "current_title",
        "owner_id",
        "tags.0",
        "phones.0",
        "emails.0",
    }
    created = await create(stack, ACME_TOKEN, person(tag))
    changed = await stack.gateway.patch(
        f"/api/v1/candidates/{created['id']}",
        json={"last_name": "L" * 201, "owner_id": "o" * 101, "location": "x" * 301},
        headers=auth,
    )
    assert changed.status_code == 422
    assert set(error_fields(changed)) == {"last_name", "owner_id", "location"}
    at_the_limit = await stack.gateway.patch(
        f"/api/v1/candidates/{created['id']}",
        json={"last_name": "L" * 200, "owner_id": "o" * 100, "location": "x" * 300},
        headers=auth,
    )
    assert at_the_limit.status_code == 200, at_the_limit.text


async def test_a_change_made_from_a_stale_read_is_refused_not_overwritten(stack: Stack) -> None:
    """A candidate's `ETag` is its revision; a change sent with `If-Match` applies only to the
    record as it was read, and one without applies as before."""
    auth = stack.as_(ACME_TOKEN)
    created = await create(stack, ACME_TOKEN, person(unique("etag")))
    url = f"/api/v1/candidates/{created['id']}"
    read = await stack.gateway.get(url, headers=auth)
    assert read.status_code == 200, read.text
    seen = read.headers["etag"]
    first = await stack.gateway.patch(
        url, json={"current_title": "Lead"}, headers={**auth, "If-Match": seen}
    )
    assert first.status_code == 200, first.text
    now = first.headers["etag"]
    assert now != seen
    assert (await stack.gateway.get(url, headers=auth)).headers["etag"] == now

    stale = await stack.gateway.patch(
        url, json={"current_title": "Intern"}, headers={**auth, "If-Match": seen}
    )
    assert stale.status_code == 412, stale.text
    assert stale.json()["type"].endswith("precondition-failed")
    assert stale.headers["etag"] == now
    assert (await stack.gateway.get(url, headers=auth)).json()["current_title"] == "Lead"
    malformed = await stack.gateway.patch(
        url, json={"current_title": "Intern"}, headers={**auth, "If-Match": "Lead"}
    )
    assert malformed.status_code == 412

    unconditional = await stack.gateway.patch(url, json={"current_title": "Head"}, headers=auth)
    assert unconditional.status_code == 200, unconditional.text
    assert unconditional.json()["current_title"] == "Head"


async def test_notes_are_written_by_the_caller_and_stay_in_the_tenant(stack: Stack) -> None:
    created = await create(stack, ACME_TOKEN, person(unique("notes")))
    notes_path = f"/api/v1/candidates/{created['id']}/notes"
    for body in ("Met at the meetup", "Prefers remote"):
        added = await stack.gateway.post(
            notes_path, json={"body": body}, headers=stack.as_(ACME_TOKEN)
        )
        assert added.status_code == 201, added.text
        assert added.json()["author_id"] == "rita"
    listed = await stack.gateway.get(f"{notes_path}?limit=1", headers=stack.as_(ACME_TOKEN))
    assert [n["body"] for n in listed.json()["items"]] == ["Prefers remote"]
    older = await stack.gateway.get(
        f"{notes_path}?limit=1&cursor={listed.json()['next_cursor']}",
        headers=stack.as_(ACME_TOKEN),
    )
    assert [n["body"] for n in older.json()["items"]] == ["Met at the meetup"]
    assert older.json()["next_cursor"] is None

    empty = await stack.gateway.post(notes_path, json={"body": "  "}, headers=stack.as_(ACME_TOKEN))
    assert error_fields(empty) == ["body"]
    for attempt in (
        stack.gateway.get(notes_path, headers=stack.as_(GLOBEX_TOKEN)),
        stack.gateway.post(notes_path, json={"body": "hi"}, headers=stack.as_(GLOBEX_TOKEN)),
    ):
        assert (await attempt).status_code == 404
    after = await stack.gateway.get(notes_path, headers=stack.as_(ACME_TOKEN))
    assert len(after.json()["items"]) == 2


async def create_pool(stack: Stack, token: str, **fields: Any) -> dict[str, Any]:
    body = {"name": unique("pool"), "stages": ["Sourced", "Contacted", "Interviewing"], **fields}
    response = await stack.gateway.post("/api/v1/pools", json=body, headers=stack.as_(token))
    assert response.status_code == 201, response.text
    pool: dict[str, Any] = response.json()
    return pool


async def test_pool_members_move_through_stages_with_history_and_events(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    auth = stack.as_(ACME_TOKEN)
    pool = await create_pool(stack, ACME_TOKEN, owner_ids=["rita", "ada"])
    assert pool["owner_ids"] == ["rita", "ada"]
    members_path = f"/api/v1/pools/{pool['id']}/members"
    first = await create(stack, ACME_TOKEN, person(unique("pool-a")))
    second = await create(stack, ACME_TOKEN, person(unique("pool-b")))

    added = await stack.gateway.post(members_path, json={"candidate_id": first["id"]}, headers=auth)
    assert added.status_code == 201, added.text
    assert added.json()["stage"] == "Sourced"
    assert (
        await stack.gateway.post(
            members_path, json={"candidate_id": second["id"], "stage": "contacted"}, headers=auth
        )
    ).json()["stage"] == "Contacted"
    moved = await stack.gateway.post(
        f"{members_path}/{first['id']}/stage", json={"stage": "Interviewing"}, headers=auth
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["stage"] == "Interviewing"

    # The candidate document carries its pools for segment rules.
    candidate = await stack.gateway.get(f"/api/v1/candidates/{first['id']}", headers=auth)
    assert candidate.json()["pools"] == [{"pool_id": pool["id"], "stage": "Interviewing"}]
    detail = await stack.gateway.get(f"/api/v1/pools/{pool['id']}", headers=auth)
    assert detail.json()["member_counts"] == {"Sourced": 0, "Contacted": 1, "Interviewing": 1}
    contacted = await stack.gateway.get(f"{members_path}?stage=Contacted", headers=auth)
    assert [m["candidate_id"] for m in contacted.json()["items"]] == [second["id"]]
    # Enough of each candidate for a list view, without a request per member.
    [listed] = contacted.json()["items"]
    assert listed["stage"] == "Contacted"
    assert listed["candidate"]["id"] == second["id"]
    assert listed["candidate"]["first_name"] == second["first_name"]
    assert listed["candidate"]["last_name"] == second["last_name"]
    assert set(listed["candidate"]) >= {"current_title", "current_company", "ats_stage"}
    page = await stack.gateway.get(f"{members_path}?limit=1", headers=auth)
    rest = await stack.gateway.get(
        f"{members_path}?limit=1&cursor={page.json()['next_cursor']}", headers=auth
    )
    assert {page.json()["items"][0]["candidate_id"], rest.json()["items"][0]["candidate_id"]} == {
        first["id"],
        second["id"],
    }

    removed = await stack.gateway.delete(f"{members_path}/{first['id']}", headers=auth)
    assert removed.status_code == 204, removed.text
    history = await stack.gateway.get(f"{members_path}/{first['id']}", headers=auth)
    assert history.status_code == 200, history.text
    assert history.json()["stage"] is None
    assert [(h["from_stage"], h["to_stage"], h["moved_by"]) for h in history.json()["history"]] == [
        (None, "Sourced", "rita"),
        ("Sourced", "Interviewing", "rita"),
        ("Interviewing", None, "rita"),
    ]
    after = await stack.gateway.get(f"/api/v1/candidates/{first['id']}", headers=auth)
    assert after.json()["pools"] == []

    changes = await read_events(
        kafka_bootstrap_servers,
        "pool.stage_changed",
        where=lambda e: e["data"]["pool_id"] == pool["id"] and e["subject"] == first["id"],
        count=3,
    )
    assert [(e["data"]["from_stage"], e["data"]["to_stage"]) for e in changes] == [
        (None, "Sourced"),
        ("Sourced", "Interviewing"),
        ("Interviewing", None),
    ]
    assert {e["tenant_id"] for e in changes} == {stack.acme}
    assert changes[0]["data"]["pool_name"] == pool["name"]
    updates = await read_events(
        kafka_bootstrap_servers,
        "candidate.updated",
        where=lambda e: e["subject"] == first["id"],
        count=3,
    )
    assert updates[1]["data"]["pools"] == [{"pool_id": pool["id"], "stage": "Interviewing"}]


async def test_pool_mistakes_are_refused_clearly(stack: Stack) -> None:
    auth = stack.as_(ACME_TOKEN)
    pool = await create_pool(stack, ACME_TOKEN)
    members_path = f"/api/v1/pools/{pool['id']}/members"
    candidate = await create(stack, ACME_TOKEN, person(unique("pool-err")))

    repeated = await stack.gateway.post(
        "/api/v1/pools", json={"name": unique("p"), "stages": ["A", "a "]}, headers=auth
    )
    assert error_fields(repeated) == ["stages.1"]
    assert "'a' repeats the stage 'A'" in repeated.text
    taken = await stack.gateway.post(
        "/api/v1/pools", json={"name": pool["name"], "stages": ["A"]}, headers=auth
    )
    assert taken.status_code == 409
    unknown_stage = await stack.gateway.post(
        members_path, json={"candidate_id": candidate["id"], "stage": "Hired"}, headers=auth
    )
    assert error_fields(unknown_stage) == ["stage"]
    nobody = await stack.gateway.post(members_path, json={"candidate_id": "nobody"}, headers=auth)
    assert nobody.status_code == 404
    not_member = await stack.gateway.post(
        f"{members_path}/{candidate['id']}/stage", json={"stage": "Contacted"}, headers=auth
    )
    assert not_member.status_code == 404
    await stack.gateway.post(members_path, json={"candidate_id": candidate["id"]}, headers=auth)
    again = await stack.gateway.post(
        members_path, json={"candidate_id": candidate["id"]}, headers=auth
    )
    assert again.status_code == 409

    pool_path = f"/api/v1/pools/{pool['id']}"
    dropped = await stack.gateway.patch(
        pool_path, json={"stages": ["Sourced", "Contacted"]}, headers=auth
    )
    assert error_fields(dropped) == ["stages"]
    extended = await stack.gateway.patch(
        pool_path,
        json={
            "stages": ["sourced", "Screening", "Contacted", "Interviewing"],
            "owner_ids": ["ada"],
        },
        headers=auth,
    )
    assert extended.status_code == 200, extended.text
    assert extended.json()["stages"] == ["Sourced", "Screening", "Contacted", "Interviewing"]
    assert extended.json()["owner_ids"] == ["ada"]
    assert extended.json()["member_counts"]["Sourced"] == 1
    screened = await stack.gateway.post(
        f"{members_path}/{candidate['id']}/stage", json={"stage": "screening"}, headers=auth
    )
    assert screened.json()["stage"] == "Screening"


async def test_another_tenant_cannot_see_or_move_a_pool(stack: Stack) -> None:
    pool = await create_pool(stack, ACME_TOKEN)
    candidate = await create(stack, ACME_TOKEN, person(unique("pool-iso")))
    members_path = f"/api/v1/pools/{pool['id']}/members"
    await stack.gateway.post(
        members_path, json={"candidate_id": candidate["id"]}, headers=stack.as_(ACME_TOKEN)
    )
    globex = stack.as_(GLOBEX_TOKEN)
    listed = await stack.gateway.get("/api/v1/pools", headers=globex)
    assert pool["id"] not in {p["id"] for p in listed.json()}
    attempts = [
        await stack.gateway.get(f"/api/v1/pools/{pool['id']}", headers=globex),
        await stack.gateway.patch(
            f"/api/v1/pools/{pool['id']}", json={"name": "mine now"}, headers=globex
        ),
        await stack.gateway.get(members_path, headers=globex),
        await stack.gateway.get(f"{members_path}/{candidate['id']}", headers=globex),
        await stack.gateway.post(
            f"{members_path}/{candidate['id']}/stage", json={"stage": "Contacted"}, headers=globex
        ),
        await stack.gateway.delete(f"{members_path}/{candidate['id']}", headers=globex),
        await stack.gateway.post(
            members_path, json={"candidate_id": candidate["id"]}, headers=globex
        ),
    ]
    assert [a.status_code for a in attempts] == [404] * len(attempts)
    # A Globex pool cannot take an Acme candidate either.
    own = await create_pool(stack, GLOBEX_TOKEN)
    foreign = await stack.gateway.post(
        f"/api/v1/pools/{own['id']}/members", json={"candidate_id": candidate["id"]}, headers=globex
    )
    assert foreign.status_code == 404
    still = await stack.gateway.get(
        f"{members_path}/{candidate['id']}", headers=stack.as_(ACME_TOKEN)
    )
    assert still.json()["stage"] == "Sourced"


async def request_change(bootstrap: str, tenant_id: str, change: CandidateChangeRequested) -> None:
    envelope = EventEnvelope[Any](
        type=CANDIDATE_CHANGE_REQUESTED.name,
        source="campaigns",
        tenant_id=tenant_id,
        subject=change.candidate_id,
        schema_version=CANDIDATE_CHANGE_REQUESTED.schema_version,
        data=change,
    )
    broker = KafkaBroker(bootstrap)
    await broker.start()
    try:
        await broker.publish(
            envelope.model_dump_json().encode(),
            CANDIDATE_CHANGE_REQUESTED.name,
            key=change.candidate_id.encode(),
        )
    finally:
        await broker.stop()


async def test_requested_changes_tag_and_move_through_the_domain_commands(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    auth = stack.as_(ACME_TOKEN)
    pool = await create_pool(stack, ACME_TOKEN)
    candidate = await create(stack, ACME_TOKEN, person(unique("asked"), tags=["Cold", "alumni"]))
    nurtured = unique("nurtured")
    segment = await stack.gateway.post(
        "/api/v1/segments",
        json={
            "name": nurtured,
            "rule": {"all": [{"field": "tags", "op": "equals", "value": nurtured}]},
        },
        headers=auth,
    )
    assert segment.status_code == 201, segment.text
    segment_id = segment.json()["id"]

    async def segment_ready() -> bool:
        found = await stack.gateway.get(f"/api/v1/segments/{segment_id}", headers=auth)
        return bool(found.json()["status"] == "ready")

    await eventually(segment_ready, message="the segment's first evaluation did not finish")
    sequence = f"sequence:{unique('seq')}"
    await request_change(
        kafka_bootstrap_servers,
        stack.acme,
        CandidateChangeRequested(
            candidate_id=candidate["id"],
            add_tags=[nurtured],
            remove_tags=["cold"],
            pool_id=pool["id"],
            stage="contacted",
            requested_by=sequence,
        ),
    )
    [moved] = await read_events(
        kafka_bootstrap_servers,
        "pool.stage_changed",
        where=lambda e: e["subject"] == candidate["id"],
        count=1,
    )
    assert moved["data"]["from_stage"] is None
    assert moved["data"]["to_stage"] == "Contacted"
    assert moved["data"]["moved_by"] == sequence
    [updated] = await read_events(
        kafka_bootstrap_servers,
        "candidate.updated",
        where=lambda e: e["subject"] == candidate["id"] and e["data"]["pools"] != [],
        count=1,
    )
    assert updated["data"]["tags"] == ["alumni", nurtured]
    stored = await stack.gateway.get(f"/api/v1/candidates/{candidate['id']}", headers=auth)
    assert stored.json()["tags"] == ["alumni", nurtured]
    # The tag change re-evaluated the candidate's segments in the same transaction.
    [entered] = await read_events(
        kafka_bootstrap_servers,
        "segment.entered",
        where=lambda e: e["data"]["segment_id"] == segment_id,
        count=1,
    )
    assert entered["subject"] == candidate["id"]
    assert stored.json()["pools"] == [{"pool_id": pool["id"], "stage": "Contacted"}]
    history = await stack.gateway.get(
        f"/api/v1/pools/{pool['id']}/members/{candidate['id']}", headers=auth
    )
    assert history.json()["history"][0]["moved_by"] == sequence

    refused = [
        CandidateChangeRequested(candidate_id="nobody", add_tags=["x"], requested_by=sequence),
        CandidateChangeRequested(
            candidate_id=candidate["id"],
            pool_id="no-pool",
            stage="Sourced",
            requested_by=sequence,
            enrolment_id="an-enrolment",
            step=3,
        ),
        CandidateChangeRequested(
            candidate_id=candidate["id"],
            add_tags=["not-made"],
            pool_id=pool["id"],
            stage="Hired",
            requested_by=sequence,
        ),
    ]
    for change in refused:
        await request_change(kafka_bootstrap_servers, stack.acme, change)
    # The same request in another tenant names a candidate that tenant does not have.
    await request_change(
        kafka_bootstrap_servers,
        stack.globex,
        CandidateChangeRequested(
            candidate_id=candidate["id"], add_tags=["x"], requested_by=sequence
        ),
    )
    refusals = await read_events(
        kafka_bootstrap_servers,
        CANDIDATE_CHANGE_REFUSED.name,
        where=lambda e: e["data"]["requested_by"] == sequence,
        count=4,
    )
    assert len(refusals) == 4
    by_reason = {(e["tenant_id"], e["data"]["reason"]): e["data"] for e in refusals}
    stages = ", ".join(pool["stages"])
    assert set(by_reason) == {
        (stack.acme, "there is no candidate nobody in the tenant"),
        (stack.acme, "there is no talent pool no-pool in the tenant (deleted?)"),
        (stack.acme, f"'Hired' is not a stage of pool {pool['name']!r}: {stages}"),
        (stack.globex, f"there is no candidate {candidate['id']} in the tenant"),
    }
    # A refusal names the request's enrolment and step again, for the sequence to show it.
    no_pool = by_reason[(stack.acme, "there is no talent pool no-pool in the tenant (deleted?)")]
    assert (no_pool["enrolment_id"], no_pool["step"], no_pool["stage"]) == (
        "an-enrolment",
        3,
        "Sourced",
    )
    # A malformed request (a pool without a stage) can never be made: dead-lettered.
    await request_change(
        kafka_bootstrap_servers,
        stack.acme,
        CandidateChangeRequested(
            candidate_id=candidate["id"], pool_id=pool["id"], requested_by=sequence
        ),
    )
    [dead] = await read_events(
        kafka_bootstrap_servers,
        f"{CANDIDATE_CHANGE_REQUESTED.name}.dlq",
        where=lambda e: e["data"]["requested_by"] == sequence,
        count=1,
    )
    assert dead["data"]["pool_id"] == pool["id"]
    unchanged = await stack.gateway.get(f"/api/v1/candidates/{candidate['id']}", headers=auth)
    assert unchanged.json()["tags"] == ["alumni", nurtured]
    assert unchanged.json()["pools"] == [{"pool_id": pool["id"], "stage": "Contacted"}]


async def test_concurrent_pool_moves_and_profile_edits_lose_nothing(stack: Stack) -> None:
    auth = stack.as_(ACME_TOKEN)
    pools = [await create_pool(stack, ACME_TOKEN) for _ in range(3)]
    candidate = await create(stack, ACME_TOKEN, person(unique("race")))
    responses = await asyncio.gather(
        *(
            stack.gateway.post(
                f"/api/v1/pools/{pool['id']}/members",
                json={"candidate_id": candidate["id"]},
                headers=auth,
            )
            for pool in pools
        ),
        stack.gateway.patch(
            f"/api/v1/candidates/{candidate['id']}", json={"headline": "Raced"}, headers=auth
        ),
    )
    assert [r.status_code for r in responses] == [201, 201, 201, 200], [r.text for r in responses]
    stored = (await stack.gateway.get(f"/api/v1/candidates/{candidate['id']}", headers=auth)).json()
    assert stored["headline"] == "Raced"
    assert sorted(p["pool_id"] for p in stored["pools"]) == sorted(p["id"] for p in pools)


async def test_a_merged_record_is_never_put_in_a_pool_and_its_requests_reach_the_survivor(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    auth = stack.as_(ACME_TOKEN)
    pool = await create_pool(stack, ACME_TOKEN)
    survivor = await create(stack, ACME_TOKEN, person(unique("survivor")))
    merged = await create(stack, ACME_TOKEN, person(unique("merged")))
    done = await stack.gateway.post(
        "/api/v1/candidates/merges",
        json={"survivor_id": survivor["id"], "merged_id": merged["id"]},
        headers=auth,
    )
    assert done.status_code == 201, done.text
    refused = await stack.gateway.post(
        f"/api/v1/pools/{pool['id']}/members", json={"candidate_id": merged["id"]}, headers=auth
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["merged_into"] == survivor["id"]
    assert survivor["id"] in refused.json()["detail"]

    sequence = f"sequence:{unique('seq')}"
    await request_change(
        kafka_bootstrap_servers,
        stack.acme,
        CandidateChangeRequested(
            candidate_id=merged["id"],
            add_tags=["followed"],
            pool_id=pool["id"],
            stage="Contacted",
            requested_by=sequence,
        ),
    )
    [moved] = await read_events(
        kafka_bootstrap_servers,
        "pool.stage_changed",
        where=lambda e: e["data"]["moved_by"] == sequence,
        count=1,
    )
    assert moved["subject"] == survivor["id"]
    stored = await stack.gateway.get(f"/api/v1/candidates/{survivor['id']}", headers=auth)
    assert "followed" in stored.json()["tags"]
    assert stored.json()["pools"] == [{"pool_id": pool["id"], "stage": "Contacted"}]


async def test_pool_moves_re_evaluate_segments_in_the_same_write(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    auth = stack.as_(ACME_TOKEN)
    pool = await create_pool(stack, ACME_TOKEN)
    candidate = await create(stack, ACME_TOKEN, person(unique("seg-pool")))
    rule = {
        "all": [
            {
                "field": "pools",
                "op": "in_pool",
                "value": {"pool_id": pool["id"], "stage": "Contacted"},
            }
        ]
    }
    created = await stack.gateway.post(
        "/api/v1/segments", json={"name": unique("contacted"), "rule": rule}, headers=auth
    )
    assert created.status_code == 201, created.text
    segment_id = created.json()["id"]

    async def segment_ready() -> bool:
        found = await stack.gateway.get(f"/api/v1/segments/{segment_id}", headers=auth)
        return bool(found.json()["status"] == "ready")

    await eventually(segment_ready, message="the segment's first evaluation did not finish")
    members_path = f"/api/v1/pools/{pool['id']}/members"
    await stack.gateway.post(
        members_path, json={"candidate_id": candidate["id"], "stage": "Contacted"}, headers=auth
    )
    # Membership is part of the pool write: current the moment the write returns.
    members = await stack.gateway.get(f"/api/v1/segments/{segment_id}/members", headers=auth)
    assert [m["id"] for m in members.json()["items"]] == [candidate["id"]]
    await stack.gateway.post(
        f"{members_path}/{candidate['id']}/stage", json={"stage": "Interviewing"}, headers=auth
    )
    members = await stack.gateway.get(f"/api/v1/segments/{segment_id}/members", headers=auth)
    assert members.json()["items"] == []
    [exited] = await read_events(
        kafka_bootstrap_servers,
        "segment.exited",
        where=lambda e: e["data"]["segment_id"] == segment_id,
        count=1,
    )
    assert exited["subject"] == candidate["id"]


async def test_a_synonym_added_later_re_spells_the_skills_already_stored(stack: Stack) -> None:
    globex = stack.as_(GLOBEX_TOKEN)
    tag = unique("k8s")
    before = await create(stack, GLOBEX_TOKEN, person(tag, skills=["K8s", "Python"], tags=[tag]))
    assert before["skills"] == ["k8s", "python"]
    segment = await stack.gateway.post(
        "/api/v1/segments",
        json={
            "name": unique("kubernetes"),
            "rule": {
                "all": [
                    {"field": "skills", "op": "equals", "value": "kubernetes"},
                    {"field": "tags", "op": "equals", "value": tag},
                ]
            },
        },
        headers=globex,
    )
    assert segment.status_code == 201, segment.text
    vocabulary = await stack.gateway.put(
        "/api/v1/skills/vocabulary",
        json={"skills": [{"canonical": "Kubernetes", "synonyms": ["k8s", "kube"]}]},
        headers=stack.as_(GLOBEX_ADMIN_TOKEN),
    )
    assert vocabulary.status_code == 200, vocabulary.text
    progress: dict[str, Any] = {}

    async def done() -> bool:
        nonlocal progress
        response = await stack.gateway.get("/api/v1/skills/vocabulary/progress", headers=globex)
        assert response.status_code == 200, response.text
        progress = response.json()
        return bool(progress["status"] == "completed")

    await eventually(done, message="the stored skills were not re-spelled")
    assert progress["changed"] >= 1
    after = await stack.gateway.get(f"/api/v1/candidates/{before['id']}", headers=globex)
    assert after.json()["skills"] == ["kubernetes", "python"]

    async def in_segment() -> bool:
        members = await stack.gateway.get(
            f"/api/v1/segments/{segment.json()['id']}/members", headers=globex
        )
        return bool([m["id"] for m in members.json()["items"]] == [before["id"]])

    await eventually(in_segment, message="the re-spelled candidate did not enter the segment")


async def test_a_pool_stage_problem_names_the_stage_not_profile_fields(stack: Stack) -> None:
    auth = stack.as_(ACME_TOKEN)
    pool = await create_pool(stack, ACME_TOKEN)
    member = await create(stack, ACME_TOKEN, person(unique("stage")))
    members_path = f"/api/v1/pools/{pool['id']}/members"
    added = await stack.gateway.post(
        members_path, json={"candidate_id": member["id"]}, headers=auth
    )
    assert added.status_code == 201, added.text
    moved = await stack.gateway.post(
        f"{members_path}/{member['id']}/stage", json={"stage": "Offer accepted"}, headers=auth
    )
    assert moved.status_code == 422, moved.text
    detail = moved.json()["detail"]
    assert detail.startswith("invalid pool stage: stage ('Offer accepted' is not a stage"), detail
    assert "Sourced, Contacted, Interviewing" in detail
    assert moved.json()["instance"] == f"{members_path}/{member['id']}/stage"


async def test_a_pool_stage_is_deleted_with_its_members_moved(stack: Stack) -> None:
    auth = stack.as_(ACME_TOKEN)
    pool = await create_pool(stack, ACME_TOKEN)
    members_path = f"/api/v1/pools/{pool['id']}/members"
    people = [await create(stack, ACME_TOKEN, person(unique("move"))) for _ in range(2)]
    for member in people:
        added = await stack.gateway.post(
            members_path, json={"candidate_id": member["id"], "stage": "Contacted"}, headers=auth
        )
        assert added.status_code == 201, added.text
    stage_url = f"/api/v1/pools/{pool['id']}/stages/Contacted"

    nowhere = await stack.gateway.delete(stage_url, headers=auth)
    assert nowhere.status_code == 409, nowhere.text
    assert "2 candidates are at 'Contacted'" in nowhere.json()["detail"]
    contacted = unique("Contacted in the pool")
    segment = await stack.gateway.post(
        "/api/v1/segments",
        json={
            "name": contacted,
            "rule": {
                "all": [
                    {
                        "field": "pools",
                        "op": "in_pool",
                        "value": {"pool_id": pool["id"], "stage": "contacted"},
                    }
                ]
            },
        },
        headers=auth,
    )
    assert segment.status_code == 201, segment.text
    in_use = await stack.gateway.delete(f"{stage_url}?move_to=Interviewing", headers=auth)
    assert in_use.status_code == 409, in_use.text
    assert contacted in in_use.json()["detail"]
    removed = await stack.gateway.delete(f"/api/v1/segments/{segment.json()['id']}", headers=auth)
    assert removed.status_code == 204, removed.text

    deleted = await stack.gateway.delete(f"{stage_url}?move_to=interviewing", headers=auth)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["stages"] == ["Sourced", "Interviewing"]
    moved = await stack.gateway.get(f"{members_path}?stage=Interviewing", headers=auth)
    assert sorted(m["candidate_id"] for m in moved.json()["items"]) == sorted(
        p["id"] for p in people
    )
    history = await stack.gateway.get(f"{members_path}/{people[0]['id']}", headers=auth)
    assert [c["to_stage"] for c in history.json()["history"]] == ["Contacted", "Interviewing"]

    for stage in ("Sourced",):
        gone = await stack.gateway.delete(
            f"/api/v1/pools/{pool['id']}/stages/{stage}", headers=auth
        )
        assert gone.status_code == 200, gone.text
    last = await stack.gateway.delete(
        f"/api/v1/pools/{pool['id']}/stages/Interviewing", headers=auth
    )
    assert last.status_code == 409, last.text


async def test_a_pool_stage_a_live_sequence_names_is_not_deleted(
    stack: Stack, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    """A stage a sequence enrols at or moves candidates to is kept, the 409 naming the
    sequence (its trigger would never fire again, its step would fail), also once renamed;
    archived, the sequence no longer holds it."""
    auth = stack.as_(ACME_TOKEN)
    pool = await create_pool(stack, ACME_TOKEN)
    pool_url = f"/api/v1/pools/{pool['id']}"
    name = unique("Relance")
    sequence = await stack.gateway.post(
        "/api/v1/sequences",
        headers=auth,
        json={
            "name": name,
            "trigger": {"type": "manual"},
            "steps": [{"type": "move_stage", "pool_id": pool["id"], "stage": " contacted "}],
        },
    )
    assert sequence.status_code == 201, sequence.text

    async def refused(stage: str) -> bool:
        answer = await stack.gateway.delete(f"{pool_url}/stages/{stage}", headers=auth)
        assert answer.status_code == 409, answer.text
        return name in answer.json()["detail"]

    # The candidates service learns what the sequence names from `sequence.saved` (a stage
    # deleted in the moment before is deleted: the step then fails, saying why).
    references = mongo[stack.settings["candidates"].mongodb_database]["sequence_references"]

    async def known() -> bool:
        found = await references.find_one({"_id": sequence.json()["id"]})
        return found is not None and bool(found.get("pool_stages"))

    await eventually(known, message="the candidates service did not learn the sequence")
    assert await refused("Contacted")
    current = await stack.gateway.get(pool_url, headers=auth)
    renamed = await stack.gateway.patch(
        f"{pool_url}/stages/Contacted",
        json={"name": "Phone screen"},
        headers={**auth, "If-Match": current.headers["ETag"]},
    )
    assert renamed.status_code == 200, renamed.text
    assert await refused("Phone screen")

    archived = await stack.gateway.delete(
        f"/api/v1/sequences/{sequence.json()['id']}", headers=auth
    )
    assert archived.status_code == 204, archived.text

    async def deleted() -> bool:
        answer = await stack.gateway.delete(f"{pool_url}/stages/Phone screen", headers=auth)
        return answer.status_code == 200

    await eventually(deleted, message="the archived sequence still held the stage")


async def test_a_pool_stage_is_renamed_everywhere_it_is_known_by_name(
    stack: Stack,
    kafka_bootstrap_servers: str,
    mongo: AsyncMongoClient[dict[str, Any]],
    smtp_sink: SmtpSink,
) -> None:
    auth = stack.as_(ACME_TOKEN)
    template_id = await create_template(stack, ACME_TOKEN)
    pool = await create_pool(stack, ACME_TOKEN)
    pool_url = f"/api/v1/pools/{pool['id']}"
    members_path = f"{pool_url}/members"
    people = [await create_candidate(stack, ACME_TOKEN, template_id) for _ in range(2)]
    ids = [candidate_id for candidate_id, _ in people]
    for candidate_id in ids:
        added = await stack.gateway.post(
            members_path, json={"candidate_id": candidate_id, "stage": "Contacted"}, headers=auth
        )
        assert added.status_code == 201, added.text
    in_pool = {"pool_id": pool["id"], "stage": "contacted"}
    segment = await stack.gateway.post(
        "/api/v1/segments",
        json={
            "name": unique("contacted"),
            "rule": {"all": [{"field": "pools", "op": "in_pool", "value": in_pool}]},
        },
        headers=auth,
    )
    assert segment.status_code == 201, segment.text
    segment_url = f"/api/v1/segments/{segment.json()['id']}"

    async def segment_members() -> list[str]:
        found = await stack.gateway.get(f"{segment_url}/members", headers=auth)
        return sorted(m["id"] for m in found.json()["items"])

    async def both_in_segment() -> bool:
        return await segment_members() == sorted(ids)

    await eventually(both_in_segment, message="the segment's first evaluation did not finish")
    sequence = await stack.gateway.post(
        "/api/v1/sequences",
        headers=auth,
        json={
            "name": unique("sequence"),
            "trigger": {"type": "pool_stage_reached", "pool_id": pool["id"], "stage": "contacted"},
            "steps": [{"type": "move_stage", "pool_id": pool["id"], "stage": "Contacted"}],
        },
    )
    assert sequence.status_code == 201, sequence.text
    sequence_url = f"/api/v1/sequences/{sequence.json()['id']}"
    draft = await stack.gateway.post(
        "/api/v1/broadcasts",
        headers=auth,
        json={
            "name": unique("broadcast"),
            "template_id": template_id,
            "audience": {"type": "pool", "pool_id": pool["id"], "stage": "Contacted"},
        },
    )
    assert draft.status_code == 201, draft.text
    broadcast_url = f"/api/v1/broadcasts/{draft.json()['id']}"
    campaigns = mongo[stack.settings["campaigns"].mongodb_database]

    async def campaigns_has(stage: str, candidate_ids: list[str]) -> bool:
        found = await campaigns["pool_members"].distinct(
            "candidate_id", {"tenant_id": stack.acme, "pool_id": pool["id"], "stage": stage}
        )
        return sorted(found) == sorted(candidate_ids)

    async def projected() -> bool:
        return await campaigns_has("Contacted", ids)

    await eventually(projected, message="campaigns did not project the pool")

    stage_url = f"{pool_url}/stages/contacted"
    current = await stack.gateway.get(pool_url, headers=auth)
    version = current.headers["ETag"]
    rename = {"name": "Phone  screen"}
    unconditional = await stack.gateway.patch(stage_url, json=rename, headers=auth)
    assert unconditional.status_code == 428, unconditional.text
    stale = await stack.gateway.patch(stage_url, json=rename, headers={**auth, "If-Match": '"99"'})
    assert stale.status_code == 412, stale.text
    clash = await stack.gateway.patch(
        stage_url, json={"name": "SOURCED"}, headers={**auth, "If-Match": version}
    )
    assert clash.status_code == 409, clash.text

    renamed = await stack.gateway.patch(
        stage_url, json=rename, headers={**auth, "If-Match": version}
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["stages"] == ["Sourced", "Phone screen", "Interviewing"]
    assert renamed.json()["member_counts"] == {"Sourced": 0, "Phone screen": 2, "Interviewing": 0}
    assert renamed.headers["ETag"] != version
    # A second recruiter renaming from the version they read does not overwrite the first.
    again = await stack.gateway.patch(
        f"{pool_url}/stages/Phone screen",
        json={"name": "Call"},
        headers={**auth, "If-Match": version},
    )
    assert again.status_code == 412, again.text

    candidate = await stack.gateway.get(f"/api/v1/candidates/{ids[0]}", headers=auth)
    assert candidate.json()["pools"] == [{"pool_id": pool["id"], "stage": "Phone screen"}]
    rule = (await stack.gateway.get(segment_url, headers=auth)).json()["rule"]
    assert rule["all"][0]["value"] == {"pool_id": pool["id"], "stage": "Phone screen"}
    assert await segment_members() == sorted(ids)
    moved = await stack.gateway.post(
        f"{members_path}/{ids[0]}/stage", json={"stage": "interviewing"}, headers=auth
    )
    assert moved.status_code == 200, moved.text
    assert await segment_members() == [ids[1]]
    history = await stack.gateway.get(f"{members_path}/{ids[0]}", headers=auth)
    assert [c["to_stage"] for c in history.json()["history"]] == ["Contacted", "Interviewing"]
    [event] = await read_events(
        kafka_bootstrap_servers,
        "pool.stage_renamed",
        where=lambda e: e["data"]["pool_id"] == pool["id"],
        count=1,
    )
    assert (event["data"]["from_stage"], event["data"]["to_stage"]) == ("Contacted", "Phone screen")

    # campaigns follows: its projection, the sequence (a new version) and the draft broadcast.
    async def followed() -> bool:
        found = (await stack.gateway.get(sequence_url, headers=auth)).json()
        return bool(found["trigger"]["stage"] == "Phone screen")

    await eventually(followed, message="campaigns did not rename the trigger")
    edited = await stack.gateway.get(sequence_url, headers=auth)
    assert edited.json()["steps"][0]["stage"] == "Phone screen"
    assert edited.headers["ETag"] != sequence.headers["ETag"]
    broadcast = (await stack.gateway.get(broadcast_url, headers=auth)).json()
    assert broadcast["audience"]["stage"] == "Phone screen"

    async def renamed_in_campaigns() -> bool:
        return await campaigns_has("Phone screen", [ids[1]])

    await eventually(renamed_in_campaigns, message="campaigns did not rename its projection")

    # A move made before the rename but delivered after it lands on the renamed stage.
    late, _ = await create_candidate(stack, ACME_TOKEN, template_id)
    before = pool_move(late, pool["id"], "Contacted").model_copy(
        update={
            "moved_at": datetime.fromisoformat(event["data"]["renamed_at"]) - timedelta(seconds=1)
        }
    )
    await publish(kafka_bootstrap_servers, POOL_STAGE_CHANGED, stack.acme, late, before)

    async def late_move_followed() -> bool:
        return await campaigns_has("Phone screen", [ids[1], late])

    await eventually(late_move_followed, message="the late move did not follow the rename")

    sent = await stack.gateway.post(f"{broadcast_url}/send", headers=auth)
    assert sent.status_code == 202, sent.text

    async def completed() -> bool:
        found = (await stack.gateway.get(broadcast_url, headers=auth)).json()
        return bool(found["status"] == "completed")

    await eventually(completed, timeout=40, message="the broadcast did not complete")
    assert len(smtp_sink.messages_to(people[1][1])) == 1
    assert smtp_sink.messages_to(people[0][1]) == []

    # A move_stage request a sequence staged under the old name still reaches the stage.
    asked = f"sequence:{unique('seq')}"
    await request_change(
        kafka_bootstrap_servers,
        stack.acme,
        CandidateChangeRequested(
            candidate_id=ids[0], pool_id=pool["id"], stage="Contacted", requested_by=asked
        ),
    )

    async def moved_back() -> bool:
        found = await stack.gateway.get(f"{members_path}/{ids[0]}", headers=auth)
        return bool(found.json()["stage"] == "Phone screen")

    await eventually(moved_back, message="the request under the old name was not applied")
