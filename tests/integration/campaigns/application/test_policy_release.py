"""A contact policy change re-evaluates the mail the old policy held (quiet hours, the cap), in
bounded batches, and says how far it got; mail held for other reasons is left alone."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import httpx
import pytest

from crm_campaigns.application.governance import ContactPolicies
from crm_campaigns.application.policy_release import PolicyReleaser
from crm_campaigns.domain.contact_policy import ContactPolicy, FrequencyCap, QuietHours
from crm_campaigns.domain.models import Message
from crm_campaigns.repositories.collections import CONTACT_LEDGER, MESSAGES
from crm_campaigns.repositories.contact_policies import ContactPolicyRepository
from crm_campaigns.repositories.policy_releases import PolicyReleaseRepository
from crm_shared import Database, Principal, Wakeup, to_document, utc_now
from helpers import unique
from integration.campaigns.application.test_delivery import Setup
from internal_keys import internal_bearer

pytestmark = pytest.mark.integration

STRICT = ContactPolicy(
    frequency_cap=FrequencyCap(max_messages=1, period_days=7),
    quiet_hours=QuietHours(start=time(21), end=time(8)),
)


def policies(setup: Setup, tenant: str | None = None) -> ContactPolicies:
    tenant_id = tenant or setup.tenant
    return ContactPolicies(
        ContactPolicyRepository(setup.database, tenant_id),
        PolicyReleaseRepository(setup.database, tenant_id),
    )


async def held(
    setup: Setup, reasons: list[str | None], *, until: datetime, tenant: str | None = None
) -> list[str]:
    """Queued messages as the dispatcher leaves them when the policy holds them (`reason`), or
    when something else does (None: waiting for the tenant's rate); returns their ids."""
    run = unique("held")
    documents = []
    for index, reason in enumerate(reasons):
        document = to_document(
            Message(
                id=f"{run}-{index}",
                tenant_id=tenant or setup.tenant,
                candidate_id=f"{run}-candidate-{index}",
                template_id="t",
                to_email=f"{run}-{index}@example.org",
                subject="Hello",
                html="<p>hi</p>",
                text="hi",
            )
        ) | {"next_attempt_at": until, "lease_owner": None, "lease_until": None}
        documents.append(document)
        if reason is not None:
            document |= {"policy_reason": reason, "deferred_until": until, "deferrals": 1}
    await setup.database[MESSAGES].insert_many(documents)
    return [document["_id"] for document in documents]


async def run_to_end(releaser: PolicyReleaser) -> int:
    """Runs batches until none is left; returns how many batches took messages."""
    batches = 0
    while await releaser.release_batch():
        batches += 1
        assert batches < 50
    return batches


async def message(database: Database, message_id: str) -> dict[str, Any]:
    found = await database[MESSAGES].find_one({"_id": message_id})
    assert found is not None
    return found


async def test_loosening_the_policy_lets_held_mail_out_in_batches(delivery: Setup) -> None:
    setup = delivery
    await policies(setup).put(STRICT, "admin")
    week = utc_now() + timedelta(days=7)
    by_policy = await held(setup, ["frequency_cap", "quiet_hours", "frequency_cap"], until=week)
    [by_rate] = await held(setup, [None], until=week)
    # Deferred by the policy once, since then waiting for a retry: not held by the policy now.
    [retrying] = await held(setup, ["quiet_hours"], until=week)
    await setup.database[MESSAGES].update_one(
        {"_id": retrying}, {"$set": {"deferred_until": utc_now() - timedelta(hours=1)}}
    )
    other_tenant = unique("tenant")
    [elsewhere] = await held(setup, ["quiet_hours"], until=week, tenant=other_tenant)
    wakeup = Wakeup()

    await policies(setup).put(ContactPolicy(), "admin")
    release = await policies(setup).release()
    assert release is not None
    assert (release.status, release.held, release.released) == ("running", 3, 0)
    batches = await run_to_end(PolicyReleaser(setup.database, batch_size=2, messages_queued=wakeup))

    assert batches == 2  # three held messages, two a batch
    now = utc_now()
    for message_id in by_policy:
        document = await message(setup.database, message_id)
        assert document["status"] == "queued"
        assert document["next_attempt_at"] <= now
        assert (document["deferred_until"], document["policy_reason"]) == (None, None)
    for untouched in (by_rate, retrying, elsewhere):
        assert (await message(setup.database, untouched))["next_attempt_at"] > now + timedelta(
            days=6
        )
    release = await policies(setup).release()
    assert release is not None
    assert release.finished_at is not None
    assert (release.status, release.held, release.examined, release.released) == (
        "done",
        3,
        3,
        3,
    )
    assert await policies(setup, other_tenant).release() is None


async def test_a_partly_loosened_policy_brings_mail_forward_only_to_what_it_allows(
    delivery: Setup,
) -> None:
    setup = delivery
    await policies(setup).put(STRICT, "admin")
    far = utc_now() + timedelta(days=8)
    soon = utc_now() + timedelta(hours=1)
    [capped] = await held(setup, ["frequency_cap"], until=far)
    [quiet] = await held(setup, ["quiet_hours"], until=soon)
    capped_candidate = (await message(setup.database, capped))["candidate_id"]
    sent_at = utc_now() - timedelta(days=6)
    await setup.database[CONTACT_LEDGER].insert_one(
        {
            "tenant_id": setup.tenant,
            "candidate_id": capped_candidate,
            "version": 1,
            "sends": [{"message_id": "earlier", "at": sent_at}],
        }
    )

    # No quiet hours any more, the cap stays: `capped` waits only for the cap (a day, not
    # eight), `quiet` goes at once.
    # Quiet from an hour ago until three hours on (UTC, the policy's zone for these recipients).
    tighter = ContactPolicy(
        frequency_cap=FrequencyCap(max_messages=1, period_days=7),
        quiet_hours=QuietHours(
            start=(utc_now() - timedelta(hours=1)).time().replace(microsecond=0),
            end=(utc_now() + timedelta(hours=3)).time().replace(microsecond=0),
        ),
    )
    await policies(setup).put(tighter.model_copy(update={"quiet_hours": None}), "admin")
    await run_to_end(PolicyReleaser(setup.database, batch_size=10))

    capped_now = await message(setup.database, capped)
    release_at = sent_at + timedelta(days=7)
    assert abs(capped_now["next_attempt_at"] - release_at) < timedelta(seconds=1)
    assert capped_now["deferred_until"] == capped_now["next_attempt_at"]
    assert capped_now["policy_reason"] == "frequency_cap"
    assert (await message(setup.database, quiet))["next_attempt_at"] <= utc_now()
    release = await policies(setup).release()
    assert release is not None
    assert (release.held, release.released) == (2, 2)

    # Tightening does not touch what is already scheduled: the dispatcher decides at send time.
    [waiting] = await held(setup, ["quiet_hours"], until=soon)
    await policies(setup).put(tighter, "admin")
    await run_to_end(PolicyReleaser(setup.database, batch_size=10))
    assert (await message(setup.database, waiting))["next_attempt_at"] == (
        await message(setup.database, waiting)
    )["deferred_until"]
    assert abs((await message(setup.database, waiting))["deferred_until"] - soon) < timedelta(
        seconds=1
    )
    release = await policies(setup).release()
    assert release is not None
    assert (release.status, release.released) == ("done", 0)


async def test_the_policy_response_says_how_much_held_mail_is_re_evaluated(
    api: tuple[httpx.AsyncClient, Database],
) -> None:
    client, database = api
    tenant = unique("tenant")
    admin = Principal(tenant_id=tenant, user_id="ada", roles=frozenset({"admin"}))
    headers = internal_bearer(admin, "campaigns")
    strict = STRICT.model_dump(mode="json")
    assert (
        await client.put("/settings/contact-policy", json=strict, headers=headers)
    ).status_code == 200
    setup = Setup(None, database, tenant)  # type: ignore[arg-type]
    await held(setup, ["quiet_hours", "frequency_cap"], until=utc_now() + timedelta(days=3))

    # The soft-bounce limit alone does not move held mail: nothing to re-evaluate.
    answer = await client.put(
        "/settings/contact-policy", json=strict | {"soft_bounce_limit": 5}, headers=headers
    )
    assert answer.json()["release"]["held"] == 0
    # The default policy (no cap, no quiet hours), every field named as a PUT must.
    loose = ContactPolicy().model_dump(mode="json")
    answer = await client.put("/settings/contact-policy", json=loose, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["release"] | {"requested_at": None} == {
        "status": "running",
        "requested_at": None,
        "finished_at": None,
        "held": 2,
        "examined": 0,
        "released": 0,
    }
    read = await client.get("/settings/contact-policy", headers=headers)
    assert read.json()["release"]["held"] == 2
