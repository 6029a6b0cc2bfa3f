"""Workable's webhooks and its SPI v3 candidates and jobs, in the CRM's words.

As Workable documents them (workable.readme.io, "Webhook Subscriptions - Candidates &
Employees", "Candidate Events", "/talent_pool/candidates", "Rate limits", "What's new in v3"):

- A subscription (`POST /spi/v3/subscriptions`, `{"target", "event"}`) makes Workable POST the
  candidate to `target` on `candidate_created` and `candidate_moved`. The body is
  `{"event_type", "fired_at", "resource_type": "candidate", "data": {<candidate>}}` (`data` as
  the candidate details endpoint answers; the envelope's other keys are not in Workable's own
  reference, so only `data` is relied on), and it reflects the candidate when the request is
  made, not when the event fired.
- The `X-Workable-Signature` header is the hex HMAC-SHA256 of the body keyed with the account's
  access token (or an OAuth application's secret): Workable has no per-webhook secret.
- Workable sends no delivery id, so one is derived from what it does send (`delivery_id`).
- A Workable "candidate" is one person's application to one job (a person applying twice is two
  candidates), so its id is both the application's and the candidate's; one in the talent pool
  has no job: a prospect.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import fields
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from crm_ats_sync.domain.changes import (
    ApplicationChange,
    ApplicationSnapshot,
    ApplicationStatus,
    ApplicationTouched,
    AtsJob,
    ChangeKind,
    JobStatus,
    NewApplication,
    WebhookRejectedError,
    WebhookReport,
)

SIGNATURE_HEADER = "x-workable-signature"
RATE_LIMIT_RESET_HEADER = "x-rate-limit-reset"
CANDIDATE_CREATED = "candidate_created"
CANDIDATE_MOVED = "candidate_moved"
# The stage kind (and default stage name) Workable gives a hire.
HIRED = "hired"

JOB_STATES = {
    "published": JobStatus.OPEN,
    "draft": JobStatus.DRAFT,
    "closed": JobStatus.CLOSED,
    "archived": JobStatus.CLOSED,
}


def sign(key: str, body: bytes) -> str:
    """The `X-Workable-Signature` Workable sends for `body`, keyed with the account's token."""
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(keys: list[str], body: bytes, header: str | None) -> None:
    """Raises `WebhookRejectedError` unless `header` is Workable's signature of `body` under one
    of `keys`."""
    presented = (header or "").strip().lower()
    if not presented or not any(hmac.compare_digest(sign(k, body), presented) for k in keys):
        raise WebhookRejectedError("the webhook signature does not match")


def timestamp(value: Any) -> datetime | None:
    """A Workable time (ISO 8601, always UTC); None when absent."""
    if not value:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _document(body: bytes) -> dict[str, Any]:
    try:
        document: Any = json.loads(body)
        candidate = document["data"]
        if not isinstance(candidate, dict) or not candidate.get("id"):
            raise TypeError("no candidate")
    except (ValueError, KeyError, TypeError) as error:
        raise WebhookRejectedError("the body is not a Workable candidate webhook") from error
    return dict(document)


def delivery_id(body: bytes) -> str:
    """What identifies a delivery: Workable sends no id, and a retry carries the candidate as it
    is when retried, so the event, the candidate and the time Workable last changed it name the
    state delivered; a retry with the same state is the same delivery. "" for a body that is not
    a candidate webhook (it is refused before this is asked)."""
    try:
        document = _document(body)
    except WebhookRejectedError:
        return ""
    candidate = document["data"]
    changed = candidate.get("updated_at") or candidate.get("created_at") or ""
    return f"{document.get('event_type') or 'candidate'}:{candidate['id']}:{changed}"


def status_of(candidate: Mapping[str, Any]) -> ApplicationStatus:
    """Disqualified is rejected; a hire date or the hired stage is hired; else active."""
    if candidate.get("disqualified"):
        return ApplicationStatus.REJECTED
    stage_kind = str(candidate.get("stage_kind") or candidate.get("stage") or "").lower()
    if candidate.get("hired_at") or stage_kind == HIRED:
        return ApplicationStatus.HIRED
    return ApplicationStatus.ACTIVE


CHANGE_KINDS = {
    ApplicationStatus.REJECTED: ChangeKind.REJECTED,
    ApplicationStatus.HIRED: ChangeKind.HIRED,
    ApplicationStatus.ACTIVE: ChangeKind.STAGE_CHANGED,
}


def _emails(candidate: Mapping[str, Any]) -> list[str]:
    return [str(candidate["email"])] if candidate.get("email") else []


def _job(candidate: Mapping[str, Any]) -> Mapping[str, Any]:
    job = candidate.get("job")
    return job if isinstance(job, Mapping) else {}


def _changed_at(candidate: Mapping[str, Any]) -> datetime | None:
    # The payload is the candidate's state when it was sent; the time Workable last changed it
    # dates that state (a disqualification or hire date may be a day, not a moment).
    return timestamp(
        candidate.get("updated_at")
        or candidate.get("disqualified_at")
        or candidate.get("hired_at")
        or candidate.get("created_at")
    )


def parse_webhook(body: bytes) -> tuple[str, WebhookReport]:
    """The webhook's event and what it reports: `candidate_created` a new application; any
    other candidate event the candidate's state (rejected when disqualified, hired, else its
    stage), or, when the payload names neither a stage nor a disqualification, only that the
    application changed (read back from the API)."""
    document = _document(body)
    event = str(document.get("event_type") or "candidate")
    candidate = document["data"]
    try:
        state = snapshot(candidate)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise WebhookRejectedError(f"the {event} payload is malformed") from error
    if event == CANDIDATE_CREATED:
        return event, _reported_as(state, NewApplication)
    if "stage" not in candidate and "disqualified" not in candidate:
        return event, ApplicationTouched(state.ats_application_id, state.changed_at)
    return event, _reported_as(
        state, ApplicationChange, kind=CHANGE_KINDS[state.status], occurred_at=state.changed_at
    )


Report = TypeVar("Report", NewApplication, ApplicationChange)


def _reported_as(state: ApplicationSnapshot, report: type[Report], **more: Any) -> Report:
    """A candidate's state in a webhook report's words: the fields they share, and `more`."""
    shared = {f.name: getattr(state, f.name) for f in fields(report) if f.name not in more}
    return report(**shared, **more)


def snapshot(candidate: Mapping[str, Any]) -> ApplicationSnapshot:
    """A candidate of the SPI (the list's or the details' shape) as an application; raises
    `ValueError` for one without an id."""
    if not candidate.get("id"):
        raise ValueError("a Workable candidate without an id")
    status = status_of(candidate)
    job = _job(candidate)
    return ApplicationSnapshot(
        ats_application_id=str(candidate["id"]),
        ats_candidate_id=str(candidate["id"]),
        emails=_emails(candidate),
        first_name=candidate.get("firstname"),
        last_name=candidate.get("lastname"),
        job_name=job.get("title"),
        applied_at=timestamp(candidate.get("created_at")),
        stage=candidate.get("stage"),
        status=status,
        changed_at=_changed_at(candidate),
        rejection_reason=(
            candidate.get("disqualification_reason")
            if status is ApplicationStatus.REJECTED
            else None
        ),
        ats_job_id=str(job["shortcode"]) if job.get("shortcode") else None,
        prospect=not job,
        source=candidate,
    )


def ats_job(job: Mapping[str, Any]) -> AtsJob:
    """A job of the SPI; its shortcode is its id (candidates are created under it)."""
    location = job.get("location") if isinstance(job.get("location"), Mapping) else {}
    place = ", ".join(str(location[k]) for k in ("city", "country") if location and location.get(k))
    return AtsJob(
        ats_job_id=str(job["shortcode"]),
        name=str(job.get("full_title") or job.get("title") or job["shortcode"]),
        status=JOB_STATES.get(str(job.get("state") or ""), JobStatus.CLOSED),
        changed_at=timestamp(job.get("updated_at") or job.get("created_at")),
        departments=[str(job["department"])] if job.get("department") else [],
        locations=[place] if place else [],
    )


def rate_limit_wait(reset: str | None, *, now: datetime) -> float | None:
    """Seconds until the `X-Rate-Limit-Reset` Workable sends ("timestamp of next interval":
    Unix seconds, or an HTTP / ISO date); None when absent or unreadable."""
    if not reset:
        return None
    value = reset.strip()
    try:
        epoch = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return max(0.0, (moment - now).total_seconds())
    if epoch > 1e12:  # milliseconds
        epoch /= 1000
    return max(0.0, epoch - now.timestamp())
