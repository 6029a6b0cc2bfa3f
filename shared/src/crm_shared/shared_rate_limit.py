"""Rate limits every replica of a service shares: fixed-window counters in MongoDB.

One counter document per key and window (`<name>:<key>:<window number>`), incremented with one
`find_one_and_update` (an upsert) per request: however many gateway processes run, they draw
from one budget, and a request costs exactly one database round trip. A key may carry member
counters in the same document (a tenant's API keys), each with a limit of its own, checked in
that same round trip. A TTL index deletes a window's document once the window is over.

Fixed windows let a caller spend up to twice the limit across a window boundary (the end of one
window and the start of the next); for abuse protection the single round trip is worth that.
When MongoDB does not answer in time, the process counts on its own, in the same windows, for a
few seconds before it asks the database again: a database outage must not become an API outage,
nor add a timeout to every request.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import pymongo
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from crm_shared.mongo import Document

logger = logging.getLogger(__name__)

RATE_LIMITS = "rate_limits"
_UPSERT_ATTEMPTS = 3


@dataclass(frozen=True)
class RateLimitDecision:
    """What one request's count says: whether it may go ahead, and the budget it left."""

    allowed: bool
    limit: int
    remaining: int
    # Seconds until the window ends and the budget is whole again (at least 1).
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        """The `RateLimit-*` response headers (IETF httpapi-ratelimit-headers draft)."""
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }

    def tighter(self, other: RateLimitDecision | None) -> RateLimitDecision:
        """The more restrictive of two decisions: a refusal first, then the smaller budget."""
        if other is None:
            return self
        return min(self, other, key=lambda d: (d.allowed, d.remaining, -d.reset_seconds))


@dataclass(frozen=True)
class WindowCount:
    """A key's count in the current window, and its member's (0 without a member)."""

    count: int
    member_count: int = 0


class WindowCounters(Protocol):
    """Where the counters live: MongoDB for every replica, or one process's memory."""

    async def increment(
        self, counter_id: str, key: str, member: str | None, expires_at: float
    ) -> WindowCount: ...


class MongoWindowCounters:
    """Counters in a collection of the service's database, shared by its replicas."""

    def __init__(self, collection: AsyncCollection[Document], timeout_seconds: float) -> None:
        self._collection = collection
        self._timeout = timeout_seconds
        self._indexed = False

    async def increment(
        self, counter_id: str, key: str, member: str | None, expires_at: float
    ) -> WindowCount:
        with pymongo.timeout(self._timeout):
            if not self._indexed:
                # On first use, not at start-up: the gateway starts without MongoDB.
                await self._collection.create_index(
                    [("expires_at", ASCENDING)], expireAfterSeconds=0
                )
                self._indexed = True
            increments = {"count": 1} | ({} if member is None else {f"members.{member}": 1})
            update = {
                "$inc": increments,
                "$setOnInsert": {
                    "key": key,
                    "expires_at": datetime.fromtimestamp(expires_at, tz=UTC),
                },
            }
            # Only the counts this request needs come back, not every member's.
            projection = {"count": 1} | ({} if member is None else {f"members.{member}": 1})
            document = await self._upsert(counter_id, update, projection)
        members = document.get("members", {})
        return WindowCount(int(document["count"]), int(members.get(member, 0)) if member else 0)

    async def _upsert(self, counter_id: str, update: Document, projection: Document) -> Document:
        """The counter document after the update, creating it on a window's first request.

        The first requests of a window race to insert its document: the loser gets a duplicate
        key error, and SecantusDB sometimes answers such a racing upsert with no document
        although it applied it. Either way the request counts again, on the existing document:
        a limit may over-count by one per such race, never under-count."""
        for _ in range(_UPSERT_ATTEMPTS):
            try:
                document: Document | None = await self._collection.find_one_and_update(
                    {"_id": counter_id},
                    update,
                    projection=projection,
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                continue
            if document is not None:
                return document
        raise PyMongoError(f"no counter after {_UPSERT_ATTEMPTS} upserts of {counter_id}")


class MemoryWindowCounters:
    """Counters of one process: for a single replica, tests, and while MongoDB is away."""

    def __init__(self, max_counters: int = 100_000) -> None:
        self._counts: dict[str, tuple[float, int]] = {}
        self._max = max_counters

    async def increment(
        self, counter_id: str, key: str, member: str | None, expires_at: float
    ) -> WindowCount:
        if len(self._counts) >= self._max:
            now = time.time()
            self._counts = {name: kept for name, kept in self._counts.items() if kept[0] > now}
        count = self._bump(counter_id, expires_at)
        member_count = 0 if member is None else self._bump(f"{counter_id}/{member}", expires_at)
        return WindowCount(count, member_count)

    def _bump(self, counter_id: str, expires_at: float) -> int:
        _, count = self._counts.get(counter_id, (expires_at, 0))
        self._counts[counter_id] = (expires_at, count + 1)
        return count + 1


class SharedRateLimiter:
    """`limit` requests per key in each window of `window_seconds`, and `member_limit` per
    member of a key (0: unlimited), counted in `counters`.

    `fallback` counts while `counters` fail, for `fallback_seconds` after each failure."""

    def __init__(
        self,
        counters: WindowCounters,
        *,
        name: str,
        limit: int,
        member_limit: int = 0,
        window_seconds: int = 60,
        fallback: WindowCounters | None = None,
        fallback_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if window_seconds <= 0:
            raise ValueError("a rate-limit window must be positive")
        self._counters = counters
        self._name = name
        self.limit = limit
        self.member_limit = member_limit
        self._window = window_seconds
        self._fallback = fallback or MemoryWindowCounters()
        self._fallback_seconds = fallback_seconds
        self._clock = clock
        self._fallback_until = 0.0

    @property
    def counting_in_process(self) -> bool:
        """Whether the shared counters failed recently and this process counts on its own."""
        return self._clock() < self._fallback_until

    async def hit(self, key: str, member: str | None = None) -> RateLimitDecision | None:
        """Counts one request of `key` (and of its `member`, e.g. an API key id); None when
        no limit applies to it."""
        counted_member = _member_field(member) if member and self.member_limit > 0 else None
        if self.limit <= 0 and counted_member is None:
            return None
        now = self._clock()
        window = math.floor(now / self._window)
        window_end = (window + 1) * self._window
        counter_id = f"{self._name}:{key}:{window}"
        counted = await self._count(counter_id, key, counted_member, window_end, now)
        reset = max(1, math.ceil(window_end - now))
        decision = None
        if self.limit > 0:
            decision = _decision(self.limit, counted.count, reset)
        if counted_member is not None:
            decision = _decision(self.member_limit, counted.member_count, reset).tighter(decision)
        return decision

    async def _count(
        self, counter_id: str, key: str, member: str | None, window_end: float, now: float
    ) -> WindowCount:
        # Kept a window longer than it lasts: a clock a little behind still finds it.
        expires_at = window_end + self._window
        if now >= self._fallback_until:
            try:
                return await self._counters.increment(counter_id, key, member, expires_at)
            except PyMongoError as error:
                self._fallback_until = now + self._fallback_seconds
                logger.warning(
                    "rate limit %s: shared counters unavailable (%s); counting in this process "
                    "for %.0f s",
                    self._name,
                    error,
                    self._fallback_seconds,
                )
        return await self._fallback.increment(counter_id, key, member, expires_at)


def _decision(limit: int, count: int, reset: int) -> RateLimitDecision:
    return RateLimitDecision(count <= limit, limit, max(0, limit - count), reset)


def _member_field(member: str) -> str:
    """A member's counter name: a digest, as any key string (with dots or `$`) may be one, and
    no key value (an API key id) needs to be stored."""
    return hashlib.blake2b(member.encode(), digest_size=8).hexdigest()
