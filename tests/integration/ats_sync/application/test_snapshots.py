"""Applying snapshots read from an ATS's API, and id-only webhooks read back with it, against
SecantusDB: the events a webhook stream would have caused, exactly once; an older snapshot
ignored; people matched to CRM candidates by email."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta

import pytest
from ats_fake import FakeAts

from crm_ats_sync.application.ports import AtsUnavailableError
from crm_ats_sync.application.snapshots import SnapshotOutcome, apply_snapshot
from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.application.webhooks import receive_webhook
from crm_ats_sync.domain.changes import (
    ApplicationSnapshot,
    ApplicationStatus,
    ApplicationTouched,
    WebhookRejectedError,
    WebhookReport,
)
from crm_ats_sync.domain.models import Connection, Provider
from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_REJECTED,
    ATS_APPLICATION_STAGE_CHANGED,
    CandidateProfile,
    utc_now,
)
from integration.ats_sync.support import connected, staged

pytestmark = pytest.mark.integration

CREATED = ATS_APPLICATION_CREATED.name
STAGE_CHANGED = ATS_APPLICATION_STAGE_CHANGED.name
REJECTED = ATS_APPLICATION_REJECTED.name


async def apply(
    storage: AtsStorage, connection: Connection, snapshot: ApplicationSnapshot
) -> SnapshotOutcome:
    return await storage.in_transaction(
        lambda session: apply_snapshot(
            storage, connection, snapshot, received_at=utc_now(), session=session
        )
    )


async def test_a_snapshot_is_applied_once_with_the_events_webhooks_would_have_caused(
    storage: AtsStorage,
) -> None:
    connection = await connected(storage)
    ats = FakeAts()
    start = utc_now() - timedelta(days=30)
    first = ats.add("a-1", email="Ada@Example.org", stage="Phone Screen", at=start)
    assert await apply(storage, connection, first) is SnapshotOutcome.CREATED
    assert await apply(storage, connection, first) is SnapshotOutcome.UNCHANGED

    rejected = ats.change(
        "a-1",
        at=start + timedelta(days=3),
        stage="Onsite",
        status=ApplicationStatus.REJECTED,
        rejection_reason="Hired another candidate",
    )
    assert await apply(storage, connection, rejected) is SnapshotOutcome.UPDATED
    assert await apply(storage, connection, rejected) is SnapshotOutcome.UNCHANGED
    assert await apply(storage, connection, first) is SnapshotOutcome.STALE

    events = await staged(storage, connection.tenant_id)
    assert [topic for topic, _ in events] == [CREATED, STAGE_CHANGED, REJECTED]
    assert events[0][1]["stage"] == "Phone Screen"
    assert (events[1][1]["from_stage"], events[1][1]["stage"]) == ("Phone Screen", "Onsite")
    assert (events[2][1]["stage"], events[2][1]["rejection_reason"]) == (
        "Onsite",
        "Hired another candidate",
    )
    (application,) = await storage.applications(connection.tenant_id).applications(
        candidate_id=None
    )
    assert (application.status, application.stage, application.rejection_reason) == (
        ApplicationStatus.REJECTED,
        "Onsite",
        "Hired another candidate",
    )
    assert (application.email, application.ats_job_id) == ("ada@example.org", "job-1")


async def test_a_closed_application_first_seen_is_created_then_closed_and_matched(
    storage: AtsStorage,
) -> None:
    connection = await connected(storage)
    await storage.in_transaction(
        lambda session: storage.directory(connection.tenant_id).learn(
            CandidateProfile(
                candidate_id="cand-ada",
                first_name="Ada",
                last_name="Lovelace",
                emails=["ada@example.org"],
                source="sourced",
            ),
            session=session,
        )
    )
    ats = FakeAts()
    hired = ats.add(
        "a-9",
        email="ADA@example.org",
        stage="Offer",
        status=ApplicationStatus.HIRED,
        at=utc_now() - timedelta(days=400),
    )
    prospect = ats.add("p-1", email="grace@example.org", stage=None, at=utc_now(), prospect=True)
    assert await apply(storage, connection, hired) is SnapshotOutcome.CREATED
    assert await apply(storage, connection, prospect) is SnapshotOutcome.CREATED

    events = await staged(storage, connection.tenant_id)
    assert [(topic, data["candidate_id"]) for topic, data in events] == [
        (CREATED, "cand-ada"),
        ("ats.application_hired", "cand-ada"),
        (CREATED, None),
    ]
    assert [data["prospect"] for topic, data in events if topic == CREATED] == [False, True]
    by_id = {
        a.ats_application_id: a
        for a in await storage.applications(connection.tenant_id).applications(candidate_id=None)
    }
    assert by_id["a-9"].status is ApplicationStatus.HIRED
    assert by_id["p-1"].prospect


async def test_a_snapshot_sets_the_job_a_webhook_left_out_and_announces_nothing(
    storage: AtsStorage,
) -> None:
    connection = await connected(storage)
    ats = FakeAts()
    read = ats.add("a-3", email="ada@example.org", stage="Onsite", at=utc_now())
    # As a webhook that named no job stored it: the same state, less its job.
    assert await apply(storage, connection, replace(read, ats_job_id=None, job_name=None)) is (
        SnapshotOutcome.CREATED
    )
    announced = len(await staged(storage, connection.tenant_id))

    assert await apply(storage, connection, read) is SnapshotOutcome.UPDATED
    assert await apply(storage, connection, read) is SnapshotOutcome.UNCHANGED
    assert len(await staged(storage, connection.tenant_id)) == announced
    (application,) = await storage.applications(connection.tenant_id).applications(
        candidate_id=None
    )
    assert (application.ats_job_id, application.job_name, application.stage) == (
        read.ats_job_id,
        "Data Engineer",
        "Onsite",
    )


class IdOnlyWebhooks:
    """A webhook format naming the application only (as Lever's do): `X-Signature` is the hex
    HMAC-SHA256 of the body, `{"id": delivery id, "application_id": ...}` the body."""

    accepted_status = 202

    def verify(self, secrets: Sequence[str], headers: Mapping[str, str], body: bytes) -> None:
        signature = headers.get("x-signature", "")
        if not any(hmac.compare_digest(sign(s, body), signature) for s in secrets):
            raise WebhookRejectedError("the signature does not match")

    def delivery_id(self, headers: Mapping[str, str], body: bytes) -> str:
        return str(json.loads(body)["id"])

    def parse(self, body: bytes) -> tuple[str, WebhookReport]:
        document = json.loads(body)
        return "applicationChanged", ApplicationTouched(document["application_id"], None)


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def touch(
    storage: AtsStorage, connection: Connection, ats: FakeAts, delivery_id: str, application: str
) -> str:
    body = json.dumps({"id": delivery_id, "application_id": application}).encode()
    receipt, _ = await receive_webhook(
        storage,
        Provider.LEVER,
        IdOnlyWebhooks(),
        connection.id,
        {"x-signature": sign(connection.webhook_secret, body)},
        body,
        api_factory=ats.open_api,
    )
    return receipt


async def test_an_id_only_webhook_is_read_back_with_the_connections_api(
    storage: AtsStorage,
) -> None:
    connection = await connected(storage, api_key="lever-key-1")
    ats = FakeAts()
    at = utc_now() - timedelta(hours=1)
    ats.add("a-1", email="ada@example.org", stage="New Lead", at=at)

    assert await touch(storage, connection, ats, "d-1", "a-1") == "accepted"
    assert await touch(storage, connection, ats, "d-1", "a-1") == "duplicate"
    ats.change("a-1", at=at + timedelta(minutes=5), stage="On-site")
    assert await touch(storage, connection, ats, "d-2", "a-1") == "accepted"
    # A second notice of a change already applied changes nothing.
    assert await touch(storage, connection, ats, "d-3", "a-1") == "accepted"
    assert await touch(storage, connection, ats, "d-4", "gone-1") == "gone"
    assert ats.api_keys_seen[0] == "lever-key-1"
    assert ats.opened == ats.closed

    # An API that does not answer: nothing recorded, so the ATS's retry is processed.
    ats.reads_unavailable = True
    ats.change("a-1", at=at + timedelta(minutes=9), stage="Offer")
    with pytest.raises(AtsUnavailableError):
        await touch(storage, connection, ats, "d-5", "a-1")
    ats.reads_unavailable = False
    assert await touch(storage, connection, ats, "d-5", "a-1") == "accepted"

    events = await staged(storage, connection.tenant_id)
    assert [(t, d["stage"]) for t, d in events] == [
        (CREATED, "New Lead"),
        (STAGE_CHANGED, "On-site"),
        (STAGE_CHANGED, "Offer"),
    ]


async def test_an_id_only_webhook_without_an_api_key_is_recorded_not_read(
    storage: AtsStorage,
) -> None:
    connection = await connected(storage, api_key=None)
    ats = FakeAts()
    ats.add("a-1", email="ada@example.org", stage="New Lead", at=utc_now())
    assert await touch(storage, connection, ats, "d-1", "a-1") == "not_read"
    assert await touch(storage, connection, ats, "d-1", "a-1") == "duplicate"
    assert ats.opened == 0
    assert await staged(storage, connection.tenant_id) == []
