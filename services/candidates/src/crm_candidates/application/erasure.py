"""GDPR erasure in the candidates service: the person goes, a tombstone without PII stays.

Every collection of the service's database is swept (profile, consent ledger and states,
preferences, sign-ups, segment memberships, and whatever a later feature stores by candidate id),
including the outbox records keyed by the candidate, published or not, since they keep the
profile in their payload. Records merged into the candidate are the same person and go too,
with the merges (their undo snapshots hold both profiles). `candidate.erased` is staged in the
same transaction, so every other service erases its copy too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crm_candidates.publishers import to_candidate_erased
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.collections import CANDIDATES_COLLECTION, MERGES_COLLECTION
from crm_shared import (
    Database,
    MongoClient,
    Outbox,
    PersonalDataEraser,
    Session,
    email_sha256,
    in_transaction,
    utc_now,
)


@dataclass(frozen=True)
class CandidateEraser:
    """Erases candidates of any tenant it is asked for (each call names the tenant)."""

    mongo: MongoClient
    database: Database
    outbox: Outbox

    async def erase(self, tenant_id: str, candidate_id: str) -> datetime | None:
        """Erases the candidate and every record merged into it; None if there is no such
        candidate in the tenant."""
        candidates = CandidateRepository(self.database, tenant_id)
        candidate = await candidates.get(candidate_id)
        if candidate is None:
            return None
        person_ids = await self._with_merged_records(tenant_id, candidate_id)
        eraser = PersonalDataEraser(self.database)
        sweeps = {}
        emails: set[str] = set(candidate.emails)
        for person_id in person_ids:
            sweeps[person_id] = await eraser.prepare(tenant_id, person_id)
            emails.update(sweeps[person_id][1])
        addresses = sorted(emails)
        hashes = sorted({email_sha256(email) for email in addresses})
        erased_at = utc_now()

        async def work(session: Session) -> None:
            for person_id, (collections, _) in sweeps.items():
                await eraser.erase(
                    tenant_id,
                    person_id,
                    collections=collections,
                    emails=addresses,
                    email_hashes=hashes,
                    erased_at=erased_at,
                    session=session,
                )
            # A merge keeps both records as they were (for its undo): it goes with them.
            await self.database[MERGES_COLLECTION].delete_many(
                {
                    "tenant_id": tenant_id,
                    "$or": [
                        {"survivor_id": {"$in": person_ids}},
                        {"merged_id": {"$in": person_ids}},
                    ],
                },
                session=session,
            )
            for person_id in person_ids:
                await to_candidate_erased(
                    self.outbox, tenant_id, person_id, hashes, erased_at, session=session
                )

        await in_transaction(self.mongo, work)
        self.outbox.notify_committed()
        return erased_at

    async def _with_merged_records(self, tenant_id: str, candidate_id: str) -> list[str]:
        # Records folded into the candidate (and into those, transitively) are the same person.
        found = [candidate_id]
        frontier = [candidate_id]
        while frontier:
            documents = (
                await self.database[CANDIDATES_COLLECTION]
                .find({"tenant_id": tenant_id, "merged_into": {"$in": frontier}}, {"_id": 1})
                .to_list()
            )
            frontier = [d["_id"] for d in documents if d["_id"] not in found]
            found.extend(frontier)
        return found
