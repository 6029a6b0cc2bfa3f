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

    async def learn(self, candidate_id: str, source: str, *, session: Session) -> None:
        """Records a candidate of the tenant and how they entered the CRM (their `source`); a
        creation arriving after the person's erasure does not bring them back."""
        if await is_erased(self._database, self._tenant_id, candidate_id, session=session):
            return
        await self._known.update_one(
            {"candidate_id": candidate_id},
            {"$set": {"source": source}},
            upsert=True,
            session=session,
        )

    async def learn_all(self, candidates: Sequence[tuple[str, str]], *, session: Session) -> None:
        """Records several (candidate id, source) (`learn` of each) with one query and one
        bulk write."""
        sources = dict(candidates)
        erased = await erased_among(self._database, self._tenant_id, list(sources), session=session)
        await self._known.update_each(
            [
                ({"candidate_id": c}, {"$set": {"source": source}})
                for c, source in sources.items()
                if c not in erased
            ],
            upsert=True,
            session=session,
        )

    async def sources(self, candidate_ids: Sequence[str]) -> dict[str, str]:
        """How each of the candidates entered the CRM, for those analytics learnt it of
        (candidates learnt before it kept sources have none)."""
        found = await self._known.find(
            {"candidate_id": {"$in": list(candidate_ids)}, "source": {"$exists": True}},
            projection={"_id": 0, "candidate_id": 1, "source": 1},
        )
        return {d["candidate_id"]: d["source"] for d in found}

    async def knows(self, candidate_id: str) -> bool:
        """Whether analytics has seen the candidate's creation in this tenant."""
        return await self._known.find_one({"candidate_id": candidate_id}) is not None
