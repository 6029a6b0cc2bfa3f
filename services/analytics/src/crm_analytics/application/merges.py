"""Merges and their undo in analytics: the survivor's engagement includes the merged record's
history, the event reports count the two records as one person (they resolve the merged id
when read), and an undo gives each record back its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from crm_analytics.application.engagement import rescore
from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.domain.engagement import EngagementModel
from crm_shared import CandidateMerged, CandidateUnmerged, Session, utc_now


@dataclass(frozen=True)
class MergeFollower:
    """Applies `candidate.merged` and `candidate.unmerged` to the engagement scores and to the
    map of merged ids the event reports and late activities resolve through."""

    storage: AnalyticsStorage
    model: EngagementModel
    clock: Callable[[], datetime] = utc_now

    async def fold(self, tenant_id: str, merged: CandidateMerged, *, session: Session) -> None:
        """The merged record's activities count for the survivor (and its score is published
        again with them); the merged record has no score of its own any more, and its id
        stands for the survivor (its registrations and applications are the survivor's)."""
        await self.storage.engagement(tenant_id).fold_into(
            merged.merged_candidate_id,
            merged.survivor_candidate_id,
            merged.merge_id,
            session=session,
        )
        await self.storage.merged_candidates(tenant_id).record(
            merged.merged_candidate_id,
            merged.survivor_candidate_id,
            merged.merge_id,
            session=session,
        )
        await rescore(
            self.storage,
            self.model,
            tenant_id,
            [merged.survivor_candidate_id],
            now=self.clock(),
            session=session,
        )

    async def unfold(
        self, tenant_id: str, unmerged: CandidateUnmerged, *, session: Session
    ) -> None:
        """Each record gets back the activities, registrations and applications it had, and
        both scores are published."""
        await self.storage.engagement(tenant_id).unfold(unmerged.merge_id, session=session)
        await self.storage.merged_candidates(tenant_id).forget(
            unmerged.merge_id, unmerged.restored_candidate_id, session=session
        )
        await rescore(
            self.storage,
            self.model,
            tenant_id,
            [unmerged.survivor_candidate_id, unmerged.restored_candidate_id],
            now=self.clock(),
            session=session,
        )
