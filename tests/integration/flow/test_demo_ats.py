"""The demo's ATS part on the real broker and database: the simulated Greenhouse and Lever
accounts run as the local stack runs them (their own processes, seeded, some past applicants
being the demo's people); the demo connects both through the API, their backfills succeed,
the imported applications reach the people the CRM knows, and the silver-medallist segment has
members."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crm_devstack.config import StackConfig
from crm_devstack.demo import DemoLoader, demo_people
from crm_devstack.demo_ats import SILVER_MEDALLISTS, SimulatedAccount, connect_ats
from crm_devstack.infra import AtsSimulator, free_ports
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, Stack

pytestmark = pytest.mark.integration

KNOWN_PEOPLE = 6


@pytest.fixture
def simulators(tmp_path: Path) -> Iterator[list[AtsSimulator]]:
    started: list[AtsSimulator] = []
    try:
        for provider, port in zip(("greenhouse", "lever"), free_ports(2), strict=True):
            simulator = AtsSimulator(
                tmp_path, provider, port, applications=80, known_people=KNOWN_PEOPLE
            )
            started.append(simulator.start())
        yield started
    finally:
        for simulator in started:
            simulator.stop()


# Two backfills side by side on a shared 2-core machine took 110-250 s, past the suite's 300 s
# (which counts the stack's start-up too).
@pytest.mark.timeout(600)
async def test_the_demo_connects_both_accounts_and_fills_the_silver_medallists(
    stack: Stack, simulators: list[AtsSimulator], tmp_path: Path
) -> None:
    loader = DemoLoader(StackConfig(run_dir=tmp_path), stack.gateway)
    loader.admin = stack.as_(ACME_ADMIN_TOKEN)
    loader.recruiter = stack.as_(ACME_TOKEN)
    known = {}
    for person in demo_people(KNOWN_PEOPLE):
        created: dict[str, Any] = await loader.expect(
            (200, 201), "POST", "/api/v1/candidates", headers=loader.recruiter, json=person.payload
        )
        known[person.email] = created["id"]
    accounts = [
        SimulatedAccount(s.provider, f"Demo {s.provider}", s.url, s.api_key, s.api_url)
        for s in simulators
    ]

    ats = await connect_ats(loader, accounts, timeout=240)

    listed = await loader.expect(200, "GET", "/api/v1/ats/connections", headers=loader.admin)
    ids = {connection["id"] for connection in listed}
    for connected in ats["connections"]:
        assert connected["connection"]["id"] in ids
        backfill = connected["backfill"]
        assert backfill["state"] == "succeeded", backfill
        assert backfill["counts"]["applications_seen"] > 0, backfill
        assert backfill["counts"]["jobs_seen"] > 0, backfill
        assert len(connected["live_changes"]) == 3, connected["live_changes"]
    segment = ats["silver_medallists"]
    assert segment["name"] == SILVER_MEDALLISTS["name"]
    assert segment["member_count"] > 0
    # The demo's people got their past applications: identity resolution matched them by email.
    matched = 0
    for candidate_id in known.values():
        applications = await loader.expect(
            200,
            "GET",
            f"/api/v1/ats/applications?candidate_id={candidate_id}",
            headers=loader.admin,
        )
        matched += bool(applications)
    assert matched == len(known)
    members = await loader.expect(
        200, "GET", f"/api/v1/segments/{segment['id']}/members?limit=200", headers=loader.recruiter
    )
    member_ids = {m["id"] for m in members["items"]}
    assert member_ids & set(known.values())
