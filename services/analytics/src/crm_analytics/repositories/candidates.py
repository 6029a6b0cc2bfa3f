"""MongoDB access to the candidates analytics knows a tenant has, from `candidate.created`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING

from crm_shared import (
    Database,
    Session,
    TenantScopedCollection,
    email_sha256,
    erased_among,
    is_erased,
)
from crm_shared.repository import IN_SLICE

KNOWN_CANDIDATES_COLLECTION = "known_candidates"


@dataclass(frozen=True)
class KnownCandidate:
    """A candidate as `candidate.created` told it: how they entered the CRM and the SHA-256
    digests of their normalised addresses (never the addresses), so a registrant known only by
    address can be told apart as this candidate."""

    candidate_id: str
    source: str
    email_sha256: tuple[str, ...] = ()

    @classmethod
    def of(cls, candidate_id: str, source: str, emails: Sequence[str]) -> KnownCandidate:
        return cls(candidate_id, source, tuple(sorted({email_sha256(e) for e in emails})))


async def ensure_known_candidate_indexes(database: Database) -> None:
    """One entry per tenant and candidate; found by an address digest too."""
    known = database[KNOWN_CANDIDATES_COLLECTION]
    await known.create_index([("tenant_id", ASCENDING), ("candidate_id", ASCENDING)], unique=True)
    await known.create_index([("tenant_id", ASCENDING), ("email_sha256", ASCENDING)])


def _told(candidate: KnownCandidate) -> dict[str, Any]:
    return {"$set": {"source": candidate.source, "email_sha256": list(candidate.email_sha256)}}


class KnownCandidateRepository:
    """One tenant's candidate ids, so a route about a candidate can tell a stranger from a
    candidate with no activity yet, with their source and address digests for the event
    reports. The GDPR erasure deletes an entry with the candidate's other documents (it holds
    their `candidate_id`)."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._database = database
        self._tenant_id = tenant_id
        self._known = TenantScopedCollection(database[KNOWN_CANDIDATES_COLLECTION], tenant_id)

    async def learn(self, candidate: KnownCandidate, *, session: Session) -> None:
        """Records a candidate of the tenant, how they entered the CRM and their address
        digests; a creation arriving after the person's erasure does not bring them back."""
        if await is_erased(
            self._database, self._tenant_id, candidate.candidate_id, session=session
        ):
            return
        await self._known.update_one(
            {"candidate_id": candidate.candidate_id},
            _told(candidate),
            upsert=True,
            session=session,
        )

    async def learn_all(self, candidates: Sequence[KnownCandidate], *, session: Session) -> None:
        """Records several candidates (`learn` of each) with one query and one bulk write."""
        latest = {c.candidate_id: c for c in candidates}
        erased = await erased_among(self._database, self._tenant_id, list(latest), session=session)
        await self._known.update_each(
            [
                ({"candidate_id": c}, _told(candidate))
                for c, candidate in latest.items()
                if c not in erased
            ],
            upsert=True,
            session=session,
        )

    async def sources(self, candidate_ids: Sequence[str]) -> dict[str, str]:
        """How each of the candidates entered the CRM, for those analytics learnt it of
        (candidates learnt before it kept sources have none)."""
        # By candidate alone, whether the source is kept checked here: with `source` in the
        # query the Rust SecantusDB server took 14.5 s for 28 candidates among 500,000
        # (docs/performance.md, "Analytics reports at scale").
        found = await self._known.find_in(
            "candidate_id",
            candidate_ids,
            projection={"_id": 0, "candidate_id": 1, "source": 1},
        )
        return {d["candidate_id"]: d["source"] for d in found if "source" in d}

    async def holding(
        self, digests: Sequence[str], *, slice_size: int = IN_SLICE
    ) -> dict[str, str]:
        """The candidate holding each of the address digests, for those analytics learnt of;
        should two hold one, the smaller id, so the answer does not depend on the order the
        creations were consumed in."""
        found = await self._known.find_in(
            "email_sha256",
            digests,
            projection={"_id": 0, "candidate_id": 1, "email_sha256": 1},
            slice_size=slice_size,
        )
        wanted = set(digests)
        holders: dict[str, str] = {}
        for document in found:
            for digest in wanted.intersection(document["email_sha256"]):
                candidate_id = document["candidate_id"]
                holders[digest] = min(holders.get(digest, candidate_id), candidate_id)
        return holders

    async def knows(self, candidate_id: str) -> bool:
        """Whether analytics has seen the candidate's creation in this tenant."""
        return await self._known.find_one({"candidate_id": candidate_id}) is not None

    async def digests_of(self, candidate_ids: Sequence[str]) -> dict[str, list[str]]:
        """The address digests learnt of each of the candidates (those analytics learnt)."""
        found = await self._known.find_in(
            "candidate_id",
            candidate_ids,
            projection={"_id": 0, "candidate_id": 1, "email_sha256": 1},
        )
        return {d["candidate_id"]: list(d.get("email_sha256", [])) for d in found}
