"""One enrolment paused and resumed on its own, against SecantusDB with the real sequence engine:
no step of it runs while it is paused, whatever its sequence does; resumed, it goes on from the
step it stopped at; and a sequence's enrolments are listed with their candidates' names."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from crm_campaigns.application.engine import SequenceEngine
from crm_campaigns.application.enrolments import (
    EnrolmentNotFound,
    SequenceEnrolments,
    enrol_by_hand,
)
from crm_campaigns.application.lifecycle import change_sequence_status
from crm_campaigns.domain.enrolments import EnrolmentHoldRefused
from crm_campaigns.domain.lifecycle import SequenceAction
from crm_campaigns.domain.models import (
    AddTagStep,
    Enrolment,
    EnrolmentStatus,
    ManualTrigger,
    Recipient,
    Sequence,
)
from crm_campaigns.domain.tracking import TrackingTokens
from crm_campaigns.repositories.collections import ENROLMENTS, RECIPIENTS
from crm_campaigns.repositories.enrolments import EnrolmentRepository
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_campaigns.repositories.sequences import SequenceRepository
from crm_shared import Outbox, Session, SignedLinks, Wakeup, in_transaction
from crm_shared.outbox import OUTBOX_COLLECTION
from integration.campaigns.application.test_delivery import Setup

pytestmark = pytest.mark.integration

SECRET = "a-secret-of-at-least-thirty-two-characters"


def engine(setup: Setup, batch_size: int = 50) -> SequenceEngine:
    return SequenceEngine(
        mongo=setup.mongo,
        database=setup.database,
        outbox=Outbox(setup.database, "campaigns"),
        tokens=TrackingTokens(SECRET),
        links=SignedLinks(SECRET),
        public_base_url="http://campaigns.test",
        sender_names=lambda _tenant: "Acme",
        lease=timedelta(seconds=60),
        batch_size=batch_size,
        messages_queued=Wakeup(),
    )


def desk(setup: Setup) -> SequenceEnrolments:
    return SequenceEnrolments(
        setup.mongo,
        SequenceRepository(setup.database, setup.tenant),
        EnrolmentRepository(setup.database, setup.tenant),
        RecipientRepository(setup.database, setup.tenant),
    )


async def tagging_sequence(setup: Setup, *candidates: Recipient) -> Sequence:
    """A sequence of three tagging steps (each a `candidate.change_requested` in the outbox),
    with the candidates known to campaigns."""
    sequence = Sequence(
        tenant_id=setup.tenant,
        name="Nurture",
        trigger=ManualTrigger(),
        steps=[AddTagStep(tags=["first"]), AddTagStep(tags=["second"]), AddTagStep(tags=["third"])],
        created_by="rita",
    )
    await SequenceRepository(setup.database, setup.tenant).add(sequence)
    recipients = RecipientRepository(setup.database, setup.tenant)

    async def project(session: Session) -> None:
        for candidate in candidates:
            await recipients.upsert(candidate, session=session)

    await in_transaction(setup.mongo, project)
    return sequence


def person(setup: Setup, candidate_id: str, first: str | None = None) -> Recipient:
    return Recipient(
        candidate_id=candidate_id,
        tenant_id=setup.tenant,
        first_name=first,
        last_name="Ødegård" if first else None,
        email=f"{candidate_id}@example.org",
    )


async def enrolment(setup: Setup, sequence: Sequence, candidate_id: str) -> Enrolment:
    found = await EnrolmentRepository(setup.database, setup.tenant).latest(
        sequence.id, candidate_id
    )
    assert found is not None
    return found


async def tags_asked_for(setup: Setup, candidate_id: str) -> list[str]:
    """The tags the engine's steps asked the candidates service for, in order."""
    records = (
        await setup.database[OUTBOX_COLLECTION]
        .find({"key": candidate_id, "topic": "candidate.change_requested"})
        .to_list()
    )
    records.sort(key=lambda record: str(record["_id"]))
    return [tag for r in records for tag in json.loads(r["value"])["data"]["add_tags"]]


async def test_a_paused_enrolment_runs_no_step_and_resumes_where_it_stopped(
    delivery: Setup,
) -> None:
    sequence = await tagging_sequence(
        delivery, person(delivery, "ada", "Ada"), person(delivery, "bo", "Bo")
    )
    enrolments = desk(delivery)
    await enrol_by_hand(delivery.mongo, delivery.database, sequence, ["ada"], "rita")
    assert await engine(delivery, batch_size=1).run_due_steps() == 1
    assert (await enrolment(delivery, sequence, "ada")).step_index == 1

    paused = await enrolments.pause(sequence, "ada", "rita")
    assert (paused.status, paused.paused_by, paused.step_index) == (
        EnrolmentStatus.PAUSED,
        "rita",
        1,
    )
    with pytest.raises(EnrolmentHoldRefused, match="paused already"):
        await enrolments.pause(sequence, "ada", "rita")

    # Another enrolment of the sequence runs to its end meanwhile; the paused one not a step.
    await enrol_by_hand(delivery.mongo, delivery.database, sequence, ["bo"], "rita")
    await engine(delivery).run_due_steps()
    assert (await enrolment(delivery, sequence, "bo")).status is EnrolmentStatus.COMPLETED
    held = await enrolment(delivery, sequence, "ada")
    assert (held.status, held.step_index) == (EnrolmentStatus.PAUSED, 1)
    assert await tags_asked_for(delivery, "ada") == ["first"]

    # Its sequence paused and resumed: it stays paused, its own pause is not the sequence's.
    outbox = Outbox(delivery.database, "campaigns")
    for action in (SequenceAction.PAUSE, SequenceAction.RESUME):
        current = await SequenceRepository(delivery.database, delivery.tenant).get(sequence.id)
        assert current is not None
        await change_sequence_status(
            delivery.mongo, delivery.database, outbox, current, action, "rita"
        )
    await engine(delivery).run_due_steps()
    held = await enrolment(delivery, sequence, "ada")
    assert (held.status, held.paused_by, held.step_index) == (EnrolmentStatus.PAUSED, "rita", 1)

    resumed = await enrolments.resume(sequence, "ada")
    assert (resumed.status, resumed.paused_by, resumed.step_index) == (
        EnrolmentStatus.ACTIVE,
        None,
        1,
    )
    await engine(delivery).run_due_steps()
    done = await enrolment(delivery, sequence, "ada")
    assert (done.status, done.step_count) == (EnrolmentStatus.COMPLETED, 3)
    assert await tags_asked_for(delivery, "ada") == ["first", "second", "third"]

    with pytest.raises(EnrolmentHoldRefused, match="completed, not paused on its own"):
        await enrolments.resume(sequence, "ada")
    with pytest.raises(EnrolmentHoldRefused, match="only an enrolment in progress"):
        await enrolments.pause(sequence, "ada", "rita")
    with pytest.raises(EnrolmentNotFound):
        await enrolments.pause(sequence, "nobody", "rita")


async def test_an_enrolment_paused_with_its_sequence_is_held_and_then_waits_for_it(
    delivery: Setup,
) -> None:
    sequence = await tagging_sequence(
        delivery, person(delivery, "ada", "Ada"), person(delivery, "bo", "Bo")
    )
    enrolments = desk(delivery)
    repository = SequenceRepository(delivery.database, delivery.tenant)
    outbox = Outbox(delivery.database, "campaigns")
    await change_sequence_status(
        delivery.mongo, delivery.database, outbox, sequence, SequenceAction.PAUSE, "rita"
    )
    paused = await repository.get(sequence.id)
    assert paused is not None
    await enrol_by_hand(delivery.mongo, delivery.database, paused, ["ada"], "rita")
    with pytest.raises(EnrolmentHoldRefused, match="resumes when the sequence does"):
        await enrolments.resume(sequence, "ada")

    held = await enrolments.pause(sequence, "ada", "rita")
    assert held.paused_by == "rita"
    # Resumed on its own while its sequence is paused: it waits with the sequence.
    waiting = await enrolments.resume(sequence, "ada")
    assert (waiting.status, waiting.paused_by) == (EnrolmentStatus.PAUSED, None)
    await engine(delivery).run_due_steps()
    assert await tags_asked_for(delivery, "ada") == []

    # Stored before enrolments had `paused_by`: resumed with its sequence all the same.
    await enrol_by_hand(delivery.mongo, delivery.database, paused, ["bo"], "rita")
    await delivery.database[ENROLMENTS].update_one(
        {"candidate_id": "bo"}, {"$unset": {"paused_by": "", "paused_at": ""}}
    )
    await change_sequence_status(
        delivery.mongo, delivery.database, outbox, paused, SequenceAction.RESUME, "rita"
    )
    await engine(delivery).run_due_steps()
    assert (await enrolment(delivery, sequence, "ada")).status is EnrolmentStatus.COMPLETED
    assert (await enrolment(delivery, sequence, "bo")).status is EnrolmentStatus.COMPLETED


async def test_a_sequences_enrolments_are_listed_with_their_candidates_names(
    delivery: Setup,
) -> None:
    sequence = await tagging_sequence(
        delivery, person(delivery, "ada", "Ada"), person(delivery, "nameless")
    )
    await enrol_by_hand(delivery.mongo, delivery.database, sequence, ["ada", "nameless"], "rita")
    listed = await desk(delivery).listed(sequence.id, limit=10)
    names = {
        item.enrolment.candidate_id: (item.recipient.first_name, item.recipient.last_name)
        for item in listed
        if item.recipient is not None
    }
    assert names == {"ada": ("Ada", "Ødegård"), "nameless": (None, None)}
    # Erased meanwhile (the projection forgets the person): the enrolment is listed nameless.
    await delivery.database[RECIPIENTS].delete_many({"candidate_id": "ada"})
    [ada] = [
        item
        for item in await desk(delivery).listed(sequence.id, limit=10)
        if item.enrolment.candidate_id == "ada"
    ]
    assert ada.recipient is None
