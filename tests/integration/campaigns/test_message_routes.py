"""`GET /messages` of the campaigns API in-process against SecantusDB: a broadcast's or a
sequence's messages, and those in one state, page by page (oldest or newest first), each with
its recipient's name; a state it does not know is a 422."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from crm_campaigns.domain.models import Message, MessageStatus, Recipient, Reply
from crm_campaigns.repositories.collections import MESSAGES
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_shared import Database, Principal, Session, in_transaction, to_document
from internal_keys import internal_bearer

pytestmark = pytest.mark.integration

RITA = Principal(tenant_id="acme", user_id="rita", roles=frozenset({"recruiter"}))
OTHER_TENANT = Principal(tenant_id="globex", user_id="gus", roles=frozenset({"recruiter"}))


def a_message(
    number: int,
    *,
    broadcast_id: str | None = None,
    sequence_id: str | None = None,
    status: MessageStatus = MessageStatus.SENT,
    tenant_id: str = "acme",
) -> Message:
    return Message(
        id=f"m{number:03d}",
        tenant_id=tenant_id,
        candidate_id=f"c{number:03d}",
        template_id="welcome",
        broadcast_id=broadcast_id,
        sequence_id=sequence_id,
        to_email=f"person{number}@example.org",
        subject="Hello",
        html="<p>Hello</p>",
        text="Hello",
        status=status,
        failure_reason="render_failed" if status is MessageStatus.FAILED else None,
    )


async def listed_ids(client: httpx.AsyncClient, query: str, principal: Principal) -> list[str]:
    """Every page of `GET /messages?<query>`, three at a time, as message ids."""
    ids: list[str] = []
    cursor = ""
    while True:
        response = await client.get(
            f"/messages?{query}&limit=3{cursor}", headers=internal_bearer(principal, "campaigns")
        )
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            return ids
        cursor = f"&cursor={page['next_cursor']}"


async def test_a_broadcasts_messages_and_its_failures_are_listed_page_by_page(
    api: tuple[httpx.AsyncClient, Database],
) -> None:
    client, database = api
    messages = [
        a_message(
            n,
            broadcast_id="spring",
            status=MessageStatus.FAILED if n % 3 == 0 else MessageStatus.SENT,
        )
        for n in range(1, 9)
    ]
    messages += [a_message(n, broadcast_id="autumn") for n in range(9, 12)]
    messages += [a_message(n, sequence_id="nurture") for n in range(12, 16)]
    messages += [a_message(16, broadcast_id="spring", tenant_id="globex")]
    await database[MESSAGES].insert_many([to_document(m) for m in messages])

    spring = await listed_ids(client, "broadcast_id=spring", RITA)
    assert spring == [f"m{n:03d}" for n in range(1, 9)]
    failed = await listed_ids(client, "broadcast_id=spring&status=failed", RITA)
    assert failed == ["m003", "m006"]
    assert await listed_ids(client, "sequence_id=nurture", RITA) == [
        f"m{n:03d}" for n in range(12, 16)
    ]
    assert await listed_ids(client, "status=failed", RITA) == ["m003", "m006"]
    assert await listed_ids(client, "broadcast_id=spring", OTHER_TENANT) == ["m016"]

    failure = await client.get(
        "/messages?broadcast_id=spring&status=failed", headers=internal_bearer(RITA, "campaigns")
    )
    assert [item["failure_reason"] for item in failure.json()["items"]] == [
        "render_failed",
        "render_failed",
    ]


async def test_a_candidates_replied_messages_are_paged_newest_first(
    api: tuple[httpx.AsyncClient, Database],
) -> None:
    client, database = api
    reply = Reply(id="r", received_at=datetime(2026, 12, 1, tzinfo=UTC), excerpt="Yes")
    replied = {"replied_at": reply.received_at, "replies": [reply]}
    messages = [
        a_message(n).model_copy(update={"candidate_id": "zoe", **(replied if n != 24 else {})})
        for n in range(20, 28)
    ]
    messages.append(a_message(28).model_copy(update=replied))  # another candidate's
    await database[MESSAGES].insert_many([to_document(m) for m in messages])

    query = "candidate_id=zoe&replied=true"
    newest = await listed_ids(client, f"{query}&sort=-created_at", RITA)
    assert newest == ["m027", "m026", "m025", "m023", "m022", "m021", "m020"]
    assert await listed_ids(client, query, RITA) == list(reversed(newest))
    assert await listed_ids(client, f"{query}&sort=created_at", RITA) == list(reversed(newest))

    # A cursor continues the order it was made in: used in the other one it is refused.
    first = await client.get(
        f"/messages?{query}&sort=-created_at&limit=3", headers=internal_bearer(RITA, "campaigns")
    )
    cursor = first.json()["next_cursor"]
    mixed = await client.get(
        f"/messages?{query}&limit=3&cursor={cursor}", headers=internal_bearer(RITA, "campaigns")
    )
    assert mixed.status_code == 400
    assert mixed.json()["type"].endswith("invalid-cursor")
    unknown = await client.get(
        f"/messages?{query}&sort=newest", headers=internal_bearer(RITA, "campaigns")
    )
    assert unknown.status_code == 422


async def test_a_state_it_does_not_know_is_a_problem_naming_the_filter(
    api: tuple[httpx.AsyncClient, Database],
) -> None:
    client, _ = api
    response = await client.get(
        "/messages?status=bounced", headers=internal_bearer(RITA, "campaigns")
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "status" in response.text


async def test_each_listed_message_names_its_recipient_as_campaigns_knows_them(
    api: tuple[httpx.AsyncClient, Database],
) -> None:
    client, database = api
    messages = [
        a_message(n, broadcast_id="names", status=MessageStatus.QUEUED) for n in range(21, 25)
    ]
    await database[MESSAGES].insert_many([to_document(m) for m in messages])

    async def learn(session: Session) -> None:
        acme = RecipientRepository(database, "acme")
        await acme.upsert(
            Recipient(
                candidate_id="c021",
                tenant_id="acme",
                first_name="Ada",
                last_name="Lovelace",
                time_zone="Europe/Berlin",
            ),
            session=session,
        )
        await acme.upsert(
            Recipient(candidate_id="c022", tenant_id="acme", first_name="Bo"), session=session
        )
        # Another tenant's candidate of the same id lends its name to nobody here.
        await RecipientRepository(database, "globex").upsert(
            Recipient(candidate_id="c023", tenant_id="globex", first_name="Gus", last_name="X"),
            session=session,
        )

    await in_transaction(database.client, learn)

    response = await client.get(
        "/messages?broadcast_id=names&status=queued&limit=3",
        headers=internal_bearer(RITA, "campaigns"),
    )
    assert response.status_code == 200, response.text
    page = response.json()
    assert [
        (m["candidate_id"], m["first_name"], m["last_name"], m["time_zone"]) for m in page["items"]
    ] == [
        ("c021", "Ada", "Lovelace", "Europe/Berlin"),
        ("c022", "Bo", None, None),
        ("c023", None, None, None),
    ]
    rest = await client.get(
        f"/messages?broadcast_id=names&status=queued&cursor={page['next_cursor']}",
        headers=internal_bearer(RITA, "campaigns"),
    )
    assert [(m["candidate_id"], m["first_name"]) for m in rest.json()["items"]] == [("c024", None)]
