"""The simulated ATS accounts as the local stack runs them: the demo's people get past
applications (a third of them as silver medallists), and the control API takes the webhook
target before it lets the account report live changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from crm_devstack.ats.control import KnownPerson, control_app
from crm_devstack.ats.greenhouse import GreenhouseSimulator, parse_time
from crm_devstack.ats.lever import HISTORY_END, WEBHOOK_EVENTS, LeverSimulator, ms

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 4, 7, 0, tzinfo=UTC)
PEOPLE = [KnownPerson("Ada", f"Person {n}", f"ada.{n}@example.org") for n in range(9)]


def test_greenhouse_gives_the_demo_people_applications_and_a_third_a_final_rejection() -> None:
    simulator = GreenhouseSimulator("key", "secret", clock=lambda: NOW)
    simulator.seed(1000, now=NOW)

    simulator.adopt(PEOPLE, silver=3)

    by_email = {c["email_addresses"][0]["value"]: c["id"] for c in simulator.candidates.values()}
    assert set(by_email) >= {p.email for p in PEOPLE}
    for index, person in enumerate(PEOPLE):
        candidate_id = by_email[person.email]
        applications = [
            a for a in simulator.applications.values() if a["candidate_id"] == candidate_id
        ]
        assert applications
        if index % 3 == 0:
            latest = max(applications, key=lambda a: a["last_activity_at"])
            assert latest["status"] == "rejected"
            assert latest["current_stage"]["name"] == "Final Interview"
            assert parse_time(latest["rejected_at"]) >= NOW - timedelta(days=3 * 365)


def test_lever_gives_the_demo_people_opportunities_and_a_third_a_final_archive() -> None:
    simulator = LeverSimulator("key")
    simulator.seed(1000)

    simulator.adopt(PEOPLE, silver=3)

    for index, person in enumerate(PEOPLE):
        mine = [o for o in simulator.opportunities.values() if o["emails"] == [person.email]]
        assert mine
        assert {o["name"] for o in mine} == {f"{person.first_name} {person.last_name}"}
        if index % 3 == 0:
            latest = max(mine, key=lambda o: o["updatedAt"])
            assert latest["stage"] == "final-interview"
            assert latest["archived"]["reason"] != "hired"
            assert latest["archived"]["archivedAt"] >= ms(HISTORY_END - timedelta(days=3 * 365))


async def test_live_changes_wait_for_the_webhook_target() -> None:
    simulator = LeverSimulator("key")
    simulator.seed(50)

    app = control_app(simulator.app, simulator)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim"
    ) as control:
        refused = await control.post("/admin/live-changes")
        ready = await control.get("/admin/ready")
        bad = await control.put("/admin/webhook", json={"url": "not a url", "secret": "s"})
        configured = await control.put(
            "/admin/webhook", json={"url": "http://crm.test/hooks", "secret": "s3cret"}
        )
        api = await control.get("/v1/stages", auth=("key", ""))

    assert refused.status_code == 409
    assert ready.status_code == 200
    assert bad.status_code == 422
    assert configured.status_code == 204
    assert simulator.webhooks is not None
    assert simulator.webhooks.url == "http://crm.test/hooks"
    assert set(simulator.webhooks.tokens.values()) == {"s3cret"}
    assert api.status_code == 200


async def test_lever_issues_a_signature_token_per_event_type_when_given_no_secret() -> None:
    simulator = LeverSimulator("key")
    app = control_app(simulator.app, simulator)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim"
    ) as control:
        issued = await control.put("/admin/webhook", json={"url": "http://crm.test/hooks"})
        reissued = await control.put("/admin/webhook", json={"url": "http://crm.test/hooks"})

    assert issued.status_code == 200, issued.text
    tokens = issued.json()["signature_tokens"]
    assert set(tokens) == set(WEBHOOK_EVENTS)
    assert len(set(tokens.values())) == len(WEBHOOK_EVENTS)
    # Configuring the webhook again issues new tokens, as recreating a webhook in Lever does.
    assert not set(tokens.values()) & set(reissued.json()["signature_tokens"].values())
    assert simulator.webhooks is not None
    assert dict(simulator.webhooks.tokens) == reissued.json()["signature_tokens"]


async def test_greenhouse_needs_the_connection_secret() -> None:
    simulator = GreenhouseSimulator("key", "secret", clock=lambda: NOW)
    app = control_app(simulator.app, simulator)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim"
    ) as control:
        refused = await control.put("/admin/webhook", json={"url": "http://crm.test/hooks"})
        configured = await control.put(
            "/admin/webhook", json={"url": "http://crm.test/hooks", "secret": "s3cret"}
        )

    assert refused.status_code == 422
    assert configured.status_code == 204
