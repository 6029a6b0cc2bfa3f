"""Stored static lists through the gateway, on the real broker, SecantusDB and SMTP sink: bulk
membership that accounts for every id, optimistic concurrency, archiving, tenant isolation, and
broadcasts to a list (members only; removed, archived and erased candidates, an archived
list)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import SmtpSink

from crm_shared import create_mongo_client
from crm_shared.mongo import Database, MongoClient
from helpers import eventually, read_events, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, GLOBEX_TOKEN, Stack
from integration.flow.sequencing import create_candidate, create_template

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def campaigns_db(stack: Stack) -> AsyncIterator[Database]:
    """The campaigns service's database, to wait for its list projection."""
    client: MongoClient = create_mongo_client(stack.settings["campaigns"])
    yield client[stack.settings["campaigns"].mongodb_database]
    await client.close()


async def new_list(stack: Stack, token: str, **body: Any) -> dict[str, Any]:
    response = await stack.gateway.post(
        "/api/v1/lists", json={"name": unique("list"), **body}, headers=stack.as_(token)
    )
    assert response.status_code == 201, response.text
    assert response.headers["ETag"] == '"1"'
    created: dict[str, Any] = response.json()
    return created


async def projected_members(
    campaigns_db: Database, tenant_id: str, list_id: str, expected: set[str]
) -> None:
    """Waits until campaigns' projection of the list has exactly `expected`."""

    async def projected() -> bool:
        found = await campaigns_db["list_members"].distinct(
            "candidate_id",
            {"tenant_id": tenant_id, "list_id": list_id, "member": {"$ne": False}},
        )
        return set(found) == expected

    await eventually(projected, timeout=40, message="campaigns did not project the list")


async def broadcast(stack: Stack, template_id: str, list_id: str) -> str:
    created = await stack.gateway.post(
        "/api/v1/broadcasts",
        headers=stack.as_(ACME_TOKEN),
        json={
            "name": unique("broadcast"),
            "template_id": template_id,
            "audience": {"type": "stored_list", "list_id": list_id},
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def settled(stack: Stack, broadcast_id: str, status: str) -> dict[str, Any]:
    latest: dict[str, Any] = {}

    async def reached() -> bool:
        nonlocal latest
        response = await stack.gateway.get(
            f"/api/v1/broadcasts/{broadcast_id}", headers=stack.as_(ACME_TOKEN)
        )
        latest = response.json()
        return bool(latest["status"] == status)

    await eventually(reached, timeout=40, message=f"broadcast not {status}")
    return latest


async def test_a_list_is_built_in_bulk_with_every_id_accounted_for(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    gateway, auth = stack.gateway, stack.as_(ACME_TOKEN)
    template_id = await create_template(stack, ACME_TOKEN)
    a, b, c, d, gone = [
        (await create_candidate(stack, ACME_TOKEN, template_id, first_name=name))[0]
        for name in ("Ada", "Bo", "Cy", "Di", "Ex")
    ]
    archived = await gateway.delete(f"/api/v1/candidates/{gone}", headers=auth)
    assert archived.status_code == 204, archived.text
    other = await gateway.post(
        "/api/v1/candidates",
        json={"first_name": "G", "last_name": "X", "emails": [f"{unique('g')}@example.org"]},
        headers=stack.as_(GLOBEX_TOKEN),
    )
    globex_candidate = other.json()["id"]

    created = await new_list(
        stack, ACME_TOKEN, description="Met at the meetup", candidate_ids=[a, b, "nobody", a]
    )
    list_id = created["id"]
    assert created["members"] == {
        "added": [a, b],
        "already_members": [],
        "unknown": ["nobody"],
        "not_active": [],
        "member_count": 2,
    }
    assert (created["member_count"], created["status"], created["version"]) == (2, "active", 1)
    taken = await gateway.post(
        "/api/v1/lists", json={"name": created["name"].upper()}, headers=auth
    )
    assert taken.status_code == 409, taken.text

    members = f"/api/v1/lists/{list_id}/members"
    added = await gateway.post(
        members, json={"candidate_ids": [b, c, gone, globex_candidate]}, headers=auth
    )
    assert added.status_code == 200, added.text
    assert added.json() == {
        "added": [c],
        "already_members": [b],
        "unknown": [globex_candidate],
        "not_active": [gone],
        "member_count": 3,
    }
    again = await gateway.post(members, json={"candidate_ids": [c]}, headers=auth)
    assert (again.json()["added"], again.json()["already_members"]) == ([], [c])

    first = await gateway.get(members, params={"limit": 2}, headers=auth)
    rest = await gateway.get(
        members, params={"limit": 2, "cursor": first.json()["next_cursor"]}, headers=auth
    )
    listed = first.json()["items"] + rest.json()["items"]
    assert rest.json()["next_cursor"] is None
    assert sorted(m["candidate_id"] for m in listed) == sorted([a, b, c])
    assert {m["candidate"]["first_name"] for m in listed} == {"Ada", "Bo", "Cy"}
    assert all(m["added_by"] for m in listed)

    removed = await gateway.request(
        "DELETE", members, json={"candidate_ids": [a, d, "nobody"]}, headers=auth
    )
    assert removed.status_code == 200, removed.text
    assert removed.json() == {
        "removed": [a],
        "not_members": [d],
        "unknown": ["nobody"],
        "member_count": 2,
    }
    repeated = await gateway.request("DELETE", members, json={"candidate_ids": [a]}, headers=auth)
    assert (repeated.json()["removed"], repeated.json()["not_members"]) == ([], [a])

    events = await read_events(
        kafka_bootstrap_servers,
        "list.member_added",
        where=lambda e: e["data"]["list_id"] == list_id,
        count=3,
    )
    assert sorted(e["subject"] for e in events) == sorted([a, b, c])
    [taken_off] = await read_events(
        kafka_bootstrap_servers,
        "list.member_removed",
        where=lambda e: e["data"]["list_id"] == list_id,
        count=1,
    )
    assert (taken_off["subject"], taken_off["tenant_id"]) == (a, stack.acme)

    # Another tenant sees no such list and cannot touch it.
    globex = stack.as_(GLOBEX_TOKEN)
    assert (await gateway.get(f"/api/v1/lists/{list_id}", headers=globex)).status_code == 404
    assert (
        await gateway.post(members, json={"candidate_ids": [globex_candidate]}, headers=globex)
    ).status_code == 404
    page = (await gateway.get("/api/v1/lists", params={"limit": 100}, headers=globex)).json()
    assert list_id not in [item["id"] for item in page["items"]]


async def test_edits_are_conditional_and_archiving_freezes_the_list(stack: Stack) -> None:
    gateway, auth = stack.gateway, stack.as_(ACME_TOKEN)
    template_id = await create_template(stack, ACME_TOKEN)
    candidate, _ = await create_candidate(stack, ACME_TOKEN, template_id)
    created = await new_list(stack, ACME_TOKEN, candidate_ids=[candidate])
    url = f"/api/v1/lists/{created['id']}"

    fetched = await gateway.get(url, headers=auth)
    assert fetched.headers["ETag"] == '"1"'
    renamed = unique("renamed")
    unconditional = await gateway.patch(url, json={"name": renamed}, headers=auth)
    assert unconditional.status_code == 428, unconditional.text
    edited = await gateway.patch(
        url, json={"name": renamed, "description": "Shortlist"}, headers={**auth, "If-Match": '"1"'}
    )
    assert edited.status_code == 200, edited.text
    assert (edited.headers["ETag"], edited.json()["name"]) == ('"2"', renamed)
    assert edited.json()["description"] == "Shortlist"
    # A second recruiter editing from the version they read does not overwrite the first.
    stale = await gateway.patch(
        url, json={"name": unique("other")}, headers={**auth, "If-Match": '"1"'}
    )
    assert stale.status_code == 412, stale.text
    assert stale.json()["current_version"] == 2
    nameless = await gateway.patch(url, json={"name": None}, headers={**auth, "If-Match": '"2"'})
    assert nameless.status_code == 422, nameless.text
    assert [e["field"] for e in nameless.json()["errors"]] == ["name"]

    assert (await gateway.delete(url, headers=auth)).status_code == 204
    assert (await gateway.delete(url, headers=auth)).status_code == 204
    kept = (await gateway.get(url, headers=auth)).json()
    assert (kept["status"], kept["member_count"], kept["version"]) == ("archived", 1, 3)
    assert kept["archived_at"] is not None
    frozen = [
        await gateway.post(f"{url}/members", json={"candidate_ids": [candidate]}, headers=auth),
        await gateway.request(
            "DELETE", f"{url}/members", json={"candidate_ids": [candidate]}, headers=auth
        ),
        await gateway.patch(url, json={"name": unique("x")}, headers={**auth, "If-Match": '"3"'}),
    ]
    assert [response.status_code for response in frozen] == [409, 409, 409]
    members = (await gateway.get(f"{url}/members", headers=auth)).json()["items"]
    assert [m["candidate_id"] for m in members] == [candidate]

    active = (await gateway.get("/api/v1/lists", params={"limit": 200}, headers=auth)).json()
    assert created["id"] not in [item["id"] for item in active["items"]]
    everything = (
        await gateway.get(
            "/api/v1/lists", params={"limit": 200, "include_archived": "true"}, headers=auth
        )
    ).json()
    assert created["id"] in [item["id"] for item in everything["items"]]
    # The archived list's name is free again.
    reused = await gateway.post("/api/v1/lists", json={"name": renamed}, headers=auth)
    assert reused.status_code == 201, reused.text


async def test_a_broadcast_to_a_stored_list_reaches_its_active_members_only(
    stack: Stack, smtp_sink: SmtpSink, campaigns_db: Database
) -> None:
    gateway, auth = stack.gateway, stack.as_(ACME_TOKEN)
    template_id = await create_template(stack, ACME_TOKEN)
    people = {
        name: await create_candidate(stack, ACME_TOKEN, template_id, first_name=name)
        for name in ("Keep", "Removed", "Archived", "Erased", "Outsider")
    }
    ids = {name: candidate_id for name, (candidate_id, _) in people.items()}
    listed = await new_list(
        stack, ACME_TOKEN, candidate_ids=[ids[n] for n in ("Keep", "Removed", "Archived", "Erased")]
    )
    list_id = listed["id"]
    removed = await gateway.request(
        "DELETE",
        f"/api/v1/lists/{list_id}/members",
        json={"candidate_ids": [ids["Removed"]]},
        headers=auth,
    )
    assert removed.json()["removed"] == [ids["Removed"]]
    archived = await gateway.delete(f"/api/v1/candidates/{ids['Archived']}", headers=auth)
    assert archived.status_code == 204, archived.text
    erased = await gateway.post(
        f"/api/v1/candidates/{ids['Erased']}/erasure", headers=stack.as_(ACME_ADMIN_TOKEN)
    )
    assert erased.status_code == 200, erased.text

    # The erased person leaves the list everywhere; the archived record stays on it.
    kept = (await gateway.get(f"/api/v1/lists/{list_id}", headers=auth)).json()
    assert kept["member_count"] == 2
    await projected_members(campaigns_db, stack.acme, list_id, {ids["Keep"], ids["Archived"]})

    async def archived_known() -> bool:
        found = await campaigns_db["recipients"].find_one(
            {"tenant_id": stack.acme, "candidate_id": ids["Archived"]}
        )
        return found is not None and found["active"] is False

    await eventually(archived_known, timeout=40, message="campaigns did not see the archive")

    broadcast_id = await broadcast(stack, template_id, list_id)
    sent = await gateway.post(f"/api/v1/broadcasts/{broadcast_id}/send", headers=auth)
    assert sent.status_code == 202, sent.text
    done = await settled(stack, broadcast_id, "completed")
    assert done["audience"] == {"type": "stored_list", "list_id": list_id}
    assert done["progress"]["audience_size"] == 2
    assert done["progress"]["sent"] == 1
    assert done["progress"]["skipped_reasons"] == {"archived": 1}
    assert [m.subject for m in smtp_sink.messages_to(people["Keep"][1])] == ["Hello Keep"]
    for name in ("Removed", "Archived", "Erased", "Outsider"):
        assert smtp_sink.messages_to(people[name][1]) == [], name


async def test_a_broadcast_to_a_list_archived_before_its_send_is_paused_not_sent(
    stack: Stack, smtp_sink: SmtpSink, campaigns_db: Database
) -> None:
    gateway, auth = stack.gateway, stack.as_(ACME_TOKEN)
    template_id = await create_template(stack, ACME_TOKEN)
    candidate, email = await create_candidate(stack, ACME_TOKEN, template_id)
    listed = await new_list(stack, ACME_TOKEN, candidate_ids=[candidate])
    await projected_members(campaigns_db, stack.acme, listed["id"], {candidate})
    draft = await broadcast(stack, template_id, listed["id"])

    assert (await gateway.delete(f"/api/v1/lists/{listed['id']}", headers=auth)).status_code == 204

    async def archive_known() -> bool:
        found = await campaigns_db["archived_lists"].find_one(
            {"tenant_id": stack.acme, "_id": listed["id"]}
        )
        return found is not None

    await eventually(archive_known, timeout=40, message="campaigns did not see the archive")
    sent = await gateway.post(f"/api/v1/broadcasts/{draft}/send", headers=auth)
    assert sent.status_code == 202, sent.text
    paused = await settled(stack, draft, "paused")
    assert "list archived" in paused["pause_reason"]
    assert smtp_sink.messages_to(email) == []
    refused = await gateway.post(
        "/api/v1/broadcasts",
        headers=auth,
        json={
            "name": unique("broadcast"),
            "template_id": template_id,
            "audience": {"type": "stored_list", "list_id": listed["id"]},
        },
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == [
        {
            "field": "audience.list_id",
            "pointer": "#/audience/list_id",
            "source": "body",
            "detail": "archived list",
        }
    ]
