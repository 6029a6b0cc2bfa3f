"""ATS applications projected onto candidates, a fetched batch at a time.

A backfill announces thousands of applications at once, and each used to cost the candidates
service about ten database round trips (find the person, check erasure, create, store the
status, read the segments and memberships, write the timeline). Here a batch of one tenant
costs a fixed number of reads (identity keys, candidates, erasures, segments, memberships) and
bulk writes, whatever its size, segment entries and exits included.

The result is exactly what applying the events one by one in order gives (the same candidates,
statuses, events, timeline and segment memberships): the events are walked in order in memory,
and each candidate's segments are re-evaluated at each step the per-event rules did.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from crm_candidates.application.candidates import MembershipEvaluator
from crm_candidates.domain.identity import identity_keys
from crm_candidates.domain.models import AtsStatus, Candidate, CandidateSource, TimelineEntry
from crm_candidates.domain.timeline import timeline_entry
from crm_candidates.publishers import to_candidates_created
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.segments import SegmentRepository
from crm_candidates.repositories.timeline import TimelineRepository
from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_HIRED,
    ATS_APPLICATION_REJECTED,
    ATS_APPLICATION_STAGE_CHANGED,
    AtsApplicationChange,
    AtsApplicationCreated,
    Database,
    EventEnvelope,
    Outbox,
    Session,
    by_tenant,
    email_sha256,
    erased_addresses_among,
    normalise_email,
)

ATS_SERVICE_USER = "service:ats-sync"

ATS_STATUS_BY_TOPIC = {
    ATS_APPLICATION_CREATED.name: AtsStatus.APPLIED,
    ATS_APPLICATION_STAGE_CHANGED.name: AtsStatus.IN_PROCESS,
    ATS_APPLICATION_REJECTED.name: AtsStatus.REJECTED,
    ATS_APPLICATION_HIRED.name: AtsStatus.HIRED,
}

logger = logging.getLogger(__name__)

AtsChange = AtsApplicationCreated | AtsApplicationChange


def ats_facts(envelope: EventEnvelope[Any], current: Candidate) -> dict[str, Any]:
    """What an application event changes on the candidate: the latest change of any of the
    candidate's applications wins, so an older one arriving late (another application, a
    replay) does not roll the status back."""
    change: AtsChange = envelope.data
    if isinstance(change, AtsApplicationChange):
        occurred_at, stage = change.occurred_at, change.stage
    else:
        occurred_at, stage = change.applied_at or envelope.time, change.stage
    if current.ats_changed_at is not None and occurred_at < current.ats_changed_at:
        return {}
    facts = {
        "ats_status": ATS_STATUS_BY_TOPIC[envelope.type],
        "ats_stage": stage,
        "ats_changed_at": occurred_at,
    }
    return {name: value for name, value in facts.items() if getattr(current, name) != value}


@dataclass(frozen=True)
class AtsApplications:
    """Keeps candidates' ATS status and stage from `ats.application_*` events; a person the
    ATS knows and the CRM does not becomes a candidate (source `ats_import`) with whichever of
    their applications' events arrives first, so a backfill brings past applicants in."""

    database: Database
    outbox: Outbox

    async def apply(self, envelopes: Sequence[EventEnvelope[Any]], session: Session) -> None:
        """Applies a batch (of any tenants, in offset order) in the caller's transaction."""
        for tenant_id, changes in by_tenant(envelopes).items():
            await self._apply_for_tenant(tenant_id, changes, session)

    async def _apply_for_tenant(
        self, tenant_id: str, envelopes: list[EventEnvelope[Any]], session: Session
    ) -> None:
        candidates = CandidateRepository(self.database, tenant_id)
        batch = await _Batch.read(self.database, candidates, envelopes, session)
        for envelope in envelopes:
            batch.apply(envelope)
        await candidates.add_many([batch.current[c.id] for c in batch.created], session=session)
        await to_candidates_created(self.outbox, batch.created, session=session)
        await candidates.store_projected(
            [(batch.current[cid], previous) for cid, previous in batch.stored_changed()],
            session=session,
        )
        if batch.steps:
            await self._reevaluate(candidates, batch, session)
        await TimelineRepository(self.database, tenant_id).record_many(
            batch.timeline, session=session
        )

    async def _reevaluate(
        self, candidates: CandidateRepository, batch: _Batch, session: Session
    ) -> None:
        """Each candidate's segments at each step the per-event rules re-evaluated them."""
        segments = SegmentRepository(self.database, candidates.tenant_id)
        evaluator = MembershipEvaluator(self.outbox, candidates, segments)
        rechecks = await evaluator.reevaluate_many(batch.steps, session=session)
        await candidates.set_rechecks_at(rechecks, session=session)


@dataclass
class _Batch:
    """One tenant's batch walked in memory: who each event is about, as of each event."""

    tenant_id: str
    # Identity key -> candidate id, for the applicants' addresses (new candidates added).
    holders: dict[str, str]
    erased: set[str]
    # The candidates as stored before the batch, and as of the event being walked.
    stored: dict[str, Candidate]
    current: dict[str, Candidate]
    created: list[Candidate] = field(default_factory=list)
    # Candidate states to re-evaluate, in order: after a creation and after each change.
    steps: list[Candidate] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)

    @classmethod
    async def read(
        cls,
        database: Database,
        candidates: CandidateRepository,
        envelopes: list[EventEnvelope[Any]],
        session: Session,
    ) -> _Batch:
        """Everything the batch's rules look at, in one read per collection."""
        named: set[str] = set()
        emails: set[str] = set()
        for envelope in envelopes:
            change: AtsChange = envelope.data
            if change.candidate_id is not None:
                named.add(change.candidate_id)
            elif change.email:
                emails.add(normalise_email(change.email))
        holders = await candidates.holders_of(identity_keys(sorted(emails)), session=session)
        stored = await candidates.get_many(sorted(named | set(holders.values())), session=session)
        unheld = [email for email in emails if not _held(holders, email)]
        erased_digests = await erased_addresses_among(
            database,
            candidates.tenant_id,
            [email_sha256(email) for email in unheld],
            session=session,
        )
        erased = {email for email in unheld if email_sha256(email) in erased_digests}
        return cls(candidates.tenant_id, holders, erased, stored, dict(stored))

    def apply(self, envelope: EventEnvelope[Any]) -> None:
        """One event's effect on the in-memory state, as the per-event rules have it."""
        change: AtsChange = envelope.data
        if change.candidate_id is None:
            candidate = self._person(change)
        else:
            candidate = self.current.get(change.candidate_id)
            if candidate is None:
                logger.info(
                    "ignoring %s %s: no candidate %s in tenant %s",
                    envelope.type,
                    envelope.id,
                    change.candidate_id,
                    envelope.tenant_id,
                )
        if candidate is None:
            return
        if changes := ats_facts(envelope, candidate):
            candidate = candidate.model_copy(update=changes)
            self.current[candidate.id] = candidate
            self.steps.append(candidate)
        self.timeline.append(timeline_entry(envelope, candidate.id))

    def _person(self, change: AtsChange) -> Candidate | None:
        """The candidate with the applicant's address, or a new one; None for an applicant
        without an address (nobody to match or reach) or one an erasure removed (the ATS still
        holds them; the CRM must not bring them back)."""
        if not change.email:
            return None
        email = normalise_email(change.email)
        holder = _held(self.holders, email)
        if holder is not None and holder in self.current:
            return self.current[holder]
        if email in self.erased:
            logger.info("not importing an ATS applicant whose address was erased")
            return None
        candidate = Candidate(
            tenant_id=self.tenant_id,
            created_by=ATS_SERVICE_USER,
            first_name=change.first_name or email.split("@")[0],
            last_name=change.last_name or "",
            emails=[email],
            source=CandidateSource.ATS_IMPORT,
        )
        self.created.append(candidate)
        self.current[candidate.id] = candidate
        self.holders.update(dict.fromkeys(identity_keys([email]), candidate.id))
        self.steps.append(candidate)
        return candidate

    def stored_changed(self) -> list[tuple[str, Candidate]]:
        """(id, as stored) of the stored candidates the batch changed."""
        return [
            (candidate_id, previous)
            for candidate_id, previous in self.stored.items()
            if self.current[candidate_id] != previous
        ]


def _held(holders: dict[str, str], email: str) -> str | None:
    """The candidate holding the address, if any."""
    return next((holders[key] for key in identity_keys([email]) if key in holders), None)
