"""Identity resolution through the gateway on the real broker and database: one record per
person on create, fuzzy duplicate suggestions, reversible merges that other services follow."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crm_candidates.domain.search import SearchQuery
from crm_candidates.repositories.candidates import search_filter
from helpers import eventually, read_events, unique
from integration.flow.conftest import ACME_TOKEN, GLOBEX_TOKEN, Stack

pytestmark = pytest.mark.integration


def search_query(tokens: list[str] | None = None) -> SearchQuery:
    return SearchQuery(
        tokens=tokens or [],
        tags=[],
        skills=[],
        source=None,
        owner_id=None,
        sort="created_at",
        after=None,
        limit=51,
    )


def person(tag: str, **fields: Any) -> dict[str, Any]:
    return {"first_name": "Ada", "last_name": "Lovelace", "emails": [f"{tag}@example.org"]} | fields


async def create(stack: Stack, body: dict[str, Any], token: str = ACME_TOKEN) -> dict[str, Any]:
    response = await stack.gateway.post("/api/v1/candidates", json=body, headers=stack.as_(token))
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


async def test_creating_a_known_person_again_returns_the_record_and_adds_identifiers(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    auth = stack.as_(ACME_TOKEN)
    tag = unique("same")
    first = await stack.gateway.post(
        "/api/v1/candidates",
        json=person(tag, phones=["+49 151 2345 6789"], profile_urls=["linkedin.com/in/" + tag]),
        headers=auth,
    )
    assert first.status_code == 201, first.text
    assert first.json()["created"] is True
    record_id = first.json()["id"]

    again = await stack.gateway.post(
        "/api/v1/candidates",
        json=person(tag.upper(), first_name="ADA", emails=[f" {tag.upper()}@Example.ORG "])
        | {
            "phones": ["+49 (151) 234-56789"],
            "emails": [f"{tag.upper()}@EXAMPLE.org", f"{tag}@work.org"],
        },
        headers=auth,
    )
    assert again.status_code == 200, again.text
    assert again.json()["id"] == record_id
    assert again.json()["created"] is False
    # The phone in another format is the same E.164 number: it matches too.
    assert again.json()["matched_on"] == ["email", "phone"]
    assert again.headers["location"] == f"/api/v1/candidates/{record_id}"
    assert again.json()["emails"] == [f"{tag}@example.org", f"{tag}@work.org"]
    assert again.json()["first_name"] == "Ada"  # only identifiers are added, nothing overwritten

    by_url = await create(
        stack, person(f"{tag}-other", profile_urls=[f"https://www.LinkedIn.com/in/{tag}/?trk=x"])
    )
    assert by_url["id"] == record_id
    assert by_url["matched_on"] == ["url"]

    listed = await stack.gateway.get("/api/v1/candidates", params={"q": f"{tag}"}, headers=auth)
    assert listed.status_code == 200
    updates = await read_events(
        kafka_bootstrap_servers,
        "candidate.updated",
        where=lambda e: e["subject"] == record_id,
        count=2,
    )
    assert f"{tag}@work.org" in updates[0]["data"]["emails"]

    # Another tenant is another world: the same address makes a new record there.
    elsewhere = await stack.gateway.post(
        "/api/v1/candidates", json=person(tag), headers=stack.as_(GLOBEX_TOKEN)
    )
    assert elsewhere.status_code == 201
    assert elsewhere.json()["id"] != record_id


async def test_concurrent_creates_of_one_person_make_one_record(stack: Stack) -> None:
    tag = unique("race")
    results = await asyncio.gather(*(create(stack, person(tag)) for _ in range(5)))
    assert len({result["id"] for result in results}) == 1
    assert sorted(result["created"] for result in results) == [False] * 4 + [True]


async def test_a_shared_phone_alone_makes_a_record_of_its_own_and_says_what_was_left_out(
    stack: Stack,
) -> None:
    """A family's or an office's number: someone found only by it, with another name and
    e-mail, is a person of their own without it (as in an import); the same person with a new
    address still matches, and a number a third record holds is named, not silently dropped."""
    tag = unique("sharedapi")
    # Numbers of this test alone: the stack is shared with other tests.
    digits = "3" + str(int(tag.rsplit("_", 1)[1], 16))[-6:].rjust(6, "1")
    jose = await create(
        stack,
        {
            "first_name": "José",
            "last_name": "Müller",
            "emails": [f"{tag}-jose@example.de"],
            "phones": [f"+49 30 {digits}"],
        },
    )
    juergen = await create(
        stack,
        {
            "first_name": "Jürgen",
            "last_name": "Groß",
            "emails": [f"{tag}-juergen@example.de"],
            "phones": [f"+49 (30) {digits}"],
        },
    )
    assert juergen["created"] is True
    assert juergen["id"] != jose["id"]
    assert juergen["phones"] == []
    assert juergen["identifiers_left_out"] == [f"+4930{digits}"]

    again = await create(
        stack,
        {
            "first_name": "Jose",
            "last_name": "Mueller",
            "emails": [f"{tag}-jose@work.example"],
            "phones": [f"030 {digits}"],
            "default_region": "DE",
        },
    )
    assert (again["id"], again["created"], again["matched_on"]) == (jose["id"], False, ["phone"])
    assert again["identifiers_left_out"] == []

    both = await create(
        stack,
        {
            "first_name": "Jürgen",
            "last_name": "Groß",
            "emails": [f"{tag}-juergen@example.de", f"{tag}-jose@example.de"],
        },
    )
    assert (both["id"], both["matched_on"]) == (juergen["id"], ["email"])
    assert both["emails"] == [f"{tag}-juergen@example.de"]
    assert both["identifiers_left_out"] == [f"{tag}-jose@example.de"]


async def test_changing_to_an_address_another_record_holds_is_a_conflict(stack: Stack) -> None:
    tag = unique("taken")
    one = await create(stack, person(f"{tag}-1"))
    other = await create(stack, person(f"{tag}-2"))
    clash = await stack.gateway.patch(
        f"/api/v1/candidates/{other['id']}",
        json={"emails": [f"{tag}-1@example.org"]},
        headers=stack.as_(ACME_TOKEN),
    )
    assert clash.status_code == 409
    assert clash.headers["content-type"] == "application/problem+json"
    assert clash.json()["existing_candidate_id"] == one["id"]


async def test_duplicate_suggestions_with_score_and_reason(stack: Stack) -> None:
    tag = unique("fuzzy")
    surname = f"Lovelace{tag[-6:]}"
    original = await create(
        stack,
        person(f"{tag}-a", last_name=surname, current_company="Analytical Engines"),
    )
    typo = await create(
        stack,
        person(
            f"{tag}-b",
            first_name="ada",
            last_name=surname[:3] + surname[2] + surname[3:],
            current_company="analytical engines",
        ),
    )
    namesake = await create(
        stack, person(f"{tag}-c", last_name=surname, current_company="Babbage & Co")
    )
    # Same name and company in another tenant: never suggested across tenants.
    await create(
        stack,
        person(f"{tag}-d", last_name=surname, current_company="Analytical Engines"),
        GLOBEX_TOKEN,
    )
    auth = stack.as_(ACME_TOKEN)
    suggested = await stack.gateway.get(
        f"/api/v1/candidates/{original['id']}/duplicates", headers=auth
    )
    assert suggested.status_code == 200, suggested.text
    [best] = suggested.json()
    assert best["candidate"]["id"] == typo["id"]
    assert best["reason"] == "similar name, same company"
    assert 90 <= best["score"] < 100

    weaker = await stack.gateway.get(
        f"/api/v1/candidates/{original['id']}/duplicates",
        params={"min_score": 50},
        headers=auth,
    )
    by_id = {s["candidate"]["id"]: s for s in weaker.json()}
    assert set(by_id) == {typo["id"], namesake["id"]}
    assert by_id[namesake["id"]]["reason"] == "same name"

    foreign = await stack.gateway.get(
        f"/api/v1/candidates/{original['id']}/duplicates", headers=stack.as_(GLOBEX_TOKEN)
    )
    assert foreign.status_code == 404
    bad = await stack.gateway.get(
        f"/api/v1/candidates/{original['id']}/duplicates", params={"min_score": 101}, headers=auth
    )
    assert bad.status_code == 422


async def _register_for_event(stack: Stack, email: str) -> str:
    event = await stack.gateway.post(
        "/api/v1/events",
        headers=stack.as_(ACME_TOKEN),
        json={
            "name": "Identity meetup",
            "kind": "meetup",
            "starts_at": "2030-12-10T18:00:00+01:00",
            "capacity": 50,
        },
    )
    assert event.status_code == 201, event.text
    event_id: str = event.json()["id"]
    registered = await stack.gateway.post(
        f"/public/v1/events/{event_id}/registrations",
        json={"first_name": "Ada", "last_name": "L", "email": email},
    )
    assert registered.status_code == 201, registered.text
    return event_id


async def _registrant(stack: Stack, event_id: str) -> str | None:
    response = await stack.gateway.get(
        f"/api/v1/events/{event_id}/registrations", headers=stack.as_(ACME_TOKEN)
    )
    [registration] = response.json()["items"]
    candidate_id: str | None = registration["candidate_id"]
    return candidate_id


async def _engaged_with(stack: Stack, candidate_id: str) -> set[str]:
    """The events analytics counts in the candidate's engagement score."""
    response = await stack.gateway.get(
        f"/api/v1/analytics/candidates/{candidate_id}/engagement", headers=stack.as_(ACME_TOKEN)
    )
    if response.status_code != 200:
        return set()
    return {c["reference"] for c in response.json()["contributions"]}


async def test_merge_with_choices_provenance_events_rekeying_and_undo(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    auth = stack.as_(ACME_TOKEN)
    tag = unique("merge")
    survivor = await create(
        stack,
        person(
            f"{tag}-s",
            skills=["python"],
            tags=[tag],
            location="London",
            source="sourced",
        ),
    )
    merged = await create(
        stack,
        person(
            f"{tag}-m",
            phones=["+44 20 7946 0000"],
            skills=["Python", "Maths"],
            current_company="Engines Ltd",
            location="Paris",
            source="referral",
            tags=[tag],
        ),
    )
    event_id = await _register_for_event(stack, f"{tag}-m@example.org")

    async def registrant_is(candidate_id: str) -> bool:
        return await _registrant(stack, event_id) == candidate_id

    await eventually(
        lambda: registrant_is(merged["id"]), message="registrant not matched", timeout=90
    )

    # Checked in once matched, so the attendance is the merged record's engagement.
    listed = await stack.gateway.get(
        f"/api/v1/events/{event_id}/registrations", headers=stack.as_(ACME_TOKEN)
    )
    [registration] = listed.json()["items"]
    checked_in = await stack.gateway.post(
        f"/api/v1/events/{event_id}/registrations/{registration['id']}/check-in",
        headers=stack.as_(ACME_TOKEN),
    )
    assert checked_in.status_code == 200, checked_in.text

    async def engaged(candidate_id: str, expected: set[str]) -> bool:
        return await _engaged_with(stack, candidate_id) == expected

    await eventually(
        lambda: engaged(merged["id"], {event_id}), message="attendance not scored", timeout=90
    )
    segment = await stack.gateway.post(
        "/api/v1/segments",
        json={"name": tag, "rule": {"all": [{"field": "tags", "op": "equals", "value": tag}]}},
        headers=auth,
    )

    async def segment_ready() -> bool:
        found = await stack.gateway.get(f"/api/v1/segments/{segment.json()['id']}", headers=auth)
        return bool(found.json()["status"] == "ready" and found.json()["member_count"] == 2)

    await eventually(segment_ready, message="segment not evaluated", timeout=90)

    done = await stack.gateway.post(
        "/api/v1/candidates/merges",
        json={
            "survivor_id": survivor["id"],
            "merged_id": merged["id"],
            "choices": {"location": "merged"},
        },
        headers=auth,
    )
    assert done.status_code == 201, done.text
    merge = done.json()
    assert done.headers["location"] == f"/api/v1/candidates/merges/{merge['id']}"
    assert merge["provenance"]["location"] == [
        {"value": "Paris", "candidate_id": merged["id"], "source": "referral"}
    ]
    assert merge["provenance"]["emails"][1] == {
        "value": f"{tag}-m@example.org",
        "candidate_id": merged["id"],
        "source": "referral",
    }

    kept = (await stack.gateway.get(f"/api/v1/candidates/{survivor['id']}", headers=auth)).json()
    assert kept["emails"] == [f"{tag}-s@example.org", f"{tag}-m@example.org"]
    assert kept["skills"] == ["python", "maths"]
    assert kept["current_company"] == "Engines Ltd"
    assert kept["location"] == "Paris"
    assert kept["source"] == "sourced"
    assert kept["provenance"]["current_company"][0]["candidate_id"] == merged["id"]
    folded = (await stack.gateway.get(f"/api/v1/candidates/{merged['id']}", headers=auth)).json()
    assert folded["status"] == "merged"
    assert folded["merged_into"] == survivor["id"]

    # The folded record's identifiers now find the survivor; lists and segments show one person.
    again = await create(stack, person(f"{tag}-m"))
    assert again["id"] == survivor["id"]
    members = await stack.gateway.get(
        f"/api/v1/segments/{segment.json()['id']}/members", headers=auth
    )
    assert [m["id"] for m in members.json()["items"]] == [survivor["id"]]
    listed = await stack.gateway.get("/api/v1/candidates", params={"tag": tag}, headers=auth)
    assert [c["id"] for c in listed.json()["items"]] == [survivor["id"]]
    changing = await stack.gateway.patch(
        f"/api/v1/candidates/{merged['id']}", json={"location": "Rome"}, headers=auth
    )
    assert changing.status_code == 409
    # Nor does it take notes: they belong on the survivor, which the refusal names.
    noting = await stack.gateway.post(
        f"/api/v1/candidates/{merged['id']}/notes", json={"body": "Called"}, headers=auth
    )
    assert noting.status_code == 409, noting.text
    assert noting.headers["content-type"].startswith("application/problem+json")
    assert noting.json()["type"].endswith("candidate-not-active")
    assert noting.json()["merged_into"] == survivor["id"]
    notes = await stack.gateway.get(f"/api/v1/candidates/{merged['id']}/notes", headers=auth)
    assert notes.json()["items"] == []

    [event] = await read_events(
        kafka_bootstrap_servers,
        "candidate.merged",
        where=lambda e: e["data"]["merge_id"] == merge["id"],
        count=1,
        timeout=90,
    )
    assert event["tenant_id"] == stack.acme
    assert event["subject"] == survivor["id"]
    assert event["data"]["merged_candidate_id"] == merged["id"]
    assert event["data"]["survivor"]["location"] == "Paris"
    [exited] = await read_events(
        kafka_bootstrap_servers,
        "segment.exited",
        where=lambda e: e["data"]["segment_id"] == segment.json()["id"],
        count=1,
    )
    assert exited["subject"] == merged["id"]
    # The events service re-keys the registration to the survivor.
    await eventually(
        lambda: registrant_is(survivor["id"]), message="registration not re-keyed", timeout=90
    )
    # Analytics counts the merged record's history in the survivor's engagement.
    await eventually(
        lambda: engaged(survivor["id"], {event_id}), message="engagement not folded", timeout=90
    )
    # The merged record keeps no score: it names the survivor.
    gone = await stack.gateway.get(
        f"/api/v1/analytics/candidates/{merged['id']}/engagement", headers=auth
    )
    assert gone.status_code == 200, gone.text
    assert (gone.json()["score"], gone.json()["merged_into"]) == (None, survivor["id"])
    assert gone.json()["contributions"] == []

    # Tenant isolation: another tenant can neither see, merge nor undo.
    globex = stack.as_(GLOBEX_TOKEN)
    assert (
        await stack.gateway.get(f"/api/v1/candidates/merges/{merge['id']}", headers=globex)
    ).status_code == 404
    assert (
        await stack.gateway.post(f"/api/v1/candidates/merges/{merge['id']}/undo", headers=globex)
    ).status_code == 404
    theirs = await create(stack, person(f"{tag}-g"), GLOBEX_TOKEN)
    across = await stack.gateway.post(
        "/api/v1/candidates/merges",
        json={"survivor_id": theirs["id"], "merged_id": survivor["id"]},
        headers=globex,
    )
    assert across.status_code == 404

    undone = await stack.gateway.post(f"/api/v1/candidates/merges/{merge['id']}/undo", headers=auth)
    assert undone.status_code == 200, undone.text
    assert undone.json()["status"] == "undone"
    for original in (survivor, merged):
        restored = (
            await stack.gateway.get(f"/api/v1/candidates/{original['id']}", headers=auth)
        ).json()
        for field in ("emails", "phones", "skills", "location", "current_company", "status"):
            assert restored[field] == original[field], field
        assert restored["merged_into"] is None
        assert restored["provenance"] == {}
    [unmerged] = await read_events(
        kafka_bootstrap_servers,
        "candidate.unmerged",
        where=lambda e: e["data"]["merge_id"] == merge["id"],
        count=1,
        timeout=90,
    )
    assert unmerged["data"]["restored_candidate_id"] == merged["id"]
    await eventually(
        lambda: registrant_is(merged["id"]), message="registration not given back", timeout=90
    )
    await eventually(
        lambda: engaged(merged["id"], {event_id}), message="engagement not given back", timeout=90
    )
    assert await _engaged_with(stack, survivor["id"]) == set()
    twice = await stack.gateway.post(f"/api/v1/candidates/merges/{merge['id']}/undo", headers=auth)
    assert twice.status_code == 409
    back = await stack.gateway.get(f"/api/v1/segments/{segment.json()['id']}/members", headers=auth)
    assert {m["id"] for m in back.json()["items"]} == {survivor["id"], merged["id"]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"survivor_id": "a", "merged_id": "a"}, "merged_id"),
        ({"survivor_id": "a", "merged_id": "b", "choices": {"salary": "merged"}}, "choices.salary"),
        ({"survivor_id": "a", "merged_id": "b", "choices": {"emails": "best"}}, "choices.emails"),
        # Dropping an identifier would free its key (the merge could not be undone).
        ({"survivor_id": "a", "merged_id": "b", "choices": {"phones": "merged"}}, "choices.phones"),
    ],
)
async def test_bad_merge_requests_are_422(stack: Stack, body: dict[str, Any], field: str) -> None:
    response = await stack.gateway.post(
        "/api/v1/candidates/merges", json=body, headers=stack.as_(ACME_TOKEN)
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.text


async def test_search_by_keywords_with_filters_sort_and_pages(stack: Stack) -> None:
    auth = stack.as_(GLOBEX_TOKEN)
    tag = unique("find")
    word = f"Zq{tag[-8:]}"
    for first, title, skills, source in (
        ("Zoë", f"Senior {word} Engineer", ["Python"], "referral"),
        ("Chloé", f"{word} Engineer", ["Go"], "sourced"),
        ("Bob", f"{word} Designer", ["Python"], "referral"),
        ("Eve", "Engineer", ["Python"], "referral"),
    ):
        await create(
            stack,
            person(
                f"{tag}-{first}",
                first_name=first,
                last_name=f"{first}son",
                current_title=title,
                skills=skills,
                tags=[tag],
                source=source,
            ),
            GLOBEX_TOKEN,
        )

    async def names(**params: Any) -> list[str]:
        response = await stack.gateway.get("/api/v1/candidates", params=params, headers=auth)
        assert response.status_code == 200, response.text
        return [c["first_name"] for c in response.json()["items"]]

    # Every word must match (AND), a word may be a prefix, accents and case do not matter.
    assert await names(q=f"{word.lower()} engin", tag=tag) == ["Zoë", "Chloé"]
    assert await names(q="zoe", tag=tag) == ["Zoë"]
    assert await names(q=f"{word} engineer", skill="python", tag=tag) == ["Zoë"]
    assert await names(q=word, source="referral", tag=tag) == ["Zoë", "Bob"]
    assert await names(q=word, tag=tag, sort="name") == ["Bob", "Chloé", "Zoë"]
    # Another tenant's search never finds them.
    acme = await stack.gateway.get(
        "/api/v1/candidates", params={"q": word}, headers=stack.as_(ACME_TOKEN)
    )
    assert acme.json()["items"] == []

    async def one_at_a_time(sort: str) -> tuple[list[str], str]:
        """Every name, a page of one at a time following the cursor; and the last cursor."""
        seen: list[str] = []
        cursor = last_cursor = None
        for _ in range(5):
            params: dict[str, Any] = {"tag": tag, "sort": sort, "limit": 1}
            if cursor:
                params["cursor"] = last_cursor = cursor
            page = await stack.gateway.get("/api/v1/candidates", params=params, headers=auth)
            seen += [c["first_name"] for c in page.json()["items"]]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                return seen, str(last_cursor)
        raise AssertionError(f"the pages of {sort} never ended")

    assert (await one_at_a_time("updated_at"))[0] == ["Zoë", "Chloé", "Bob", "Eve"]
    # The other end first: newest, most recently changed (read in windows of the key).
    oldest_first = await names(q=word, tag=tag)
    assert await names(q=word, tag=tag, sort="-created_at") == oldest_first[::-1]
    seen, updated_cursor = await one_at_a_time("-updated_at")
    assert seen == ["Eve", "Bob", "Chloé", "Zoë"]
    wrong = await stack.gateway.get(
        "/api/v1/candidates",
        params={"tag": tag, "sort": "name", "cursor": updated_cursor},
        headers=auth,
    )
    assert wrong.status_code == 400
    bad_sort = await stack.gateway.get(
        "/api/v1/candidates", params={"sort": "salary"}, headers=auth
    )
    assert bad_sort.status_code == 422


async def test_lookup_by_exact_email_and_phone_and_an_address_in_the_keywords(
    stack: Stack,
) -> None:
    auth = stack.as_(GLOBEX_TOKEN)
    tag = unique("look")
    ada = await create(
        stack,
        person(f"{tag}-Ada", phones=["+49 151 2345 6789"], tags=[tag]),
        GLOBEX_TOKEN,
    )
    await create(stack, person(f"{tag}-bob", first_name="Bob", tags=[tag]), GLOBEX_TOKEN)

    async def ids(**params: Any) -> list[str]:
        response = await stack.gateway.get("/api/v1/candidates", params=params, headers=auth)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    # Stored lower-case; looked up whatever the case and surrounding spaces.
    assert await ids(email=f"  {tag.upper()}-ADA@Example.org ") == [ada["id"]]
    # Any spelling of the number finds it (compared in E.164).
    assert await ids(phone="+49-151-23456789") == [ada["id"]]
    assert await ids(phone="+4915123456789") == [ada["id"]]
    assert await ids(phone="+49 151 9999 0000") == []
    # Both given: the record must hold both.
    assert await ids(email=f"{tag}-ada@example.org", phone="+4915123456789") == [ada["id"]]
    assert await ids(email=f"{tag}-bob@example.org", phone="+4915123456789") == []
    # An address typed into the keywords is matched as an address, beside the other words.
    assert await ids(q=f"{tag}-Ada@example.org") == [ada["id"]]
    assert await ids(q=f"ada {tag}-ada@example.org") == [ada["id"]]
    assert await ids(q=f"bob {tag}-ada@example.org") == []
    # Another tenant's lookup never finds the person.
    other = await stack.gateway.get(
        "/api/v1/candidates",
        params={"email": f"{tag}-ada@example.org"},
        headers=stack.as_(ACME_TOKEN),
    )
    assert other.json()["items"] == []

    bad_phone = await stack.gateway.get(
        "/api/v1/candidates", params={"phone": "call me"}, headers=auth
    )
    assert bad_phone.status_code == 422
    assert bad_phone.json()["errors"][0]["field"] == "phone"
    # A misspelt parameter is refused, not ignored (which would list every candidate).
    misspelt = await stack.gateway.get(
        "/api/v1/candidates", params={"emial": f"{tag}-ada@example.org"}, headers=auth
    )
    assert misspelt.status_code == 422, misspelt.text
    assert misspelt.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in misspelt.json()["errors"]] == ["emial"]
    assert misspelt.json()["errors"][0]["source"] == "query"


async def test_search_pages_through_ties_and_extra_words(stack: Stack) -> None:
    auth = stack.as_(GLOBEX_TOKEN)
    tag = unique("ties")
    word = f"Qx{tag[-8:]}"
    expected: list[str] = []
    for index in range(7):
        created = await create(
            stack,
            person(
                f"{tag}-{index}",
                first_name=f"P{index}",
                last_name="Same" if index < 5 else "Zed",
                current_title=f"{word} {'Engineer' if index % 2 == 0 else 'Designer'}",
                tags=[tag],
            ),
            GLOBEX_TOKEN,
        )
        if index % 2 == 0:
            expected.append(created["id"])

    for sort in ("name", "created_at", "updated_at"):
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"q": f"engi {word}", "sort": sort, "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = await stack.gateway.get("/api/v1/candidates", params=params, headers=auth)
            assert page.status_code == 200, page.text
            seen += [c["id"] for c in page.json()["items"]]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        # Ties of the sort value are broken by id, so nothing is skipped or repeated.
        assert sorted(seen) == sorted(expected), sort
        assert len(seen) == len(set(seen))
    by_name = [
        c["id"]
        for c in (
            await stack.gateway.get(
                "/api/v1/candidates", params={"tag": tag, "sort": "name", "limit": 3}, headers=auth
            )
        ).json()["items"]
    ]
    assert len(by_name) == 3


async def test_the_search_queries_are_served_by_an_index(stack: Stack, mongodb_uri: str) -> None:
    """SecantusDB plans only flat filters with an index; the search must ask in those shapes."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    database = mongo[stack.candidates_database]
    shapes = [
        search_filter(search_query(tokens=["ada"])),
        search_filter(search_query(tokens=["ad", "lovelace"])),
        search_filter(search_query()),
    ]
    for shape in shapes:
        for extra in ({}, {"_id": {"$gt": "0"}}):
            query = {**shape, **extra, "tenant_id": stack.globex}
            explained = await database.command(
                {"explain": {"find": "candidates", "filter": query, "limit": 51}}
            )
            plan = str(explained["queryPlanner"]["winningPlan"])
            assert "IXSCAN" in plan, (query, plan)
            assert "COLLSCAN" not in plan, (query, plan)
    ordered = {**search_filter(search_query()), "last_name": {"$gt": "M"}, "tenant_id": "t"}
    explained = await database.command(
        {"explain": {"find": "candidates", "filter": ordered, "limit": 51}}
    )
    assert "IXSCAN" in str(explained["queryPlanner"]["winningPlan"])
    await mongo.close()


async def test_names_in_greek_and_cyrillic_are_searched_by_their_words(stack: Stack) -> None:
    auth = stack.as_(GLOBEX_TOKEN)
    tag = unique("scripts")
    people = (("Νίκος", "Παπαδόπουλος"), ("Иван", "Петров"), ("Ada", "Lovelace"))
    for index, (first, last) in enumerate(people):
        await create(
            stack,
            person(f"{tag}-{index}", first_name=first, last_name=last, tags=[tag]),
            GLOBEX_TOKEN,
        )

    async def names(q: str) -> list[str]:
        response = await stack.gateway.get(
            "/api/v1/candidates", params={"q": q, "tag": tag}, headers=auth
        )
        assert response.status_code == 200, response.text
        return [c["last_name"] for c in response.json()["items"]]

    assert await names("Παπαδόπουλος") == ["Παπαδόπουλος"]
    assert await names("νικος παπαδ") == ["Παπαδόπουλος"]
    assert await names("петров") == ["Петров"]
    assert await names("Ωmega") == []
