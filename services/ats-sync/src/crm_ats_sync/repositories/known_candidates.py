"""MongoDB access to ats-sync's copy of the candidates it may push: name, primary email,
record status and push consent, learned from the candidates service's events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from crm_ats_sync.domain.pushes import KnownCandidate
from crm_shared import Database, Session, TenantScopedCollection, is_erased, normalise_email

KNOWN_CANDIDATES = "known_candidates"


async def ensure_known_candidate_indexes(database: Database) -> None:
    await database[KNOWN_CANDIDATES].create_index(
        [("tenant_id", ASCENDING), ("candidate_id", ASCENDING)], unique=True
    )


class KnownCandidateRepository:
    """One tenant's candidates as ats-sync knows them. An event about an erased candidate
    arriving after the erasure is ignored, so they never reappear."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._database = database
        self._tenant_id = tenant_id
        self._known = TenantScopedCollection(database[KNOWN_CANDIDATES], tenant_id)

    async def _learn(self, candidate_id: str, fields: dict[str, Any], session: Session) -> None:
        if await is_erased(self._database, self._tenant_id, candidate_id, session=session):
            return
        await self._known.update_one(
            {"candidate_id": candidate_id}, {"$set": fields}, upsert=True, session=session
        )

    async def learn_profile(
        self,
        candidate_id: str,
        *,
        first_name: str,
        last_name: str,
        emails: list[str],
        status: str,
        as_of: datetime,
        session: Session,
    ) -> None:
        """The candidate's name, first (primary) email and record status, as published at
        `as_of`; a profile older than the one held (arriving late, from the other topic) is
        ignored."""
        held = await self._known.find_one({"candidate_id": candidate_id}, session=session)
        held_as_of = held.get("profile_as_of") if held else None
        if held_as_of is not None and as_of < held_as_of:
            return
        fields = {
            "first_name": first_name,
            "last_name": last_name,
            "email": normalise_email(emails[0]) if emails else None,
            "status": status,
            "profile_as_of": as_of,
        }
        await self._learn(candidate_id, fields, session)

    async def learn_consent(
        self, candidate_id: str, *, granted: bool, expires_at: datetime | None, session: Session
    ) -> None:
        """The state of the consent a push needs."""
        fields = {"consent_granted": granted, "consent_expires_at": expires_at}
        await self._learn(candidate_id, fields, session)

    async def get(self, candidate_id: str) -> KnownCandidate | None:
        document = await self._known.find_one({"candidate_id": candidate_id})
        if document is None:
            return None
        return KnownCandidate.model_validate(
            {k: v for k, v in document.items() if k not in ("_id", "tenant_id")}
        )
