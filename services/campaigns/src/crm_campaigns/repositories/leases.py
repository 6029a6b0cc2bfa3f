"""Leasing due records of any tenant to one worker."""

from __future__ import annotations

from datetime import timedelta

from pymongo import ASCENDING, ReturnDocument

from crm_shared import (
    Database,
    Document,
    utc_now,
)


async def claim_next(
    database: Database,
    collection: str,
    due: Document,
    *,
    owner: str,
    lease: timedelta,
    order_by: str,
) -> Document | None:
    """Leases one due record of any tenant to `owner`; None when nothing is due.

    A lease keeps other workers away while it lasts; if the owner dies, it expires and another
    worker takes the record over.
    """
    now = utc_now()
    return await database[collection].find_one_and_update(
        {**due, "$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}]},
        {"$set": {"lease_owner": owner, "lease_until": now + lease}},
        sort=[(order_by, ASCENDING)],
        return_document=ReturnDocument.AFTER,
    )
