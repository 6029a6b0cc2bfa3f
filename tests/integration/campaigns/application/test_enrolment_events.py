"""`enrolment.started` and `enrolment.ended`, against SecantusDB: each is in the outbox with the
write that starts or ends the enrolment (by hand, by the engine, by a sequence's archiving, by a
suppressed mail), and nothing is staged when the write does not commit or changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest

from crm_campaigns.application.enrolments import (
    end_enrolments_before_erasure,
    enrol_by_hand,
    remove_by_hand,
)
from crm_campaigns.application.lifecycle import change_sequence_status
from crm_campaigns.domain.lifecycle import SequenceAction
from crm_campaigns.domain.models import EnrolmentStatus, ExitReason
from crm_campaigns.repositories.enrolments import EnrolmentRepository
from crm_shared import (
    ENROLMENT_ENDED,
    ENROLMENT_STARTED,
    CandidateErased,
    Outbox,
    Session,
    erase_candidate,
    in_transaction,
)
from crm_shared.outbox import OUTBOX_COLLECTION
from integration.campaigns.application.test_delivery import Setup
from integration.campaigns.application.test_enrolment_pause import (
    engine,
    enrolment,
    person,
    tagging_sequence,
)

pytestmark = pytest.mark.integration


async def staged(setup: Setup, topic: str, candidate_id: str) -> list[dict[str, Any]]:
    """The envelopes of `topic` about the candidate in the outbox, in the order staged."""
    records = await (
        setup.database[OUTBOX_COLLECTION]
        .find({"tenant_id": setup.tenant, "topic": topic, "key": candidate_id})
        .sort("_id", 1)
        .to_list()
    )
    return [json.loads(record["value"]) for record in records]


async def test_an_enrolment_announces_its_start_and_its_completion(delivery: Setup) -> None:
    sequence = await tagging_sequence(delivery, person(delivery, "ada", "Ada"))
    await enrol_by_hand(delivery.mongo, delivery.database, sequence, ["ada"], "rita")
    [started] = await staged(delivery, ENROLMENT_STARTED.name, "ada")
    enrolled = await enrolment(delivery, sequence, "ada")
    assert started["tenant_id"] == delivery.tenant
    assert started["source"] == "campaigns"
    assert started["subject"] == "ada"
    assert {k: v for k, v in started["data"].items() if k != "enrolled_at"} == {
        "enrolment_id": enrolled.id,
        "sequence_id": sequence.id,
        "sequence_name": "Nurture",
        "candidate_id": "ada",
        "entry": 1,
        "enrolled_by": "user:rita",
    }
    assert await staged(delivery, ENROLMENT_ENDED.name, "ada") == []

    await engine(delivery).run_due_steps()
    done = await enrolment(delivery, sequence, "ada")
    assert done.status is EnrolmentStatus.COMPLETED
    [ended] = await staged(delivery, ENROLMENT_ENDED.name, "ada")
    assert ended["data"]["enrolment_id"] == done.id
    assert ended["data"]["sequence_name"] == "Nurture"
    assert (ended["data"]["outcome"], ended["data"]["exit_reason"]) == ("completed", None)
    assert ended["data"]["ended_at"] is not None
    # Enrolled again is not an entry: no second start.
    await enrol_by_hand(delivery.mongo, delivery.database, sequence, ["ada"], "rita")
    assert len(await staged(delivery, ENROLMENT_STARTED.name, "ada")) == 1


async def test_a_removal_by_hand_announces_the_exit_once(delivery: Setup) -> None:
    sequence = await tagging_sequence(delivery, person(delivery, "bo", "Bo"))
    await enrol_by_hand(delivery.mongo, delivery.database, sequence, ["bo"], "rita")
    enrolments = EnrolmentRepository(delivery.database, delivery.tenant)
    assert await remove_by_hand(delivery.mongo, enrolments, sequence.id, "bo")
    assert not await remove_by_hand(delivery.mongo, enrolments, sequence.id, "bo")
    [ended] = await staged(delivery, ENROLMENT_ENDED.name, "bo")
    assert (ended["data"]["outcome"], ended["data"]["exit_reason"]) == ("exited", "removed")


async def test_an_archived_sequence_announces_the_end_of_its_enrolments(delivery: Setup) -> None:
    sequence = await tagging_sequence(
        delivery, person(delivery, "cy", "Cy"), person(delivery, "di", "Di")
    )
    await enrol_by_hand(delivery.mongo, delivery.database, sequence, ["cy", "di"], "rita")
    outbox = Outbox(delivery.database, "campaigns")
    await change_sequence_status(
        delivery.mongo, delivery.database, outbox, sequence, SequenceAction.ARCHIVE, "rita"
    )
    for candidate_id in ("cy", "di"):
        [ended] = await staged(delivery, ENROLMENT_ENDED.name, candidate_id)
        assert ended["data"]["exit_reason"] == "sequence_archived"
        assert ended["data"]["sequence_name"] == "Nurture"


async def test_an_exit_at_a_suppressed_send_names_the_reason_and_the_step(
    delivery: Setup,
) -> None:
    sequence = await tagging_sequence(delivery, person(delivery, "ed", "Ed"))
    await enrol_by_hand(delivery.mongo, delivery.database, sequence, ["ed"], "rita")
    enrolments = EnrolmentRepository(delivery.database, delivery.tenant)
    enrolled = await enrolment(delivery, sequence, "ed")

    async def exit_at_send(session: Session) -> bool:
        return await enrolments.exit_at_send(
            enrolled.id, ExitReason.NO_MARKETING_CONSENT, 0, session=session
        )

    assert await in_transaction(delivery.mongo, exit_at_send)
    assert not await in_transaction(delivery.mongo, exit_at_send)
    [ended] = await staged(delivery, ENROLMENT_ENDED.name, "ed")
    assert ended["data"]["exit_reason"] == "no_marketing_consent"
    assert ended["data"]["exit_step"] == 0


async def test_an_enrolment_that_does_not_commit_announces_nothing(delivery: Setup) -> None:
    sequence = await tagging_sequence(delivery, person(delivery, "fa", "Fa"))
    enrolments = EnrolmentRepository(delivery.database, delivery.tenant)

    async def enrol_then_fail(session: Session) -> None:
        await enrolments.enrol(sequence, "fa", {}, enrolled_by="user:rita", session=session)
        raise RuntimeError("the transaction aborts")

    with pytest.raises(RuntimeError):
        await in_transaction(delivery.mongo, enrol_then_fail)
    assert await enrolments.latest(sequence.id, "fa") is None
    assert await staged(delivery, ENROLMENT_STARTED.name, "fa") == []


async def test_a_merge_that_ends_one_of_two_enrolments_announces_it(delivery: Setup) -> None:
    sequence = await tagging_sequence(
        delivery, person(delivery, "gi", "Gi"), person(delivery, "ho", "Ho")
    )
    await enrol_by_hand(delivery.mongo, delivery.database, sequence, ["gi"], "rita")
    await enrol_by_hand(delivery.mongo, delivery.database, sequence, ["ho"], "rita")
    enrolments = EnrolmentRepository(delivery.database, delivery.tenant)

    async def fold(session: Session) -> None:
        await enrolments.fold_into("ho", "gi", "merge-1", session=session)

    await in_transaction(delivery.mongo, fold)
    await in_transaction(delivery.mongo, fold)  # a redelivered merge ends nothing more
    # The survivor's older enrolment goes on; the folded record's ends, announced as its own.
    assert await staged(delivery, ENROLMENT_ENDED.name, "gi") == []
    [ended] = await staged(delivery, ENROLMENT_ENDED.name, "ho")
    assert (ended["data"]["outcome"], ended["data"]["exit_reason"]) == ("exited", "merged")


async def test_an_erasure_ends_the_enrolments_in_progress_and_announces_it(
    delivery: Setup,
) -> None:
    """The erasure deletes the person's enrolments; the one in progress ends `erased` first,
    announced after the deletion (which takes the person's outbox records with it), so
    analytics' enrolment report does not count her enrolled for ever. A finished one is not
    announced again."""
    gi = person(delivery, "gi", "Gi")
    finished = await tagging_sequence(delivery, gi)
    await enrol_by_hand(delivery.mongo, delivery.database, finished, ["gi"], "rita")
    await engine(delivery).run_due_steps()
    assert (await enrolment(delivery, finished, "gi")).status is EnrolmentStatus.COMPLETED
    running = await tagging_sequence(delivery, gi)
    await enrol_by_hand(delivery.mongo, delivery.database, running, ["gi"], "rita")
    in_progress = await enrolment(delivery, running, "gi")
    erased_at = datetime(2026, 12, 6, 13, 0, tzinfo=UTC)
    erased = CandidateErased(candidate_id="gi", erased_at=erased_at, email_sha256=[])

    async def erase(session: Session) -> None:
        await erase_candidate(
            delivery.database,
            delivery.tenant,
            erased,
            session=session,
            before_erasure=partial(end_enrolments_before_erasure, delivery.database),
        )

    await in_transaction(delivery.mongo, erase)
    enrolments = EnrolmentRepository(delivery.database, delivery.tenant)
    assert await enrolments.of_candidate("gi") == []
    [ended] = await staged(delivery, ENROLMENT_ENDED.name, "gi")
    assert ended["data"]["enrolment_id"] == in_progress.id
    assert (ended["data"]["outcome"], ended["data"]["exit_reason"]) == ("exited", "erased")
    assert datetime.fromisoformat(ended["data"]["ended_at"]) == erased_at
    # Nothing of hers is left in progress: erased again, nothing more would be announced.

    async def end_again(session: Session) -> list[Any]:
        return await enrolments.end_before_erasure("gi", erased_at, session=session)

    assert await in_transaction(delivery.mongo, end_again) == []
