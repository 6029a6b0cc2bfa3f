"""MongoDB access to the candidates analytics knows a tenant has, from `candidate.created`."""

from __future__ import annotations

from collections.abc import Sequence

from pymongo import ASCENDING

from crm_shared import Database, Session, TenantScopedCollection, erased_among, is_erased

KNOWN_CANDIDATES_COLLECTION = "known_candidates"


async def ensure_known_candidate_indexes(database: Database) -> None:
    """One entry per tenant and candidate."""
    await database[KNOWN_CANDIDATES_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("candidate_id", ASCENDING)], unique=True
    )


class KnownCandidateRepository:
    """One tenant's candidate ids, so a route about a candidate can tell a stranger from a
    candidate with no activity yet. The GDPR erasure deletes an entry with the candidate's
    other documents (it holds their `candidate_id`)."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._database = database
        self._tenant_id = tenant_id
        self._known = TenantScopedCollection(database[KNOWN_CANDIDATES_COLLECTION], tenant_id)

    async def learn(self, candidate_id: str, *, session: Session) -> None:
        """Records a candidate of the tenant; a creation arriving after the person's erasure
        does not bring them back."""
        if await is_erased(self._database, self._tenant_id, candidate_id, session=session):
            return
        await self._known.update_one(
            {"candidate_id": candidate_id},
            {"$setOnInsert": {"candidate_id": candidate_id}},
            upsert=True,
            session=session,
        )

    async def learn_all(self, candidate_ids: Sequence[str], *, session: Session) -> None:
        """Records several candidates (`learn` of each) with one query and one bulk write."""
        erased = await erased_among(self._database, self._tenant_id, candidate_ids, session=session)
        await self._known.update_each(
            [
                ({"candidate_id": c}, {"$setOnInsert": {"candidate_id": c}})
                for c in dict.fromkeys(candidate_ids)
                if c not in erased
            ],
            upsert=True,
            session=session,
        )

    async def knows(self, candidate_id: str) -> bool:
        """Whether analytics has seen the candidate's creation in this tenant."""
        return await self._known.find_one({"candidate_id": candidate_id}) is not None
