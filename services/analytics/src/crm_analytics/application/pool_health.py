"""Pool health: the pool and ATS topics folded into analytics' own record of pool membership
and application outcomes, and the report read from it with the engagement store (one pool,
or every pool of the tenant)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.domain.decay import decayed, published_value
from crm_analytics.domain.engagement import EngagementModel
from crm_analytics.domain.merge_map import MergeMap
from crm_analytics.domain.pool_health import (
    LATE_STAGE_WORDS,
    ApplicationChange,
    ApplicationOutcome,
    ApplicationStatus,
    Engagement,
    HealthRules,
    Membership,
    PoolHealth,
    PoolMove,
    StageRename,
    as_people,
    fold_moves,
    fold_outcome,
    health,
    renamed,
)
from crm_analytics.repositories.merged_candidates import MergedCandidateRepository
from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_HIRED,
    ATS_APPLICATION_REJECTED,
    ATS_APPLICATION_STAGE_CHANGED,
    POOL_STAGE_CHANGED,
    POOL_STAGE_RENAMED,
    AtsApplicationChange,
    AtsApplicationCreated,
    EventEnvelope,
    PoolStageChanged,
    PoolStageRenamed,
    Session,
    email_sha256,
    erased_addresses_among,
    erased_among,
    normalise_email,
)
from crm_shared.repository import IN_SLICE

Told = PoolMove | StageRename | ApplicationChange

# A report over more memberships than this reads the tenant's merges and its applications
# naming no candidate whole (one read each) and asks for ids LARGE_SLICE at a time: asking by
# every member's ids 200 at a time cost a pool of 17,500 about 450 round trips
# (docs/performance.md, "Analytics reports at scale").
WHOLE_READS_ABOVE = 2_000
LARGE_SLICE = 5_000


def _moved(envelope: EventEnvelope[Any]) -> Told:
    data: PoolStageChanged = envelope.data
    return PoolMove(
        data.pool_id,
        data.pool_name,
        data.candidate_id,
        data.from_stage,
        data.to_stage,
        data.moved_at,
    )


def _renamed(envelope: EventEnvelope[Any]) -> Told:
    data: PoolStageRenamed = envelope.data
    return StageRename(
        data.pool_id, data.from_stage, data.to_stage, data.renamed_at, data.pool_name
    )


def _created(envelope: EventEnvelope[Any]) -> Told:
    data: AtsApplicationCreated = envelope.data
    return ApplicationChange(
        connection_id=data.connection_id,
        ats_application_id=data.ats_application_id,
        candidate_id=data.candidate_id,
        email=normalise_email(data.email) if data.email else None,
        status=ApplicationStatus.OPEN,
        at=data.applied_at or envelope.time,
        stage=data.stage,
        prospect=data.prospect,
    )


def _changed(status: ApplicationStatus) -> Callable[[EventEnvelope[Any]], Told]:
    def change(envelope: EventEnvelope[Any]) -> Told:
        data: AtsApplicationChange = envelope.data
        return ApplicationChange(
            connection_id=data.connection_id,
            ats_application_id=data.ats_application_id,
            candidate_id=data.candidate_id,
            email=normalise_email(data.email) if data.email else None,
            status=status,
            at=data.occurred_at,
            stage=data.stage,
        )

    return change


_TOLD: dict[str, Callable[[EventEnvelope[Any]], Told]] = {
    POOL_STAGE_CHANGED.name: _moved,
    POOL_STAGE_RENAMED.name: _renamed,
    ATS_APPLICATION_CREATED.name: _created,
    # A move in the ATS reopens a rejected application (docs/ats.md).
    ATS_APPLICATION_STAGE_CHANGED.name: _changed(ApplicationStatus.OPEN),
    ATS_APPLICATION_REJECTED.name: _changed(ApplicationStatus.REJECTED),
    ATS_APPLICATION_HIRED.name: _changed(ApplicationStatus.HIRED),
}


def told(envelope: EventEnvelope[Any]) -> Told:
    """What the event tells pool health (a programming error for a topic it does not read)."""
    return _TOLD[envelope.type](envelope)


@dataclass(frozen=True)
class PoolHealthFolder:
    """Applies consumed events to pool membership and application outcomes; each batch is one
    read and one write per collection and tenant. A person erased already (by candidate or by
    address) is not brought back by a late event about them."""

    storage: AnalyticsStorage
    late_stage_words: Sequence[str] = LATE_STAGE_WORDS

    async def record_batch(self, envelopes: Sequence[EventEnvelope[Any]], session: Session) -> None:
        by_tenant: dict[str, list[Told]] = {}
        for envelope in envelopes:
            by_tenant.setdefault(envelope.tenant_id, []).append(told(envelope))
        for tenant_id, facts in by_tenant.items():
            await self._fold_pools(
                tenant_id,
                [f for f in facts if isinstance(f, PoolMove)],
                [f for f in facts if isinstance(f, StageRename)],
                session,
            )
            await self._fold_outcomes(
                tenant_id, [f for f in facts if isinstance(f, ApplicationChange)], session
            )

    async def _fold_pools(
        self,
        tenant_id: str,
        moves: list[PoolMove],
        new_renames: list[StageRename],
        session: Session,
    ) -> None:
        pools = self.storage.pool_members(tenant_id)
        await pools.record_renames(new_renames, session=session)
        erased = await erased_among(
            self.storage.database, tenant_id, [m.candidate_id for m in moves], session=session
        )
        moves = [m for m in moves if m.candidate_id not in erased]
        pool_ids = sorted({m.pool_id for m in moves} | {r.pool_id for r in new_renames})
        if not pool_ids:
            return
        renames = await pools.renames(pool_ids, session=session)
        changed: dict[tuple[str, str], Membership] = {}
        if moves:
            stored = await pools.memberships(
                sorted({m.pool_id for m in moves}),
                sorted({m.candidate_id for m in moves}),
                session=session,
            )
            current = {(m.pool_id, m.candidate_id): m for m in stored}
            for key in dict.fromkeys((m.pool_id, m.candidate_id) for m in moves):
                mine = [m for m in moves if (m.pool_id, m.candidate_id) == key]
                start = current.get(key, Membership(pool_id=key[0], candidate_id=key[1]))
                changed[key] = fold_moves(start, mine, renames)
        for rename in sorted(new_renames, key=lambda r: r.renamed_at):
            at_stage = await pools.memberships(
                [rename.pool_id], stage=rename.from_stage, session=session
            )
            at_stage = [changed.get((m.pool_id, m.candidate_id), m) for m in at_stage]
            at_stage += [
                m
                for key, m in changed.items()
                if key[0] == rename.pool_id and m.stage == rename.from_stage
            ]
            for m in at_stage:
                after = renamed(m, rename)
                if after != m:
                    changed[(m.pool_id, m.candidate_id)] = after
        await pools.save(list(changed.values()), session=session)
        # Every transaction that moves or renames in a pool writes its pool's document, so a
        # move and a rename committed at once conflict and one is retried, seeing the other.
        await pools.name_pools(
            [(m.pool_id, m.pool_name, m.moved_at) for m in moves]
            + [(r.pool_id, r.pool_name, r.renamed_at) for r in new_renames],
            session=session,
        )

    async def _fold_outcomes(
        self, tenant_id: str, changes: list[ApplicationChange], session: Session
    ) -> None:
        if not changes:
            return
        database = self.storage.database
        erased = await erased_among(
            database,
            tenant_id,
            [c.candidate_id for c in changes if c.candidate_id],
            session=session,
        )
        gone = await erased_addresses_among(
            database,
            tenant_id,
            [email_sha256(c.email) for c in changes if c.email],
            session=session,
        )
        changes = [
            c
            for c in changes
            if c.candidate_id not in erased
            and not (c.email is not None and email_sha256(c.email) in gone)
        ]
        outcomes = self.storage.ats_outcomes(tenant_id)
        keys = list(dict.fromkeys((c.connection_id, c.ats_application_id) for c in changes))
        stored = await outcomes.of_applications(keys, session=session)
        folded = [
            fold_outcome(
                stored.get(
                    key, ApplicationOutcome(connection_id=key[0], ats_application_id=key[1])
                ),
                [c for c in changes if (c.connection_id, c.ats_application_id) == key],
                self.late_stage_words,
            )
            for key in keys
        ]
        await outcomes.save(folded, session=session)


class UnknownPool(Exception):
    """Analytics was told of no member of the pool in this tenant (another tenant's pool, or
    one nobody was ever added to)."""


@dataclass(frozen=True)
class PoolReport:
    pool_id: str
    pool_name: str
    health: PoolHealth


async def _engagement(
    storage: AnalyticsStorage,
    model: EngagementModel,
    tenant_id: str,
    people: Sequence[str],
    now: datetime,
) -> dict[str, Engagement]:
    """Each person's score now (the one last published, decayed since), last activity and
    peak; scores kept before they carried the last two are read from their activities."""
    engagement = storage.engagement(tenant_id)
    stored = await engagement.scores_of(people)
    older = [c for c, d in stored.items() if "peak_score" not in d]
    counted = await engagement.of_each(older) if older else {}
    found: dict[str, Engagement] = {}
    for candidate_id, d in stored.items():
        exact = d.get("exact_score", d["score"])  # `score` is 0 once published at the floor
        # The one rule of every figure of the score: to 4 decimals, then 0 at or below the
        # floor (rounded first, as the explanation and the published score are).
        score = published_value(
            decayed(exact, d["scored_at"], now, model.half_life_days), model.republish
        )
        if candidate_id in counted:
            contributions = counted[candidate_id]
            found[candidate_id] = Engagement(
                score,
                max((c.occurred_at for c in contributions), default=None),
                model.peak(contributions),
            )
        else:
            found[candidate_id] = Engagement(score, d.get("last_activity_at"), d["peak_score"])
    return found


@dataclass(frozen=True)
class _Merges:
    """The tenant's merges, asked for by id (`repository`), or read whole once (`whole`) for
    a report resolving more ids than a tenant has merged ones."""

    repository: MergedCandidateRepository
    whole: MergeMap | None = None

    async def survivors_of(self, candidate_ids: Sequence[str]) -> dict[str, str]:
        if self.whole is not None:
            return self.whole.survivors_of(candidate_ids)
        return await self.repository.survivors_of(candidate_ids) if candidate_ids else {}

    async def absorbed_by(self, survivor_ids: Sequence[str]) -> dict[str, str]:
        if self.whole is not None:
            return self.whole.absorbed_by(survivor_ids)
        return await self.repository.absorbed_by(survivor_ids)


async def _outcomes(
    storage: AnalyticsStorage, tenant_id: str, people: Sequence[str], merges: _Merges
) -> dict[str, list[ApplicationOutcome]]:
    """The ATS applications of each person: those naming them or a record merged into them,
    and those naming no candidate but an address the person (or such a record) holds."""
    known = storage.known_candidates(tenant_id)
    outcomes = storage.ats_outcomes(tenant_id)
    absorbed = await merges.absorbed_by(people)
    records = sorted({*people, *absorbed})
    if merges.whole is None:
        digests = await known.digests_of(records)
        every_digest = sorted({d for ds in digests.values() for d in ds})
        found = await outcomes.of_people(records, every_digest)
        slice_size = IN_SLICE
    else:
        # Many people: every application naming no candidate (a small share: the ATS names
        # the CRM's candidate when it has one) in one read, each given to the holder of its
        # address below, instead of reading every record's addresses and asking by them.
        # Those held by no one of these people are left out when the figures are counted.
        named, unnamed = await asyncio.gather(
            outcomes.naming(records, slice_size=LARGE_SLICE), outcomes.naming_no_candidate()
        )
        found = [*named, *unnamed]
        slice_size = LARGE_SLICE
    holders = await known.holding(
        sorted({email_sha256(o.email) for o in found if o.candidate_id is None and o.email}),
        slice_size=slice_size,
    )
    named_ids = sorted({o.candidate_id for o in found if o.candidate_id} | set(holders.values()))
    survivors = await merges.survivors_of(named_ids)
    by_person: dict[str, list[ApplicationOutcome]] = {}
    for o in found:
        record = o.candidate_id or (holders.get(email_sha256(o.email)) if o.email else None)
        if record is None:
            continue
        by_person.setdefault(survivors.get(record, record), []).append(o)
    return by_person


async def pool_reports(
    storage: AnalyticsStorage,
    model: EngagementModel,
    tenant_id: str,
    pool_ids: Sequence[str] | None,
    rules: HealthRules,
    now: datetime,
    *,
    whole_reads_above: int = WHOLE_READS_ABOVE,
) -> list[PoolReport]:
    """The health of the pools (every pool of the tenant when None), by name; the engagement
    and the ATS outcomes of their members are read once for all of them. Above
    `whole_reads_above` memberships, the tenant's merges and its applications naming no
    candidate are read whole instead of asked for by the members' ids (same figures)."""
    pools = storage.pool_members(tenant_id)
    names = await pools.pools(pool_ids)
    if pool_ids is not None and set(pool_ids) - set(names):
        raise UnknownPool(sorted(set(pool_ids) - set(names))[0])
    memberships = await pools.memberships(sorted(names))
    repository = storage.merged_candidates(tenant_id)
    whole = await repository.merge_map() if len(memberships) > whole_reads_above else None
    merges = _Merges(repository, whole)
    survivors = await merges.survivors_of(sorted({m.candidate_id for m in memberships}))
    by_pool: dict[str, list[Membership]] = {pool_id: [] for pool_id in names}
    for m in memberships:
        by_pool.setdefault(m.pool_id, []).append(m)
    people = {pool_id: as_people(by_pool[pool_id], survivors) for pool_id in names}
    members = sorted({p.candidate_id for ps in people.values() for p in ps if p.member})
    # Independent reads: asked at once, so their round trips overlap.
    engagement, outcomes = await asyncio.gather(
        _engagement(storage, model, tenant_id, members, now),
        _outcomes(storage, tenant_id, members, merges),
    )
    return [
        PoolReport(pool_id, name, health(people[pool_id], engagement, outcomes, now, rules))
        for pool_id, name in sorted(names.items(), key=lambda p: (p[1].casefold(), p[0]))
    ]
