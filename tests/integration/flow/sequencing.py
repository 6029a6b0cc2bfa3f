"""Helpers of the sequence flow tests: candidates campaigns knows, events on the bus, polling."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from conftest import SmtpSink
from pydantic import BaseModel

from crm_shared import EventEnvelope, PoolStageChanged, TopicSpec
from helpers import eventually, unique
from integration.flow.conftest import ACME_TOKEN, Stack

ROLE_URL = "https://careers.example.org/jobs/data-engineer"


async def create_template(stack: Stack, token: str, subject: str = "Hello") -> str:
    """A template with one tracked link; returns its id."""
    response = await stack.gateway.post(
        "/api/v1/templates",
        headers=stack.as_(token),
        json={
            "name": unique("template"),
            "subject": subject + " {{ candidate.first_name | default('there') }}",
            "html": f'<p>Hi {{{{ candidate.first_name }}}}, <a href="{ROLE_URL}">a role</a></p>',
            "text": "Hi {{ candidate.first_name }}, see " + ROLE_URL,
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def create_sequence(stack: Stack, token: str, **definition: Any) -> dict[str, Any]:
    response = await stack.gateway.post(
        "/api/v1/sequences",
        headers=stack.as_(token),
        json={"name": unique("sequence"), **definition},
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def known_to_campaigns(stack: Stack, token: str, template_id: str, candidate_id: str) -> None:
    """Waits until campaigns' recipient projection has the candidate."""

    async def projected() -> bool:
        response = await stack.gateway.post(
            f"/api/v1/templates/{template_id}/preview",
            headers=stack.as_(token),
            json={"candidate_id": candidate_id},
        )
        return response.status_code == 200

    await eventually(projected, message="campaigns did not learn the candidate")


async def create_candidate(
    stack: Stack, token: str, template_id: str, **fields: Any
) -> tuple[str, str]:
    """A consenting candidate created through the gateway and known to campaigns: (id, email)."""
    email = f"{unique('cand')}@example.org"
    body = {
        "first_name": "Grace",
        "last_name": "Hopper",
        "emails": [email],
        "marketing_consent": True,
        **fields,
    }
    response = await stack.gateway.post("/api/v1/candidates", headers=stack.as_(token), json=body)
    assert response.status_code == 201, response.text
    candidate_id = str(response.json()["id"])
    await known_to_campaigns(stack, token, template_id, candidate_id)
    return candidate_id, email


async def enrol(stack: Stack, token: str, sequence_id: str, *candidate_ids: str) -> Any:
    response = await stack.gateway.post(
        f"/api/v1/sequences/{sequence_id}/enrolments",
        headers=stack.as_(token),
        json={"candidate_ids": list(candidate_ids)},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def enrolment_of(
    stack: Stack,
    token: str,
    sequence_id: str,
    candidate_id: str,
    until: Callable[[dict[str, Any]], bool],
    message: str,
) -> dict[str, Any]:
    """Polls the candidate's latest enrolment in the sequence until `until` holds."""
    found: dict[str, Any] = {}

    async def condition() -> bool:
        nonlocal found
        response = await stack.gateway.get(
            f"/api/v1/sequences/{sequence_id}/enrolments", headers=stack.as_(token)
        )
        assert response.status_code == 200, response.text
        mine = [e for e in response.json()["items"] if e["candidate_id"] == candidate_id]
        if not mine:
            return False
        found = max(mine, key=lambda e: e["entry"])
        return until(found)

    await eventually(condition, message=message)
    return found


def pool_move(
    candidate_id: str,
    pool_id: str,
    to_stage: str | None,
    *,
    from_stage: str | None = None,
    pool_name: str = "Engineers",
) -> PoolStageChanged:
    """A `pool.stage_changed` payload: the candidate moved by rita, now."""
    return PoolStageChanged(
        pool_id=pool_id,
        pool_name=pool_name,
        candidate_id=candidate_id,
        from_stage=from_stage,
        to_stage=to_stage,
        moved_by="rita",
        moved_at=datetime.now(UTC),
    )


async def publish(
    bootstrap_servers: str, spec: TopicSpec, tenant_id: str, subject: str, data: BaseModel
) -> None:
    """Publishes one event the way a producing service's outbox relay would."""
    envelope = EventEnvelope[Any](
        type=spec.name,
        source="tests",
        tenant_id=tenant_id,
        subject=subject,
        schema_version=spec.schema_version,
        data=data,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(
            spec.name,
            envelope.model_dump_json().encode(),
            key=subject.encode(),
            headers=[("event-id", str(envelope.id).encode())],
        )
    finally:
        await producer.stop()


async def mails_to(smtp_sink: SmtpSink, email: str, count: int) -> list[Any]:
    """Waits for `count` mails to `email` in the SMTP sink."""

    async def arrived() -> bool:
        return len(smtp_sink.messages_to(email)) >= count

    await eventually(arrived, message=f"{count} mails to {email}")
    return smtp_sink.messages_to(email)


def tracked_links(mail: Any) -> tuple[str, str]:
    """The tracking pixel and the first tracked link of a received mail."""
    html = mail.parsed().get_body(("html",))
    assert html is not None
    body = html.get_content()
    pixel = re.search(r'src="([^"]+/t/o/[^"]+)"', body)
    link = re.search(r'href="([^"]+/t/c/[^"]+)"', body)
    assert pixel, body
    assert link, body
    return pixel.group(1), link.group(1)


async def folded_report(
    stack: Stack, url: str, until: Callable[[dict[str, Any]], bool], failure: str
) -> dict[str, Any]:
    """The acme report at `url` once analytics has folded what `until` looks for (a 404 is a
    report nothing was folded into yet); fails saying `failure` and what was last read."""
    report: dict[str, Any] = {}

    async def folded() -> bool:
        response = await stack.gateway.get(url, headers=stack.as_(ACME_TOKEN))
        if response.status_code == 404:
            return False
        assert response.status_code == 200, response.text
        report.clear()
        report.update(response.json())
        return until(report)

    await eventually(folded, message=lambda: f"{failure} ({report})")
    return report
