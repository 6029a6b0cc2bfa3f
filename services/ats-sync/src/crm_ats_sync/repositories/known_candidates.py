"""MongoDB access to ats-sync's copy of the candidates it may push: name, primary email,
record status and push consent, learned from the candidates service's events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from crm_ats_sync.domain.pushes import KnownCandidate
from crm_shared import (
    Database,
    Session,
    TenantScopedCollection,
    erased_among,
    is_erased,
    normalise_email,
)
from crm_shared.directory import ProfileChange

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

    async def learn_profiles(self, changes: Sequence[ProfileChange], *, session: Session) -> None:
        """Each candidate's name, first (primary) email and record status from their newest
        profile among `changes` and the one held, in one read and one bulk write: a profile
        older than the one held (arriving late, from the other topic) is ignored, and an erased
        candidate's is not stored."""
        candidate_ids = list(dict.fromkeys(change.profile.candidate_id for change in changes))
        if not candidate_ids:
            return
        erased = await erased_among(self._database, self._tenant_id, candidate_ids, session=session)
        held = await self._known.find(
            {"candidate_id": {"$in": candidate_ids}},
            projection={"candidate_id": 1, "profile_as_of": 1},
            session=session,
        )
        as_of: dict[str, datetime] = {
            str(document["candidate_id"]): document["profile_as_of"]
            for document in held
            if document.get("profile_as_of") is not None
        }
        newest: dict[str, dict[str, Any]] = {}
        for change in changes:
            profile = change.profile
            candidate_id = profile.candidate_id
            if candidate_id in erased or change.as_of < as_of.get(candidate_id, change.as_of):
                continue
            as_of[candidate_id] = change.as_of
            newest[candidate_id] = {
                "first_name": profile.first_name,
                "last_name": profile.last_name,
                "email": normalise_email(profile.emails[0]) if profile.emails else None,
                "status": profile.status,
                "profile_as_of": change.as_of,
            }
        await self._known.update_each(
            [
                ({"candidate_id": candidate_id}, {"$set": fields})
                for candidate_id, fields in newest.items()
            ],
            upsert=True,
            session=session,
        )

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
