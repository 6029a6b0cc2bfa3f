"""Leases: one worker at a time holds a record (or a named job) until its lease runs out.

A lease is two fields on the leased document, `lease_owner` and `lease_until`. A worker claims a
free one (never leased, or expired) with one atomic `find_one_and_update`, so two replicas never
hold it at once; if the owner dies, the lease expires and another worker takes over. Renewing
and releasing are conditional on the owner, so a worker that lost its lease (it ran out and was
taken over) finds out instead of overwriting the new owner's work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError
from pymongo.results import UpdateResult

from crm_shared.contracts.envelope import utc_now
from crm_shared.mongo import Database, Document, Session

LEASE_OWNER = "lease_owner"
LEASE_UNTIL = "lease_until"
LEASES_COLLECTION = "leases"

LEASE_RELEASED: Document = {LEASE_OWNER: None, LEASE_UNTIL: None}
"""The lease fields of a record nobody holds: `$set` them to release it, or store them new."""


class LeasedCollection(Protocol):
    """Where leased records live: a collection, or one tenant's view of it."""

    async def update_one(
        self,
        query: Mapping[str, Any],
        update: Mapping[str, Any],
        /,
        *,
        session: Session | None = None,
    ) -> UpdateResult: ...


def lease_is_free(now: datetime) -> Document:
    """The filter part matching records nobody holds at `now`: never leased or expired."""
    return {"$or": [{LEASE_UNTIL: None}, {LEASE_UNTIL: {"$lte": now}}]}


def leased_to(owner: str, until: datetime) -> Document:
    """The lease fields of a record `owner` holds until `until`."""
    return {LEASE_OWNER: owner, LEASE_UNTIL: until}


async def claim_next(
    collection: AsyncCollection[Document],
    due: Mapping[str, Any],
    *,
    owner: str,
    lease: timedelta,
    sort: Sequence[tuple[str, int]],
    also_set: Mapping[str, Any] | None = None,
    update: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Document | None:
    """Leases the first free record matching `due` (in `sort` order) to `owner`; returns it as
    updated, or None when nothing is due.

    `also_set` adds fields to the claim's `$set`; `update` adds other operators (`$min`, ...).
    """
    now = now or utc_now()
    return await collection.find_one_and_update(
        {**due, **lease_is_free(now)},
        {**(update or {}), "$set": {**(also_set or {}), **leased_to(owner, now + lease)}},
        sort=list(sort) or None,
        return_document=ReturnDocument.AFTER,
    )


async def renew_lease(
    collection: LeasedCollection,
    query: Mapping[str, Any],
    *,
    owner: str,
    lease: timedelta,
    session: Session | None = None,
) -> bool:
    """Extends `owner`'s lease on the record matching `query`; False if `owner` no longer holds
    it (it expired and was taken over) or the record no longer matches."""
    result = await collection.update_one(
        {**query, LEASE_OWNER: owner},
        {"$set": {LEASE_UNTIL: utc_now() + lease}},
        session=session,
    )
    return result.matched_count == 1


async def release_lease(
    collection: LeasedCollection,
    query: Mapping[str, Any],
    *,
    owner: str,
    also_set: Mapping[str, Any] | None = None,
    session: Session | None = None,
) -> bool:
    """Gives up `owner`'s lease on the record matching `query` (setting `also_set` with it);
    False if `owner` did not hold it."""
    result = await collection.update_one(
        {**query, LEASE_OWNER: owner},
        {"$set": {**(also_set or {}), **LEASE_RELEASED}},
        session=session,
    )
    return result.matched_count == 1


class NamedLease:
    """A lease on a named job rather than a record (say, a database's migrations): at most one
    process of all replicas holds `name` at a time.

    The lease is a document `{_id: name, lease_owner, lease_until}` in the `leases` collection,
    created by the first claim; the unique `_id` arbitrates between replicas claiming it at once.
    """

    def __init__(self, database: Database, name: str, *, owner: str, lease: timedelta) -> None:
        self._leases = database[LEASES_COLLECTION]
        self.name = name
        self.owner = owner
        self.lease = lease

    async def claim(self) -> bool:
        """Takes the lease if it is free (or already ours); True if `owner` holds it now."""
        now = utc_now()
        try:
            claimed = await self._leases.find_one_and_update(
                {
                    "_id": self.name,
                    "$or": [{LEASE_OWNER: self.owner}, *lease_is_free(now)["$or"]],
                },
                {"$set": leased_to(self.owner, now + self.lease)},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            # Held by someone else: the upsert tried to create a second document with the name.
            return False
        return claimed is not None and claimed.get(LEASE_OWNER) == self.owner

    async def renew(self) -> bool:
        """Extends the lease; False if `owner` lost it meanwhile."""
        return await renew_lease(
            self._leases, {"_id": self.name}, owner=self.owner, lease=self.lease
        )

    async def release(self) -> None:
        """Gives the lease up at once, so the next claimant need not wait for it to expire."""
        await release_lease(self._leases, {"_id": self.name}, owner=self.owner)
