"""The engagement score published again as it decays.

Each published score is kept with `republish_at`, the instant it will have dropped by one step
(domain/decay.py, in closed form). A periodic sweep, run by one replica at a time (a named
lease), publishes the scores that are due again through the outbox, a bounded batch per
transaction and a bounded number per sweep, and sets when each is due next. A new activity
publishes at once, as before, and sets the schedule anew; an erased candidate has no score
left to publish, and a merged record's score is gone with the merge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from crm_analytics.application.engagement import published_score
from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.domain.engagement import EngagementModel
from crm_analytics.publishers import to_engagement_scored_each
from crm_analytics.repositories.engagement import ScoreRecord, due_for_republish
from crm_shared import (
    EventEnvelope,
    MongoClient,
    NamedLease,
    Session,
    erased_among,
    in_transaction,
    utc_now,
)

# The lease's name in the `leases` collection: one replica sweeps at a time.
DECAY_LEASE = "analytics:engagement-decay"


async def republish(
    storage: AnalyticsStorage,
    model: EngagementModel,
    tenant_id: str,
    candidate_ids: Sequence[str],
    *,
    now: datetime,
    session: Session,
) -> int:
    """Publishes the candidates' scores as they stand at `now` (0 at or below the floor) and
    sets when each is due again; returns how many were published. A candidate erased, or with
    nothing counted any more, is not published and not due again."""
    engagement = storage.engagement(tenant_id)
    erased = await erased_among(storage.database, tenant_id, list(candidate_ids), session=session)
    counted = await engagement.of_each(
        [c for c in candidate_ids if c not in erased], session=session
    )
    records: list[ScoreRecord] = []
    envelopes: list[EventEnvelope[Any]] = []
    for candidate_id, contributions in counted.items():
        if not contributions:
            continue
        record, envelope = published_score(
            storage, model, tenant_id, candidate_id, contributions, now
        )
        records.append(record)
        envelopes.append(envelope)
    published = {r.candidate_id for r in records}
    await engagement.stop_republishing(
        [c for c in candidate_ids if c not in published], session=session
    )
    await engagement.save_scores(records, session=session)
    await to_engagement_scored_each(storage.outbox, envelopes, session=session)
    return len(records)


@dataclass(frozen=True)
class DecaySweep:
    """One sweep: the due scores of every tenant, the longest due first, `batch_size` per
    transaction and at most `max_per_sweep` in all, while this replica holds the lease."""

    storage: AnalyticsStorage
    mongo: MongoClient
    model: EngagementModel
    lease: NamedLease
    batch_size: int = 500
    max_per_sweep: int = 5000
    clock: Callable[[], datetime] = utc_now

    async def run(self) -> int:
        """Sweeps once; returns how many due scores it handled (0 without the lease)."""
        if not await self.lease.claim():
            return 0
        handled = 0
        while handled < self.max_per_sweep:
            now = self.clock()
            limit = min(self.batch_size, self.max_per_sweep - handled)
            due = await due_for_republish(self.storage.database, now, limit)
            by_tenant: dict[str, list[str]] = {}
            for d in due:
                by_tenant.setdefault(d.tenant_id, []).append(d.candidate_id)
            for tenant_id, candidate_ids in by_tenant.items():
                await in_transaction(
                    self.mongo, partial(self._republish, tenant_id, candidate_ids, now)
                )
            self.storage.outbox.notify_committed()
            handled += len(due)
            if len(due) < limit or not await self.lease.renew():
                break
        return handled

    async def _republish(
        self, tenant_id: str, candidate_ids: list[str], now: datetime, session: Session
    ) -> int:
        return await republish(
            self.storage, self.model, tenant_id, candidate_ids, now=now, session=session
        )
