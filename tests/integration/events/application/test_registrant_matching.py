"""A registrant is linked to their candidate even when the registration and the events
service learning that candidate (`candidate.created`) run at the same moment, against
SecantusDB: each transaction is paused at its worst point while the other runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from crm_events.application import lifecycle, registrations
from crm_events.application.candidates import CandidateFacts
from crm_events.application.storage import EventsStorage
from crm_shared import EVENT_CHECKED_IN, CandidateDirectory, CandidateProfile, Session, utc_now
from crm_shared.directory import ProfileChange
from helpers import unique
from integration.events.application.test_registrations import _fields, _person, storage

pytestmark = pytest.mark.integration

__all__ = ["storage"]  # the fixture, shared with the registration tests

# How long the paused transaction waits for the other one to finish first. Unlinked, the other
# finishes at once; linked, it cannot finish before the paused one commits (it is aborted and
# run again), so it is let go after this.
OTHER_SIDE_SECONDS = 1.0


@dataclass
class _Gate:
    """Holds a transaction at one point until `release`; `reached` says it got there."""

    reached: asyncio.Event = field(default_factory=asyncio.Event)
    go: asyncio.Event = field(default_factory=asyncio.Event)

    async def pass_(self) -> None:
        self.reached.set()
        await self.go.wait()


class _GatedDirectory(CandidateDirectory):
    """The directory, with the registration paused after its lookup, or `learn_many` after its
    write (both inside their transactions)."""

    def __init__(self, storage: EventsStorage, tenant_id: str, gate: _Gate, at: str) -> None:
        super().__init__(storage.database, tenant_id)
        self._gate, self._at = gate, at

    async def candidate_for_update(self, email: str, *, session: Session) -> str | None:
        found = await super().candidate_for_update(email, session=session)
        if self._at == "registration":
            await self._gate.pass_()
        return found

    async def learn_many(
        self, profiles: Sequence[CandidateProfile], *, session: Session
    ) -> list[list[str]]:
        emails = await super().learn_many(profiles, session=session)
        if self._at == "learn":
            await self._gate.pass_()
        return emails


@dataclass(frozen=True)
class _Gated(EventsStorage):
    gate: _Gate = field(default_factory=_Gate)
    at: str = "registration"

    def directory(self, tenant_id: str) -> CandidateDirectory:
        return _GatedDirectory(self, tenant_id, self.gate, self.at)


def _gated(storage: EventsStorage, at: str) -> _Gated:
    return _Gated(
        storage.mongo, storage.database, storage.outbox, storage.links, gate=_Gate(), at=at
    )


def _profile(candidate_id: str, email: str) -> CandidateProfile:
    return CandidateProfile(
        candidate_id=candidate_id,
        first_name="Ada",
        last_name="Doe",
        emails=[email],
        source="sourced",
    )


@pytest.mark.parametrize("door", [False, True], ids=["registration", "walk-in"])
@pytest.mark.parametrize("paused", ["registration", "learn"])
async def test_a_registrant_learnt_meanwhile_is_linked(
    storage: EventsStorage, paused: str, door: bool
) -> None:
    tenant = unique("tenant")
    event = (await lifecycle.create_event(storage, tenant, "user-1", _fields(5))).event
    registrant = _person("ada")
    candidate_id = unique("candidate")
    gated = _gated(storage, paused)
    registration_storage = gated if paused == "registration" else storage
    facts_storage = gated if paused == "learn" else storage

    async def register() -> None:
        if door:
            await registrations.walk_in(registration_storage, tenant, event.id, registrant)
        else:
            await registrations.register(registration_storage, event.id, registrant)

    async def learn() -> None:
        async def know(session: Session) -> None:
            facts = CandidateFacts(facts_storage)
            await facts.know(
                tenant,
                [ProfileChange(_profile(candidate_id, registrant.email), utc_now())],
                session=session,
            )

        await facts_storage.in_transaction(know)

    first, second = (register, learn) if paused == "registration" else (learn, register)
    paused_task = asyncio.create_task(first())
    await asyncio.wait_for(gated.gate.reached.wait(), timeout=10)
    other_task = asyncio.create_task(second())
    await asyncio.wait({other_task}, timeout=OTHER_SIDE_SECONDS)
    gated.gate.go.set()
    await asyncio.wait_for(asyncio.gather(paused_task, other_task), timeout=30)

    [stored] = await registrations.registrations_for(storage, tenant, event.id, limit=50)
    assert stored.candidate_id == candidate_id
    assert await storage.directory(tenant).candidate_for(registrant.email) == candidate_id
    # A walk-in's attendance is announced once, carrying the candidate, whichever side linked it.
    attended = await storage.outbox.records.find({"topic": EVENT_CHECKED_IN.name}).to_list()
    assert [json.loads(r["value"])["data"]["candidate_id"] for r in attended] == (
        [candidate_id] if door else []
    )


async def test_an_address_claimed_before_any_candidate_is_unknown_until_learnt(
    storage: EventsStorage,
) -> None:
    directory = storage.directory(unique("tenant"))

    async def claim(session: Session) -> str | None:
        return await directory.candidate_for_update("Ada@Example.com ", session=session)

    assert await storage.in_transaction(claim) is None
    assert await directory.candidate_for("ada@example.com") is None
    candidate_id = unique("candidate")

    async def learn(session: Session) -> None:
        await directory.learn(_profile(candidate_id, "ada@example.com"), session=session)

    await storage.in_transaction(learn)
    assert await storage.in_transaction(claim) == candidate_id
    assert await directory.candidate_for("ada@example.com") == candidate_id


async def test_a_batch_of_profiles_leaves_what_one_by_one_leaves(storage: EventsStorage) -> None:
    """Several registrants learnt in one batch: each registration goes to the first candidate
    that named its address, the directory to the last, as one profile at a time would; a
    walk-in's attendance is announced once it is linked."""
    tenant = unique("tenant")
    event = (await lifecycle.create_event(storage, tenant, "user-1", _fields(5))).event
    ada, bob = _person("ada"), _person("bob")
    await registrations.register(storage, event.id, ada)
    await registrations.walk_in(storage, tenant, event.id, bob)
    first, second, bob_id = unique("first"), unique("second"), unique("bob")
    now = utc_now()

    async def know(session: Session) -> None:
        await CandidateFacts(storage).know(
            tenant,
            [
                ProfileChange(_profile(first, ada.email), now),
                ProfileChange(_profile(bob_id, bob.email), now),
                ProfileChange(_profile(second, ada.email), now),
            ],
            session=session,
        )

    await storage.in_transaction(know)
    stored = {
        r.email: r.candidate_id
        for r in await registrations.registrations_for(storage, tenant, event.id, limit=50)
    }
    assert stored == {ada.email: first, bob.email: bob_id}
    directory = storage.directory(tenant)
    assert await directory.candidate_for(ada.email) == second
    assert await directory.candidate_for(bob.email) == bob_id
    attended = await storage.outbox.records.find({"topic": EVENT_CHECKED_IN.name}).to_list()
    assert [json.loads(r["value"])["data"]["candidate_id"] for r in attended] == [bob_id]
