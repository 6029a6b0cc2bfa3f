"""Changes other services ask for (a sequence step adding tags or moving a candidate in a talent
pool), applied through the same commands as the API."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from crm_candidates.application.candidates import CandidateWriter
from crm_candidates.application.pools import PoolCommands
from crm_candidates.domain.pools import UnknownStageError, resolve_stage_following_renames
from crm_candidates.domain.profile import changed_tags
from crm_candidates.publishers import to_candidate_change_refused
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.pools import PoolRepository
from crm_candidates.repositories.segments import SegmentRepository
from crm_shared import (
    CandidateChangeRequested,
    Database,
    EventEnvelope,
    MongoClient,
    Outbox,
    Session,
    UndecodableEventError,
)

# How far a change request follows merges (A into B into C ...) to the surviving record.
MAX_MERGE_HOPS = 10

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChangeRequests:
    """Applies `candidate.change_requested` to the surviving record of the candidate."""

    mongo: MongoClient
    database: Database
    outbox: Outbox

    async def apply(self, envelope: EventEnvelope[Any], session: Session) -> None:
        """Adds or removes the tags and moves the candidate as asked. A request naming a
        candidate, pool or stage the tenant does not have changes nothing and is answered with
        `candidate.change_refused` (the asking sequence shows why); a malformed one (a pool
        without a stage) raises `UndecodableEventError` (dead-lettered)."""
        request: CandidateChangeRequested = envelope.data
        tenant_id = envelope.tenant_id
        candidates = CandidateRepository(self.database, tenant_id)
        writer = CandidateWriter(
            self.mongo, self.outbox, candidates, SegmentRepository(self.database, tenant_id)
        )
        pools = PoolRepository(self.database, tenant_id)
        if (request.pool_id is None) != (request.stage is None):
            raise UndecodableEventError("a pool move needs both pool_id and stage")
        # Everything is checked before anything changes: a request naming something the tenant
        # does not have can never succeed, so it is refused, not retried.
        candidate = await candidates.get(request.candidate_id, session=session)
        if candidate is None:
            await self._refuse(
                envelope, f"there is no candidate {request.candidate_id} in the tenant", session
            )
            return
        # A request may have been asked for a record merged since: it applies to the survivor.
        for _ in range(MAX_MERGE_HOPS):
            if candidate is None or candidate.merged_into is None:
                break
            candidate = await candidates.get(candidate.merged_into, session=session)
        if candidate is None or not candidate.is_active:
            logger.info(
                "change requested for candidate %s, which is no longer active: nothing to do",
                request.candidate_id,
            )
            return
        candidate_id = candidate.id
        pool = None
        if request.pool_id is not None:
            pool = await pools.get(request.pool_id, session=session)
            if pool is None:
                await self._refuse(
                    envelope,
                    f"there is no talent pool {request.pool_id} in the tenant (deleted?)",
                    session,
                )
                return
            try:
                stage = resolve_stage_following_renames(pool, request.stage)
            except UnknownStageError as unknown:
                await self._refuse(envelope, str(unknown), session)
                return
        if request.add_tags or request.remove_tags:
            await writer.change_in(
                candidate_id,
                lambda candidate: candidate.model_copy(
                    update={
                        "tags": changed_tags(
                            candidate.tags, add=request.add_tags, remove=request.remove_tags
                        )
                    }
                ),
                session=session,
            )
        if pool is not None:
            await PoolCommands(self.mongo, self.outbox, pools, writer).place_in(
                pool, candidate_id, stage, by=request.requested_by, session=session
            )

    async def _refuse(self, envelope: EventEnvelope[Any], reason: str, session: Session) -> None:
        logger.info("change request %s refused: %s", envelope.id, reason)
        await to_candidate_change_refused(
            self.outbox,
            envelope.tenant_id,
            str(envelope.id),
            envelope.data,
            reason,
            session=session,
        )
