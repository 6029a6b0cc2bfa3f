"""MongoDB access to the webhook deliveries a tenant's connections received."""

from __future__ import annotations

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from crm_shared import Database, Session, TenantScopedCollection, utc_now

DELIVERIES = "webhook_deliveries"


async def ensure_delivery_indexes(database: Database) -> None:
    """Creates the indexes of the deliveries collection."""
    # A delivery id is seen once per connection: the ATS retries, we record it once.
    await database[DELIVERIES].create_index(
        [("tenant_id", ASCENDING), ("connection_id", ASCENDING), ("delivery_id", ASCENDING)],
        unique=True,
    )


class DuplicateDeliveryError(Exception):
    """This webhook delivery was received before: `duplicate` (its id) or `replayed` (its
    signed body, under another id)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class DeliveryRepository:
    """One tenant's received webhook deliveries."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._deliveries = TenantScopedCollection(database[DELIVERIES], tenant_id)

    async def record_delivery(
        self,
        connection_id: str,
        delivery_id: str,
        content_id: str,
        action: str,
        *,
        session: Session,
    ) -> None:
        """Records a delivery by its id and by its content; raises `DuplicateDeliveryError` if
        either was seen before (a retry, or a signed body replayed under a new id)."""
        received_at = utc_now()
        for kind, identifier in (("duplicate", delivery_id), ("replayed", content_id)):
            try:
                await self._deliveries.insert_one(
                    {
                        "connection_id": connection_id,
                        "delivery_id": identifier,
                        "action": action,
                        "received_at": received_at,
                    },
                    session=session,
                )
            except DuplicateKeyError:
                raise DuplicateDeliveryError(kind) from None
