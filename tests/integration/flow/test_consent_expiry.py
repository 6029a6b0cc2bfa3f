"""Consent expiry: the retention settings, one re-permission request per consent period, and at
lapse the archive or purge the tenant chose."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from conftest import SmtpSink

from crm_shared import utc_now
from helpers import eventually, read_events
from integration.flow.conftest import (
    ACME_ADMIN_TOKEN,
    ACME_TOKEN,
    GLOBEX_ADMIN_TOKEN,
    GLOBEX_TOKEN,
    Stack,
)
from integration.flow.consent_support import (
    Mongo,
    assert_problem,
    create_candidate,
    database,
    error_fields,
    new_person,
)

pytestmark = pytest.mark.integration

RETENTION = "/api/v1/settings/retention"


async def grant_expiring(stack: Stack, token: str, candidate_id: str, seconds: float) -> None:
    granted = await stack.gateway.post(
        f"/api/v1/candidates/{candidate_id}/consents",
        json={
            "purpose": "marketing",
            "action": "grant",
            "expires_at": (utc_now() + timedelta(seconds=seconds)).isoformat(),
        },
        headers=stack.as_(token),
    )
    assert granted.status_code == 201, granted.text


async def test_retention_settings_are_admin_only_and_validated(stack: Stack) -> None:
    defaults = await stack.gateway.get(RETENTION, headers=stack.as_(GLOBEX_TOKEN))
    assert defaults.json() == {
        "consent_validity_days": 730,
        "re_permission_days_before": 30,
        "on_lapse": "archive",
    }
    policy = {"consent_validity_days": 365, "re_permission_days_before": 14, "on_lapse": "purge"}
    assert_problem(
        await stack.gateway.put(RETENTION, json=policy, headers=stack.as_(ACME_TOKEN)), 403
    )
    invalid = await stack.gateway.put(
        RETENTION,
        json={
            "consent_validity_days": 0,
            "re_permission_days_before": 14,
            "on_lapse": "delete",
            "extra": 1,
        },
        headers=stack.as_(ACME_ADMIN_TOKEN),
    )
    assert error_fields(assert_problem(invalid, 422)) == {
        "consent_validity_days",
        "on_lapse",
        "extra",
    }
    too_early = await stack.gateway.put(
        RETENTION,
        json={"consent_validity_days": 30, "re_permission_days_before": 60, "on_lapse": "archive"},
        headers=stack.as_(ACME_ADMIN_TOKEN),
    )
    assert error_fields(assert_problem(too_early, 422)) == {"re_permission_days_before"}
    saved = await stack.gateway.put(RETENTION, json=policy, headers=stack.as_(GLOBEX_ADMIN_TOKEN))
    assert saved.status_code == 200, saved.text
    assert (await stack.gateway.get(RETENTION, headers=stack.as_(GLOBEX_TOKEN))).json() == policy
    # Another tenant's settings are untouched.
    acme = await stack.gateway.get(RETENTION, headers=stack.as_(ACME_TOKEN))
    assert acme.json()["on_lapse"] == "archive"


async def test_a_lapsing_consent_is_re_permissioned_once_then_the_candidate_is_archived(
    stack: Stack, smtp_sink: SmtpSink, mongo: Mongo, kafka_bootstrap_servers: str
) -> None:
    person = new_person("lapsing")
    address = person["emails"][0]
    candidate_id = await create_candidate(stack, ACME_TOKEN, person)
    # Inside the 30-day re-permission window at once; lapses a few seconds later.
    await grant_expiring(stack, ACME_TOKEN, candidate_id, 8)
    [request] = await read_events(
        kafka_bootstrap_servers,
        "consent.confirmation_requested",
        where=lambda e: e["subject"] == candidate_id,
        count=1,
    )
    assert request["data"]["reason"] == "re_permission"
    assert request["data"]["purpose"] == "marketing"

    async def mailed() -> bool:
        return bool(smtp_sink.messages_to(address))

    await eventually(mailed, message="no re-permission mail")
    assert smtp_sink.messages_to(address)[0].subject == "Would you like to keep hearing from us?"

    acme = stack.as_(ACME_TOKEN)

    async def archived() -> bool:
        found = await stack.gateway.get(f"/api/v1/candidates/{candidate_id}", headers=acme)
        return bool(found.json()["status"] == "archived")

    await eventually(archived, timeout=60, message="the candidate was not archived at lapse")
    candidate = (await stack.gateway.get(f"/api/v1/candidates/{candidate_id}", headers=acme)).json()
    assert candidate["marketing_consent"] is False
    ledger = (
        await stack.gateway.get(f"/api/v1/candidates/{candidate_id}/consents", headers=acme)
    ).json()
    assert [e["status"] for e in ledger["history"]] == ["granted", "expired"]
    assert ledger["history"][1]["source"] == "expiry"
    [lapsed] = await read_events(
        kafka_bootstrap_servers,
        "consent.changed",
        where=lambda e: e["subject"] == candidate_id and e["data"]["status"] == "expired",
        count=1,
    )
    assert lapsed["data"]["marketing_consent"] is False
    # The worker polled many times meanwhile: still one request for the period.
    outbox = database(stack, mongo, "candidates")["outbox"]
    requests = await outbox.count_documents(
        {"key": candidate_id, "topic": "consent.confirmation_requested"}
    )
    assert requests == 1
    assert len(smtp_sink.messages_to(address)) == 1


async def test_confirming_a_re_permission_renews_the_consent(
    stack: Stack, smtp_sink: SmtpSink, kafka_bootstrap_servers: str
) -> None:
    person = new_person("renewing")
    candidate_id = await create_candidate(stack, ACME_TOKEN, person)
    await grant_expiring(stack, ACME_TOKEN, candidate_id, 3600)
    [request] = await read_events(
        kafka_bootstrap_servers,
        "consent.confirmation_requested",
        where=lambda e: e["subject"] == candidate_id,
        count=1,
    )
    url = request["data"]["confirm_url"]
    assert re.search(r"/public/v1/community/confirm/\S+$", url)
    async with httpx.AsyncClient() as browser:
        confirmed = await browser.post(url)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json() == {"status": "confirmed", "purposes": ["marketing"]}
    ledger = (
        await stack.gateway.get(
            f"/api/v1/candidates/{candidate_id}/consents", headers=stack.as_(ACME_TOKEN)
        )
    ).json()
    [current] = ledger["current"]
    assert current["status"] == "granted"
    assert current["source"] == "re_permission"
    # A renewed consent lasts the tenant's validity again (730 days by default).
    assert current["expires_at"] > (utc_now() + timedelta(days=700)).isoformat()


async def test_a_tenant_that_purges_erases_the_candidate_at_lapse(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    saved = await stack.gateway.put(
        RETENTION,
        json={"consent_validity_days": 365, "re_permission_days_before": 0, "on_lapse": "purge"},
        headers=stack.as_(GLOBEX_ADMIN_TOKEN),
    )
    assert saved.status_code == 200
    candidate_id = await create_candidate(stack, GLOBEX_TOKEN, new_person("purged"))
    await grant_expiring(stack, GLOBEX_TOKEN, candidate_id, 3)
    [erased] = await read_events(
        kafka_bootstrap_servers,
        "candidate.erased",
        where=lambda e: e["subject"] == candidate_id,
        count=1,
        timeout=90,
    )
    assert erased["tenant_id"] == stack.globex
    gone = await stack.gateway.get(
        f"/api/v1/candidates/{candidate_id}", headers=stack.as_(GLOBEX_TOKEN)
    )
    assert_problem(gone, 404)
