"""The candidates service's write operations, each one MongoDB transaction with its events.

Every write of a candidate re-evaluates that candidate, and only that candidate, against the
tenant's segments in the same transaction, so `segment.entered` / `segment.exited` are committed
with the change that caused them: membership is current the moment the write returns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from crm_candidates.application.consent_flags import ConsentFlags
from crm_candidates.domain.identity import (
    IDENTIFIER_KEYS,
    PHONE_KEY,
    IdentityTakenError,
    key_kind,
    phones_held,
    someone_else_on_a_shared_phone,
)
from crm_candidates.domain.models import (
    PROJECTED,
    Candidate,
    CandidateStatus,
    ProfileError,
    Segment,
    TimelineEntry,
    unique_in_order,
)
from crm_candidates.domain.pools import resolve_stage
from crm_candidates.domain.profile import (
    ProfileRules,
    SkillVocabulary,
    changed_tags,
    is_phone_region,
    normalise_profile_fields,
)
from crm_candidates.domain.search import SearchQuery
from crm_candidates.domain.segments import (
    Group,
    ReferenceGraph,
    candidate_facets,
    membership_changes,
    referenced_segments,
)
from crm_candidates.domain.timeline import tags_changed_entry, timeline_entry
from crm_candidates.publishers import (
    segment_entered,
    segment_exited,
    to_candidate_created,
    to_candidate_updated,
    to_candidates_updated,
    to_segment_entered,
    to_segment_exited,
)
from crm_candidates.repositories.candidates import (
    CandidateRepository,
    candidate_identity_keys,
)
from crm_candidates.repositories.pools import PoolRepository
from crm_candidates.repositories.profile_rules import ProfileRulesRepository
from crm_candidates.repositories.segments import SegmentRepository
from crm_candidates.repositories.timeline import TimelineRepository
from crm_shared import EventEnvelope, MongoClient, Outbox, Session, in_transaction, utc_now

MAX_CREATE_ATTEMPTS = 3


@dataclass(frozen=True)
class Upserted:
    """What a create did: stored a new person, or found them by an identifier they hold."""

    candidate: Candidate
    created: bool
    matched_on: list[str]
    # Identifiers of the request that another record holds: they stay that record's, so they
    # are not on `candidate` (joining the two is a merge).
    left_out: list[str] = field(default_factory=list)


def with_identifiers(existing: Candidate, incoming: Candidate, foreign: set[str]) -> Candidate:
    """`existing` with the emails, phones and profile URLs of `incoming` it lacks.

    Identifiers whose key another candidate holds (`foreign`) are left out: they are that
    person's, and a merge is the way to join the two.
    """
    return existing.model_copy(
        update={
            name: unique_in_order(
                [
                    *getattr(existing, name),
                    *(
                        value
                        for value in getattr(incoming, name)
                        if not foreign.intersection(key_of(value))
                    ),
                ]
            )
            for name, key_of in IDENTIFIER_KEYS.items()
        }
    )


def _held_by_others(candidate: Candidate, foreign: set[str]) -> list[str]:
    """The emails, phones and profile URLs of `candidate` whose key is among `foreign`."""
    return [
        value
        for name, key_of in IDENTIFIER_KEYS.items()
        for value in getattr(candidate, name)
        if foreign.intersection(key_of(value))
    ]


@dataclass(frozen=True)
class CandidateWriter:
    """Creates and changes one tenant's candidates, keeping segment membership current."""

    mongo: MongoClient
    outbox: Outbox
    candidates: CandidateRepository
    segments: SegmentRepository
    # Set where a person writes the profile (the API): a `marketing_consent` they set or clear
    # is recorded in the consent ledger too. Unset for the ledger's own writes, which record
    # their entries themselves.
    consent_flags: ConsentFlags | None = None

    async def create(self, candidate: Candidate) -> Upserted:
        """Stores a new candidate, or adds the new identifiers to the person already on file.

        The person is recognised by any normalised email, phone or profile URL they hold. Two
        concurrent creates of one person cannot both insert: the identity keys are unique, so
        the loser's transaction fails and its retry finds the winner's record.
        """
        for attempt in range(1, MAX_CREATE_ATTEMPTS + 1):
            try:
                result = await in_transaction(
                    self.mongo, lambda session: self.upsert(candidate, session=session)
                )
            except IdentityTakenError:
                if attempt == MAX_CREATE_ATTEMPTS:
                    raise
                continue
            self.outbox.notify_committed()
            return result
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def upsert(self, candidate: Candidate, *, session: Session) -> Upserted:
        """`create` within the caller's transaction."""
        keys = candidate_identity_keys(candidate)
        holders = await self.candidates.holders_of(keys, session=session)
        if not holders:
            await self.add(candidate, session=session)
            return Upserted(candidate, created=True, matched_on=[])
        # The first identifier given decides among several holders (emails come first).
        existing_id = next(holders[key] for key in keys if key in holders)
        existing = await self.candidates.get(existing_id, session=session)
        if existing is None:
            raise IdentityTakenError(existing_id)
        matched = {key for key in keys if holders.get(key) == existing_id}
        if someone_else_on_a_shared_phone(
            {key_kind(key) for key in matched},
            candidate.emails,
            existing.emails,
            (candidate.first_name, candidate.last_name),
            (existing.first_name, existing.last_name),
        ):
            shared = {key for key in holders if key_kind(key) == PHONE_KEY}
            return await self._apart_from_shared_phones(candidate, shared, session=session)
        matched_on = unique_in_order([key_kind(k) for k in keys if k in matched])
        foreign = {key for key, holder in holders.items() if holder != existing_id}
        extended = with_identifiers(existing, candidate, foreign)
        left_out = _held_by_others(candidate, foreign)
        if extended != existing:
            extended = extended.model_copy(update={"updated_at": utc_now()})
            await self.store_change(extended, previous=existing, session=session)
        return Upserted(extended, created=False, matched_on=matched_on, left_out=left_out)

    async def _apart_from_shared_phones(
        self, candidate: Candidate, shared: set[str], *, session: Session
    ) -> Upserted:
        """A person found by a phone number alone who is someone else sharing it (a family's,
        an office's switchboard: `someone_else_on_a_shared_phone`) is stored as a record of
        their own without the numbers others hold; those stay their holders'."""
        taken = phones_held(candidate.phones, shared)
        phones = [phone for phone in candidate.phones if phone not in taken]
        result = await self.upsert(candidate.model_copy(update={"phones": phones}), session=session)
        return replace(result, left_out=[*taken, *result.left_out])

    async def add(self, candidate: Candidate, *, session: Session) -> None:
        """`create` within the caller's transaction."""
        await self.candidates.add(candidate, session=session)
        await to_candidate_created(self.outbox, candidate, session=session)
        if self.consent_flags is not None:
            await self.consent_flags.record([(False, candidate)], session=session)
        await self.reevaluate(candidate, session=session)

    async def update(self, candidate: Candidate) -> Candidate:
        """Stores a changed candidate with `candidate.updated` and its segment changes."""

        async def store(session: Session) -> Candidate:
            # Facts projected from other services may have changed since the caller read the
            # candidate: the stored ones win, so a profile edit never rolls them back.
            stored = await self.candidates.get(candidate.id, session=session)
            changed = candidate
            if stored is not None:
                changed = candidate.model_copy(
                    update={name: getattr(stored, name) for name in PROJECTED}
                )
            await self.store_change(changed, previous=stored, session=session)
            return changed

        changed = await in_transaction(self.mongo, store)
        self.outbox.notify_committed()
        return changed

    async def project(
        self,
        candidate: Candidate,
        facts: Callable[[Candidate], dict[str, Any]],
        *,
        session: Session,
    ) -> Candidate:
        """Records facts from another service's event on the candidate (no `candidate.updated`:
        the profile did not change) and re-evaluates only this candidate's segments."""
        changes = {
            name: value
            for name, value in facts(candidate).items()
            if getattr(candidate, name) != value
        }
        if not changes:
            return candidate
        changed = candidate.model_copy(update=changes)
        await self.candidates.replace(changed, previous=candidate, session=session)
        await self.reevaluate(changed, session=session)
        return changed

    async def change(
        self, candidate_id: str, mutate: Callable[[Candidate], Candidate]
    ) -> Candidate | None:
        """Applies `mutate` to the candidate as stored now, in one transaction with its events.

        None if the tenant has no such candidate. Reading inside the transaction means two
        concurrent changes (a profile edit and a pool move) never overwrite each other.
        """
        changed = await in_transaction(
            self.mongo, lambda session: self.change_in(candidate_id, mutate, session=session)
        )
        self.outbox.notify_committed()
        return changed

    async def change_in(
        self, candidate_id: str, mutate: Callable[[Candidate], Candidate], *, session: Session
    ) -> Candidate | None:
        """`change` within the caller's transaction; a change that changes nothing is no write."""
        candidate = await self.candidates.get(candidate_id, session=session)
        if candidate is None:
            return None
        changed = mutate(candidate)
        if changed == candidate:
            return candidate
        changed = changed.model_copy(update={"updated_at": utc_now()})
        await self.store_change(changed, previous=candidate, session=session)
        return changed

    async def change_many_in(
        self,
        candidate_ids: Sequence[str],
        mutate: Callable[[Candidate], Candidate | None],
        *,
        session: Session,
    ) -> dict[str, Candidate]:
        """`change_in` of each of several candidates within the caller's transaction, at a fixed
        number of reads and writes whatever their number (`store_changes`): what `change_in` of
        each in turn leaves. `mutate` must leave identifiers as they are, and returns None to
        leave a candidate as it is (its caller knows why). Returns each candidate found, as
        after its change; an id missing from it is none of the tenant's candidates."""
        found = await self.candidates.get_many(list(dict.fromkeys(candidate_ids)), session=session)
        now = utc_now()
        after: dict[str, Candidate] = {}
        changes: list[tuple[Candidate, Candidate]] = []
        for candidate_id, candidate in found.items():
            changed = mutate(candidate)
            if changed is None or changed == candidate:
                after[candidate_id] = candidate
                continue
            changed = changed.model_copy(update={"updated_at": now})
            after[candidate_id] = changed
            changes.append((changed, candidate))
        await self.store_changes(changes, session=session)
        return after

    async def store_changes(
        self, changes: Sequence[tuple[Candidate, Candidate]], *, session: Session
    ) -> None:
        """`store_change` of several (changed, previous) pairs whose identifiers did not change,
        with one write each of the records, their `candidate.updated`, consent ledger entries,
        timeline entries and segment memberships (`reevaluate_many`)."""
        if not changes:
            return
        await self.candidates.store_projected(list(changes), session=session)
        envelopes = await to_candidates_updated(
            self.outbox, [changed for changed, _ in changes], session=session
        )
        if self.consent_flags is not None:
            await self.consent_flags.record(
                [(previous.marketing_consent, changed) for changed, previous in changes],
                session=session,
            )
        entries = [
            entry
            for envelope, (changed, previous) in zip(envelopes, changes, strict=True)
            if (entry := tags_changed_entry(envelope, previous.tags, changed.tags)) is not None
        ]
        if entries:
            timeline = TimelineRepository(self.candidates.database, self.candidates.tenant_id)
            await timeline.record_many(entries, session=session)
        await self.reevaluate_many([changed for changed, _ in changes], session=session)

    async def store_change(
        self, candidate: Candidate, *, session: Session, previous: Candidate | None = None
    ) -> None:
        """`update` within the caller's transaction."""
        await self.candidates.replace(candidate, previous=previous, session=session)
        envelope = await to_candidate_updated(self.outbox, candidate, session=session)
        if self.consent_flags is not None:
            was_set = previous.marketing_consent if previous is not None else False
            await self.consent_flags.record([(was_set, candidate)], session=session)
        if previous is not None:
            entry = tags_changed_entry(envelope, previous.tags, candidate.tags)
            if entry is not None:
                timeline = TimelineRepository(self.candidates.database, self.candidates.tenant_id)
                await timeline.record(entry, session=session)
        await self.reevaluate(candidate, session=session)

    async def reevaluate(self, candidate: Candidate, *, session: Session) -> None:
        """Brings one candidate's segment memberships in line (a record not active leaves all)
        and schedules its next time-driven re-evaluation."""
        membership = MembershipEvaluator(self.outbox, self.candidates, self.segments)
        recheck_at = await membership.reevaluate(candidate, session=session)
        if recheck_at is not None:
            await self.candidates.set_recheck_at(candidate.id, recheck_at, session=session)

    async def reevaluate_many(
        self,
        candidates: Sequence[Candidate],
        *,
        session: Session,
        tenant: TenantSegments | None = None,
        members: dict[str, set[str]] | None = None,
    ) -> None:
        """`reevaluate` of each of several candidates in one transaction, with bulk writes
        (`MembershipEvaluator.reevaluate_many`; `tenant` and `members`: see there)."""
        membership = MembershipEvaluator(self.outbox, self.candidates, self.segments)
        rechecks = await membership.reevaluate_many(
            candidates, session=session, tenant=tenant, members=members
        )
        await self.candidates.set_rechecks_at(rechecks, session=session)


@dataclass(frozen=True)
class TenantSegments:
    """A tenant's segments with their parsed rules, each after the segments it refers to."""

    ordered: list[tuple[Segment, Group]]
    graph: ReferenceGraph

    @property
    def by_id_ordered(self) -> list[tuple[str, Group]]:
        """(segment id, rule) in evaluation order, as `membership_changes` takes them."""
        return [(segment.id, rule) for segment, rule in self.ordered]

    def segment(self, segment_id: str) -> Segment:
        """The loaded segment with this id."""
        return next(segment for segment, _ in self.ordered if segment.id == segment_id)

    @classmethod
    async def load(
        cls, segments: SegmentRepository, *, session: Session | None = None
    ) -> TenantSegments:
        """Reads and orders every segment of the tenant."""
        parsed = {
            segment.id: (segment, Group.model_validate(segment.rule))
            for segment in await segments.all(session=session)
        }
        graph = ReferenceGraph(
            {segment_id: referenced_segments(rule) for segment_id, (_, rule) in parsed.items()}
        )
        return cls([parsed[sid] for sid in graph.evaluation_order() if sid in parsed], graph)


@dataclass(frozen=True)
class MembershipEvaluator:
    """Re-evaluates candidates against the tenant's segments, emitting entries and exits: one
    at a time (`reevaluate`), or a batch in one transaction with bulk writes (`reevaluate_many`),
    which leaves exactly what `reevaluate` of each in turn leaves."""

    outbox: Outbox
    candidates: CandidateRepository
    segments: SegmentRepository

    async def reevaluate(
        self,
        candidate: Candidate,
        *,
        session: Session,
        only: set[str] | None = None,
        tenant: TenantSegments | None = None,
        members: set[str] | None = None,
    ) -> datetime | None:
        """Brings the candidate's memberships (of `only` these segments, or all) in line with
        the rules now; returns when a relative date could next change one by time alone.

        Segments are evaluated after the segments they refer to, with the memberships as
        changed so far, so a change propagates to dependent segments in the same transaction.
        A caller that read the tenant's segments or the candidate's memberships already passes
        them (`members` is kept up to date here).
        """
        now = utc_now()
        if tenant is None:
            tenant = await TenantSegments.load(self.segments, session=session)
        if members is None:
            members = await self.segments.memberships_of(candidate.id, session=session)
        changes, recheck_at = membership_changes(
            tenant.by_id_ordered,
            candidate_facets(candidate.model_dump()),
            members,
            now=now,
            only=only,
        )
        for segment_id, entered in changes:
            segment = tenant.segment(segment_id)
            if entered:
                if await self.segments.enter(segment.id, candidate.id, session=session):
                    envelope = await to_segment_entered(
                        self.outbox, segment, candidate.id, session=session
                    )
                    await self.on_timeline(envelope, candidate.id, session=session)
            elif await self.segments.exit(segment.id, candidate.id, session=session):
                envelope = await to_segment_exited(
                    self.outbox, segment, candidate.id, session=session
                )
                await self.on_timeline(envelope, candidate.id, session=session)
        if only is None:
            await self.candidates.stamp_evaluated([candidate.id], now, session=session)
        return recheck_at

    async def reevaluate_many(
        self,
        steps: Sequence[Candidate],
        *,
        session: Session,
        only: set[str] | None = None,
        tenant: TenantSegments | None = None,
        members: dict[str, set[str]] | None = None,
    ) -> dict[str, datetime]:
        """`reevaluate` of each of `steps` in turn (a candidate may come more than once, as of
        each change a batch made to it), at a fixed cost whatever their number: the segments
        and the memberships read once (unless passed: `members` then holds every candidate's,
        and is kept up to date), and the memberships, their mirror on the candidates, the events
        and the timeline entries written in bulk. Returns, for each candidate whose memberships
        can change by time alone, when next: as of its last step that had such a time (what
        setting each step's time, when it has one, one step after the other leaves).

        The decisions are `reevaluate`'s (`membership_changes`), against the memberships as
        changed by the earlier steps, with one `now` for the batch.
        """
        if not steps:
            return {}
        now = utc_now()
        if tenant is None:
            tenant = await TenantSegments.load(self.segments, session=session)
        if members is None:
            members = await self.segments.memberships_of_many(
                list(dict.fromkeys(candidate.id for candidate in steps)), session=session
            )
        changes: list[tuple[str, str, bool]] = []
        envelopes: list[EventEnvelope[Any]] = []
        rechecks: dict[str, datetime] = {}
        for candidate in steps:
            changed, recheck_at = membership_changes(
                tenant.by_id_ordered,
                candidate_facets(candidate.model_dump()),
                members[candidate.id],
                now=now,
                only=only,
            )
            if recheck_at is not None:
                rechecks[candidate.id] = recheck_at
            for segment_id, entered in changed:
                changes.append((segment_id, candidate.id, entered))
                event = segment_entered if entered else segment_exited
                envelopes.append(event(self.outbox, tenant.segment(segment_id), candidate.id))
        await self.segments.apply_changes(changes, session=session)
        await self.outbox.add_many(envelopes, session=session)
        timeline = TimelineRepository(self.candidates.database, self.candidates.tenant_id)
        await timeline.record_many(
            [
                timeline_entry(envelope, candidate_id)
                for envelope, (_, candidate_id, _) in zip(envelopes, changes, strict=True)
            ],
            session=session,
        )
        if only is None:
            # A segment created while this transaction is open is not among those read here:
            # its catch-up finds the candidate by this stamp (`SegmentEvaluator.recompute`).
            await self.candidates.stamp_evaluated(
                list(dict.fromkeys(candidate.id for candidate in steps)), now, session=session
            )
        return rechecks

    async def on_timeline(
        self, envelope: EventEnvelope[Any], candidate_id: str, *, session: Session
    ) -> None:
        timeline = TimelineRepository(self.candidates.database, self.candidates.tenant_id)
        await timeline.record(timeline_entry(envelope, candidate_id), session=session)


class StaleCandidateError(Exception):
    """The record changed since the revision an edit was made from."""

    def __init__(self, candidate: Candidate, expected: str) -> None:
        super().__init__(f"candidate {candidate.id} changed since revision {expected}")
        self.candidate = candidate
        self.expected = expected


class InactiveCandidateError(Exception):
    """The record is not active (merged, or archived where that matters): its survivor, or
    restoring it, is the way on."""

    def __init__(self, candidate: Candidate) -> None:
        super().__init__(f"candidate {candidate.id} is {candidate.status.value}")
        self.candidate = candidate


# Profile fields a change may clear; a null for any other field is refused.
NULLABLE_FIELDS = frozenset(
    {
        "headline",
        "current_title",
        "current_company",
        "location",
        "owner_id",
        "time_zone",
        "locale",
        "seniority",
        "work_preferences",
    }
)


@dataclass(frozen=True)
class Tagging:
    """What tagging a selection of candidates did with each of them."""

    tagged: list[str]
    already_tagged: list[str]
    unknown: list[str]
    not_active: list[str]


@dataclass(frozen=True)
class CandidateProfiles:
    """Creates, changes, archives and restores one tenant's candidates; a profile is normalised
    against the tenant's rules (or refused with `ProfileError`) before anything is stored."""

    writer: CandidateWriter
    profile_rules: ProfileRulesRepository

    async def rules(self, region: str | None) -> ProfileRules:
        """The tenant's profile rules, with the phone region the request names if any."""
        if region is not None and not is_phone_region(region):
            raise ProfileError(
                [("default_region", f"{region!r} is not a region phone numbers know")]
            )
        return await self.profile_rules.rules(default_region=region.upper() if region else None)

    async def create(
        self,
        profile: dict[str, Any],
        *,
        default_region: str | None,
        tenant_id: str,
        user_id: str,
        owner_id: str | None,
    ) -> Upserted:
        """Stores a new candidate, or finds the person by an identifier they hold
        (`IdentityTakenError` if two records hold them)."""
        rules = await self.rules(default_region)
        fields = normalise_profile_fields(profile, rules)
        candidate = Candidate.model_validate(
            {
                **fields,
                "tenant_id": tenant_id,
                "created_by": user_id,
                "owner_id": owner_id or user_id,
            }
        )
        return await self.writer.create(candidate)

    async def change(
        self,
        candidate_id: str,
        changes: dict[str, Any],
        *,
        default_region: str | None,
        revision: str | None = None,
    ) -> Candidate | None:
        """Changes the fields given of an active candidate; None if there is none. With a
        `revision`, only if the record is still at it (checked on the read inside the change's
        transaction, so a change made meanwhile is never overwritten)."""
        for name, value in changes.items():
            if value is None and name not in NULLABLE_FIELDS:
                raise ProfileError([(name, "cannot be null")])
        rules = await self.rules(default_region)

        def apply(candidate: Candidate) -> Candidate:
            if not candidate.is_active:
                raise InactiveCandidateError(candidate)
            if revision is not None and candidate.revision != revision:
                raise StaleCandidateError(candidate, revision)
            fields = normalise_profile_fields(
                changes, rules, current_custom_fields=candidate.custom_fields
            )
            return Candidate.model_validate({**candidate.model_dump(), **fields})

        return await self.writer.change(candidate_id, apply)

    async def tag(self, candidate_ids: list[str], tags: list[str]) -> Tagging:
        """Adds `tags` to each candidate (matched ignoring case and spacing; each with its
        `candidate.updated`, in one transaction with bulk writes), and says what became of
        each."""
        wanted = list(dict.fromkeys(candidate_ids))

        async def tag_all(session: Session) -> Tagging:
            outcome = Tagging([], [], [], [])
            inactive: set[str] = set()
            holding: set[str] = set()

            def apply(candidate: Candidate) -> Candidate | None:
                if not candidate.is_active:
                    inactive.add(candidate.id)
                    return None
                tagged = changed_tags(candidate.tags, add=tags, remove=())
                if tagged == candidate.tags:
                    holding.add(candidate.id)
                    return None
                return candidate.model_copy(update={"tags": tagged})

            found = await self.writer.change_many_in(wanted, apply, session=session)
            for candidate_id in wanted:
                if candidate_id not in found:
                    outcome.unknown.append(candidate_id)
                elif candidate_id in inactive:
                    outcome.not_active.append(candidate_id)
                elif candidate_id in holding:
                    outcome.already_tagged.append(candidate_id)
                else:
                    outcome.tagged.append(candidate_id)
            return outcome

        outcome = await in_transaction(self.writer.mongo, tag_all)
        self.writer.outbox.notify_committed()
        return outcome

    async def set_status(self, candidate_id: str, status: CandidateStatus) -> Candidate | None:
        """Archives or restores a candidate (not a merged record); None if there is none."""

        def apply(candidate: Candidate) -> Candidate:
            if candidate.status is CandidateStatus.MERGED:
                raise InactiveCandidateError(candidate)
            return candidate.model_copy(update={"status": status})

        return await self.writer.change(candidate_id, apply)


@dataclass(frozen=True)
class CandidateQueries:
    """The reads of one tenant's candidates: one record, a search, a timeline."""

    candidates: CandidateRepository
    profile_rules: ProfileRulesRepository
    timeline: TimelineRepository
    pools: PoolRepository

    async def get(self, candidate_id: str) -> Candidate | None:
        """One candidate (a merged record names its survivor)."""
        return await self.candidates.get(candidate_id)

    async def pool_stage(self, pool_id: str, stage: str) -> str:
        """The stage of the pool `stage` names, as stored (matched ignoring case and spacing,
        as everywhere else); `UnknownStageError` if the pool has no such stage, `stage` as
        given for a pool the tenant does not have (which finds nobody)."""
        pool = await self.pools.get(pool_id)
        return stage if pool is None else resolve_stage(pool, stage)

    async def default_phone_region(self) -> str:
        """The region national phone numbers are read in."""
        return await self.profile_rules.default_phone_region()

    async def skill_vocabulary(self) -> SkillVocabulary:
        """The tenant's current skill vocabulary: a search's `skill` values are spelt in it
        (`JS` -> `javascript`) and its `q` words looked up in it (one read for both)."""
        return await self.profile_rules.current_vocabulary()

    async def holding_all(self, keys: list[str]) -> list[str]:
        """The ids of the candidates holding every one of these identity keys."""
        return await self.candidates.holding_all(keys)

    async def search(self, search: SearchQuery) -> list[Candidate]:
        """A page of active candidates matching the search."""
        return await self.candidates.search(search)

    async def timeline_page(
        self, candidate_id: str, *, before: str | None, limit: int
    ) -> list[TimelineEntry]:
        """Up to `limit` of the candidate's timeline entries, newest first, older than the key
        `before`."""
        return await self.timeline.page(candidate_id, before=before, limit=limit)
