"""What `enrolment.started` and `enrolment.ended` add to a candidate's timeline: the kind is the
topic, the data names the sequence (no lookup needed to show it) and not the candidate again."""

from __future__ import annotations

from datetime import UTC, datetime

from crm_candidates.domain.timeline import timeline_entry
from crm_shared import (
    ENROLMENT_ENDED,
    ENROLMENT_STARTED,
    EnrolmentEnded,
    EnrolmentStarted,
    EventEnvelope,
)

ENROLLED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ENDED = datetime(2026, 12, 3, 10, 30, tzinfo=UTC)


def test_an_enrolments_start_names_its_sequence() -> None:
    envelope = EventEnvelope[EnrolmentStarted](
        type=ENROLMENT_STARTED.name,
        source="campaigns",
        tenant_id="acme",
        subject="c1",
        schema_version=1,
        time=ENROLLED,
        data=EnrolmentStarted(
            enrolment_id="s1.c1.1",
            sequence_id="s1",
            sequence_name="Backend nurture",
            candidate_id="c1",
            entry=1,
            enrolled_by="segment:g1",
            enrolled_at=ENROLLED,
        ),
    )
    entry = timeline_entry(envelope, "c1")
    assert (entry.event_id, entry.type, entry.source, entry.occurred_at) == (
        str(envelope.id),
        "enrolment.started",
        "campaigns",
        ENROLLED,
    )
    assert entry.data == {
        "enrolment_id": "s1.c1.1",
        "sequence_id": "s1",
        "sequence_name": "Backend nurture",
        "entry": 1,
        "enrolled_by": "segment:g1",
        "enrolled_at": "2026-12-01T09:00:00Z",
    }


def test_an_enrolments_end_carries_its_outcome_and_reason() -> None:
    envelope = EventEnvelope[EnrolmentEnded](
        type=ENROLMENT_ENDED.name,
        source="campaigns",
        tenant_id="acme",
        subject="c1",
        schema_version=1,
        time=ENDED,
        data=EnrolmentEnded(
            enrolment_id="s1.c1.1",
            sequence_id="s1",
            sequence_name="Backend nurture",
            candidate_id="c1",
            entry=1,
            outcome="exited",
            exit_reason="replied",
            enrolled_at=ENROLLED,
            ended_at=ENDED,
        ),
    )
    entry = timeline_entry(envelope, "c1")
    assert entry.type == "enrolment.ended"
    assert entry.candidate_id == "c1"
    assert "candidate_id" not in entry.data
    assert (entry.data["sequence_name"], entry.data["outcome"], entry.data["exit_reason"]) == (
        "Backend nurture",
        "exited",
        "replied",
    )
    assert entry.data["exit_step"] is None
