"""The template routes of the campaigns API in-process against SecantusDB: custom fields merged
as `candidate.custom_fields.<key>` from the projections `profile.custom_field_changed` and candidate
events keep (checked at save, offered by the picker, rendered by the preview); a save names the
broadcasts and sequences that will send the new version; an archive's 409 names the template."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from crm_campaigns.application.custom_fields import learn_custom_field
from crm_campaigns.application.recipients import project_profiles
from crm_campaigns.domain.models import (
    AbTest,
    AbVariant,
    Broadcast,
    BroadcastStatus,
    ListAudience,
    ManualTrigger,
    SendStep,
    Sequence,
)
from crm_campaigns.repositories.broadcasts import BroadcastRepository
from crm_campaigns.repositories.sequences import SequenceRepository
from crm_shared import (
    CandidateProfile,
    CustomFieldChanged,
    Database,
    Principal,
    Session,
    in_transaction,
    utc_now,
)
from crm_shared.directory import ProfileChange
from helpers import unique
from internal_keys import internal_bearer

pytestmark = pytest.mark.integration

MIA = Principal(tenant_id="acme", user_id="mia", roles=frozenset({"marketer"}))
HTML = "<p>Hi {{ candidate.first_name }},</p>\n<p>{{ candidate.custom_fields.preferred_stack }}</p>"


def headers() -> dict[str, str]:
    return internal_bearer(MIA, "campaigns")


async def announce(database: Database, key: str, **changes: Any) -> None:
    """`profile.custom_field_changed` as the candidates service publishes it, consumed."""
    changed = CustomFieldChanged(
        key=key,
        label=changes.pop("label", "Preferred stack"),
        type=changes.pop("type", "string"),
        changed_at=changes.pop("changed_at", utc_now()),
        **changes,
    )

    async def work(session: Session) -> None:
        await learn_custom_field(database, "acme", changed, session)

    await in_transaction(database.client, work)


async def a_candidate(database: Database, custom_fields: dict[str, Any]) -> str:
    """A candidate as `candidate.updated` brings them to campaigns' recipient projection."""
    candidate_id = unique("ada")
    profile = CandidateProfile(
        candidate_id=candidate_id,
        first_name="Ada",
        last_name="Lovelace",
        emails=[f"{candidate_id}@example.org"],
        source="sourced",
        custom_fields=custom_fields,
    )

    async def work(session: Session) -> None:
        await project_profiles(database, "acme", [ProfileChange(profile, utc_now())], session)

    await in_transaction(database.client, work)
    return candidate_id


def template(html: str = HTML, **extra: Any) -> dict[str, Any]:
    return {"name": unique("welcome"), "subject": "Hello", "html": html, "text": "Hi"} | extra


async def test_a_custom_field_is_checked_offered_and_rendered(
    api: tuple[httpx.AsyncClient, Database],
) -> None:
    client, database = api
    refused = await client.post("/templates", json=template(), headers=headers())
    assert refused.status_code == 422, refused.text
    assert {
        "field": "html",
        "pointer": "#/html",
        "source": "body",
        "detail": "unknown custom field candidate.custom_fields.preferred_stack",
        "line": 2,
    } in refused.json()["errors"]

    await announce(database, "preferred_stack")
    created = await client.post("/templates", json=template(), headers=headers())
    assert created.status_code == 201, created.text

    picker = await client.get("/templates/merge-fields", headers=headers())
    offered = {f["name"]: f for f in picker.json()["fields"]}
    assert offered["candidate.custom_fields.preferred_stack"]["insert"] == (
        "{{ candidate.custom_fields.preferred_stack }}"
    )

    holder = await a_candidate(database, {"preferred_stack": "Go & <Rust>"})
    preview = await client.post(
        f"/templates/{created.json()['id']}/preview",
        json={"candidate_id": holder},
        headers=headers(),
    )
    assert preview.status_code == 200, preview.text
    assert "<p>Go &amp; &lt;Rust&gt;</p>" in preview.json()["html"]

    without = await a_candidate(database, {})
    draft = await client.post(
        "/templates/preview",
        json={
            "candidate_id": without,
            "subject": "For {{ candidate.custom_fields.preferred_stack | default('you') }}",
            "html": "<p>x</p>",
            "text": "x",
        },
        headers=headers(),
    )
    assert draft.status_code == 200, draft.text
    assert draft.json()["subject"] == "For you"


async def test_a_deleted_field_is_refused_and_an_older_change_does_not_bring_it_back(
    api: tuple[httpx.AsyncClient, Database],
) -> None:
    client, database = api
    now = utc_now()
    await announce(database, "badge", changed_at=now)
    await announce(database, "badge", deleted=True, changed_at=now + timedelta(seconds=5))
    # The definition's creation, redelivered after the deletion.
    await announce(database, "badge", changed_at=now)

    refused = await client.post(
        "/templates", json=template("{{ candidate.custom_fields.badge }}"), headers=headers()
    )
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["errors"]
    assert error["detail"].startswith("custom field candidate.custom_fields.badge was deleted")
    picker = await client.get("/templates/merge-fields", headers=headers())
    assert "candidate.custom_fields.badge" not in {f["name"] for f in picker.json()["fields"]}

    await announce(database, "badge", changed_at=now + timedelta(seconds=9))  # restored
    restored = await client.post(
        "/templates", json=template("{{ candidate.custom_fields.badge }}"), headers=headers()
    )
    assert restored.status_code == 201, restored.text


async def test_saving_a_template_names_the_broadcasts_and_sequences_sending_it(
    api: tuple[httpx.AsyncClient, Database],
) -> None:
    """An A/B broadcast whose rest waits for the winner would go out in two versions: the save
    says so, with the live sequence; a broadcast whose mail is all made is not named."""
    client, database = api
    created = await client.post("/templates", json=template("<p>v1</p>"), headers=headers())
    template_id = created.json()["id"]
    ab_test = AbTest(
        variants=[AbVariant(name="A", subject="a"), AbVariant(name="B", subject="b")],
        test_percentage=20,
        decide_after_minutes=60,
    )
    broadcasts = BroadcastRepository(database, "acme")
    waiting = Broadcast(
        tenant_id="acme",
        name=unique("Spring fair"),
        template_id=template_id,
        audience=ListAudience(candidate_ids=["c1"]),
        ab_test=ab_test,
        status=BroadcastStatus.SENDING,
        created_by="mia",
    )
    made = waiting.model_copy(
        update={"id": unique("made"), "name": unique("Made"), "materialized": True}
    )
    await broadcasts.add(waiting)
    await broadcasts.add(made)
    nurture = Sequence(
        tenant_id="acme",
        name=unique("Nurture"),
        trigger=ManualTrigger(),
        steps=[SendStep(template_id=template_id)],
        created_by="mia",
    )
    await SequenceRepository(database, "acme").add(nurture)

    saved = await client.put(
        f"/templates/{template_id}",
        json=template("<p>v2</p>"),
        headers=headers() | {"If-Match": '"1"'},
    )
    assert saved.status_code == 200, saved.text
    users = {(user["kind"], user["name"]): user for user in saved.json()["sends_this_version"]}
    assert set(users) == {("broadcast", waiting.name), ("sequence", nurture.name)}
    assert users["broadcast", waiting.name]["id"] == waiting.id
    assert "A/B test running" in users["broadcast", waiting.name]["detail"]
    # The editor reads them before a save too, to warn.
    read = await client.get(f"/templates/{template_id}", headers=headers())
    assert read.json()["sends_this_version"] == saved.json()["sends_this_version"]

    # The archive's 409 names the template as its users are named: by name.
    refused = await client.delete(f"/templates/{template_id}", headers=headers())
    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert detail.startswith(f"template {saved.json()['name']!r} is used by"), detail
    assert template_id not in detail
