"""A tag or move-stage step whose change the candidates service refused, against SecantusDB
with the real sequence engine: the request names its enrolment and step, and the refusal is
recorded on that enrolment once, the latest 20 kept."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from crm_campaigns.application.enrolments import enrol_by_hand, record_refused_change
from crm_campaigns.domain.models import MAX_STEP_PROBLEMS
from crm_shared import CandidateChangeRefused, Session, in_transaction, utc_now
from crm_shared.outbox import OUTBOX_COLLECTION
from integration.campaigns.application.test_delivery import Setup
from integration.campaigns.application.test_enrolment_pause import (
    engine,
    enrolment,
    person,
    tagging_sequence,
)

pytestmark = pytest.mark.integration


def refusal(enrolment_id: str, request_id: str, step: int = 0) -> CandidateChangeRefused:
    return CandidateChangeRefused(
        request_id=request_id,
        candidate_id="ada",
        requested_by="sequence:s",
        enrolment_id=enrolment_id,
        step=step,
        reason=f"refused {request_id}",
        refused_at=utc_now() + timedelta(seconds=step),
    )


async def refuse(setup: Setup, refused: CandidateChangeRefused) -> None:
    async def record(session: Session) -> None:
        await record_refused_change(setup.database, setup.tenant, refused, session)

    await in_transaction(setup.mongo, record)


async def test_a_refused_step_is_recorded_once_on_the_enrolment_that_asked(
    delivery: Setup,
) -> None:
    sequence = await tagging_sequence(delivery, person(delivery, "ada", "Ada"))
    await enrol_by_hand(delivery.mongo, delivery.database, sequence, ["ada"], "rita")
    assert await engine(delivery, batch_size=1).run_due_steps() == 1
    [record] = (
        await delivery.database[OUTBOX_COLLECTION]
        .find({"key": "ada", "topic": "candidate.change_requested"})
        .to_list()
    )
    asked = json.loads(record["value"])["data"]
    enrolled = await enrolment(delivery, sequence, "ada")
    assert (asked["enrolment_id"], asked["step"]) == (enrolled.id, 0)

    first = refusal(enrolled.id, "request-1")
    await refuse(delivery, first)
    await refuse(delivery, first)  # a refusal told twice is recorded once
    told = await enrolment(delivery, sequence, "ada")
    assert [(p.step, p.reason, p.request_id) for p in told.step_problems] == [
        (0, "refused request-1", "request-1")
    ]
    # The enrolment was not held up: it is where the engine left it.
    assert told.step_index == 1

    for step in range(1, MAX_STEP_PROBLEMS + 5):
        await refuse(delivery, refusal(enrolled.id, f"request-{step + 1}", step))
    kept = (await enrolment(delivery, sequence, "ada")).step_problems
    assert len(kept) == MAX_STEP_PROBLEMS
    assert kept[-1].request_id == f"request-{MAX_STEP_PROBLEMS + 5}"
    assert kept[0].request_id == "request-6"

    # An enrolment gone meanwhile (merged, erased) and a request no step asked: nothing to do.
    await refuse(delivery, refusal("gone", "request-x"))
    await refuse(delivery, refusal(enrolled.id, "request-y").model_copy(update={"step": None}))
    assert len((await enrolment(delivery, sequence, "ada")).step_problems) == MAX_STEP_PROBLEMS
