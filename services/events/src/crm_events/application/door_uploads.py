"""An offline door's check-ins, uploaded once the network is back: each code is checked in as of
the time it was scanned at the door, once however often the batch is uploaded, and every
check-in that could not be taken as it was is reported by item."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crm_events.application.lifecycle import existing_event
from crm_events.application.registrations import admit_all
from crm_events.application.storage import EventsStorage
from crm_events.domain.models import (
    DoorCheckInOutcome,
    EventCancelled,
    EventStatus,
    Registration,
    as_utc,
    door_outcome,
    door_time_refusal,
    normalise_door_code,
)
from crm_shared import utc_now

# Check-ins written per transaction: one transaction each made a 1000-item upload take tens of
# seconds (past the gateway's 10 s); one for all would redo the whole batch on any conflict.
ADMISSIONS_PER_TRANSACTION = 100


@dataclass(frozen=True)
class DoorCheckIn:
    """One check-in made at the door: the code scanned or typed, and when."""

    code: str
    checked_in_at: datetime


@dataclass(frozen=True)
class DoorCheckInResult:
    """What one uploaded check-in did; `registration` is None for a code nobody holds."""

    code: str
    outcome: DoorCheckInOutcome
    registration: Registration | None = None


class DoorTimesRefused(Exception):
    """Check-in times that cannot be kept (in the future, before the event's day), by item
    index: the whole upload is refused, so a device with a wrong clock records nothing."""

    def __init__(self, refusals: dict[int, str]) -> None:
        super().__init__("; ".join(f"{i}: {why}" for i, why in refusals.items()))
        self.refusals = refusals


async def upload_check_ins(
    storage: EventsStorage, tenant_id: str, event_id: str, check_ins: list[DoorCheckIn]
) -> list[DoorCheckInResult]:
    """Checks in each uploaded code as of its door time, in the order given (a code twice in a
    batch: the second is `already_checked_in`). `EventCancelled` for a cancelled event (nothing
    is recorded), `DoorTimesRefused` when any time is out of bounds."""
    event = await existing_event(storage, tenant_id, event_id)
    if event.status is EventStatus.CANCELLED:
        raise EventCancelled(event)
    now = utc_now()
    refusals = {
        index: why
        for index, item in enumerate(check_ins)
        if (why := door_time_refusal(event, item.checked_in_at, now)) is not None
    }
    if refusals:
        raise DoorTimesRefused(refusals)
    codes = [normalise_door_code(item.code) for item in check_ins]
    holders = await storage.registrations(tenant_id).by_codes(event.id, codes)
    results: list[DoorCheckInResult | None] = [None] * len(check_ins)
    arrivals: list[tuple[int, Registration, datetime]] = []
    for index, (code, item) in enumerate(zip(codes, check_ins, strict=True)):
        found = holders.get(code, [])
        if len(found) != 1:
            outcome = (
                DoorCheckInOutcome.AMBIGUOUS_CODE if found else DoorCheckInOutcome.UNKNOWN_CODE
            )
            results[index] = DoorCheckInResult(code, outcome)
            continue
        # A clock a little ahead: taken as now, so no check-in is stored in the future.
        arrivals.append((index, found[0], min(as_utc(item.checked_in_at), now)))
    for start in range(0, len(arrivals), ADMISSIONS_PER_TRANSACTION):
        chunk = arrivals[start : start + ADMISSIONS_PER_TRANSACTION]
        admitted = await admit_all(storage, event, [(r, at) for _, r, at in chunk])
        for (index, before, _), (after, newly) in zip(chunk, admitted, strict=True):
            # Not checked in by this call: by the live door, another device's upload, or
            # earlier in this batch; this item changed nothing.
            outcome = door_outcome(before) if newly else DoorCheckInOutcome.ALREADY_CHECKED_IN
            results[index] = DoorCheckInResult(codes[index], outcome, after)
    return [result for result in results if result is not None]
