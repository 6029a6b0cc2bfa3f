"""A service's own projection of which email address belongs to which candidate.

Services that receive people from outside (event registrants, ATS applicants) match them to
candidates by email without calling the candidates service: they keep this directory current
from `candidate.created` / `candidate.updated`.
"""

from __future__ import annotations

from pymongo import ASCENDING

from crm_shared.contracts.events import CandidateProfile
from crm_shared.mongo import Database, Session
from crm_shared.repository import TenantScopedCollection
from crm_shared.tombstones import is_erased

CANDIDATE_DIRECTORY_COLLECTION = "candidate_directory"


def normalise_email(email: str) -> str:
    """The form every service stores and matches email addresses in."""
    return email.strip().lower()


async def ensure_directory_indexes(database: Database) -> None:
    """One entry per tenant and email address."""
    await database[CANDIDATE_DIRECTORY_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("email", ASCENDING)], unique=True
    )


class CandidateDirectory:
    """One tenant's email-to-candidate directory."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._database = database
        self._tenant_id = tenant_id
        self._entries = TenantScopedCollection(database[CANDIDATE_DIRECTORY_COLLECTION], tenant_id)

    async def learn(self, profile: CandidateProfile, *, session: Session) -> list[str]:
        """Records every email of a candidate profile; returns them normalised.

        A profile event of an erased candidate that arrives after the erasure is ignored.
        """
        if await is_erased(self._database, self._tenant_id, profile.candidate_id, session=session):
            return []
        emails = [normalise_email(email) for email in profile.emails]
        for email in emails:
            await self._entries.update_one(
                {"email": email},
                {"$set": {"candidate_id": profile.candidate_id}},
                upsert=True,
                session=session,
            )
        return emails

    async def reassign(self, from_id: str, to_id: str, *, session: Session) -> None:
        """Every address of one candidate now belongs to another (a merge folded them)."""
        await self._entries.update_many(
            {"candidate_id": from_id}, {"$set": {"candidate_id": to_id}}, session=session
        )

    async def candidate_for(self, email: str, *, session: Session | None = None) -> str | None:
        """The candidate holding this email address, if any is known."""
        document = await self._entries.find_one({"email": normalise_email(email)}, session=session)
        return str(document["candidate_id"]) if document else None
