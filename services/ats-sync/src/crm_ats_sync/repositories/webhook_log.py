"""MongoDB access to what became of each webhook a tenant's connections received: the
connection health view's source. Entries expire after `WEBHOOK_LOG_DAYS`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo import ASCENDING, DESCENDING

from crm_shared import Database, TenantScopedCollection, utc_now

WEBHOOK_LOG = "webhook_log"
WEBHOOK_LOG_DAYS = 30
REFUSED = "refused"
OUTCOMES = ("accepted", "duplicate", "replayed", "stale", "not_read", "gone", REFUSED)


async def ensure_webhook_log_indexes(database: Database) -> None:
    """Creates the indexes of the webhook log."""
    await database[WEBHOOK_LOG].create_index(
        [("tenant_id", ASCENDING), ("connection_id", ASCENDING), ("at", DESCENDING)]
    )
    await database[WEBHOOK_LOG].create_index(
        [
            ("tenant_id", ASCENDING),
            ("connection_id", ASCENDING),
            ("outcome", ASCENDING),
            ("at", DESCENDING),
        ]
    )
    await database[WEBHOOK_LOG].create_index(
        "at", expireAfterSeconds=int(timedelta(days=WEBHOOK_LOG_DAYS).total_seconds())
    )


@dataclass(frozen=True)
class WebhookActivity:
    """A connection's webhooks as its health view shows them."""

    last_received_at: datetime | None
    last_refused_at: datetime | None
    last_refusal_reason: str | None
    last_refusal_detail: str | None
    # Each of `OUTCOMES` -> how many deliveries had it since `since`.
    counts: dict[str, int]
    since: datetime


class WebhookLogRepository:
    """One tenant's webhook outcomes."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._log = TenantScopedCollection(database[WEBHOOK_LOG], tenant_id)

    async def record(
        self,
        connection_id: str,
        outcome: str,
        *,
        reason: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Notes a delivery's outcome; a refusal with its reason and the detail the ATS got."""
        await self._log.insert_one(
            {
                "connection_id": connection_id,
                "outcome": outcome,
                "reason": reason,
                "detail": detail[:300] if detail else None,
                "at": utc_now(),
            }
        )

    async def activity(self, connection_id: str, window: timedelta) -> WebhookActivity:
        """The last delivery, the last refusal and the outcomes counted over `window`."""
        since = utc_now() - window
        # Independent reads, asked at once so their round trips overlap (a list of connections
        # asks this for each). A count per outcome on the (connection, outcome, at) index, not
        # a scan of the window.
        of_connection = {"connection_id": connection_id}
        newest = [("at", DESCENDING)]
        (last, refused), counted = await asyncio.gather(
            asyncio.gather(
                self._log.find(of_connection, sort=newest, limit=1),
                self._log.find({**of_connection, "outcome": REFUSED}, sort=newest, limit=1),
            ),
            asyncio.gather(
                *(
                    self._log.count({**of_connection, "outcome": outcome, "at": {"$gte": since}})
                    for outcome in OUTCOMES
                )
            ),
        )
        counts = dict(zip(OUTCOMES, counted, strict=True))
        return WebhookActivity(
            last_received_at=last[0]["at"] if last else None,
            last_refused_at=refused[0]["at"] if refused else None,
            last_refusal_reason=refused[0]["reason"] if refused else None,
            last_refusal_detail=refused[0]["detail"] if refused else None,
            counts=counts,
            since=since,
        )
