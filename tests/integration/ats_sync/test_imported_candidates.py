"""An ATS's past applicant becomes a candidate after their applications are stored: the
candidates service creates the person from `ats.application_created`, so ats-sync stored the
applications linked to nobody. `candidate.created` links them by address, so
`GET /ats/applications?candidate_id=` (the profile's ATS panel) lists the person's
applications; ones stored before this existed are linked by a migration."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from crm_ats_sync.config import AtsSyncSettings
from crm_ats_sync.main import create_app
from crm_ats_sync.repositories.applications import link_stored_applications
from crm_devstack.ats.greenhouse import GreenhouseSimulator
from crm_devstack.infra import free_ports
from crm_shared import (
    CANDIDATE_CREATED,
    CANDIDATE_MERGED,
    CandidateCreated,
    CandidateMerged,
    CandidateProfile,
    Principal,
)
from helpers import ats_secret_keys, eventually, publish_event, serving, unique
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY, internal_bearer

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Service:
    client: httpx.AsyncClient
    greenhouse: GreenhouseSimulator
    greenhouse_url: str
    tenant: str
    admin: dict[str, str]
    kafka: str


@pytest.fixture
async def service(mongodb_uri: str, kafka_bootstrap_servers: str) -> AsyncIterator[Service]:
    settings = AtsSyncSettings(
        ats_secret_keys=ats_secret_keys(),
        mongodb_uri=mongodb_uri,
        mongodb_database=unique("ats_sync_imported"),
        kafka_bootstrap_servers=kafka_bootstrap_servers,
        kafka_group_prefix=unique("ats-sync-imported"),
        internal_token_public_key=INTERNAL_TOKEN_PUBLIC_KEY,
        environment="development",
        outbox_poll_interval_seconds=0.2,
        sync_poll_interval_seconds=0.2,
        log_json=False,
    )
    greenhouse = GreenhouseSimulator(unique("harvest"), unique("secret"))
    greenhouse.seed(8, years=1)
    ats_port, port = free_ports(2)
    tenant = unique("tenant")
    admin = Principal(tenant_id=tenant, user_id="ada", roles=frozenset({"admin"}))
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
            internal_bearer(admin, "ats-sync"),
            kafka_bootstrap_servers,
        )


async def backfilled(service: Service) -> list[dict[str, Any]]:
    """Connects the account, backfills it and answers the applications stored."""
    created = await service.client.post(
        "/ats/connections",
        headers=service.admin,
        json={
            "provider": "greenhouse",
            "name": "Greenhouse",
            "api_key": service.greenhouse.api_key,
            "api_base_url": service.greenhouse_url,
        },
    )
    assert created.status_code == 201, created.text
    url = f"/ats/connections/{created.json()['id']}"
    started = await service.client.post(f"{url}/backfill", headers=service.admin)
    assert started.status_code == 202 or "sync-running" in started.text, started.text

    async def finished() -> bool:
        shown = await service.client.get(f"{url}/sync", headers=service.admin)
        assert shown.status_code == 200, shown.text
        return bool(shown.json()["backfill"]["state"] == "succeeded")

    await eventually(finished, message="the backfill finished")
    return await every_application(service)


async def every_application(service: Service) -> list[dict[str, Any]]:
    listed = await service.client.get("/ats/applications", headers=service.admin)
    assert listed.status_code == 200, listed.text
    found: list[dict[str, Any]] = listed.json()
    return found


async def of_candidate(service: Service, candidate_id: str) -> list[dict[str, Any]]:
    listed = await service.client.get(
        "/ats/applications", headers=service.admin, params={"candidate_id": candidate_id}
    )
    assert listed.status_code == 200, listed.text
    found: list[dict[str, Any]] = listed.json()
    return found


async def announce_candidate(service: Service, candidate_id: str, email: str) -> None:
    """What the candidates service publishes once it created the person from the import."""
    await publish_event(
        service.kafka,
        CANDIDATE_CREATED,
        tenant_id=service.tenant,
        subject=candidate_id,
        data=CandidateCreated(
            candidate_id=candidate_id,
            first_name="José",
            last_name="Okafor",
            # As the person typed it: the directory matches it normalised.
            emails=[email.upper()],
            source="ats_import",
        ),
    )


async def test_an_imported_persons_applications_are_linked_once_they_are_a_candidate(
    service: Service,
) -> None:
    applications = await backfilled(service)
    with_address = [a for a in applications if a["email"]]
    assert with_address, applications
    # Nobody was a candidate when the history was stored.
    assert all(a["candidate_id"] is None for a in applications)
    email = with_address[0]["email"]
    theirs = {a["id"] for a in with_address if a["email"] == email}
    candidate_id = unique("cand")
    await announce_candidate(service, candidate_id, email)

    async def linked() -> bool:
        return {a["id"] for a in await of_candidate(service, candidate_id)} == theirs

    await eventually(linked, message="the imported applications were linked to the candidate")
    # Nobody else's application was taken.
    others = [a for a in await every_application(service) if a["id"] not in theirs]
    assert all(a["candidate_id"] is None for a in others)


async def test_a_survivor_lists_the_merged_records_imported_applications(
    service: Service,
) -> None:
    applications = await backfilled(service)
    addresses = list(dict.fromkeys(a["email"] for a in applications if a["email"]))
    assert len(addresses) >= 2, applications
    kept, folded = addresses[:2]
    survivor, merged = unique("cand"), unique("cand")
    await announce_candidate(service, survivor, kept)
    await announce_candidate(service, merged, folded)
    theirs = {a["id"] for a in applications if a["email"] in (kept, folded)}

    async def linked_apart() -> bool:
        return {
            a["id"]
            for a in [*await of_candidate(service, survivor), *await of_candidate(service, merged)]
        } == theirs

    await eventually(linked_apart, message="both people's applications were linked")
    await publish_event(
        service.kafka,
        CANDIDATE_MERGED,
        tenant_id=service.tenant,
        subject=survivor,
        data=CandidateMerged(
            merge_id=unique("merge"),
            survivor_candidate_id=survivor,
            merged_candidate_id=merged,
            survivor=CandidateProfile(
                candidate_id=survivor,
                first_name="José",
                last_name="Okafor",
                emails=[kept, folded],
                source="ats_import",
            ),
        ),
    )

    async def folded_in() -> bool:
        return {a["id"] for a in await of_candidate(service, survivor)} == theirs

    await eventually(folded_in, message="the survivor lists the merged record's applications")
    assert await of_candidate(service, merged) == []


async def test_the_migration_links_applications_stored_before(mongodb_uri: str) -> None:
    """Applications stored unlinked before `candidate.created` linked them: the migration links
    each whose address the directory knows, in its own tenant, and leaves a linked one be."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    database = client[unique("ats_sync_link_migration")]
    try:
        await database["candidate_directory"].insert_many(
            [
                {"_id": "d1", "tenant_id": "t1", "email": "jose@example.org", "candidate_id": "c1"},
                {"_id": "d2", "tenant_id": "t2", "email": "jose@example.org", "candidate_id": "c2"},
            ]
        )

        def application(
            _id: str, tenant_id: str, email: str | None, candidate: str | None
        ) -> dict[str, Any]:
            return {
                "_id": _id,
                "tenant_id": tenant_id,
                "connection_id": "k",
                "ats_application_id": _id,
                "email": email,
                "candidate_id": candidate,
            }

        await database["applications"].insert_many(
            [
                application("a1", "t1", "jose@example.org", None),
                application("a2", "t1", "jose@example.org", None),
                application("a3", "t2", "jose@example.org", None),
                application("a4", "t1", "jose@example.org", "c9"),
                application("a5", "t1", "nobody@example.org", None),
                application("a6", "t1", None, None),
            ]
        )
        await link_stored_applications(database)
        held = {d["_id"]: d["candidate_id"] async for d in database["applications"].find({})}
        assert held == {"a1": "c1", "a2": "c1", "a3": "c2", "a4": "c9", "a5": None, "a6": None}
    finally:
        await client.drop_database(database.name)
        await client.close()
