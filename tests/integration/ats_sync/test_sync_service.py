"""The ats-sync service served over HTTP on the real broker and database, its ATS an in-memory
one behind the `AtsApi` port: an admin starts a backfill, the background runner imports the
history, its progress shows on the connection, the jobs are listed, and the events reach
Kafka; who may start one, and the refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from ats_fake import FakeAts

from crm_ats_sync.config import AtsSyncSettings
from crm_ats_sync.domain.changes import ApplicationStatus
from crm_ats_sync.domain.models import Provider
from crm_ats_sync.main import create_app
from crm_devstack.infra import free_ports
from crm_shared import Principal, utc_now
from helpers import ats_secret_keys, eventually, read_events, serving, unique
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY, internal_bearer

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Service:
    client: httpx.AsyncClient
    ats: FakeAts
    tenant: str
    admin: dict[str, str]
    recruiter: dict[str, str]


@pytest.fixture
async def service(mongodb_uri: str, kafka_bootstrap_servers: str) -> AsyncIterator[Service]:
    settings = AtsSyncSettings(
        mongodb_uri=mongodb_uri,
        mongodb_database=unique("ats_sync_service"),
        kafka_bootstrap_servers=kafka_bootstrap_servers,
        kafka_group_prefix=unique("ats-sync-service"),
        internal_token_public_key=INTERNAL_TOKEN_PUBLIC_KEY,
        environment="development",
        ats_secret_keys=ats_secret_keys(),
        outbox_poll_interval_seconds=0.2,
        sync_poll_interval_seconds=0.2,
        log_json=False,
    )
    ats = FakeAts(page_size=3)
    (port,) = free_ports(1)
    tenant = unique("tenant")
    admin = Principal(tenant_id=tenant, user_id="ada", roles=frozenset({"admin"}))
    recruiter = Principal(tenant_id=tenant, user_id="rita", roles=frozenset({"recruiter"}))
    app = create_app(settings, api_factories={Provider.LEVER: ats.open_api})
    async with (
        serving(app, port) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        yield Service(
            client,
            ats,
            tenant,
            internal_bearer(admin, "ats-sync"),
            internal_bearer(recruiter, "ats-sync"),
        )


async def connect(service: Service, **fields: Any) -> dict[str, Any]:
    created = await service.client.post(
        "/ats/connections",
        headers=service.admin,
        json={"provider": "lever", "name": "Lever", **fields},
    )
    assert created.status_code == 201, created.text
    connection: dict[str, Any] = created.json()
    return connection


async def test_a_backfill_runs_in_the_background_and_its_events_reach_kafka(
    service: Service, kafka_bootstrap_servers: str
) -> None:
    start = utc_now() - timedelta(days=900)
    for n in range(7):
        service.ats.add(f"a-{n}", email=f"p{n}@example.org", stage="Onsite", at=start)
    service.ats.change(
        "a-3",
        at=start + timedelta(days=2),
        status=ApplicationStatus.REJECTED,
        rejection_reason="Not a fit",
    )
    service.ats.add_job("job-1", "Data Engineer", at=start)
    connection = await connect(service, api_key="lever-secret-key")
    url = f"/ats/connections/{connection['id']}"
    # Connecting with an API key starts the first backfill at once, in the admin's name.
    first = connection["backfill"]
    assert (first["kind"], first["state"], first["requested_by"]) == ("backfill", "running", "ada")

    refused = await service.client.post(f"{url}/backfill", headers=service.recruiter)
    assert refused.status_code == 403, refused.text
    running = await service.client.post(f"{url}/backfill", headers=service.admin)
    assert running.status_code == 409, running.text
    assert running.json()["type"].endswith(":sync-running")

    async def finished() -> bool:
        shown = await service.client.get(f"{url}/sync", headers=service.recruiter)
        assert shown.status_code == 200, shown.text
        return bool(shown.json()["backfill"]["state"] == "succeeded")

    await eventually(finished, message="the backfill finished")
    shown = (await service.client.get(f"{url}/sync", headers=service.recruiter)).json()
    assert shown["reconcile"] is None
    counts = shown["backfill"]["counts"]
    assert (counts["pages"], counts["applications_created"], counts["jobs_changed"]) == (4, 7, 1)
    assert service.ats.api_keys_seen[0] == "lever-secret-key"

    jobs = await service.client.get(
        "/ats/jobs", params={"status": "open"}, headers=service.recruiter
    )
    assert jobs.status_code == 200, jobs.text
    assert [(j["name"], j["locations"]) for j in jobs.json()] == [("Data Engineer", ["Zürich"])]
    applications = await service.client.get("/ats/applications", headers=service.recruiter)
    rejected = [a for a in applications.json() if a["status"] == "rejected"]
    assert [(a["ats_application_id"], a["rejection_reason"]) for a in rejected] == [
        ("a-3", "Not a fit")
    ]

    def ours(envelope: dict[str, Any]) -> bool:
        return bool(envelope["data"]["connection_id"] == connection["id"])

    created = await read_events(
        kafka_bootstrap_servers, "ats.application_created", where=ours, count=7
    )
    assert sorted(e["data"]["ats_application_id"] for e in created) == [f"a-{n}" for n in range(7)]
    (job,) = await read_events(kafka_bootstrap_servers, "job.changed", where=ours, count=1)
    assert (job["tenant_id"], job["data"]["status"], job["data"]["created"]) == (
        service.tenant,
        "open",
        True,
    )

    reconcile = await service.client.post(f"{url}/reconcile", headers=service.admin)
    assert reconcile.status_code == 202, reconcile.text
    assert reconcile.json()["updated_after"] is not None


async def test_a_connection_without_an_api_key_or_unknown_is_refused(service: Service) -> None:
    webhooks_only = await connect(service)
    assert webhooks_only["backfill"] is None  # nothing to read the ATS with
    for action in ("backfill", "reconcile"):
        refused = await service.client.post(
            f"/ats/connections/{webhooks_only['id']}/{action}", headers=service.admin
        )
        assert refused.status_code == 409, refused.text
        assert refused.json()["type"].endswith(":api-not-connected")
    unknown = await service.client.post(
        f"/ats/connections/{unique('none')}/backfill", headers=service.admin
    )
    assert unknown.status_code == 404, unknown.text
    missing = await service.client.get(
        f"/ats/connections/{unique('none')}/sync", headers=service.admin
    )
    assert missing.status_code == 404, missing.text

    # An ATS that does not answer keeps the backfill running (retried later): no second run.
    service.ats.failing_pages = 100
    connection = await connect(service, api_key="lever-secret-key")
    url = f"/ats/connections/{connection['id']}"
    assert connection["backfill"]["state"] == "running"  # started by connecting
    busy = await service.client.post(f"{url}/reconcile", headers=service.admin)
    assert busy.status_code == 409, busy.text
    assert busy.json()["type"].endswith(":sync-running")

    async def failure_shown() -> bool:
        shown = (await service.client.get(f"{url}/sync", headers=service.admin)).json()
        return bool(shown["backfill"]["counts"]["errors"] >= 1)

    await eventually(failure_shown, message="the page the ATS did not answer was recorded")
    shown = (await service.client.get(f"{url}/sync", headers=service.admin)).json()
    assert shown["backfill"]["state"] == "running"
    assert "503" in shown["backfill"]["errors"][0]["reason"]


async def test_a_greenhouse_key_must_be_its_v3_client_id_and_secret(service: Service) -> None:
    # A Harvest v1 API key (retired with v1) is refused when connecting, not at the first sync.
    refused = await service.client.post(
        "/ats/connections",
        headers=service.admin,
        json={"provider": "greenhouse", "name": "Greenhouse", "api_key": "a-harvest-v1-key"},
    )
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in refused.json()["errors"]] == ["api_key"]
    assert "<client id>:<client secret>" in refused.json()["detail"]
    created = await service.client.post(
        "/ats/connections",
        headers=service.admin,
        json={"provider": "greenhouse", "name": "Greenhouse", "api_key": "client-id:secret"},
    )
    assert created.status_code == 201, created.text
