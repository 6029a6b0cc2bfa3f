"""How the broadcast runner and the mail dispatchers of one process work together: batches the
runner hands straight to a dispatcher, hints of which messages are due, and intervals they
share (the recovery of abandoned claims, the due-message query)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from crm_campaigns.domain.models import (
    BroadcastStatus,
)
from crm_shared import (
    Wakeup,
)

# How often a process whose dispatchers have hints still queries for due messages (retries,
# deferrals, other processes' messages): hints must not starve them. Once per process rather
# than per dispatcher: on SecantusDB the query reads the whole backlog (half a second with
# 100,000 queued), and in a 100,000-message broadcast these queries took a fifth of the
# database's CPU at one per dispatcher every 5 s.
DUE_QUERY_INTERVAL_SECONDS = 10.0


class SharedInterval:
    """A periodic duty shared by a process's dispatchers: whichever asks first once the interval
    has passed does it, the others skip it until the next interval."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._next = 0.0

    def claim(self) -> bool:
        """Whether the asking dispatcher should do the duty now (and so nobody else until the
        interval has passed again)."""
        now = self._clock()
        if now < self._next:
            return False
        self._next = now + self._seconds
        return True


class DueMessageHints:
    """Ids of messages this process has just queued, due now, for its own dispatcher.

    Finding due messages is an index range query over every queued message. MongoDB stops at the
    batch limit, but a server may read every match first (SecantusDB does), so a 100,000-message
    broadcast paid for its whole backlog on every batch. The broadcast runner knows what it
    queued and hands the ids over; the dispatcher claims them by id under the same conditions
    as always (queued and due), so a hint is never more than a hint: a message another worker
    took, or one that was paused meanwhile, is simply not claimed. Whatever is not hinted
    (retries, deferrals, other processes' messages, hints over `capacity`) is found by the
    query, which one of the process's dispatchers still runs every `query_interval` seconds.
    """

    def __init__(
        self,
        capacity: int = 200_000,
        query_interval: float = DUE_QUERY_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capacity = capacity
        self._ids: deque[str] = deque()
        self._query = SharedInterval(query_interval, clock)

    def add(self, message_ids: Sequence[str]) -> None:
        """Hints these ids, or none of them when that would exceed the capacity."""
        if len(self._ids) + len(message_ids) <= self._capacity:
            self._ids.extend(message_ids)

    def take(self, count: int) -> list[str]:
        """Up to `count` hinted ids, oldest first."""
        return [self._ids.popleft() for _ in range(min(count, len(self._ids)))]

    def should_query(self) -> bool:
        """Whether the asking dispatcher should run the due-message query now: always while
        nothing is hinted, otherwise once per interval among all the process's dispatchers."""
        return self._query.claim() or not self._ids

    def __len__(self) -> int:
        return len(self._ids)


QueueDocuments = Callable[[str, list[dict[str, Any]]], Awaitable[None]]


OfferOutcome = tuple[list["asyncio.Future[int | None]"], list[dict[str, Any]]]


@dataclass
class HandedBatch:
    """Rendered messages of one broadcast, due now, for one dispatcher to insert as its claim."""

    tenant_id: str
    broadcast_id: str
    # The broadcast's status while its messages go in (preparing, or sending for an A/B test's
    # rest); in any other (paused, cancelled) the dispatcher inserts nothing.
    expected_status: BroadcastStatus
    documents: list[dict[str, Any]]
    # How many of the documents were new and so claimed; None when none went in because the
    # broadcast's status had changed.
    inserted: asyncio.Future[int | None]
    taken: asyncio.Event = field(default_factory=asyncio.Event)


class BatchHandoff:
    """Hands the broadcast runner's rendered messages straight to a dispatcher of its process,
    which inserts them already claimed (`sending`, its claim id and lease) and sends them.

    A queued message costs three document writes (its insert, the claim, the outcome) and a read
    after the claim; a handed one, two writes and no read. Message ids derive from the broadcast
    and the candidate, so a message an earlier, interrupted run inserted is a duplicate key:
    not inserted again, so not claimed, so not sent twice.

    The runner offers one batch at a time and waits up to `wait` seconds for a dispatcher to take
    it; what none takes (every dispatcher busy that long, or none running) is queued as before,
    for whichever worker of any process claims it. While batches are handed, the process's
    dispatchers still run the due-message query once per `query_interval`, so retries and
    deferred messages are not starved by a long broadcast.
    """

    def __init__(
        self,
        batch_size: int,
        wakeup: Wakeup,
        *,
        wait: float = 2.0,
        query_interval: float = DUE_QUERY_INTERVAL_SECONDS,
    ) -> None:
        self.batch_size = batch_size
        self._wakeup = wakeup
        self._wait = wait
        self._offered: deque[HandedBatch] = deque()
        self._runs = 0
        self.due_query = SharedInterval(query_interval)

    async def hand(
        self,
        tenant_id: str,
        broadcast_id: str,
        expected_status: BroadcastStatus,
        documents: list[dict[str, Any]],
    ) -> OfferOutcome:
        """Offers `documents` in batches; returns the taken batches' outcomes and the documents
        no dispatcher took in time (the caller queues those)."""
        outcomes: list[asyncio.Future[int | None]] = []
        loop = asyncio.get_running_loop()
        for start in range(0, len(documents), self.batch_size):
            batch = HandedBatch(
                tenant_id,
                broadcast_id,
                expected_status,
                documents[start : start + self.batch_size],
                loop.create_future(),
            )
            self._offered.append(batch)
            self._wakeup.notify()
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(batch.taken.wait(), self._wait)
            finally:
                if not batch.taken.is_set():
                    self._offered.remove(batch)
            if not batch.taken.is_set():
                return outcomes, documents[start:]
            outcomes.append(batch.inserted)
        return outcomes, []

    def take(self) -> HandedBatch | None:
        """The oldest offered batch, now this dispatcher's to resolve; None if none waits."""
        if not self._offered:
            return None
        batch = self._offered.popleft()
        batch.taken.set()
        return batch

    @property
    def handing(self) -> bool:
        """Whether a runner of this process is handing batches over (between two offers it
        renders the next)."""
        return self._runs > 0

    @contextlib.asynccontextmanager
    async def run(self, queue: QueueDocuments) -> AsyncIterator[Handing]:
        """One runner's handing over; `queue` stores what no dispatcher took in time."""
        handing = Handing(self, queue)
        self._runs += 1
        try:
            yield handing
        finally:
            self._runs -= 1
            await handing.close()

    def __len__(self) -> int:
        return len(self._offered)


class Handing:
    """One run's offers: one waits for a dispatcher while the runner renders the next chunk."""

    def __init__(self, handoff: BatchHandoff, queue: QueueDocuments) -> None:
        self._handoff = handoff
        self._queue = queue
        self._pending: asyncio.Task[OfferOutcome] | None = None
        self._pending_tenant = ""
        self._outcomes: list[asyncio.Future[int | None]] = []

    async def offer(
        self,
        tenant_id: str,
        broadcast_id: str,
        expected_status: BroadcastStatus,
        documents: list[dict[str, Any]],
    ) -> None:
        """Offers `documents` once the previous offer is settled; returns without waiting."""
        await self._settle_pending()
        if documents:
            self._pending_tenant = tenant_id
            self._pending = asyncio.create_task(
                self._handoff.hand(tenant_id, broadcast_id, expected_status, documents)
            )

    async def all_went_in(self) -> bool:
        """Waits until every taken batch is in the database; False if any was refused because
        the broadcast was paused or cancelled meanwhile."""
        await self._settle_pending()
        return None not in await asyncio.gather(*self._outcomes)

    async def _settle_pending(self) -> None:
        if self._pending is None:
            return
        pending, self._pending = self._pending, None
        outcomes, not_taken = await pending
        self._outcomes.extend(outcomes)
        if not_taken:
            await self._queue(self._pending_tenant, not_taken)

    async def close(self) -> None:
        """Withdraws an offer still waiting (after a failure: the run is redone)."""
        if self._pending is not None:
            self._pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pending
            self._pending = None
