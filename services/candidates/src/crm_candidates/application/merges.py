"""Merging two records of one person and undoing it, each one MongoDB transaction.

A merge snapshots both records and the identity keys they hold, writes the survivor's merged
profile with the provenance of every value, marks the other record `merged` (it leaves every
segment), hands its identity keys to the survivor and stages `candidate.merged` plus
`candidate.updated` for the survivor. The merged record's consent decisions that are later than
the survivor's (per purpose) are carried over: appended to the survivor's ledger (their original
source, with the merged record and the decision's time as evidence) with `consent.changed`, and
the survivor's marketing flag follows. An undo puts both snapshots back exactly, the survivor's
consent states included where no later decision was recorded since, and stages
`candidate.unmerged` plus `candidate.updated` for both records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm_candidates.application.candidates import CandidateWriter
from crm_candidates.application.consents import append_decision
from crm_candidates.domain.consent import (
    ConsentEntry,
    ConsentPurpose,
    later_decisions,
    marketing_consent,
)
from crm_candidates.domain.identity import Likeness, PersonSketch, block_keys, likeness
from crm_candidates.domain.merging import FieldChoice, merge_profiles
from crm_candidates.domain.models import (
    AtsLink,
    Candidate,
    CandidateStatus,
    Merge,
    MergeSnapshot,
    MergeStatus,
    links_back_after_unmerge,
)
from crm_candidates.domain.timeline import merge_entries
from crm_candidates.publishers import (
    to_candidate_merged,
    to_candidate_unmerged,
    to_candidate_updated,
    to_consent_changed,
)
from crm_candidates.repositories.candidates import CandidateRepository, candidate_from_document
from crm_candidates.repositories.consents import ConsentRepository, SettingsRepository
from crm_candidates.repositories.merges import MergeRepository
from crm_candidates.repositories.timeline import TimelineRepository
from crm_shared import EventEnvelope, Session, in_transaction, utc_now


class RecordNotFoundError(LookupError):
    """The tenant has no record with this id."""

    def __init__(self, kind: str, record_id: str) -> None:
        super().__init__(f"no {kind} {record_id}")
        self.kind = kind
        self.record_id = record_id


class MergeRefusedError(Exception):
    """The merge or undo cannot be done in the records' current state."""


# How many records sharing a blocking key are compared at most.
MAX_SUSPECTS = 500


def _sketch(candidate: Candidate) -> PersonSketch:
    return PersonSketch(
        first_name=candidate.first_name,
        last_name=candidate.last_name,
        company=candidate.current_company,
        location=candidate.location,
    )


@dataclass(frozen=True)
class IdentityQueries:
    """The reads of identity resolution: duplicate suspects and recorded merges."""

    candidates: CandidateRepository
    merges: MergeRepository

    async def duplicates(
        self, candidate_id: str, *, min_score: float, limit: int
    ) -> list[tuple[Candidate, Likeness]]:
        """Records that may be the same person as this one, best first, with their likeness.

        Only records sharing an indexed blocking key (last-name prefix or Soundex code) are
        compared, so the tenant is never scanned. Raises `RecordNotFoundError` for an unknown
        candidate.
        """
        candidate = await self.candidates.get(candidate_id)
        if candidate is None:
            raise RecordNotFoundError("candidate", candidate_id)
        suspects = await self.candidates.sharing_block_keys(
            block_keys(candidate.last_name), exclude_id=candidate.id, limit=MAX_SUSPECTS
        )
        found = []
        for suspect in suspects:
            alike = likeness(_sketch(candidate), _sketch(suspect))
            if alike is not None and alike.score >= min_score:
                found.append((suspect, alike))
        # Most alike first; of the same score, the one alike in more ways (name, company and
        # location over name and location).
        found.sort(key=lambda pair: (-pair[1].score, -pair[1].evidence, pair[0].id))
        return found[:limit]

    async def merge(self, merge_id: str) -> Merge | None:
        """One merge of the tenant, with the provenance of every merged value."""
        return await self.merges.get(merge_id)


@dataclass(frozen=True)
class MergeWriter:
    """Merges one tenant's candidate records and undoes merges."""

    writer: CandidateWriter
    merges: MergeRepository
    consents: ConsentRepository
    settings: SettingsRepository

    async def on_timeline(self, envelope: EventEnvelope[Any], *, session: Session) -> None:
        """The merge (or its undoing) on both records' timelines, in its transaction."""
        candidates = self.writer.candidates
        await TimelineRepository(candidates.database, candidates.tenant_id).record_many(
            merge_entries(envelope), session=session
        )

    async def merge(
        self,
        survivor_id: str,
        merged_id: str,
        choices: dict[str, FieldChoice],
        *,
        user_id: str,
    ) -> Merge:
        """Folds `merged_id` into `survivor_id`; returns the merge (its id undoes it)."""

        async def work(session: Session) -> Merge:
            return await self._merge(survivor_id, merged_id, choices, user_id, session)

        merge = await in_transaction(self.writer.mongo, work)
        self.writer.outbox.notify_committed()
        return merge

    async def _merge(
        self,
        survivor_id: str,
        merged_id: str,
        choices: dict[str, FieldChoice],
        user_id: str,
        session: Session,
    ) -> Merge:
        candidates = self.writer.candidates
        survivor_document = await candidates.get_document(survivor_id, session=session)
        merged_document = await candidates.get_document(merged_id, session=session)
        if survivor_document is None:
            raise RecordNotFoundError("candidate", survivor_id)
        if merged_document is None:
            raise RecordNotFoundError("candidate", merged_id)
        survivor = candidate_from_document(survivor_document)
        merged = candidate_from_document(merged_document)
        for record in (survivor, merged):
            if not record.is_active:
                raise MergeRefusedError(f"candidate {record.id} is {record.status.value}")
        snapshot = MergeSnapshot(
            survivor=survivor_document,
            merged=merged_document,
            survivor_keys=await candidates.keys_of(survivor.id, session=session),
            merged_keys=await candidates.keys_of(merged.id, session=session),
            survivor_consent=await self.consents.state_documents(survivor.id, session=session),
        )
        fields, provenance = merge_profiles(survivor, merged, choices)
        now = utc_now()
        merge = Merge(
            tenant_id=candidates.tenant_id,
            survivor_id=survivor.id,
            merged_id=merged.id,
            choices={name: choice.value for name, choice in choices.items()},
            provenance=provenance,
            created_by=user_id,
            created_at=now,
        )
        carried = await self._carry_consent(survivor.id, merged.id, merge.id, user_id, session)
        if carried is not None and carried.marketing is not None:
            # The ledger decides the flag, whatever field choice the caller made for it.
            fields["marketing_consent"] = carried.marketing
        merged_survivor = Candidate.model_validate(
            {
                **survivor.model_dump(),
                **fields,
                "provenance": provenance,
                "updated_at": now,
            }
        )
        folded = merged.model_copy(
            update={"status": CandidateStatus.MERGED, "merged_into": survivor.id, "updated_at": now}
        )
        # The folded record's identifiers now name the survivor: creating the person again by
        # any of them finds the survivor, and no one else can claim them.
        await candidates.move_keys(merged.id, survivor.id, session=session)
        await candidates.replace(folded, previous=folded, session=session)
        await candidates.replace(merged_survivor, previous=survivor, session=session)
        await self.merges.add(merge, snapshot, session=session)
        if carried is not None:
            for entry in carried.entries:
                await to_consent_changed(
                    self.writer.outbox,
                    entry,
                    marketing_consent=merged_survivor.marketing_consent,
                    session=session,
                )
        merged_event = await to_candidate_merged(
            self.writer.outbox, merge, merged_survivor, session=session
        )
        await self.on_timeline(merged_event, session=session)
        await to_candidate_updated(self.writer.outbox, merged_survivor, session=session)
        await self.writer.reevaluate(merged_survivor, session=session)
        await self.writer.reevaluate(folded, session=session)
        return merge

    async def _carry_consent(
        self, survivor_id: str, merged_id: str, merge_id: str, user_id: str, session: Session
    ) -> _CarriedConsent | None:
        """Appends the merged record's later decisions to the survivor's ledger; None when
        there are none. The marketing flag is the survivor's consent state after them, when a
        marketing decision was carried, else left as the profile merge set it."""
        states = await self.consents.states(survivor_id, session=session)
        carried = later_decisions(states, await self.consents.states(merged_id, session=session))
        if not carried:
            return None
        policy = await self.settings.retention(session=session)
        entries = []
        for decision in carried:
            entry = ConsentEntry(
                tenant_id=self.consents.tenant_id,
                candidate_id=survivor_id,
                purpose=decision.purpose,
                status=decision.status,
                lawful_basis=decision.lawful_basis,
                source=decision.source,
                expires_at=decision.expires_at,
                recorded_by=user_id,
                evidence={
                    "merge_id": merge_id,
                    "carried_from": merged_id,
                    "decided_at": decision.changed_at.isoformat(),
                },
            )
            await append_decision(self.consents, states, entry, policy, session=session)
            entries.append(entry)
        marketing = (
            marketing_consent(states.values())
            if any(e.purpose is ConsentPurpose.MARKETING for e in entries)
            else None
        )
        return _CarriedConsent(entries, marketing)

    async def undo(self, merge_id: str, *, user_id: str) -> Merge:
        """Restores both records of a merge exactly as they were before it."""

        async def work(session: Session) -> Merge:
            return await self._undo(merge_id, user_id, session)

        merge = await in_transaction(self.writer.mongo, work)
        self.writer.outbox.notify_committed()
        return merge

    async def _undo(self, merge_id: str, user_id: str, session: Session) -> Merge:
        candidates = self.writer.candidates
        merge = await self.merges.get(merge_id, session=session)
        snapshot = await self.merges.snapshot(merge_id, session=session)
        if merge is None or snapshot is None:
            raise RecordNotFoundError("merge", merge_id)
        if merge.status is MergeStatus.UNDONE:
            raise MergeRefusedError(f"merge {merge_id} was already undone")
        survivor_now = await candidates.get(merge.survivor_id, session=session)
        if survivor_now is None or not survivor_now.is_active:
            raise MergeRefusedError(
                f"candidate {merge.survivor_id} was merged or archived since; undo that first"
            )
        survivor_document, merged_document = _with_links_learned_since(
            snapshot, survivor_now, merge.merged_id
        )
        survivor = await candidates.restore(
            survivor_document, snapshot.survivor_keys, session=session
        )
        restored = await candidates.restore(merged_document, snapshot.merged_keys, session=session)
        survivor = await self._restore_consent(merge, snapshot, survivor, session)
        undone = merge.model_copy(
            update={"status": MergeStatus.UNDONE, "undone_at": utc_now(), "undone_by": user_id}
        )
        await self.merges.mark_undone(undone, session=session)
        outbox = self.writer.outbox
        unmerged = await to_candidate_unmerged(outbox, undone, survivor, restored, session=session)
        await self.on_timeline(unmerged, session=session)
        for record in (survivor, restored):
            await to_candidate_updated(outbox, record, session=session)
            await self.writer.reevaluate(record, session=session)
        return undone

    async def _restore_consent(
        self, merge: Merge, snapshot: MergeSnapshot, survivor: Candidate, session: Session
    ) -> Candidate:
        """Puts back the survivor's consent state of each purpose the merge carried a decision
        into, unless a later decision was recorded since (that one is the person's word now);
        the marketing flag then follows the survivor's marketing state. The carried entries
        stay in the ledger, as every entry does."""
        carried = await self.consents.carried_by_merge(survivor.id, merge.id, session=session)
        if not carried:
            return survivor
        states = await self.consents.states(survivor.id, session=session)
        before = {
            ConsentPurpose(document["purpose"]): document for document in snapshot.survivor_consent
        }
        for entry in carried:
            current = states.get(entry.purpose)
            if current is not None and current.changed_at == entry.recorded_at:
                restored = await self.consents.put_back(
                    survivor.id, entry.purpose, before.get(entry.purpose), session=session
                )
                if restored is None:
                    states.pop(entry.purpose)
                else:
                    states[entry.purpose] = restored
        if all(entry.purpose is not ConsentPurpose.MARKETING for entry in carried):
            return survivor
        marketing = (
            marketing_consent(states.values())
            if ConsentPurpose.MARKETING in states
            else snapshot.survivor.get("marketing_consent", False)
        )
        if marketing == survivor.marketing_consent:
            return survivor
        changed = await self.writer.change_in(
            survivor.id,
            lambda current: current.model_copy(update={"marketing_consent": marketing}),
            session=session,
        )
        return changed or survivor


@dataclass(frozen=True)
class _CarriedConsent:
    """The decisions a merge appended to the survivor's ledger, and the marketing flag they
    leave (None when no marketing decision was carried)."""

    entries: list[ConsentEntry]
    marketing: bool | None


def _with_links_learned_since(
    snapshot: MergeSnapshot, survivor_now: Candidate, merged_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both snapshots, with the ATS links the survivor learned while merged given to the record
    each push named: a snapshot is restored exactly, but a push since is a fact, not an edit."""

    def links(document: dict[str, Any]) -> list[AtsLink]:
        return [AtsLink.model_validate(link) for link in document.get("ats_links", [])]

    survivor_links, merged_links = links_back_after_unmerge(
        survivor_now.ats_links, links(snapshot.survivor), links(snapshot.merged), merged_id
    )
    return (
        snapshot.survivor | {"ats_links": [link.model_dump() for link in survivor_links]},
        snapshot.merged | {"ats_links": [link.model_dump() for link in merged_links]},
    )
