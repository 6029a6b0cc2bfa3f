"""What any ATS reports about applications and jobs, in the CRM's words.

Every adapter (Greenhouse, Lever, Workable, ...) maps its webhooks into `NewApplication` and
`ApplicationChange`, and its read API into `ApplicationSnapshot` and `AtsJob`; everything after
that (storage, staleness, events) is the same for every ATS.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar


class WebhookRejectedError(ValueError):
    """The delivery is not from the connected ATS account, or is not a valid webhook."""


class ChangeKind(StrEnum):
    """What happened to an application."""

    STAGE_CHANGED = "stage_changed"
    REJECTED = "rejected"
    HIRED = "hired"


class ApplicationStatus(StrEnum):
    ACTIVE = "active"
    REJECTED = "rejected"
    HIRED = "hired"


def status_after(kind: ChangeKind) -> ApplicationStatus:
    """An application's status after the ATS reported a change of `kind`."""
    return {
        ChangeKind.REJECTED: ApplicationStatus.REJECTED,
        ChangeKind.HIRED: ApplicationStatus.HIRED,
    }.get(kind, ApplicationStatus.ACTIVE)


def body_digest(body: bytes) -> str:
    """What identifies a delivery's content: an ATS that signs the body only lets a captured
    body be sent again under a new delivery id, which is a replay, not a new event."""
    return "body:" + hashlib.sha256(body).hexdigest()


def is_stale(occurred_at: datetime | None, last_changed_at: datetime | None) -> bool:
    """Whether a change the ATS dates `occurred_at` is older than the state already recorded
    (dated `last_changed_at`): deliveries arrive out of order and can be replayed, and an old
    one must never move an application back. Undated changes are applied."""
    return occurred_at is not None and last_changed_at is not None and occurred_at < last_changed_at


@dataclass(frozen=True)
class NewApplication:
    """A new application, as a webhook reports it."""

    ats_application_id: str
    ats_candidate_id: str
    emails: list[str]
    first_name: str | None
    last_name: str | None
    job_name: str | None
    applied_at: datetime | None
    stage: str | None = None
    # The ATS's job, where the webhook names it, and whether the person is a prospect (no
    # application for a job yet).
    ats_job_id: str | None = None
    prospect: bool = False


@dataclass(frozen=True)
class ApplicationChange:
    """A stage change, rejection or hire, as a webhook reports it."""

    kind: ChangeKind
    ats_application_id: str
    ats_candidate_id: str
    emails: list[str]
    job_name: str | None
    stage: str | None
    occurred_at: datetime | None
    rejection_reason: str | None = None
    # The person's name, where the ATS said it (a snapshot does; most webhooks do).
    first_name: str | None = None
    last_name: str | None = None


@dataclass(frozen=True)
class ApplicationTouched:
    """A webhook that names an application but not its new state (Lever's webhooks carry ids
    only): the application is read back from the ATS's API and applied like a reconciliation."""

    ats_application_id: str
    occurred_at: datetime | None


WebhookReport = NewApplication | ApplicationChange | ApplicationTouched | None


@dataclass(frozen=True)
class ApplicationSnapshot:
    """An application's whole current state, as the ATS's read API answers it (backfill and
    reconciliation compare it with what the CRM holds)."""

    ats_application_id: str
    ats_candidate_id: str
    emails: list[str]
    first_name: str | None
    last_name: str | None
    job_name: str | None
    applied_at: datetime | None
    stage: str | None
    status: ApplicationStatus
    # When the ATS last changed the application: the time its state is dated by.
    changed_at: datetime | None
    rejection_reason: str | None = None
    ats_job_id: str | None = None
    # A prospect has no application for a job yet (Greenhouse prospects, Lever leads).
    prospect: bool = False
    # The ATS's record(s) it was read from, as the API answered them: kept as a rejected
    # payload if the CRM cannot store the snapshot. Not part of the state.
    source: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)


class JobStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    DRAFT = "draft"


@dataclass(frozen=True)
class AtsJob:
    """A job (requisition, posting) in the ATS."""

    ats_job_id: str
    name: str
    status: JobStatus
    changed_at: datetime | None
    departments: list[str] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Prospect:
    """A CRM candidate to create in the ATS, as a prospect or, with `ats_job_id`, an application
    for that job."""

    candidate_id: str
    email: str
    first_name: str | None
    last_name: str | None
    ats_job_id: str | None = None


@dataclass(frozen=True)
class PushedProspect:
    """What the ATS answered for a pushed candidate: its ids for them."""

    ats_candidate_id: str
    ats_application_id: str | None


Item = TypeVar("Item")

# What mapping a record of an ATS's answer raises when the record is not what the CRM expects.
MAPPING_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)


@dataclass(frozen=True)
class UnmappedRecord:
    """A record of a read API's page the CRM could not map: skipped (the rest of the page is
    applied) and kept, with why, among the connection's rejected payloads."""

    ats_id: str | None
    reason: str
    # The record as the ATS answered it (with what it was read with: Greenhouse's candidate).
    payload: Any


@dataclass(frozen=True)
class Page(Generic[Item]):
    """One page of a read API's answer; `next_cursor` is None on the last page. The cursor is
    opaque to the caller (a Greenhouse `Link` URL, a Lever `next` offset, a Workable `since_id`)
    and is stored as is, so an interrupted backfill resumes where it stopped. `rejected` are
    the page's records the adapter could not map."""

    items: list[Item]
    next_cursor: str | None
    rejected: list[UnmappedRecord] = field(default_factory=list)


def map_records(
    records: Iterable[Any],
    mapper: Callable[[Any], Item],
    *,
    what: str,
    payload: Callable[[Any], Any] | None = None,
) -> tuple[list[Item], list[UnmappedRecord]]:
    """Each record mapped on its own: the ones mapped, and the ones that could not be (with
    their id where they have one, why, and `payload(record)`, by default the record)."""
    mapped: list[Item] = []
    rejected: list[UnmappedRecord] = []
    for record in records:
        try:
            mapped.append(mapper(record))
        except MAPPING_ERRORS as error:
            ats_id = record.get("id") if isinstance(record, Mapping) else None
            try:
                kept = record if payload is None else payload(record)
            except MAPPING_ERRORS:
                kept = record
            rejected.append(
                UnmappedRecord(
                    ats_id=None if ats_id is None else str(ats_id),
                    reason=f"{what} not mapped: {error}",
                    payload=kept,
                )
            )
    return mapped, rejected
