"""The product's core journey through the gateway, on the real broker, database and SMTP sink."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from conftest import SmtpSink
from journey import JourneyActors, run_core_journey

from helpers import eventually, unique
from integration.flow.conftest import (
    ACME_ADMIN_TOKEN,
    ACME_COORDINATOR_TOKEN,
    ACME_MARKETER_TOKEN,
    ACME_RECRUITER_TOKEN,
    GLOBEX_TOKEN,
    Stack,
)

pytestmark = pytest.mark.integration


async def test_the_core_journey(stack: Stack, smtp_sink: SmtpSink) -> None:
    actors = JourneyActors(
        recruiter=stack.as_(ACME_RECRUITER_TOKEN),
        marketer=stack.as_(ACME_MARKETER_TOKEN),
        coordinator=stack.as_(ACME_COORDINATOR_TOKEN),
        admin=stack.as_(ACME_ADMIN_TOKEN),
        other_tenant=stack.as_(GLOBEX_TOKEN),
        gateway_url=stack.gateway_url,
    )
    await run_core_journey(stack.gateway, actors, smtp_sink)


async def test_a_new_sequence_enrols_the_segment_s_current_members_with_consent_enforced(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    gateway, globex = stack.gateway, stack.as_(GLOBEX_TOKEN)
    tag = unique("existing")
    emails = {consent: f"{tag}-{str(consent).lower()}@example.org" for consent in (True, False)}
    candidate_ids: dict[bool, str] = {}
    for consent, email in emails.items():
        response = await gateway.post(
            "/api/v1/candidates",
            headers=globex,
            json={
                "first_name": "Grace",
                "last_name": str(consent),
                "emails": [email],
                "tags": [tag],
                "marketing_consent": consent,
            },
        )
        assert response.status_code == 201
        candidate_ids[consent] = response.json()["id"]
    segment = await gateway.post(
        "/api/v1/segments",
        headers=globex,
        json={"name": tag, "rule": {"all": [{"field": "tags", "op": "equals", "value": tag}]}},
    )
    template = await gateway.post(
        "/api/v1/templates",
        headers=globex,
        json={"name": "hello", "subject": "Hello", "html": "<p>Hello</p>", "text": "Hello"},
    )

    async def members_projected() -> bool:
        # campaigns learns membership from segment.entered; wait until both arrived.
        probe = await gateway.post(
            "/api/v1/segments/preview",
            headers=globex,
            json={"rule": {"all": [{"field": "tags", "op": "equals", "value": tag}]}},
        )
        return bool(probe.json()["count"] == 2)

    await eventually(members_projected, message="segment members not there")
    await eventually(
        lambda: _segment_ready(gateway, globex, segment.json()["id"]),
        message="segment not evaluated",
    )
    sequence = await gateway.post(
        "/api/v1/sequences",
        headers=globex,
        json={
            "name": tag,
            "trigger": {"segment_id": segment.json()["id"]},
            "steps": [{"type": "send", "template_id": template.json()["id"]}],
        },
    )
    assert sequence.status_code == 201, sequence.text

    async def messages_of(consent: bool) -> list[dict[str, Any]]:
        # Asked per candidate: the tenant's first page holds other tests' messages too.
        page = await gateway.get(
            "/api/v1/messages", params={"candidate_id": candidate_ids[consent]}, headers=globex
        )
        items: list[dict[str, Any]] = page.json()["items"]
        return items

    async def both_handled() -> bool:
        mine = [*(await messages_of(True)), *(await messages_of(False))]
        # `sending` is a claimed message whose outcome is not written yet.
        return len(mine) == 2 and all(m["status"] not in ("queued", "sending") for m in mine)

    # Generous: on a loaded CI machine the step engine and the send check wait on the database.
    await eventually(both_handled, timeout=90, message="the current members were not messaged")
    status = {
        m["to_email"]: (m["status"], m["suppression_reason"])
        for consent in (True, False)
        for m in await messages_of(consent)
    }
    assert status[emails[True]] == ("sent", None)
    assert status[emails[False]] == ("suppressed", "no_marketing_consent")
    assert smtp_sink.messages_to(emails[True])
    assert not smtp_sink.messages_to(emails[False])


async def _segment_ready(
    gateway: httpx.AsyncClient, headers: dict[str, str], segment_id: str
) -> bool:
    response = await gateway.get(f"/api/v1/segments/{segment_id}", headers=headers)
    return bool(response.json()["status"] == "ready")
