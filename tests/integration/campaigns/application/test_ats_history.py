"""ATS changes that start and end sequences, against SecantusDB: a rejection or application
from the ATS's history (a backfill reaches back years) enrols nobody and ends nothing, and a
prospect has not applied."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from crm_campaigns.application.enrolments import (
    end_for_applicant,
    enrol_by_hand,
    enrol_rejected_applicant,
)
from crm_campaigns.domain.models import AddTagStep, AtsRejectedTrigger, EnrolmentStatus, Sequence
from crm_campaigns.repositories.enrolments import EnrolmentRepository
from crm_campaigns.repositories.sequences import SequenceRepository
from crm_shared import (
    AtsApplicationCreated,
    AtsApplicationRejected,
    Session,
    in_transaction,
    utc_now,
)
from integration.campaigns.application.test_delivery import Setup
from integration.campaigns.application.test_enrolment_pause import person, tagging_sequence

pytestmark = pytest.mark.integration

COMMON = {
    "provider": "greenhouse",
    "connection_id": "c1",
    "ats_candidate_id": "7001",
    "email": "grace@example.org",
    "job_name": "Data Engineer",
}


async def rejected_sequence(setup: Setup) -> Sequence:
    sequence = Sequence(
        tenant_id=setup.tenant,
        name="Silver medalists",
        trigger=AtsRejectedTrigger(),
        steps=[AddTagStep(tags=["silver"])],
        created_by="rita",
    )
    await SequenceRepository(setup.database, setup.tenant).add(sequence)
    return sequence


async def run(setup: Setup, work: object) -> None:
    async def transaction(session: Session) -> None:
        await work(session)  # type: ignore[operator]

    await in_transaction(setup.mongo, transaction)


async def test_only_a_current_rejection_enrols(delivery: Setup) -> None:
    setup = delivery
    sequence = await rejected_sequence(setup)
    enrolments = EnrolmentRepository(setup.database, setup.tenant)
    for candidate_id, age in (("past", timedelta(days=400)), ("now", timedelta(hours=2))):
        rejection = AtsApplicationRejected(
            **COMMON,
            ats_application_id=f"a-{candidate_id}",
            candidate_id=candidate_id,
            stage="Final Interview",
            occurred_at=utc_now() - age,
        )
        await run(
            setup,
            lambda s, r=rejection: enrol_rejected_applicant(setup.database, setup.tenant, r, s),
        )
    assert await enrolments.latest(sequence.id, "past") is None
    assert await enrolments.latest(sequence.id, "now") is not None


async def test_a_prospect_or_a_past_application_ends_no_enrolment(delivery: Setup) -> None:
    setup = delivery
    sequence = await tagging_sequence(
        setup, person(setup, "prospect"), person(setup, "past"), person(setup, "applied")
    )
    enrolments = EnrolmentRepository(setup.database, setup.tenant)
    await enrol_by_hand(
        setup.mongo, setup.database, sequence, ["prospect", "past", "applied"], "rita"
    )
    cases: dict[str, dict[str, Any]] = {
        "prospect": {"prospect": True, "applied_at": utc_now()},
        "past": {"applied_at": utc_now() - timedelta(days=900)},
        "applied": {"applied_at": utc_now() - timedelta(minutes=5)},
    }
    for candidate_id, fields in cases.items():
        application = AtsApplicationCreated(
            **COMMON, ats_application_id=f"a-{candidate_id}", candidate_id=candidate_id, **fields
        )
        await run(
            setup,
            lambda s, a=application: end_for_applicant(setup.database, setup.tenant, a, s),
        )
    statuses = {
        c: (await enrolments.latest(sequence.id, c)).status  # type: ignore[union-attr]
        for c in cases
    }
    assert statuses == {
        "prospect": EnrolmentStatus.ACTIVE,
        "past": EnrolmentStatus.ACTIVE,
        "applied": EnrolmentStatus.EXITED,
    }
