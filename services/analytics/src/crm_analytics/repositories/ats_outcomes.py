"""MongoDB access to the ATS applications as pool health needs them (`ats_outcomes`): one
document per application, its status now, its latest late-stage rejection and latest hire."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING

from crm_analytics.domain.pool_health import ApplicationOutcome, ApplicationStatus
from crm_shared import (
    ADDRESS_DIGEST_FIELD,
    Database,
    Session,
    TenantScopedCollection,
    email_sha256,
)

OUTCOMES_COLLECTION = "ats_outcomes"
# What pool health reads of an application (not the address's digest).
_REPORTED = {"_id": 0, "tenant_id": 0, ADDRESS_DIGEST_FIELD: 0}


async def ensure_outcome_indexes(database: Database) -> None:
    """One document per application; found by candidate and by address digest."""
    outcomes = database[OUTCOMES_COLLECTION]
    await outcomes.create_index(
        [("tenant_id", ASCENDING), ("connection_id", ASCENDING), ("ats_application_id", ASCENDING)],
        unique=True,
    )
    await outcomes.create_index([("tenant_id", ASCENDING), ("candidate_id", ASCENDING)])
    await outcomes.create_index([("tenant_id", ASCENDING), (ADDRESS_DIGEST_FIELD, ASCENDING)])


def _outcome(d: dict[str, Any]) -> ApplicationOutcome:
    return ApplicationOutcome(
        connection_id=d["connection_id"],
        ats_application_id=d["ats_application_id"],
        candidate_id=d.get("candidate_id"),
        email=d.get("email"),
        prospect=bool(d.get("prospect", False)),
        status=ApplicationStatus(d["status"]) if d.get("status") else None,
        status_at=d.get("status_at"),
        late_rejected_at=d.get("late_rejected_at"),
        hired_at=d.get("hired_at"),
    )


class OutcomeRepository:
    """One tenant's ATS applications, folded."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._outcomes = TenantScopedCollection(database[OUTCOMES_COLLECTION], tenant_id)

    async def of_applications(
        self, keys: Sequence[tuple[str, str]], *, session: Session
    ) -> dict[tuple[str, str], ApplicationOutcome]:
        """The stored applications among (connection id, ATS application id) keys."""
        if not keys:
            return {}
        found = await self._outcomes.find(
            {"ats_application_id": {"$in": sorted({a for _, a in keys})}}, session=session
        )
        wanted = set(keys)
        outcomes = [_outcome(d) for d in found]
        return {
            (o.connection_id, o.ats_application_id): o
            for o in outcomes
            if (o.connection_id, o.ats_application_id) in wanted
        }

    async def save(self, outcomes: Sequence[ApplicationOutcome], *, session: Session) -> None:
        """Stores each application as folded, in one bulk write; the address's digest is kept
        beside it for the erasure."""
        updates = []
        for o in outcomes:
            fields: dict[str, Any] = {
                "candidate_id": o.candidate_id,
                "email": o.email,
                ADDRESS_DIGEST_FIELD: email_sha256(o.email) if o.email else None,
                "prospect": o.prospect,
                "status": o.status.value if o.status else None,
                "status_at": o.status_at,
                "late_rejected_at": o.late_rejected_at,
                "hired_at": o.hired_at,
            }
            key = {"connection_id": o.connection_id, "ats_application_id": o.ats_application_id}
            updates.append((key, {"$set": fields}))
        await self._outcomes.update_each(updates, upsert=True, session=session)

    async def of_people(
        self, candidate_ids: Sequence[str], digests: Sequence[str]
    ) -> list[ApplicationOutcome]:
        """The applications naming any of the candidates, or, naming none, any of the address
        digests."""
        if not candidate_ids and not digests:
            return []
        named = await self._outcomes.find_in("candidate_id", candidate_ids)
        # By digest alone, "naming no candidate" checked here: with `candidate_id: null` in the
        # query the Rust SecantusDB server took 0.1-0.5 s a slice of 200 digests (a pool of
        # 17,500 members: 15 s), a few ms without it (docs/performance.md, "Analytics reports
        # at scale").
        by_address = await self._outcomes.find_in(ADDRESS_DIGEST_FIELD, digests)
        unnamed = [d for d in by_address if d.get("candidate_id") is None]
        return [_outcome(d) for d in (*named, *unnamed)]

    async def naming(
        self, candidate_ids: Sequence[str], *, slice_size: int
    ) -> list[ApplicationOutcome]:
        """The applications naming any of the candidates, `slice_size` ids a query."""
        found = await self._outcomes.find_in(
            "candidate_id", candidate_ids, projection=_REPORTED, slice_size=slice_size
        )
        return [_outcome(d) for d in found]

    async def naming_no_candidate(self) -> list[ApplicationOutcome]:
        """The tenant's applications the ATS named no CRM candidate in (known by address
        alone, or by nothing), in one read by the indexed field alone."""
        found = await self._outcomes.find({"candidate_id": None}, projection=_REPORTED)
        return [_outcome(d) for d in found]
