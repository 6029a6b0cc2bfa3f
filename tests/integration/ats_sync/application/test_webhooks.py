"""The ats-sync webhook and connection use cases against SecantusDB, below HTTP and Kafka:
each delivery applied once, a replayed body ignored, a stale change never moving an
application back, and a rotated secret accepted only during its grace."""

from __future__ import annotations

from typing import Any

import pytest

from crm_ats_sync.adapters.greenhouse import GreenhouseWebhooks
from crm_ats_sync.application import connections
from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.application.webhooks import (
    MalformedWebhook,
    MissingDeliveryId,
    UnknownConnection,
    receive_webhook,
)
from crm_ats_sync.domain.changes import ApplicationStatus, WebhookRejectedError
from crm_ats_sync.domain.greenhouse import sign
from crm_ats_sync.domain.models import Connection, Provider
from crm_devstack.greenhouse import (
    candidate_stage_change,
    new_candidate_application,
    reject_candidate,
)
from crm_shared import ATS_APPLICATION_CREATED
from helpers import unique

pytestmark = pytest.mark.integration


async def _connected(storage: AtsStorage) -> Connection:
    return await connections.create_connection(
        storage, unique("tenant"), "admin-1", Provider.GREENHOUSE, "Greenhouse"
    )


async def _deliver(
    storage: AtsStorage, connection: Connection, body: bytes, delivery_id: str, **kwargs: Any
) -> str:
    receipt, _ = await receive_webhook(
        storage,
        Provider.GREENHOUSE,
        GreenhouseWebhooks(),
        connection.id,
        {
            "signature": kwargs.get("signature", sign(connection.webhook_secret, body)),
            "greenhouse-event-id": delivery_id,
        },
        body,
    )
    return receipt


def _new_application(application_id: int = 11) -> bytes:
    return new_candidate_application(
        application_id=application_id,
        candidate_id=22,
        email="Ada@Example.org",
        first_name="Ada",
        last_name="Lovelace",
        job_name="Platform Engineer",
    )


async def test_a_delivery_is_applied_once_and_a_replayed_body_is_ignored(
    storage: AtsStorage,
) -> None:
    connection = await _connected(storage)
    body = _new_application()
    assert await _deliver(storage, connection, body, "d-1") == "accepted"
    assert await _deliver(storage, connection, body, "d-1") == "duplicate"
    assert await _deliver(storage, connection, body, "d-2") == "replayed"

    found = await storage.applications(connection.tenant_id).applications(candidate_id=None)
    assert [(a.ats_application_id, a.email) for a in found] == [("11", "ada@example.org")]
    staged = await storage.outbox.records.count_documents({"topic": ATS_APPLICATION_CREATED.name})
    assert staged == 1


async def test_a_change_older_than_the_recorded_state_is_stale(storage: AtsStorage) -> None:
    connection = await _connected(storage)
    rejected = reject_candidate(
        application_id=11, candidate_id=22, email="ada@example.org", stage="Offer"
    )
    earlier = candidate_stage_change(
        application_id=11, candidate_id=22, email="ada@example.org", stage="Face to Face"
    )
    assert await _deliver(storage, connection, rejected, "d-1") == "accepted"
    assert await _deliver(storage, connection, earlier, "d-2") == "stale"

    (application,) = await storage.applications(connection.tenant_id).applications(
        candidate_id=None
    )
    assert application.status is ApplicationStatus.REJECTED
    assert application.stage == "Offer"


async def test_refusals_come_in_the_order_they_are_checked(storage: AtsStorage) -> None:
    connection = await _connected(storage)
    body = _new_application()
    with pytest.raises(UnknownConnection):
        await receive_webhook(
            storage,
            Provider.GREENHOUSE,
            GreenhouseWebhooks(),
            unique("no-connection"),
            {"greenhouse-event-id": "d-1"},
            body,
        )
    with pytest.raises(WebhookRejectedError):
        await _deliver(storage, connection, body, "d-1", signature="sha256 " + "0" * 64)
    with pytest.raises(MalformedWebhook):
        await _deliver(storage, connection, b"{}", "d-1")
    with pytest.raises(MissingDeliveryId):
        await _deliver(storage, connection, body, "")


async def test_a_rotated_secret_keeps_the_previous_one_during_its_grace(
    storage: AtsStorage,
) -> None:
    connection = await _connected(storage)
    rotated = await connections.rotate_connection_secret(
        storage, connection.tenant_id, connection.id, grace_hours=1
    )
    assert rotated.webhook_secret != connection.webhook_secret
    body = _new_application()
    assert await _deliver(storage, connection, body, "d-1") == "accepted"
    assert await _deliver(storage, rotated, _new_application(12), "d-2") == "accepted"

    await connections.delete_connection(storage, connection.tenant_id, connection.id)
    with pytest.raises(connections.ConnectionNotFound):
        await connections.find_connection(storage, connection.tenant_id, connection.id)
    with pytest.raises(UnknownConnection):
        await _deliver(storage, rotated, _new_application(13), "d-3")
