"""A sequence started on a segment while a new member's `segment.entered` is being recorded, on
SecantusDB: under snapshot isolation each transaction reads before the other's write, so without
the segment's guard document the new member was enrolled by neither (a stalled flow test in CI
on 2026-12-05). The member's transaction is held open while the sequence is saved."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from crm_campaigns.application.enrolments import enter_segment
from crm_campaigns.application.lifecycle import save_new_sequence
from crm_campaigns.domain.models import AddTagStep, SegmentTrigger, Sequence
from crm_campaigns.repositories.collections import ENROLMENTS
from crm_shared import Outbox, Session, in_transaction
from crm_shared.contracts.events import SegmentEntered
from integration.campaigns.application.test_delivery import Setup

pytestmark = pytest.mark.integration

# Long enough for the sequence's transaction to have committed had nothing held it back.
HOLD_SECONDS = 2.0


async def test_a_member_entering_while_the_sequence_is_saved_is_enrolled(delivery: Setup) -> None:
    segment_id = "seg-race"
    sequence = Sequence(
        tenant_id=delivery.tenant,
        name="Welcome",
        trigger=SegmentTrigger(segment_id=segment_id),
        steps=[AddTagStep(tags=["welcomed"])],
        created_by="rita",
    )
    entered = SegmentEntered(segment_id=segment_id, segment_name="New", candidate_id="cand-1")
    member_written = asyncio.Event()
    sequence_saved = asyncio.Event()

    async def record_member(session: Session) -> None:
        await enter_segment(delivery.database, delivery.tenant, entered, session)
        member_written.set()
        # Commits only after the sequence's transaction did (or could not, for a while).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sequence_saved.wait(), HOLD_SECONDS)

    async def save_sequence() -> None:
        await member_written.wait()
        await save_new_sequence(
            delivery.mongo,
            delivery.database,
            Outbox(delivery.database, "campaigns"),
            sequence,
            enrol_current_members=True,
        )
        sequence_saved.set()

    await asyncio.gather(in_transaction(delivery.mongo, record_member), save_sequence())

    enrolled = (
        await delivery.database[ENROLMENTS]
        .find({"tenant_id": delivery.tenant, "sequence_id": sequence.id})
        .to_list()
    )
    assert [enrolment["candidate_id"] for enrolment in enrolled] == ["cand-1"]
