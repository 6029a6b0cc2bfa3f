"""`Idempotency-Key` through the real stack: a POST repeated with its key creates nothing new,
whatever the timing, and a failure that may pass next time leaves the key free."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pymongo import AsyncMongoClient

from crm_devstack.infra import free_ports
from crm_gateway.main import create_app as create_gateway
from crm_gateway.repositories.idempotency import IDEMPOTENCY_KEYS
from helpers import eventually, serving, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, Stack

pytestmark = pytest.mark.integration


def open_house(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "open_house",
        "starts_at": "2027-05-20T18:00:00+02:00",
        "location": "Berlin",
        "capacity": 50,
    }


def keyed(stack: Stack, key: str, token: str = ACME_TOKEN) -> dict[str, str]:
    return {**stack.as_(token), "Idempotency-Key": key}


async def events_named(stack: Stack, name: str) -> list[dict[str, Any]]:
    """The acme events called `name`, as the events service lists them."""
    listed = await stack.gateway.get("/api/v1/events", headers=stack.as_(ACME_TOKEN))
    assert listed.status_code == 200, listed.text
    return [event for event in listed.json() if event["name"] == name]


async def test_a_repeated_post_replays_its_response_and_creates_nothing(
    stack: Stack, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    key, name = str(uuid.uuid4()), unique("Open house")
    first = await stack.gateway.post(
        "/api/v1/events", headers=keyed(stack, key), json=open_house(name)
    )
    assert first.status_code == 201, first.text
    again = await stack.gateway.post(
        "/api/v1/events", headers=keyed(stack, key), json=open_house(name)
    )
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert first.headers["location"] == f"/api/v1/events/{first.json()['id']}"
    assert [event["id"] for event in await events_named(stack, name)] == [first.json()["id"]]

    other = await stack.gateway.post(
        "/api/v1/events", headers=keyed(stack, key), json=open_house(name + " (2)")
    )
    assert other.status_code == 422, other.text
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["type"] == "urn:recruitcrm:problem:idempotency-key-reused"
    assert await events_named(stack, name + " (2)") == []

    # Keys belong to their caller: another user's same key is another request.
    admin = await stack.gateway.post(
        "/api/v1/events", headers=keyed(stack, key, ACME_ADMIN_TOKEN), json=open_house(name)
    )
    assert admin.status_code == 201, admin.text
    assert "idempotent-replayed" not in admin.headers
    assert len(await events_named(stack, name)) == 2

    # The gateway's own database keeps the records, and deletes them once they expire.
    database = mongo[stack.settings["gateway"].database_name]
    indexes = await database[IDEMPOTENCY_KEYS].index_information()
    assert any(index.get("expireAfterSeconds") == 0 for index in indexes.values()), indexes


async def test_concurrent_duplicates_create_one_record(stack: Stack) -> None:
    key, name = str(uuid.uuid4()), unique("Open house")
    responses = await asyncio.gather(
        *(
            stack.gateway.post("/api/v1/events", headers=keyed(stack, key), json=open_house(name))
            for _ in range(6)
        )
    )
    statuses = Counter(response.status_code for response in responses)
    assert set(statuses) <= {201, 409}, [response.text for response in responses]
    created = await events_named(stack, name)
    assert len(created) == 1
    for response in responses:
        if response.status_code == 201:
            assert response.json()["id"] == created[0]["id"]
        else:
            assert response.json()["type"] == "urn:recruitcrm:problem:idempotency-key-in-use"
    # Once the first has finished, every repetition is a replay.
    replayed = await stack.gateway.post(
        "/api/v1/events", headers=keyed(stack, key), json=open_house(name)
    )
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json()["id"] == created[0]["id"]


def failing_events_service(events_url: str) -> FastAPI:
    """The events service's published paths, with every create failing as an overloaded or
    broken service's would."""
    app = FastAPI(openapi_url=None)

    @app.get("/openapi.json")
    async def document() -> JSONResponse:
        async with httpx.AsyncClient() as client:
            return JSONResponse((await client.get(f"{events_url}/openapi.json")).json())

    @app.post("/events")
    async def create() -> JSONResponse:
        return JSONResponse(
            {"type": "about:blank", "title": "Service Unavailable", "status": 503},
            status_code=503,
            media_type="application/problem+json",
        )

    return app


async def test_a_5xx_is_not_stored_so_the_key_may_be_used_to_retry(stack: Stack) -> None:
    # A second gateway on the same database, whose events service fails: the first attempt
    # ends in a 503, as a gateway replica in front of a failing instance would answer.
    [failing_port, replica_port] = free_ports(2)
    cut_off = stack.settings["gateway"].model_copy(
        update={"events_url": f"http://127.0.0.1:{failing_port}"}
    )
    key, name = str(uuid.uuid4()), unique("Open house")
    async with (
        serving(failing_events_service(stack.urls["events"]), failing_port),
        serving(create_gateway(cut_off), replica_port) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as replica,
    ):
        failed = await replica.post(
            "/api/v1/events", headers=keyed(stack, key), json=open_house(name)
        )
    assert failed.status_code == 503, failed.text

    retried = await stack.gateway.post(
        "/api/v1/events", headers=keyed(stack, key), json=open_house(name)
    )
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert [event["id"] for event in await events_named(stack, name)] == [retried.json()["id"]]


async def test_the_api_document_offers_the_key_on_every_post(stack: Stack) -> None:
    paths: dict[str, Any] = {}

    async def every_service_listed() -> bool:
        # A service whose document the gateway could not fetch in time (a loaded machine) is
        # left out of that answer; a later one lists it.
        paths.update((await stack.gateway.get("/openapi.json")).json()["paths"])
        return {"/api/v1/events", "/api/v1/candidates", "/api/v1/templates"} <= set(paths)

    await eventually(every_service_listed, timeout=30, interval=1)
    posts = {path: item["post"] for path, item in paths.items() if "post" in item}
    # The gateway's own administration (tenants, users, API keys) is not forwarded and takes no
    # key: a repeat is a 409, or a second API key (a key's secret is never stored to replay).
    own = {"platform", "administration"}
    for path, operation in posts.items():
        names = [parameter.get("name") for parameter in operation.get("parameters", [])]
        if own & set(operation.get("tags", [])):
            assert "Idempotency-Key" not in names, path
        elif path.startswith("/api/v1/"):
            assert "Idempotency-Key" in names, path
            assert {"409", "422"} <= set(operation["responses"]), path
        else:
            assert "Idempotency-Key" not in names, path


async def test_an_erasure_forgets_the_stored_responses_that_name_the_person(
    stack: Stack, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    surname = unique("Παπαδόπουλος")
    body = {"first_name": "Γιώργος", "last_name": surname, "emails": [f"{uuid.uuid4()}@x.org"]}
    created = await stack.gateway.post(
        "/api/v1/candidates", headers=keyed(stack, str(uuid.uuid4())), json=body
    )
    assert created.status_code == 201, created.text
    someone_else = await stack.gateway.post(
        "/api/v1/events", headers=keyed(stack, str(uuid.uuid4())), json=open_house(unique("Day"))
    )
    assert someone_else.status_code == 201, someone_else.text
    records = mongo[stack.settings["gateway"].database_name][IDEMPOTENCY_KEYS]

    async def stored_naming(text: str) -> int:
        found = await records.find({"tenant_id": stack.acme}).to_list()
        return sum(text.encode() in bytes(d["response"]["body"]) for d in found if d["response"])

    candidate_id = created.json()["id"]
    assert await stored_naming(candidate_id) == 1
    events_before = await stored_naming(someone_else.json()["id"])

    erased = await stack.gateway.post(
        f"/api/v1/candidates/{candidate_id}/erasure", headers=stack.as_(ACME_ADMIN_TOKEN)
    )
    assert erased.status_code < 300, erased.text
    assert await stored_naming(candidate_id) == 0
    assert await stored_naming(surname) == 0
    assert await stored_naming(someone_else.json()["id"]) == events_before == 1
