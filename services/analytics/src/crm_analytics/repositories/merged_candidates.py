"""MongoDB access to which candidate a merged record's id stands for now, from
`candidate.merged` and `candidate.unmerged`: a late activity of a merged id is the survivor's
(engagement), and a merged record's registrations and applications are the survivor's (the
event reports, resolved when a report is read). The walk is `crm_shared.MergedIds`."""

from __future__ import annotations

from crm_analytics.domain.merge_map import MergeMap
from crm_shared import Database, MergedIds, ensure_merged_id_indexes

# The name is deployed state: the engagement score kept this map before the event reports.
MERGED_COLLECTION = "engagement_merged_candidates"


async def ensure_merged_candidate_indexes(database: Database) -> None:
    await ensure_merged_id_indexes(database[MERGED_COLLECTION])


class MergedCandidateRepository(MergedIds):
    """One tenant's merged ids, each with the survivor it was folded into and the merge."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        super().__init__(database[MERGED_COLLECTION], tenant_id)

    async def merge_map(self) -> MergeMap:
        """The tenant's merges held in memory, walked as the database walk does."""
        return MergeMap(await self.every_merge())
