"""Timeline events applied in batches against SecantusDB: a batch mixing tenants, known and
unknown candidates and a bot's open leaves exactly the entries applying its events one by one
would (one per event about a known candidate, none for a bot), and applying it again adds
nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from crm_candidates.application.consents import ConfirmationPolicy
from crm_candidates.application.facts import CandidateFacts
from crm_candidates.config import CandidatesSettings
from crm_candidates.domain.models import Candidate, CandidateSource
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.collections import TIMELINE_COLLECTION
from crm_candidates.repositories.indexes import ensure_indexes
from crm_shared import (
    MESSAGE_OPENED,
    MESSAGE_SENT,
    EventEnvelope,
    MessageOpened,
    MessageSent,
    Session,
    SignedLinks,
    in_transaction,
)
from helpers import unique
from integration.service_storage import ServiceStorage, service_storage

pytestmark = pytest.mark.integration


@pytest.fixture
async def storage(mongodb_uri: str) -> AsyncIterator[ServiceStorage]:
    settings = CandidatesSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("cands"))
    async with service_storage(settings, ensure_indexes) as built:
        yield built


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
