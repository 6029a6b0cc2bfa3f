"""Open ATS jobs in campaign templates, on the real broker and database: campaigns keeps the
newest state of each job from `job.changed` (a late older state and a redelivery change
nothing), and a template preview lists the open jobs matching the candidate, or its else part,
also for the jobs a Greenhouse backfill brought in, until its connection is deleted."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from crm_devstack.ats.greenhouse import GreenhouseSimulator
from crm_devstack.infra import free_ports
from crm_shared import JOB_CHANGED, JobChanged
from crm_shared.mongo import Database
from helpers import eventually, publish_event, serving, unique
from integration.flow.conftest import ACME_TOKEN, GLOBEX_ADMIN_TOKEN, GLOBEX_TOKEN, Stack
from integration.flow.sequencing import create_candidate
from integration.flow.test_broadcasts import campaigns_db

pytestmark = pytest.mark.integration

__all__ = ["campaigns_db"]

JOB_BOARD = (
    "<ul>{% for job in open_jobs %}<li>{{ job.name }} | {{ job.locations }}</li>"
    "{% else %}<li>No open roles right now</li>{% endfor %}</ul>"
)


def job_changed(connection_id: str, job_id: str, name: str, day: int, **fields: Any) -> JobChanged:
    return JobChanged.model_validate(
        {
            "provider": "greenhouse",
            "connection_id": connection_id,
            "ats_job_id": job_id,
            "name": name,
            "status": "open",
            "created": False,
            "changed_at": datetime(2026, 11, day, tzinfo=UTC),
        }
        | fields
    )


async def announce(
    bootstrap: str, database: Database, tenant_id: str, changes: list[JobChanged], copies: int = 1
) -> None:
    """Publishes the changes in order and waits until campaigns applied every one."""
    markers = []
    for change in changes:
        event_id = uuid.uuid4()
        await publish_event(
            bootstrap,
            JOB_CHANGED,
            tenant_id=tenant_id,
            subject=f"{change.connection_id}:{change.ats_job_id}",
            data=change,
            event_id=event_id,
            copies=copies,
        )
        markers.append(f"on_job_changed:{event_id}")

    async def applied() -> bool:
        found = await database["processed_events"].count_documents({"_id": {"$in": markers}})
        return found == len(markers)

    await eventually(applied, timeout=30, message="campaigns did not apply job.changed")


async def test_the_jobs_projection_keeps_the_newest_state_of_each_job(
    stack: Stack, kafka_bootstrap_servers: str, campaigns_db: Database
) -> None:
    # A tenant of its own: the preview test below sees every open job of its tenant.
    tenant_id, connection = unique("tenant"), unique("conn")
    await announce(
        kafka_bootstrap_servers,
        campaigns_db,
        tenant_id,
        [
            # A reopened job, then an older closed state arriving late: it stays open.
            job_changed(connection, "1", "Nurse (reopened)", 3, locations=["Berlin"]),
            job_changed(connection, "1", "Nurse", 1, status="closed"),
            # A job closed after it was open: it is closed.
            job_changed(connection, "2", "Chef", 1),
            job_changed(connection, "2", "Chef", 2, status="closed"),
        ],
        copies=2,
    )
    stored = {
        document["ats_job_id"]: document
        async for document in campaigns_db["jobs"].find(
            {"tenant_id": tenant_id, "connection_id": connection}
        )
    }
    assert {key: (d["name"], d["status"]) for key, d in stored.items()} == {
        "1": ("Nurse (reopened)", "open"),
        "2": ("Chef", "closed"),
    }
    assert stored["1"]["locations"] == ["Berlin"]


async def test_a_template_preview_lists_the_open_jobs_matching_the_candidate(
    stack: Stack, kafka_bootstrap_servers: str, campaigns_db: Database
) -> None:
    headers = stack.as_(ACME_TOKEN)
    saved = await stack.gateway.post(
        "/api/v1/templates",
        headers=headers,
        json={
            "name": unique("jobs"),
            "subject": "{% if open_jobs %}Roles for you{% else %}News{% endif %}",
            "html": JOB_BOARD,
            "text": "{% for job in open_jobs %}{{ job.name }}\n{% endfor %}",
        },
    )
    assert saved.status_code == 201, saved.text
    template_id = saved.json()["id"]
    connection = unique("conn")
    await announce(
        kafka_bootstrap_servers,
        campaigns_db,
        stack.acme,
        [
            job_changed(connection, "10", "Python Developer", 5, locations=["Remote"]),
            job_changed(connection, "11", "Nurse", 4, locations=["Berlin, Germany"]),
            job_changed(connection, "12", "Chef", 6, locations=["Rome"]),
            job_changed(connection, "13", "Backend Engineer", 3, locations=["Berlin"]),
            job_changed(connection, "13", "Backend Engineer", 7, status="closed"),
            job_changed(connection, "14", "Head of Nursing", 8, status="draft"),
        ],
    )
    berliner, _ = await create_candidate(
        stack, ACME_TOKEN, template_id, location="Berlin", skills=["Python"]
    )
    parisian, _ = await create_candidate(stack, ACME_TOKEN, template_id, location="Paris")

    async def preview(candidate_id: str) -> dict[str, Any]:
        response = await stack.gateway.post(
            f"/api/v1/templates/{template_id}/preview",
            headers=headers,
            json={"candidate_id": candidate_id},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    matched = await preview(berliner)
    assert matched["subject"] == "Roles for you"
    assert matched["html"].startswith(
        "<ul><li>Python Developer | Remote</li><li>Nurse | Berlin, Germany</li></ul>"
    )
    assert matched["text"].startswith("Python Developer\nNurse\n")

    catalogue = await stack.gateway.get("/api/v1/templates/merge-fields", headers=headers)
    offered = {field["name"]: field["insert"] for field in catalogue.json()["fields"]}
    assert offered["open_jobs"].startswith("{% for job in open_jobs %}")

    unmatched = await preview(parisian)
    assert unmatched["subject"] == "News"
    assert unmatched["html"].startswith("<ul><li>No open roles right now</li></ul>")


async def test_a_greenhouse_backfill_puts_its_open_jobs_in_a_preview_until_disconnected(
    stack: Stack, campaigns_db: Database
) -> None:
    # Globex: acme's open jobs above would be listed too.
    admin, staff = stack.as_(GLOBEX_ADMIN_TOKEN), stack.as_(GLOBEX_TOKEN)
    simulator = GreenhouseSimulator("greenhouse-jobs", "jobs-secret", rate_limit=1_000)
    simulator.seed(20)
    open_in_berlin = sorted(
        (job["updated_at"], job["name"])
        for job in simulator.jobs.values()
        if job["status"] == "open"
        and any(office["location"]["name"].startswith("Berlin") for office in job["offices"])
    )
    assert open_in_berlin, "the seeded account has an open job in Berlin"
    async with serving(simulator.app, free_ports(1)[0]) as url:
        created = await stack.gateway.post(
            "/api/v1/ats/connections",
            headers=admin,
            json={
                "provider": "greenhouse",
                "name": unique("greenhouse"),
                "api_base_url": f"{url}/v3",
                "api_key": simulator.api_key,
            },
        )
        assert created.status_code == 201, created.text
        connection_id = created.json()["id"]
        sync_url = f"/api/v1/ats/connections/{connection_id}"
        started = await stack.gateway.post(f"{sync_url}/backfill", headers=admin)
        # A 409 `sync-running`: the schedule backfilled the new connection first.
        assert started.status_code == 202 or "sync-running" in started.text, started.text

        last_seen: list[Any] = [None]

        async def backfilled() -> bool:
            run = (await stack.gateway.get(f"{sync_url}/sync", headers=staff)).json()
            last_seen[0] = run
            backfill = run["backfill"]
            assert not backfill or backfill["state"] != "failed", run
            return bool(backfill and backfill["state"] == "succeeded")

        await eventually(
            backfilled,
            timeout=60,
            message=lambda: f"the backfill did not finish (last seen: {last_seen[0]})",
        )

    saved = await stack.gateway.post(
        "/api/v1/templates",
        headers=staff,
        json={"name": unique("jobs"), "subject": "Roles", "html": JOB_BOARD, "text": "Roles"},
    )
    assert saved.status_code == 201, saved.text
    template_id = saved.json()["id"]
    berliner, _ = await create_candidate(stack, GLOBEX_TOKEN, template_id, location="Berlin")
    expected = "".join(
        f"<li>{name} | Berlin, Germany</li>" for _, name in reversed(open_in_berlin[-5:])
    )

    async def listed() -> bool:
        response = await stack.gateway.post(
            f"/api/v1/templates/{template_id}/preview",
            headers=staff,
            json={"candidate_id": berliner},
        )
        assert response.status_code == 200, response.text
        return bool(response.json()["html"].startswith(f"<ul>{expected}</ul>"))

    await eventually(listed, timeout=30, message="the preview did not list the open jobs")

    # Disconnected: ats-sync announces each of its jobs closed, and mails stop offering them.
    deleted = await stack.gateway.delete(sync_url, headers=admin)
    assert deleted.status_code == 204, deleted.text

    async def offered_none() -> bool:
        response = await stack.gateway.post(
            f"/api/v1/templates/{template_id}/preview",
            headers=staff,
            json={"candidate_id": berliner},
        )
        assert response.status_code == 200, response.text
        return bool(response.json()["html"].startswith("<ul><li>No open roles right now</li>"))

    await eventually(offered_none, timeout=30, message="the preview still lists the jobs")
    projected = {
        document["status"]
        async for document in campaigns_db["jobs"].find(
            {"tenant_id": stack.globex, "connection_id": connection_id}
        )
    }
    assert projected == {"closed"}
    still_open = await stack.gateway.get(
        f"/api/v1/ats/jobs?connection_id={connection_id}&status=open", headers=staff
    )
    assert still_open.status_code == 200, still_open.text
    assert still_open.json() == []
