"""The gateway's idempotency use cases: a POST sent with an `Idempotency-Key` runs once; the
same request sent again gets the stored response."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from crm_gateway.domain.idempotency import (
    IdempotencyRecord,
    KeyInFlightError,
    KeyReusedError,
    KeyScope,
    RecordState,
    StoredResponse,
    Verdict,
    is_replayable,
    verdict,
)
from crm_gateway.repositories.idempotency import IdempotencyRecords
from crm_shared import utc_now

logger = logging.getLogger(__name__)

# Two attempts racing for one key settle in one round (one inserts, the other finds its
# record); a third round only follows a lease that expired in between.
_ROUNDS = 3


@dataclass(frozen=True)
class Claim:
    """The right of one attempt to run the request a key names, and to record its outcome."""

    scope: KeyScope
    record: IdempotencyRecord


class IdempotentRequests:
    """Claims keys, replays what completed, and records each outcome."""

    def __init__(
        self,
        records: IdempotencyRecords,
        *,
        lifetime: timedelta,
        lease: timedelta,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._records = records
        self._lifetime = lifetime
        self._lease = lease
        self._clock = clock

    async def forget_person(self, tenant_id: str, candidate_id: str) -> int:
        """Forgets the stored responses that name an erased candidate (a create's 201 holds
        their name and address for the records' lifetime otherwise); how many."""
        return await self._records.forget_responses_naming(tenant_id, candidate_id)

    async def begin(self, scope: KeyScope, fingerprint: str) -> Claim | StoredResponse:
        """A claim to run the request, or the response it completed with before.

        Raises KeyReusedError when the key named another request, KeyInFlightError when the
        same request is still running under it."""
        for _ in range(_ROUNDS):
            now = self._clock()
            found = await self._records.find(scope)
            decided = verdict(found, fingerprint, now)
            if decided is Verdict.MISMATCH:
                raise KeyReusedError
            if decided is Verdict.IN_FLIGHT:
                raise KeyInFlightError
            if decided is Verdict.REPLAY and found is not None and found.response is not None:
                return found.response
            claimed = IdempotencyRecord(
                fingerprint=fingerprint,
                state=RecordState.IN_FLIGHT,
                claim=secrets.token_hex(16),
                expires_at=now + self._lease,
            )
            # An expired record (a lease whose gateway died, a key past its lifetime) is taken
            # over only if no other attempt took it over first.
            won = (
                await self._records.insert(scope, claimed)
                if found is None
                else await self._records.replace(scope, found.claim, claimed)
            )
            if won:
                return Claim(scope, claimed)
        raise KeyInFlightError

    async def finish(self, claim: Claim, status: int, headers: dict[str, str], body: bytes) -> None:
        """Records the outcome: a replayable response is stored for the key's lifetime; any
        other (a 5xx, a 409 or 429) frees the key, so the same request may be sent again."""
        if not is_replayable(status):
            await self.abandon(claim)
            return
        completed = claim.record.completed(
            StoredResponse.of(status, headers, body), self._clock() + self._lifetime
        )
        await self._records.replace(claim.scope, claim.record.claim, completed)

    async def abandon(self, claim: Claim) -> None:
        """Frees the key after an attempt that gave no response (the service timed out or was
        unreachable): whether it took effect is unknown, and the caller may send it again."""
        await self._records.delete(claim.scope, claim.record.claim)


@dataclass(frozen=True)
class KeyedTiming:
    """How long a caller waits for a keyed request, and how long the gateway goes on waiting
    for the service after answering the caller 504 (less than the key's lease, so no other
    attempt can take the key over while the first still runs)."""

    answer_within_seconds: float
    keep_waiting_seconds: float


class UnfinishedRequests:
    """Keyed requests still running after their caller got a 504: their outcome is recorded
    when they finish, so a repeat with the same key gets it instead of running again."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()

    def keep(self, task: asyncio.Task[object]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.info("a keyed request that outlived its 504 failed: %s", task.exception())

    async def cancel_all(self) -> None:
        """On shutdown: their keys stay held until the lease ends, then a repeat runs again."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
