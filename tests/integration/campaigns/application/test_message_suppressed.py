"""`message.suppressed`, against SecantusDB and an SMTP sink: a message a send rule stops is in
the outbox with its new status, naming the reason and the broadcast or sequence it belonged to;
a sent message is not, and delivering again stages nothing more."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import SmtpSink

from crm_campaigns.adapters.smtp import SmtpPool
from crm_campaigns.domain.models import (
    AddTagStep,
    ManualTrigger,
    Message,
    MessageStatus,
    Recipient,
    Sequence,
)
from crm_campaigns.repositories.collections import MESSAGES
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_campaigns.repositories.sequences import SequenceRepository
from crm_shared import (
    MESSAGE_SENT,
    MESSAGE_SUPPRESSED,
    Session,
    from_document,
    in_transaction,
    to_document,
)
from crm_shared.outbox import OUTBOX_COLLECTION
from integration.campaigns.application.test_delivery import (
    Setup,
    dispatcher,
    drain,
    rendered,
    sending_broadcast,
    statuses,
)

pytestmark = pytest.mark.integration


async def staged(setup: Setup, topic: str) -> dict[str, dict[str, Any]]:
    """The envelopes of `topic` in the outbox, by message id."""
    records = await (
        setup.database[OUTBOX_COLLECTION].find({"tenant_id": setup.tenant, "topic": topic})
    ).to_list()
    envelopes = [json.loads(record["value"]) for record in records]
    return {envelope["data"]["message_id"]: envelope for envelope in envelopes}


async def without_consent(setup: Setup, candidate_id: str, email: str) -> None:
    async def write(session: Session) -> None:
        await RecipientRepository(setup.database, setup.tenant).upsert(
            Recipient(
                candidate_id=candidate_id,
                tenant_id=setup.tenant,
                email=email,
                marketing_consent=False,
            ),
            session=session,
        )

    await in_transaction(setup.mongo, write)


async def test_a_stopped_message_is_announced_with_its_reason_and_origin(
    delivery: Setup, smtp_sink: SmtpSink
) -> None:
    setup = delivery
    broadcast_id = await sending_broadcast(setup)
    _, documents = await rendered(setup, 2, broadcast_id=broadcast_id)
    mailed, withdrawn = (from_stored(document) for document in documents)
    await without_consent(setup, withdrawn.candidate_id, withdrawn.to_email or "")
    sequence = Sequence(
        tenant_id=setup.tenant,
        name="Backend nurture",
        trigger=ManualTrigger(),
        steps=[AddTagStep(tags=["x"])],
        created_by="rita",
    )
    await SequenceRepository(setup.database, setup.tenant).add(sequence)
    nurtured = withdrawn.model_copy(
        update={
            "id": f"{withdrawn.id}-seq",
            "broadcast_id": None,
            "sequence_id": sequence.id,
            "enrolment_id": f"{sequence.id}.{withdrawn.candidate_id}.1",
            "step_index": 0,
            "step_label": "hello",
        }
    )
    documents.append(documents[1] | to_document(nurtured))
    await setup.database[MESSAGES].insert_many(documents)

    pool = SmtpPool(smtp_sink.host, smtp_sink.port, 10, 1)
    await drain(dispatcher(setup, pool), rounds=3)
    assert await statuses(setup) == {
        mailed.id: MessageStatus.SENT.value,
        withdrawn.id: MessageStatus.SUPPRESSED.value,
        nurtured.id: MessageStatus.SUPPRESSED.value,
    }

    suppressed = await staged(setup, MESSAGE_SUPPRESSED.name)
    assert set(suppressed) == {withdrawn.id, nurtured.id}
    of_broadcast = suppressed[withdrawn.id]
    assert (of_broadcast["subject"], of_broadcast["source"]) == (
        withdrawn.candidate_id,
        "campaigns",
    )
    assert of_broadcast["data"]["reason"] == "no_marketing_consent"
    assert of_broadcast["data"]["broadcast_id"] == broadcast_id
    assert of_broadcast["data"]["broadcast_name"] == "Spring hiring"
    assert of_broadcast["data"]["sequence_name"] is None
    assert of_broadcast["data"]["subject"] == withdrawn.subject
    of_sequence = suppressed[nurtured.id]["data"]
    assert (of_sequence["sequence_id"], of_sequence["sequence_name"]) == (
        sequence.id,
        "Backend nurture",
    )
    assert (of_sequence["step_index"], of_sequence["step_label"]) == (0, "hello")
    assert of_sequence["broadcast_name"] is None
    assert set(await staged(setup, MESSAGE_SENT.name)) == {mailed.id}

    # Delivering again finds nothing queued: nothing more is staged.
    await drain(dispatcher(setup, pool), rounds=2)
    assert len(await staged(setup, MESSAGE_SUPPRESSED.name)) == 2


def from_stored(document: dict[str, Any]) -> Message:
    return from_document(Message, {k: v for k, v in document.items() if k != "lease_owner"})
