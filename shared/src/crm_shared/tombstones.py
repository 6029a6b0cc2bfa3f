"""Tombstones of erased candidates: an id and address digests, no personal data.

Every service keeps one per erased person, so an event still in flight cannot bring the person
back into a projection, and a mail to an erased address can be refused by its digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from crm_shared.mongo import Database, Session

ERASED_CANDIDATES_COLLECTION = "erased_candidates"


def email_sha256(email: str) -> str:
    """The SHA-256 hex digest of a normalised (trimmed, lower-cased) email address."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def tombstone_id(tenant_id: str, candidate_id: str) -> str:
    """The `_id` of a candidate's tombstone."""
    return f"{tenant_id}:{candidate_id}"


async def is_erased(
    database: Database, tenant_id: str, candidate_id: str, *, session: Session | None = None
) -> bool:
    """Whether this service erased the candidate."""
    tombstone = await database[ERASED_CANDIDATES_COLLECTION].find_one(
        {"_id": tombstone_id(tenant_id, candidate_id)}, session=session
    )
    return tombstone is not None


async def erased_among(
    database: Database,
    tenant_id: str,
    candidate_ids: Sequence[str],
    *,
    session: Session | None = None,
) -> set[str]:
    """Which of the candidates this service erased, in one query (`is_erased` of each)."""
    documents = await (
        database[ERASED_CANDIDATES_COLLECTION]
        .find(
            {"_id": {"$in": [tombstone_id(tenant_id, c) for c in candidate_ids]}},
            {"_id": 1},
            session=session,
        )
        .to_list()
    )
    prefix = len(tombstone_id(tenant_id, ""))
    return {document["_id"][prefix:] for document in documents}


async def is_erased_address(
    database: Database, tenant_id: str, email: str, *, session: Session | None = None
) -> bool:
    """Whether an erased person held this address (hard suppression by digest)."""
    tombstone = await database[ERASED_CANDIDATES_COLLECTION].find_one(
        {"tenant_id": tenant_id, "email_sha256": email_sha256(email)}, session=session
    )
    return tombstone is not None


async def erased_addresses_among(
    database: Database, tenant_id: str, digests: Sequence[str], *, session: Session | None = None
) -> set[str]:
    """Which of the address digests an erased person held, in one query
    (`is_erased_address` of each)."""
    if not digests:
        return set()
    wanted = set(digests)
    documents = await (
        database[ERASED_CANDIDATES_COLLECTION]
        .find(
            {"tenant_id": tenant_id, "email_sha256": {"$in": sorted(wanted)}},
            {"_id": 0, "email_sha256": 1},
            session=session,
        )
        .to_list()
    )
    return {d for document in documents for d in document["email_sha256"] if d in wanted}
