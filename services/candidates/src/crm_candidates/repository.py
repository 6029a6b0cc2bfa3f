"""MongoDB access to candidates, always within one tenant."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from crm_candidates.domain.models import Candidate
from crm_shared import CurrentPrincipal, Database, Session, TenantScopedCollection

CANDIDATES_COLLECTION = "candidates"


class DuplicateEmailError(Exception):
    """Another candidate of the tenant already has one of the email addresses."""

    def __init__(self, existing_id: str | None) -> None:
        super().__init__("a candidate with this email already exists")
        self.existing_id = existing_id


async def ensure_indexes(database: Database) -> None:
    """Creates the candidates collection's indexes."""
    candidates = database[CANDIDATES_COLLECTION]
    # An email identifies one person within a tenant; the index makes that hold under races.
    await candidates.create_index(
        [("tenant_id", ASCENDING), ("emails", ASCENDING)], unique=True, name="tenant_email_unique"
    )
    await candidates.create_index([("tenant_id", ASCENDING), ("_id", ASCENDING)])


def _to_document(candidate: Candidate) -> dict[str, Any]:
    document = candidate.model_dump(exclude={"id"})
    document["_id"] = candidate.id
    return document


def _from_document(document: dict[str, Any]) -> Candidate:
    return Candidate.model_validate({**document, "id": document["_id"]})


class CandidateRepository:
    """Stores and reads one tenant's candidates."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._candidates = TenantScopedCollection(database[CANDIDATES_COLLECTION], tenant_id)

    async def add(self, candidate: Candidate, *, session: Session) -> None:
        """Stores a new candidate; raises `DuplicateEmailError` if an email is taken."""
        try:
            await self._candidates.insert_one(_to_document(candidate), session=session)
        except DuplicateKeyError:
            existing = await self._candidates.find_one({"emails": {"$in": candidate.emails}})
            raise DuplicateEmailError(existing["_id"] if existing else None) from None

    async def find_by_emails(self, emails: list[str]) -> Candidate | None:
        """The candidate holding any of `emails`, if there is one."""
        document = await self._candidates.find_one({"emails": {"$in": emails}})
        return _from_document(document) if document else None

    async def get(self, candidate_id: str) -> Candidate | None:
        """The candidate with this id, if the tenant has it."""
        document = await self._candidates.find_one({"_id": candidate_id})
        return _from_document(document) if document else None

    async def page(self, *, after: str | None, limit: int) -> list[Candidate]:
        """Up to `limit` candidates in creation order, after the candidate id `after`."""
        query: dict[str, Any] = {"_id": {"$gt": after}} if after else {}
        documents = await self._candidates.find(query, sort=[("_id", ASCENDING)], limit=limit)
        return [_from_document(document) for document in documents]


def candidate_repository(request: Request, principal: CurrentPrincipal) -> CandidateRepository:
    """FastAPI dependency: the repository of the caller's tenant."""
    return CandidateRepository(request.app.state.platform.require_database(), principal.tenant_id)


CandidatesRepo = Annotated[CandidateRepository, Depends(candidate_repository)]
