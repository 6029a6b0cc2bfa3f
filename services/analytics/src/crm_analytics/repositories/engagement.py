"""MongoDB access to analytics' engagement contributions and published scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from crm_analytics.domain.engagement import Contribution
from crm_shared import Database, Session, TenantScopedCollection, give_back, utc_now
from crm_shared.merges import MERGES_FIELD

CONTRIBUTIONS_COLLECTION = "engagement_contributions"
SCORES_COLLECTION = "engagement_scores"


@dataclass(frozen=True)
class ScoreRecord:
    """A candidate's score as last published (and as it was exactly: a decayed score at the
    floor is published as 0), and what follows from their activities: when it
    is to be published again as it decays (None: never, it is 0), their last activity and the
    highest their score has been."""

    candidate_id: str
    score: float
    scored_at: datetime
    republish_at: datetime | None
    last_activity_at: datetime | None
    peak_score: float
    exact_score: float  # the score itself, `score` being 0 once it decayed to the floor

    def fields(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "exact_score": self.exact_score,
            "scored_at": self.scored_at,
            "republish_at": self.republish_at,
            "last_activity_at": self.last_activity_at,
            "peak_score": self.peak_score,
        }


@dataclass(frozen=True)
class DueScore:
    """A published score due to be published again."""

    tenant_id: str
    candidate_id: str
    republish_at: datetime


async def due_for_republish(database: Database, now: datetime, limit: int) -> list[DueScore]:
    """The scores of every tenant due to be published again at `now`, the longest due first
    (the decay sweep's work, across tenants like the other workers' claims)."""
    cursor = (
        database[SCORES_COLLECTION]
        .find(
            {"republish_at": {"$lte": now}},
            projection={"_id": 0, "tenant_id": 1, "candidate_id": 1, "republish_at": 1},
        )
        .sort([("republish_at", ASCENDING)])
        .limit(limit)
    )
    found = await cursor.to_list()
    return [DueScore(d["tenant_id"], d["candidate_id"], d["republish_at"]) for d in found]


async def ensure_engagement_indexes(database: Database) -> None:
    """One contribution per activity, one published score per candidate."""
    # One contribution per candidate, kind of activity and the message or event it is about.
    await database[CONTRIBUTIONS_COLLECTION].create_index(
        [
            ("tenant_id", ASCENDING),
            ("candidate_id", ASCENDING),
            ("kind", ASCENDING),
            ("reference", ASCENDING),
        ],
        unique=True,
    )
    await database[SCORES_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("candidate_id", ASCENDING)], unique=True
    )
    await database[CONTRIBUTIONS_COLLECTION].create_index(
        [("tenant_id", ASCENDING), (f"{MERGES_FIELD}.merge_id", ASCENDING)]
    )
    # The decay sweep's due scores, across tenants.
    await database[SCORES_COLLECTION].create_index([("republish_at", ASCENDING)])


async def schedule_unscheduled_scores(database: Database) -> None:
    """Scores published before they were republished as they decay are due now: the decay
    sweep publishes each as it stands and keeps its schedule, last activity and peak."""
    await database[SCORES_COLLECTION].update_many(
        {"republish_at": {"$exists": False}}, {"$set": {"republish_at": utc_now()}}
    )


class EngagementRepository:
    """One tenant's engagement contributions and the last score published per candidate."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._contributions = TenantScopedCollection(database[CONTRIBUTIONS_COLLECTION], tenant_id)
        self._scores = TenantScopedCollection(database[SCORES_COLLECTION], tenant_id)

    async def add(self, contribution: Contribution, *, session: Session) -> bool:
        """Records an activity the first time it happens; False if it was counted before."""
        document = contribution.model_dump()
        key = {name: document.pop(name) for name in ("candidate_id", "kind", "reference")}
        result = await self._contributions.update_one(
            key, {"$setOnInsert": document}, upsert=True, session=session
        )
        return result.upserted_id is not None

    async def add_all(self, contributions: Sequence[Contribution], *, session: Session) -> None:
        """Records activities known to be new (none counted before, no two alike) in one write."""
        if contributions:
            await self._contributions.insert_batch(
                [contribution.model_dump() for contribution in contributions], session=session
            )

    async def of_each(
        self, candidate_ids: Sequence[str], *, session: Session | None = None
    ) -> dict[str, list[Contribution]]:
        """Every activity counted for each of the candidates, oldest first, in one query."""
        documents = await self._contributions.find(
            {"candidate_id": {"$in": list(candidate_ids)}},
            sort=[("occurred_at", ASCENDING)],
            session=session,
        )
        found: dict[str, list[Contribution]] = {candidate_id: [] for candidate_id in candidate_ids}
        for d in documents:
            contribution = Contribution.model_validate(
                {k: v for k, v in d.items() if k not in ("_id", "tenant_id")}
            )
            found[contribution.candidate_id].append(contribution)
        return found

    async def save_scores(self, records: Sequence[ScoreRecord], *, session: Session) -> None:
        """Keeps the score last published for each candidate, in one bulk write."""
        await self._scores.update_each(
            [({"candidate_id": r.candidate_id}, {"$set": r.fields()}) for r in records],
            upsert=True,
            session=session,
        )

    async def scores_of(
        self, candidate_ids: Sequence[str], *, session: Session | None = None
    ) -> dict[str, dict[str, Any]]:
        """The stored score of each of the candidates that has one, in one query."""
        documents = await self._scores.find(
            {"candidate_id": {"$in": list(candidate_ids)}},
            projection={"_id": 0, "tenant_id": 0},
            session=session,
        )
        return {d["candidate_id"]: d for d in documents}

    async def stop_republishing(self, candidate_ids: Sequence[str], *, session: Session) -> None:
        """The candidates' scores are not to be published again (nothing left to decay)."""
        if candidate_ids:
            await self._scores.update_many(
                {"candidate_id": {"$in": list(candidate_ids)}},
                {"$set": {"republish_at": None}},
                session=session,
            )

    async def of(self, candidate_id: str, *, session: Session | None = None) -> list[Contribution]:
        """Every activity counted for a candidate, oldest first."""
        documents = await self._contributions.find(
            {"candidate_id": candidate_id}, sort=[("occurred_at", ASCENDING)], session=session
        )
        return [
            Contribution.model_validate(
                {k: v for k, v in d.items() if k not in ("_id", "tenant_id")}
            )
            for d in documents
        ]

    async def published(self, candidate_id: str) -> dict[str, Any] | None:
        """The score last published for a candidate and when, if any."""
        return await self._scores.find_one({"candidate_id": candidate_id})

    async def fold_into(
        self, merged_id: str, survivor_id: str, merge_id: str, *, session: Session
    ) -> None:
        """A merge: the merged record's activities count for the survivor from now on (a later
        activity of the merged id goes to the survivor through `MergedCandidateRepository`).
        An activity both records have (the same person registered twice for one event) is
        counted once: the merged record's copy stays where it is, unused, until the undo."""
        survivor_has = {(c.kind, c.reference) for c in await self.of(survivor_id, session=session)}
        movable = [
            d["_id"]
            for d in await self._contributions.find({"candidate_id": merged_id}, session=session)
            if (d["kind"], d["reference"]) not in survivor_has
        ]
        if movable:
            await self._contributions.update_many(
                {"_id": {"$in": movable}},
                {
                    "$set": {"candidate_id": survivor_id},
                    "$push": {
                        MERGES_FIELD: {
                            "merge_id": merge_id,
                            "previous": {"candidate_id": merged_id},
                        }
                    },
                },
                session=session,
            )
        await self._scores.delete_one({"candidate_id": merged_id}, session=session)

    async def unfold(self, merge_id: str, *, session: Session) -> None:
        """An undone merge: the activities it moved are the restored record's again."""
        await give_back(self._contributions, merge_id, session=session)
