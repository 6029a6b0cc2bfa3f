"""Timeline events applied in batches against SecantusDB: a batch mixing tenants, known and
unknown candidates and a bot's open leaves exactly the entries applying its events one by one
would (one per event about a known candidate, none for a bot), and applying it again adds
nothing; sequence enrolments' starts and ends and mails not sent are entries like any other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_candidates.application.consents import ConfirmationPolicy
from crm_candidates.application.facts import CandidateFacts
from crm_candidates.domain.models import Candidate, CandidateSource
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.collections import TIMELINE_COLLECTION
from crm_candidates.repositories.timeline import TimelineRepository
from crm_shared import (
    ENROLMENT_ENDED,
    ENROLMENT_STARTED,
    MESSAGE_OPENED,
    MESSAGE_SENT,
    MESSAGE_SUPPRESSED,
    EnrolmentEnded,
    EnrolmentStarted,
    EventEnvelope,
    MessageOpened,
    MessageSent,
    MessageSuppressed,
    Session,
    SignedLinks,
    in_transaction,
)
from integration.service_storage import ServiceStorage

pytestmark = pytest.mark.integration


def facts(storage: ServiceStorage) -> CandidateFacts:
    return CandidateFacts(
        storage.mongo,
        storage.database,
        storage.outbox,
        SignedLinks("a-secret-of-at-least-thirty-two-characters"),
        ConfirmationPolicy("http://crm.test", max_per_address=3, window=timedelta(days=1)),
    )


def sent(tenant: str, candidate_id: str, message_id: str) -> EventEnvelope[Any]:
    return EventEnvelope[MessageSent](
        type=MESSAGE_SENT.name,
        source="campaigns",
        tenant_id=tenant,
        subject=message_id,
        schema_version=MESSAGE_SENT.schema_version,
        data=MessageSent(
            message_id=message_id,
            candidate_id=candidate_id,
            template_id="tpl-1",
            subject="Hello",
        ),
    )


def opened(tenant: str, candidate_id: str, message_id: str, *, bot: bool) -> EventEnvelope[Any]:
    return EventEnvelope[MessageOpened](
        type=MESSAGE_OPENED.name,
        source="campaigns",
        tenant_id=tenant,
        subject=message_id,
        schema_version=MESSAGE_OPENED.schema_version,
        data=MessageOpened(message_id=message_id, candidate_id=candidate_id, automated=bot),
    )


async def test_a_batch_leaves_the_entries_of_its_events_about_known_candidates(
    storage: ServiceStorage,
) -> None:
    for tenant in ("acme", "globex"):
        person = Candidate(
            id=f"ada-{tenant}",
            tenant_id=tenant,
            first_name="Ada",
            last_name="Lovelace",
            emails=[f"ada@{tenant}.example"],
            source=CandidateSource.SOURCED,
            created_by="rita",
        )

        async def add(session: Session, person: Candidate = person) -> None:
            await CandidateRepository(storage.database, person.tenant_id).add(
                person, session=session
            )

        await in_transaction(storage.mongo, add)
    batch = [
        sent("acme", "ada-acme", "m1"),
        sent("globex", "ada-globex", "m2"),
        sent("acme", "nobody", "m3"),  # unknown here: ignored
        sent("acme", "ada-globex", "m4"),  # another tenant's candidate: unknown here
        opened("acme", "ada-acme", "m1", bot=True),  # a prefetcher: not the candidate
        opened("acme", "ada-acme", "m1", bot=False),
    ]

    async def apply(session: Session) -> None:
        await facts(storage).timeline_events(batch, session)

    await in_transaction(storage.mongo, apply)
    await in_transaction(storage.mongo, apply)  # a redelivered batch adds nothing

    entries = await storage.database[TIMELINE_COLLECTION].find({}).to_list()
    assert sorted((e["tenant_id"], e["candidate_id"], e["type"], e["_id"]) for e in entries) == [
        ("acme", "ada-acme", "message.opened", str(batch[5].id)),
        ("acme", "ada-acme", "message.sent", str(batch[0].id)),
        ("globex", "ada-globex", "message.sent", str(batch[1].id)),
    ]


def enrolment_event(
    tenant: str, candidate_id: str, *, ended: bool, reason: str | None = None
) -> EventEnvelope[Any]:
    moment = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    common: dict[str, Any] = {
        "enrolment_id": f"s1.{candidate_id}.1",
        "sequence_id": "s1",
        "sequence_name": "Backend nurture",
        "candidate_id": candidate_id,
        "entry": 1,
        "enrolled_at": moment,
    }
    spec = ENROLMENT_ENDED if ended else ENROLMENT_STARTED
    data: EnrolmentStarted | EnrolmentEnded = (
        EnrolmentEnded(
            **common,
            outcome="exited" if reason else "completed",
            exit_reason=reason,
            ended_at=moment + timedelta(days=2),
        )
        if ended
        else EnrolmentStarted(**common, enrolled_by="user:rita")
    )
    return EventEnvelope[Any](
        type=spec.name,
        source="campaigns",
        tenant_id=tenant,
        subject=candidate_id,
        schema_version=spec.schema_version,
        data=data,
    )


def suppressed(tenant: str, candidate_id: str, message_id: str) -> EventEnvelope[Any]:
    return EventEnvelope[MessageSuppressed](
        type=MESSAGE_SUPPRESSED.name,
        source="campaigns",
        tenant_id=tenant,
        subject=candidate_id,
        schema_version=MESSAGE_SUPPRESSED.schema_version,
        data=MessageSuppressed(
            message_id=message_id,
            candidate_id=candidate_id,
            template_id="tpl-1",
            subject="Spring roles",
            reason="no_marketing_consent",
            broadcast_id="b1",
            broadcast_name="Spring hiring",
            suppressed_at=datetime(2026, 12, 2, 8, 0, tzinfo=UTC),
        ),
    )


async def test_enrolments_and_mails_not_sent_enter_the_timeline_once(
    storage: ServiceStorage,
) -> None:
    person = Candidate(
        id="bo-acme",
        tenant_id="acme",
        first_name="Bo",
        last_name="Berg",
        emails=["bo@acme.example"],
        source=CandidateSource.SOURCED,
        created_by="rita",
    )

    async def add(session: Session) -> None:
        await CandidateRepository(storage.database, "acme").add(person, session=session)

    await in_transaction(storage.mongo, add)
    batch = [
        enrolment_event("acme", "bo-acme", ended=False),
        enrolment_event("acme", "bo-acme", ended=True, reason="replied"),
        enrolment_event("acme", "nobody", ended=False),  # unknown here: ignored
        suppressed("acme", "bo-acme", "m9"),
    ]

    async def apply(session: Session) -> None:
        await facts(storage).timeline_events(batch, session)

    await in_transaction(storage.mongo, apply)
    await in_transaction(storage.mongo, apply)  # a redelivered batch adds nothing

    timeline = TimelineRepository(storage.database, "acme")
    page = await timeline.page("bo-acme", before=None, limit=10)
    assert sorted((entry.type, entry.event_id) for entry in page) == sorted(
        [
            ("enrolment.started", str(batch[0].id)),
            ("enrolment.ended", str(batch[1].id)),
            ("message.suppressed", str(batch[3].id)),
        ]
    )
    [ended] = [entry for entry in page if entry.type == "enrolment.ended"]
    assert ended.data["sequence_name"] == "Backend nurture"
    assert (ended.data["outcome"], ended.data["exit_reason"]) == ("exited", "replied")
    [held_back] = [entry for entry in page if entry.type == "message.suppressed"]
    assert (held_back.data["reason"], held_back.data["broadcast_name"]) == (
        "no_marketing_consent",
        "Spring hiring",
    )
    assert await storage.database[TIMELINE_COLLECTION].count_documents({}) == 3
