"""Pushing candidates with the ats-sync service served over HTTP on the real broker and database,
its ATS a simulated Greenhouse account: the candidate and their consent are learned from Kafka,
a push for an open job creates the application once and announces it, a failure is stored with
its reason and retried on request, an attempt abandoned while pending is not retried silently,
and a withdrawn consent refuses the next push."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from crm_ats_sync.config import AtsSyncSettings
from crm_ats_sync.domain.pushes import ABANDONED_REASON
from crm_ats_sync.main import create_app
from crm_devstack.ats.greenhouse import GreenhouseSimulator
from crm_devstack.infra import free_ports
from crm_shared import (
    ATS_CANDIDATE_PUSHED,
    CANDIDATE_CREATED,
    CANDIDATE_ERASED,
    CONSENT_CHANGED,
    CandidateCreated,
    CandidateErased,
    ConsentChanged,
    Principal,
    utc_now,
)
from helpers import ats_secret_keys, eventually, publish_event, read_events, serving, unique
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY, internal_bearer

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Service:
    client: httpx.AsyncClient
    greenhouse: GreenhouseSimulator
    greenhouse_url: str
    tenant: str
    database: str
    admin: dict[str, str]
    recruiter: dict[str, str]
    kafka: str


@pytest.fixture
async def service(mongodb_uri: str, kafka_bootstrap_servers: str) -> AsyncIterator[Service]:
    database = unique("ats_sync_pushes")
    settings = AtsSyncSettings(
        ats_secret_keys=ats_secret_keys(),
        mongodb_uri=mongodb_uri,
        mongodb_database=database,
        kafka_bootstrap_servers=kafka_bootstrap_servers,
        kafka_group_prefix=unique("ats-sync-pushes"),
        internal_token_public_key=INTERNAL_TOKEN_PUBLIC_KEY,
        environment="development",
        outbox_poll_interval_seconds=0.2,
        sync_poll_interval_seconds=0.2,
        log_json=False,
    )
    greenhouse = GreenhouseSimulator(unique("harvest"), unique("secret"))
    greenhouse.seed(5, years=1)
    ats_port, port = free_ports(2)
    tenant = unique("tenant")
    admin = Principal(tenant_id=tenant, user_id="ada", roles=frozenset({"admin"}))
    recruiter = Principal(tenant_id=tenant, user_id="rita", roles=frozenset({"recruiter"}))
    async with (
        serving(greenhouse.app, ats_port) as ats_url,
        serving(create_app(settings), port) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        yield Service(
            client,
            greenhouse,
            f"{ats_url}/v3",
            tenant,
            database,
            internal_bearer(admin, "ats-sync"),
            internal_bearer(recruiter, "ats-sync"),
            kafka_bootstrap_servers,
        )


async def connect(service: Service, **fields: Any) -> str:
    created = await service.client.post(
        "/ats/connections",
        headers=service.admin,
        json={
            "provider": "greenhouse",
            "name": "Greenhouse",
            "api_key": service.greenhouse.api_key,
            "api_base_url": service.greenhouse_url,
            **fields,
        },
    )
    assert created.status_code == 201, created.text
    connection_id: str = created.json()["id"]
    return connection_id


async def known_candidate(service: Service, *, consent: str | None = "granted") -> str:
    """A candidate the candidates service announced, with the push consent in `consent`."""
    candidate_id = unique("cand")
    await publish_event(
        service.kafka,
        CANDIDATE_CREATED,
        tenant_id=service.tenant,
        subject=candidate_id,
        data=CandidateCreated(
            candidate_id=candidate_id,
            first_name="Zoë",
            last_name="Ångström",
            emails=[f"{candidate_id}@example.org"],
            source="sourced",
        ),
    )
    if consent is not None:
        await change_consent(service, candidate_id, consent)
    return candidate_id


async def change_consent(service: Service, candidate_id: str, status: str) -> str:
    """Publishes the push consent's new state; returns the event's id."""
    return await publish_event(
        service.kafka,
        CONSENT_CHANGED,
        tenant_id=service.tenant,
        subject=candidate_id,
        data=ConsentChanged.model_validate(
            {
                "candidate_id": candidate_id,
                "purpose": "data_processing",
                "status": status,
                "lawful_basis": "consent",
                "source": "recruiter",
                "marketing_consent": False,
            }
        ),
    )


async def push_when_known(
    service: Service, connection_id: str, body: dict[str, Any], expected: int
) -> httpx.Response:
    """The push's answer once ats-sync learned what the events say."""
    answers: list[httpx.Response] = []

    async def answered() -> bool:
        answers.append(
            await service.client.post(
                f"/ats/connections/{connection_id}/pushes", headers=service.recruiter, json=body
            )
        )
        return answers[-1].status_code == expected

    await eventually(answered, message=f"the push answered {expected}")
    return answers[-1]


async def consent_learned(
    service: Service, mongodb_uri: str, candidate_id: str, *, granted: bool
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    known = client[service.database]["known_candidates"]

    async def learned() -> bool:
        found = await known.find_one({"tenant_id": service.tenant, "candidate_id": candidate_id})
        return found is not None and found.get("consent_granted") is granted

    try:
        await eventually(learned, message="ats-sync learned the consent")
    finally:
        await client.close()


async def backfilled(service: Service, connection_id: str) -> None:
    """Waits for the connection's backfill, asked for here or started by the schedule, to end:
    its successful pages would otherwise close a breaker a test is opening (CI met that race)."""
    url = f"/ats/connections/{connection_id}"
    started = await service.client.post(f"{url}/backfill", headers=service.admin)
    assert started.status_code == 202 or "sync-running" in started.text, started.text

    async def finished() -> bool:
        shown = await service.client.get(f"{url}/sync", headers=service.recruiter)
        assert shown.status_code == 200, shown.text
        return bool(shown.json()["backfill"]["state"] == "succeeded")

    await eventually(finished, message="the backfill finished")


def posts(service: Service) -> int:
    """The people the simulated account was asked to create (not its token requests)."""
    return sum(
        1
        for request in service.greenhouse.requests
        if request.startswith("POST") and not request.endswith("/token")
    )


async def test_a_push_for_an_open_job_creates_the_application_once_and_is_announced(
    service: Service, mongodb_uri: str
) -> None:
    connection_id = await connect(service, ats_user_id="4080")
    started = await service.client.post(
        f"/ats/connections/{connection_id}/backfill", headers=service.admin
    )
    # A connection with an API key is backfilled by the schedule unasked: a 409 `sync-running`
    # says the schedule started it first (CI once met that race), and that run lists the jobs.
    assert started.status_code == 202 or "sync-running" in started.text, started.text

    async def jobs_listed() -> bool:
        listed = await service.client.get(
            "/ats/jobs", params={"status": "open"}, headers=service.recruiter
        )
        return bool(listed.json())

    await eventually(jobs_listed, message="the backfill listed open jobs")
    job = (
        await service.client.get("/ats/jobs", params={"status": "open"}, headers=service.recruiter)
    ).json()[0]
    candidate_id = await known_candidate(service)
    body = {"candidate_id": candidate_id, "ats_job_id": job["ats_job_id"]}

    pushed = (await push_when_known(service, connection_id, body, 201)).json()
    assert pushed["state"] == "done"
    application = service.greenhouse.applications[int(pushed["ats_application_id"])]
    assert [j["id"] for j in application["jobs"]] == [int(job["ats_job_id"])]
    assert application["candidate_id"] == int(pushed["ats_candidate_id"])

    repeated = await service.client.post(
        f"/ats/connections/{connection_id}/pushes", headers=service.recruiter, json=body
    )
    assert repeated.status_code == 200, repeated.text
    assert posts(service) == 1

    [announced] = await read_events(
        service.kafka,
        ATS_CANDIDATE_PUSHED.name,
        where=lambda e: e["tenant_id"] == service.tenant,
        count=1,
    )
    assert announced["subject"] == candidate_id
    assert {k: announced["data"][k] for k in ("ats_candidate_id", "ats_job_id")} == {
        "ats_candidate_id": pushed["ats_candidate_id"],
        "ats_job_id": job["ats_job_id"],
    }

    # Withdrawing the consent refuses the next push (another one: a prospect).
    await change_consent(service, candidate_id, "withdrawn")
    await consent_learned(service, mongodb_uri, candidate_id, granted=False)
    refused = await service.client.post(
        f"/ats/connections/{connection_id}/pushes",
        headers=service.recruiter,
        json={"candidate_id": candidate_id},
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith(":consent-required")
    assert posts(service) == 1


async def test_a_failed_push_keeps_its_reason_and_is_retried_on_request(
    service: Service,
) -> None:
    # Greenhouse has no user 1: it refuses a token acting as them, so nothing is created.
    refused_user = await connect(service, ats_user_id="1")
    candidate_id = await known_candidate(service)

    failed = await push_when_known(service, refused_user, {"candidate_id": candidate_id}, 502)
    assert failed.json()["type"].endswith(":ats-push-failed")
    assert "refused" in failed.json()["push"]["error"]
    assert posts(service) == 0
    retried = await push_when_known(service, refused_user, {"candidate_id": candidate_id}, 502)
    assert (retried.json()["push"]["attempts"], posts(service)) == (2, 0)

    listed = await service.client.get(
        f"/ats/connections/{refused_user}/pushes",
        params={"candidate_id": candidate_id},
        headers=service.recruiter,
    )
    [shown] = listed.json()
    assert (shown["state"], shown["attempts"]) == ("failed", 2)
    assert "refused" in shown["error"]


async def test_an_open_breaker_refuses_a_push_without_calling_the_ats_or_recording_it(
    service: Service,
) -> None:
    # Greenhouse has no user 1: every attempt is refused a token, a failure of its API, until
    # the connection's breaker opens (after 5 in a row, the default threshold).
    refused_user = await connect(service, ats_user_id="1")
    await backfilled(service, refused_user)
    failing = await known_candidate(service)
    body = {"candidate_id": failing}
    for _ in range(AtsSyncSettings().ats_breaker_failure_threshold):
        failed = await push_when_known(service, refused_user, body, 502)
    assert failed.json()["push"]["attempts"] == 5
    calls = len(service.greenhouse.requests)

    other = await known_candidate(service)
    paused = await push_when_known(service, refused_user, {"candidate_id": other}, 503)
    problem = paused.json()
    assert paused.headers["content-type"].startswith("application/problem+json")
    assert problem["type"].endswith(":ats-circuit-open"), problem
    assert 0 < int(paused.headers["Retry-After"]) <= 60
    assert problem["retry_at"] > utc_now().isoformat()
    # A retry of the failed push is refused alike, and leaves it as it was.
    again = await service.client.post(
        f"/ats/connections/{refused_user}/pushes", headers=service.recruiter, json=body
    )
    assert again.status_code == 503, again.text
    assert len(service.greenhouse.requests) == calls  # the ATS was not called

    listed = await service.client.get(
        f"/ats/connections/{refused_user}/pushes", headers=service.recruiter
    )
    assert [(p["candidate_id"], p["state"], p["attempts"]) for p in listed.json()] == [
        (failing, "failed", 5)
    ]
    shown = await service.client.get(f"/ats/connections/{refused_user}", headers=service.admin)
    assert shown.json()["health"]["api"]["breaker"] == "open"


async def test_an_abandoned_attempt_is_reported_before_it_is_retried(
    service: Service, mongodb_uri: str
) -> None:
    connection_id = await connect(service, ats_user_id="4080")
    candidate_id = await known_candidate(service)
    body = {"candidate_id": candidate_id}
    pushed = await push_when_known(service, connection_id, body, 201)

    # As if the process had stopped after claiming the push, before Greenhouse answered.
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        await client[service.database]["pushes"].update_one(
            {"_id": pushed.json()["id"]},
            {"$set": {"state": "pending", "updated_at": utc_now() - timedelta(hours=1)}},
        )
    finally:
        await client.close()

    reported = await push_when_known(service, connection_id, body, 502)
    assert reported.json()["push"]["error"] == ABANDONED_REASON
    assert posts(service) == 1
    retried = await push_when_known(service, connection_id, body, 201)
    assert retried.json()["attempts"] == 2
    assert posts(service) == 2


async def test_an_erased_candidate_leaves_no_push_and_is_not_learned_again(
    service: Service, mongodb_uri: str
) -> None:
    connection_id = await connect(service, ats_user_id="4080")
    candidate_id = await known_candidate(service)
    await push_when_known(service, connection_id, {"candidate_id": candidate_id}, 201)

    await publish_event(
        service.kafka,
        CANDIDATE_ERASED,
        tenant_id=service.tenant,
        subject=candidate_id,
        data=CandidateErased(candidate_id=candidate_id, erased_at=utc_now()),
    )
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    database = client[service.database]
    mine = {"tenant_id": service.tenant, "candidate_id": candidate_id}

    async def forgotten() -> bool:
        return not await database["pushes"].count_documents(mine) and not await database[
            "known_candidates"
        ].count_documents(mine)

    try:
        await eventually(forgotten, message="the erasure removed the push and the copy")
        # A consent event arriving after the erasure does not bring the person back.
        late = await change_consent(service, candidate_id, "granted")

        async def handled() -> bool:
            marker = {"_id": f"on_consent_changed:{late}"}
            return bool(await database["processed_events"].count_documents(marker))

        await eventually(handled, message="ats-sync handled the late consent event")
        assert not await database["known_candidates"].count_documents(mine)
        refused = await service.client.post(
            f"/ats/connections/{connection_id}/pushes",
            headers=service.recruiter,
            json={"candidate_id": candidate_id},
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"].endswith(":candidate-unknown")
    finally:
        await client.close()
