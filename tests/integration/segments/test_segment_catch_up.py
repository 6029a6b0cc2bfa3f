"""A segment created while a write's transaction is open, against SecantusDB: the write read the
tenant's segments before the segment existed and commits after the segment's full pass read
past its candidate (an import chunk still open). The evaluation's catch-up pass, once every
transaction that could not see the segment has ended, makes the candidate a member all the
same."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import pytest

from crm_candidates.application.candidates import MembershipEvaluator
from crm_candidates.application.segments import SegmentEvaluator
from crm_candidates.config import CandidatesSettings
from crm_candidates.domain.models import Candidate, CandidateSource, Segment, SegmentStatus
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.indexes import ensure_indexes
from crm_candidates.repositories.segments import SegmentRepository, segments_awaiting_evaluation
from crm_shared import Session, in_transaction
from helpers import unique
from integration.service_storage import service_storage

pytestmark = pytest.mark.integration

TENANT = "acme"
WINDOW = timedelta(seconds=4)


def person(number: int) -> Candidate:
    return Candidate(
        id=f"cand-{number:02d}",
        tenant_id=TENANT,
        first_name=f"Person {number}",
        last_name="Doe",
        emails=[f"person{number}@example.org"],
        source=CandidateSource.SOURCED,
        tags=["tv-bulk"],
        created_by="rita",
    )


async def full_pass_done(segments: SegmentRepository, segment_id: str) -> None:
    """Waits until the evaluation marks the segment `ready` (its catch-up still to come)."""
    for _ in range(600):
        stored = await segments.get(segment_id)
        if stored is not None and stored.status is SegmentStatus.READY:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the full pass did not finish")


@pytest.mark.parametrize("change", ["created", "rule edited"])
async def test_a_write_in_flight_during_the_evaluation_is_caught_up(
    mongodb_uri: str, change: str
) -> None:
    settings = CandidatesSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("cands"))
    async with service_storage(settings, ensure_indexes) as storage:
        candidates = CandidateRepository(storage.database, TENANT)
        segments = SegmentRepository(storage.database, TENANT)
        membership = MembershipEvaluator(storage.outbox, candidates, segments)
        evaluator = SegmentEvaluator(
            storage.mongo, storage.outbox, candidates, segments, catch_up_window=WINDOW
        )
        tagged = Segment(
            id="seg-tv",
            tenant_id=TENANT,
            name="tv bulk",
            rule={"all": [{"field": "tags", "op": "equals", "value": "tv-bulk"}]},
            created_by="rita",
        )
        if change == "rule edited":
            # The write's transaction sees the old rule, which does not hold for the candidate.
            await segments.add(
                tagged.model_copy(
                    update={"rule": {"all": [{"field": "tags", "op": "equals", "value": "x"}]}}
                )
            )

        async def add(session: Session, number: int) -> None:
            await candidates.add(person(number), session=session)
            await membership.reevaluate_many([person(number)], session=session)

        await in_transaction(storage.mongo, lambda session: add(session, 1))

        evaluated = asyncio.Event()
        release = asyncio.Event()

        async def held_open(session: Session) -> None:
            await add(session, 2)
            evaluated.set()
            await release.wait()

        write = asyncio.create_task(in_transaction(storage.mongo, held_open))
        await evaluated.wait()
        if change == "rule edited":
            await segments.redefine(tagged.model_copy(update={"status": SegmentStatus.COMPUTING}))
        else:
            await segments.add(tagged)
        job = asyncio.create_task(evaluator.recompute(tagged))
        await full_pass_done(segments, tagged.id)
        # The full pass is done without the open write's candidate.
        assert await segments.member_ids(tagged.id, after=None, limit=10) == ["cand-01"]
        release.set()
        await write
        await asyncio.wait_for(job, timeout=30)

        assert await segments.member_ids(tagged.id, after=None, limit=10) == [
            "cand-01",
            "cand-02",
        ]
        document = await storage.database["segments"].find_one({"_id": tagged.id})
        assert document is not None
        assert "catch_up_due_at" not in document


async def test_a_pending_catch_up_is_resumed_after_a_restart(mongodb_uri: str) -> None:
    settings = CandidatesSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("cands"))
    async with service_storage(settings, ensure_indexes) as storage:
        candidates = CandidateRepository(storage.database, TENANT)
        segments = SegmentRepository(storage.database, TENANT)
        evaluator = SegmentEvaluator(
            storage.mongo,
            storage.outbox,
            candidates,
            segments,
            catch_up_window=timedelta(minutes=5),
        )
        tagged = Segment(
            id="seg-tv",
            tenant_id=TENANT,
            name="tv bulk",
            rule={"all": [{"field": "tags", "op": "equals", "value": "tv-bulk"}]},
            created_by="rita",
        )
        await segments.add(tagged)
        job = asyncio.create_task(evaluator.recompute(tagged))
        await full_pass_done(segments, tagged.id)
        # The process stops while the catch-up waits: the next start evaluates it again.
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
        resumed = await segments_awaiting_evaluation(storage.database)
        assert [segment.id for segment in resumed] == [tagged.id]
