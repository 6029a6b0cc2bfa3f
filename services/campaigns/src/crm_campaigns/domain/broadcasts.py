"""Pure broadcast rules: who gets which A/B variant, when each recipient's mail is due, and
which variant won."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_campaigns.domain.models import (
    AbMetric,
    AbTest,
    Broadcast,
    BroadcastStatus,
    MessageStatus,
    Schedule,
    SendAt,
    SendAtLocalTime,
)

TEST_GROUP = "test"
REST_GROUP = "rest"
ALL_GROUP = "all"


# A schedule this far in the past is a typo (a year, a month), not a late "now": refused.
SCHEDULE_PAST_TOLERANCE = timedelta(days=1)


def schedule_in_the_past(schedule: Schedule, now: datetime) -> str | None:
    """Why a schedule a broadcast is saved with lies well in the past (more than a day: a
    moment a few minutes gone still means now), or None. A local time is judged by its date,
    which the earliest time zone reaches last."""
    earliest = now - SCHEDULE_PAST_TOLERANCE
    if isinstance(schedule, SendAt) and schedule.send_at < earliest:
        return f"{schedule.send_at.isoformat()} is in the past; give a time ahead (or none)"
    if isinstance(schedule, SendAtLocalTime) and schedule.date < earliest.date():
        return f"{schedule.date.isoformat()} is in the past; give a date ahead (or none)"
    return None


@dataclass(frozen=True)
class Assignment:
    """One recipient's place in a broadcast: `test` (gets `variant` now), `rest` (gets the
    winner later) or `all` (no A/B test)."""

    candidate_id: str
    group: str
    variant: str | None


def _shuffle_key(broadcast_id: str, candidate_id: str) -> bytes:
    return hashlib.sha256(f"{broadcast_id}:{candidate_id}".encode()).digest()


def assign_variants(
    broadcast_id: str, candidate_ids: Sequence[str], ab_test: AbTest | None
) -> list[Assignment]:
    """Splits the audience: a deterministic pseudo-random `test_percentage` (at least one per
    variant, if the audience allows) gets the variants in turn, the others wait for the winner.

    Deterministic, so preparing a broadcast again after a crash assigns everyone the same way.
    """
    if ab_test is None:
        return [Assignment(candidate_id, ALL_GROUP, None) for candidate_id in candidate_ids]
    shuffled = sorted(candidate_ids, key=lambda c: _shuffle_key(broadcast_id, c))
    size = math.ceil(len(shuffled) * ab_test.test_percentage / 100)
    size = min(len(shuffled), max(size, len(ab_test.variants)))
    names = [variant.name for variant in ab_test.variants]
    return [
        Assignment(candidate_id, TEST_GROUP, names[index % len(names)])
        if index < size
        else Assignment(candidate_id, REST_GROUP, None)
        for index, candidate_id in enumerate(shuffled)
    ]


def zone_or(name: str | None, fallback: str) -> ZoneInfo:
    """The named IANA zone; the fallback for a missing or unknown name."""
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def send_time(
    schedule: Schedule, *, now: datetime, time_zone: str | None, fallback_zone: str
) -> datetime:
    """When one recipient's mail is due (UTC); a moment already past means now."""
    if isinstance(schedule, SendAt):
        due = schedule.send_at.astimezone(UTC)
    elif isinstance(schedule, SendAtLocalTime):
        zone = zone_or(time_zone, fallback_zone)
        local = datetime.combine(schedule.date, schedule.local_time, tzinfo=zone)
        due = local.astimezone(UTC)
    else:
        due = now
    return max(due, now)


@dataclass(frozen=True)
class MessageTally:
    """A broadcast's messages counted by status, and the skipped and failed ones by reason."""

    by_status: dict[str, int]
    skipped_reasons: dict[str, int]
    failure_reasons: dict[str, int]

    def of(self, *statuses: MessageStatus) -> int:
        return sum(self.by_status.get(status.value, 0) for status in statuses)


@dataclass(frozen=True)
class UnmadeRest:
    """The people of the audience who have no message yet: an A/B broadcast's rest waiting for
    the winner, those a preparation (running, or paused) has not reached yet, or those never
    sent anything because the broadcast was cancelled first."""

    awaiting_winner: int
    cancelled: int
    unprepared: int = 0


def unmade_rest(broadcast: Broadcast, tally: MessageTally, unknown: int) -> UnmadeRest:
    """Everyone in the snapshot (`audience_size`, recorded when the runner reads the audience)
    has a message or was skipped as unknown (`unknown`), except, until the broadcast is
    `materialized`, those without a message yet: the difference. Cancelled, they were not sent
    as it was cancelled; while it is prepared (or paused during its preparation) they are
    unprepared; an A/B broadcast sending (or paused while sending) has its rest wait for the
    winner."""
    if broadcast.materialized:
        return UnmadeRest(0, 0)
    unmade = max(0, broadcast.audience_size - sum(tally.by_status.values()) - unknown)
    if broadcast.status is BroadcastStatus.CANCELLED:
        return UnmadeRest(0, unmade)
    preparing = broadcast.status is BroadcastStatus.PREPARING or (
        broadcast.status is BroadcastStatus.PAUSED
        and broadcast.paused_from is BroadcastStatus.PREPARING
    )
    if preparing or broadcast.ab_test is None:
        return UnmadeRest(0, 0, unmade)
    return UnmadeRest(unmade, 0)


def queued_so_far(broadcast: Broadcast, tally: MessageTally) -> int:
    """The broadcast's messages queued: as counted by the runner once its preparation ended,
    and until then (also if it was paused or cancelled during it) the messages made so far."""
    return broadcast.queued or sum(tally.by_status.values())


@dataclass(frozen=True)
class VariantResult:
    """How one variant did among the test group."""

    name: str
    subject: str
    messages: int
    sent: int
    delivered: int  # sent, no bounce reported
    opened: int  # of the delivered messages: an open of a message that bounced is not
    clicked: int  # the same

    @property
    def open_rate(self) -> float:
        """Unique opens of the delivered messages / delivered: never above 1."""
        return self.opened / self.delivered if self.delivered else 0.0

    @property
    def click_rate(self) -> float:
        return self.clicked / self.delivered if self.delivered else 0.0


def pick_winner(results: Sequence[VariantResult], metric: AbMetric) -> str:
    """The variant with the best rate on `metric`; ties go to the other rate, then to the
    variant listed first."""

    def score(indexed: tuple[int, VariantResult]) -> tuple[float, float, int]:
        index, result = indexed
        primary, secondary = (
            (result.open_rate, result.click_rate)
            if metric is AbMetric.OPEN_RATE
            else (result.click_rate, result.open_rate)
        )
        return (primary, secondary, -index)

    return max(enumerate(results), key=score)[1].name
