"""The health view of ATS connections: their webhooks and their API's circuit breaker."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from crm_ats_sync.application.breaker import CircuitBreaker
from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.domain.breaker import BreakerRecord, BreakerState
from crm_ats_sync.domain.models import Connection
from crm_ats_sync.repositories.webhook_log import WebhookActivity

HEALTH_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class ConnectionHealth:
    webhooks: WebhookActivity
    breaker_state: BreakerState
    breaker: BreakerRecord
    breaker_retry_at: datetime | None


async def connection_health(
    storage: AtsStorage, breaker: CircuitBreaker, connection: Connection
) -> ConnectionHealth:
    """One connection's webhooks over the last 24 hours and its API breaker's state."""
    webhooks, (state, record) = await asyncio.gather(
        storage.webhook_log(connection.tenant_id).activity(connection.id, HEALTH_WINDOW),
        breaker.state(connection),
    )
    return ConnectionHealth(
        webhooks=webhooks,
        breaker_state=state,
        breaker=record,
        breaker_retry_at=record.retry_at(breaker.policy) if state is BreakerState.OPEN else None,
    )


async def connections_health(
    storage: AtsStorage, breaker: CircuitBreaker, connections: Sequence[Connection]
) -> list[ConnectionHealth]:
    """The health of each of `connections`, in their order."""
    return list(
        await asyncio.gather(*(connection_health(storage, breaker, c) for c in connections))
    )
