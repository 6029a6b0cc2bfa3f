"""ATS connections and Greenhouse webhooks through the gateway, on the real broker and database:
rotating a connection's secret with a grace period, deleting a connection, and webhook replays
(a signed body under a new event id, an old change after a newer one) that change nothing."""

from __future__ import annotations

from typing import Any

import pytest

from crm_devstack.greenhouse import (
    GreenhouseWebhooks,
    candidate_stage_change,
    new_candidate_application,
)
from crm_shared import ATS_APPLICATION_STAGE_CHANGED
from helpers import eventually, read_events, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, Stack

pytestmark = pytest.mark.integration


async def connect(stack: Stack, provider: str = "greenhouse") -> dict[str, Any]:
    created = await stack.gateway.post(
        "/api/v1/ats/connections",
        headers=stack.as_(ACME_ADMIN_TOKEN),
        json={"provider": provider, "name": unique(provider)},
    )
    assert created.status_code == 201, created.text
    connection: dict[str, Any] = created.json()
    return connection


def webhooks(stack: Stack, connection: dict[str, Any], secret: str) -> GreenhouseWebhooks:
    return GreenhouseWebhooks(
        url=connection["webhook_url"].removeprefix(stack.gateway_url), secret=secret
    )


def an_application(application_id: int) -> bytes:
    return new_candidate_application(
        application_id=application_id,
        candidate_id=application_id,
        email=f"{unique('applicant')}@example.org",
        first_name="Zoë",
        last_name="Ångström",
        job_name="Data Engineer",
    )


def new_application_id() -> int:
    return int(unique("1").split("_")[1], 16) % 10**9


async def test_a_rotated_secret_keeps_the_old_one_valid_for_its_grace_period(
    stack: Stack,
) -> None:
    connection = await connect(stack)
    url = f"/api/v1/ats/connections/{connection['id']}/rotate-secret"
    old = webhooks(stack, connection, connection["webhook_secret"])

    as_recruiter = await stack.gateway.post(url, headers=stack.as_(ACME_TOKEN), json={})
    assert as_recruiter.status_code == 403, as_recruiter.text
    rotated = await stack.gateway.post(url, headers=stack.as_(ACME_ADMIN_TOKEN), json={})
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["webhook_secret"]
    assert new_secret != connection["webhook_secret"]
    assert rotated.json()["previous_secret_until"] is not None
    new = webhooks(stack, connection, new_secret)

    during_grace = await old.deliver(stack.gateway, an_application(new_application_id()))
    assert during_grace.status_code == 202, during_grace.text
    with_new = await new.deliver(stack.gateway, an_application(new_application_id()))
    assert with_new.status_code == 202, with_new.text

    # Rotating again without grace ends the previous secret at once.
    again = await stack.gateway.post(
        url, headers=stack.as_(ACME_ADMIN_TOKEN), json={"grace_hours": 0}
    )
    assert again.status_code == 200, again.text
    assert again.json()["previous_secret_until"] is None
    newest = webhooks(stack, connection, again.json()["webhook_secret"])
    refused = await new.deliver(stack.gateway, an_application(new_application_id()))
    assert refused.status_code == 401, refused.text
    accepted = await newest.deliver(stack.gateway, an_application(new_application_id()))
    assert accepted.status_code == 202, accepted.text

    listed = await stack.gateway.get("/api/v1/ats/connections", headers=stack.as_(ACME_TOKEN))
    assert "webhook_secret" not in str(listed.json())


async def test_a_deleted_connection_refuses_its_webhooks_and_keeps_its_applications(
    stack: Stack,
) -> None:
    connection = await connect(stack)
    greenhouse = webhooks(stack, connection, connection["webhook_secret"])
    application_id = new_application_id()
    assert (await greenhouse.deliver(stack.gateway, an_application(application_id))).is_success

    url = f"/api/v1/ats/connections/{connection['id']}"
    assert (await stack.gateway.delete(url, headers=stack.as_(ACME_TOKEN))).status_code == 403
    deleted = await stack.gateway.delete(url, headers=stack.as_(ACME_ADMIN_TOKEN))
    assert deleted.status_code == 204, deleted.text
    assert (await stack.gateway.get(url, headers=stack.as_(ACME_TOKEN))).status_code == 404
    listed = await stack.gateway.get("/api/v1/ats/connections", headers=stack.as_(ACME_TOKEN))
    assert connection["id"] not in [c["id"] for c in listed.json()]
    refused = await greenhouse.deliver(stack.gateway, an_application(new_application_id()))
    assert refused.status_code == 404, refused.text

    applications = await stack.gateway.get(
        "/api/v1/ats/applications",
        params={"connection_id": connection["id"]},
        headers=stack.as_(ACME_TOKEN),
    )
    assert str(application_id) in [a["ats_application_id"] for a in applications.json()]


async def test_a_replayed_body_or_an_older_change_moves_nothing_back(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    connection = await connect(stack)
    greenhouse = webhooks(stack, connection, connection["webhook_secret"])
    application_id = new_application_id()
    email = f"{unique('applicant')}@example.org"

    def moved_to(stage: str, at: str) -> bytes:
        return candidate_stage_change(
            application_id=application_id,
            candidate_id=application_id,
            email=email,
            stage=stage,
            last_activity_at=at,
        )

    interview = moved_to("Face to Face", "2026-11-27T10:00:00Z")
    offer = moved_to("Offer", "2026-11-29T10:00:00Z")
    for body in (interview, offer):
        delivered = await greenhouse.deliver(stack.gateway, body, delivery_id=unique("d"))
        assert delivered.status_code == 202, delivered.text

    # The interview delivery, signed and genuine, sent again under a new event id.
    replayed = await greenhouse.deliver(stack.gateway, interview, delivery_id=unique("d"))
    assert (replayed.status_code, replayed.json()["status"]) == (200, "replayed")
    # An interview change the ATS dates before the offer, arriving after it.
    late = await greenhouse.deliver(
        stack.gateway, moved_to("Face to Face", "2026-11-28T10:00:00Z"), delivery_id=unique("d")
    )
    assert (late.status_code, late.json()["status"]) == (200, "stale")

    applications = await stack.gateway.get(
        "/api/v1/ats/applications",
        params={"connection_id": connection["id"]},
        headers=stack.as_(ACME_TOKEN),
    )
    [application] = [
        a for a in applications.json() if a["ats_application_id"] == str(application_id)
    ]
    assert application["stage"] == "Offer"

    # A later change still applies; on the topic (in order, one key) nothing came in between.
    final = await greenhouse.deliver(
        stack.gateway, moved_to("Executive", "2026-11-30T10:00:00Z"), delivery_id=unique("d")
    )
    assert final.status_code == 202, final.text
    changes = await read_events(
        kafka_bootstrap_servers,
        ATS_APPLICATION_STAGE_CHANGED.name,
        where=lambda e: e["data"]["ats_application_id"] == str(application_id),
        count=3,
    )
    assert [e["data"]["stage"] for e in changes] == ["Face to Face", "Offer", "Executive"]


async def test_a_new_application_gives_the_candidate_its_first_stage(stack: Stack) -> None:
    email = f"{unique('applicant')}@example.org"
    created = await stack.gateway.post(
        "/api/v1/candidates",
        headers=stack.as_(ACME_TOKEN),
        json={"first_name": "Zoë", "last_name": "Ångström", "emails": [email]},
    )
    assert created.status_code == 201, created.text
    candidate_id = created.json()["id"]
    connection = await connect(stack)
    greenhouse = webhooks(stack, connection, connection["webhook_secret"])
    application_id = new_application_id()
    body = new_candidate_application(
        application_id=application_id,
        candidate_id=application_id,
        email=email,
        first_name="Zoë",
        last_name="Ångström",
        job_name="Data Engineer",
    )
    assert (await greenhouse.deliver(stack.gateway, body)).status_code == 202
    found: dict[str, Any] = {}

    async def staged() -> bool:
        nonlocal found
        response = await stack.gateway.get(
            f"/api/v1/candidates/{candidate_id}", headers=stack.as_(ACME_TOKEN)
        )
        found = response.json()
        return found.get("ats_status") == "applied"

    # Other tests' backfills import their applicants through the same consumers meanwhile; when
    # the candidates service applied them one by one, a few hundred imports ahead of this one
    # took longer than 90 s under CI's load (now a batch at a time; the wait is kept generous).
    await eventually(staged, message="the application did not reach the candidate", timeout=200)
    assert found["ats_stage"] == "Application Review"


async def test_an_api_key_is_replaced_never_shown_and_the_health_view_counts_refusals(
    stack: Stack,
) -> None:
    created = await stack.gateway.post(
        "/api/v1/ats/connections",
        headers=stack.as_(ACME_ADMIN_TOKEN),
        json={
            "provider": "greenhouse",
            "name": unique("greenhouse"),
            "api_key": "first-client:first-secret",
        },
    )
    assert created.status_code == 201, created.text
    connection = created.json()
    assert connection["api_connected"] is True
    assert "first-client:first-secret" not in created.text

    url = f"/api/v1/ats/connections/{connection['id']}/api-key"
    body = {
        "api_key": "second-client:second-secret",
        "api_base_url": "https://harvest.greenhouse.io/v3/",
    }
    as_recruiter = await stack.gateway.put(url, headers=stack.as_(ACME_TOKEN), json=body)
    assert as_recruiter.status_code == 403, as_recruiter.text
    replaced = await stack.gateway.put(url, headers=stack.as_(ACME_ADMIN_TOKEN), json=body)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["api_base_url"] == "https://harvest.greenhouse.io/v3"
    assert "second-client:second-secret" not in replaced.text
    empty = await stack.gateway.put(url, headers=stack.as_(ACME_ADMIN_TOKEN), json={"api_key": ""})
    assert empty.status_code == 422, empty.text
    elsewhere = await stack.gateway.put(
        url,
        headers=stack.as_(ACME_ADMIN_TOKEN),
        json={"api_key": "client:k", "api_base_url": "https://collector.example.com/v1"},
    )
    assert elsewhere.status_code == 422, elsewhere.text
    assert [e["field"] for e in elsewhere.json()["errors"]] == ["api_base_url"]
    missing = await stack.gateway.put(
        f"/api/v1/ats/connections/{unique('none')}/api-key",
        headers=stack.as_(ACME_ADMIN_TOKEN),
        json={"api_key": "client:k"},
    )
    assert missing.status_code == 404, missing.text

    greenhouse = webhooks(stack, connection, connection["webhook_secret"])
    accepted = await greenhouse.deliver(stack.gateway, an_application(new_application_id()))
    assert accepted.status_code == 202, accepted.text
    forged = webhooks(stack, connection, "not-the-secret")
    refused = await forged.deliver(stack.gateway, an_application(new_application_id()))
    assert refused.status_code == 401, refused.text

    shown = await stack.gateway.get(
        f"/api/v1/ats/connections/{connection['id']}", headers=stack.as_(ACME_TOKEN)
    )
    assert shown.status_code == 200, shown.text
    health = shown.json()["health"]
    assert health["webhooks"]["counts_24h"]["accepted"] == 1
    assert health["webhooks"]["counts_24h"]["refused"] == 1
    assert health["webhooks"]["last_refusal_reason"] == "bad_signature"
    assert health["webhooks"]["last_received_at"] is not None
    assert health["api"]["breaker"] == "closed"
    listed = await stack.gateway.get("/api/v1/ats/connections", headers=stack.as_(ACME_TOKEN))
    (mine,) = [c for c in listed.json() if c["id"] == connection["id"]]
    assert mine["health"] == health
    assert "second-client:second-secret" not in listed.text
    assert "api_key" not in listed.text
