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

import asyncio
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
        self, counter_id: str, key: str, member: str | None, expires_at: float, by: int = 1
    ) -> WindowCount:
        """Adds `by` to the key's count in the window (and to its member's), and returns the
        counts after it."""
        ...


class MongoWindowCounters:
    """Counters in a collection of the service's database, shared by its replicas."""

    def __init__(self, collection: AsyncCollection[Document], timeout_seconds: float) -> None:
        self._collection = collection
        self._timeout = timeout_seconds
        self._indexed = False

    async def increment(
        self, counter_id: str, key: str, member: str | None, expires_at: float, by: int = 1
    ) -> WindowCount:
        with pymongo.timeout(self._timeout):
            if not self._indexed:
                # On first use, not at start-up: the gateway starts without MongoDB.
                await self._collection.create_index(
                    [("expires_at", ASCENDING)], expireAfterSeconds=0
                )
                self._indexed = True
            increments = {"count": by} | ({} if member is None else {f"members.{member}": by})
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
        self, counter_id: str, key: str, member: str | None, expires_at: float, by: int = 1
    ) -> WindowCount:
        if len(self._counts) >= self._max:
            now = time.time()
            self._counts = {name: kept for name, kept in self._counts.items() if kept[0] > now}
        count = self._bump(counter_id, expires_at, by)
        member_count = 0 if member is None else self._bump(f"{counter_id}/{member}", expires_at, by)
        return WindowCount(count, member_count)

    def _bump(self, counter_id: str, expires_at: float, by: int) -> int:
        _, count = self._counts.get(counter_id, (expires_at, 0))
        self._counts[counter_id] = (expires_at, count + by)
        return count + by


@dataclass
class _Block:
    """Counts a process claimed from the shared counters and hands out one request at a time:
    the shared counts after the claim (`top`, `member_top`) and how many it spent."""

    size: int
    top: int
    member_top: int
    claimed_at: float
    expires_at: float
    spent: int = 0

    def spend(self, member: str | None) -> WindowCount:
        self.spent += 1
        unspent = self.size - self.spent
        return WindowCount(self.top - unspent, 0 if member is None else self.member_top - unspent)


class ClaimingWindowCounters:
    """Shared counters asked once per block of requests instead of once per request.

    A process claims a block of counts with one increment and hands them out in its own memory;
    each request is told the count it would have had, had the block been claimed one by one. The
    block grows with the key's request rate (about `claim_seconds` of requests, at most
    `max_block`, or `max_member_block` for a key with a member) and a slow key claims one at a
    time, exactly like the shared counters. Every count is handed out once across replicas, so a
    limit is never exceeded; counts claimed but not spent (at most a block per replica and key,
    and a block older than `max_age_seconds` is left for a new one) are refused to nobody and
    only make a limit bite a little early."""

    def __init__(
        self,
        shared: WindowCounters,
        *,
        max_block: int,
        max_member_block: int,
        claim_seconds: float = 0.2,
        max_age_seconds: float = 1.0,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._shared = shared
        self._max_block = max(1, max_block)
        self._max_member_block = max(1, max_member_block)
        self._claim_seconds = claim_seconds
        self._max_age = max_age_seconds
        self._max_keys = max_keys
        self._clock = clock
        self._blocks: dict[tuple[str, str | None], _Block] = {}
        self._sizes: dict[tuple[str, str | None], int] = {}
        self._locks: dict[tuple[str, str | None], asyncio.Lock] = {}

    async def increment(
        self, counter_id: str, key: str, member: str | None, expires_at: float, by: int = 1
    ) -> WindowCount:
        if by != 1:
            return await self._shared.increment(counter_id, key, member, expires_at, by)
        slot = (counter_id, member)
        lock = self._locks.get(slot)
        if lock is None:
            self._forget_ended_windows()
            lock = self._locks[slot] = asyncio.Lock()
        async with lock:
            now = self._clock()
            block = self._blocks.get(slot)
            if block is None or block.spent >= block.size or now - block.claimed_at > self._max_age:
                size = self._next_size((key, member), block, now)
                counted = await self._shared.increment(counter_id, key, member, expires_at, size)
                block = _Block(size, counted.count, counted.member_count, now, expires_at)
                self._blocks[slot] = block
            return block.spend(member)

    def _next_size(self, rated: tuple[str, str | None], spent: _Block | None, now: float) -> int:
        """About `claim_seconds` of the key's requests, at the rate its last block was spent."""
        largest = self._max_block if rated[1] is None else self._max_member_block
        size = self._sizes.get(rated, 1)
        if spent is not None:
            rate = spent.spent / max(now - spent.claimed_at, 1e-3)
            size = round(rate * self._claim_seconds)
        size = min(max(size, 1), largest)
        self._sizes[rated] = size
        return size

    def _forget_ended_windows(self) -> None:
        if len(self._locks) < self._max_keys:
            return
        now = time.time()
        for slot in [
            slot
            for slot, lock in self._locks.items()
            if not lock.locked()
            and ((block := self._blocks.get(slot)) is None or block.expires_at <= now)
        ]:
            self._blocks.pop(slot, None)
            del self._locks[slot]
        if len(self._sizes) >= self._max_keys:
            self._sizes.clear()


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
