"""Lever's webhooks and the records of its API (https://hire.lever.co/developer/documentation),
parsed and mapped into the CRM's words.

**Webhooks** (sections "Webhooks" and "Verifying webhooks" of Lever's API documentation): a JSON
body `{"triggeredAt": <ms epoch>, "event": ..., "data": {"opportunityId", "candidateId",
"contactId", ...}, "token": ..., "signature": ...}` where `signature` is the lower-case hex
HMAC-SHA256 of `token + str(triggeredAt)` keyed with the webhook's signature token. The signature
covers only `token` and `triggeredAt`, not `data`: so nothing in `data` is trusted beyond naming
the opportunity, which is read back from the API (`ApplicationTouched`) for every event,
including `candidateArchiveChange` and `candidateHired` whose `data` hints at the new state. A
forged `data` under a captured signature can then only make the CRM read a real opportunity's
real state.

**API** (sections "Opportunities", "Archive reasons", "Postings"): times are milliseconds since
the epoch; an opportunity is one candidacy of a person (`contact`); it is archived with a reason
whose `type` is `hired` or `non-hired`; `expand=stage` gives its stage's `text`, and
`expand=applications` its applications, whose `posting` is the job.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crm_ats_sync.domain.changes import (
    ApplicationSnapshot,
    ApplicationStatus,
    ApplicationTouched,
    AtsJob,
    JobStatus,
    WebhookRejectedError,
    WebhookReport,
)

APPLICATION_CREATED = "applicationCreated"
STAGE_CHANGE = "candidateStageChange"
ARCHIVE_CHANGE = "candidateArchiveChange"
HIRED = "candidateHired"
DELETED = "candidateDeleted"
# Events that name an opportunity whose state the CRM follows; the others (interviews,
# contacts) are acknowledged and not used.
OPPORTUNITY_EVENTS = frozenset({APPLICATION_CREATED, STAGE_CHANGE, ARCHIVE_CHANGE, HIRED, DELETED})

HIRED_REASON_TYPE = "hired"


def sign(secret: str, token: str, triggered_at: int | str) -> str:
    """The `signature` Lever puts in a webhook body with `token` and `triggeredAt`."""
    signed = f"{token}{triggered_at}".encode()
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _document(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError as error:
        raise WebhookRejectedError("the body is not a Lever webhook") from error
    if not isinstance(document, dict):
        raise WebhookRejectedError("the body is not a Lever webhook")
    return document


def verify_signature(secrets: list[str], body: bytes) -> None:
    """Raises `WebhookRejectedError` unless the body's `signature` is Lever's signature of its
    `token` and `triggeredAt` under one of `secrets`."""
    document = _document(body)
    token, triggered_at, presented = (
        document.get("token"),
        document.get("triggeredAt"),
        document.get("signature"),
    )
    if not isinstance(token, str) or not token or not isinstance(presented, str):
        raise WebhookRejectedError("the webhook carries no token or signature")
    if isinstance(triggered_at, bool) or not isinstance(triggered_at, int | str):
        raise WebhookRejectedError("the webhook carries no triggeredAt")
    if not any(hmac.compare_digest(sign(s, token, triggered_at), presented) for s in secrets):
        raise WebhookRejectedError("the webhook signature does not match")


def delivery_id(body: bytes) -> str:
    """What identifies one Lever delivery, the same on Lever's retries: its signed `token` and
    `triggeredAt`, with the event and the opportunity, since Lever's documentation does not
    promise the token is unique per delivery and a bulk action can fire many events in one
    millisecond. "" when the body has no token."""
    try:
        document = _document(body)
    except WebhookRejectedError:
        return ""
    token = document.get("token")
    if not isinstance(token, str) or not token:
        return ""
    data = document.get("data")
    opportunity_id = data.get("opportunityId", "") if isinstance(data, dict) else ""
    return ":".join(
        str(part)
        for part in (
            token,
            document.get("triggeredAt", ""),
            document.get("event", ""),
            opportunity_id,
        )
    )


def ms_time(value: Any) -> datetime | None:
    """A Lever time (milliseconds since the epoch) as a UTC datetime; None when absent."""
    if value is None or isinstance(value, bool) or value == "":
        return None
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def to_ms(moment: datetime) -> int:
    """A datetime as Lever's milliseconds since the epoch."""
    return int(moment.timestamp() * 1000)


def parse_webhook(body: bytes) -> tuple[str, WebhookReport]:
    """The webhook's event and the opportunity it names (None: an event the CRM does not use)."""
    document = _document(body)
    event = document.get("event")
    if not isinstance(event, str) or not event:
        raise WebhookRejectedError("the body is not a Lever webhook")
    if event not in OPPORTUNITY_EVENTS:
        return event, None
    data = document.get("data")
    opportunity_id = data.get("opportunityId") if isinstance(data, dict) else None
    if not isinstance(opportunity_id, str) or not opportunity_id:
        raise WebhookRejectedError(f"the {event} webhook names no opportunity")
    try:
        occurred_at = ms_time(document.get("triggeredAt"))
    except (TypeError, ValueError, OverflowError) as error:
        raise WebhookRejectedError(f"the {event} webhook's triggeredAt is not a time") from error
    return event, ApplicationTouched(ats_application_id=opportunity_id, occurred_at=occurred_at)


@dataclass(frozen=True)
class ArchiveReason:
    """One of the account's archive reasons: a hire, or why the candidacy ended."""

    id: str
    text: str
    hired: bool


def archive_reason(document: Mapping[str, Any]) -> ArchiveReason:
    return ArchiveReason(
        id=str(document["id"]),
        text=str(document.get("text") or ""),
        hired=document.get("type") == HIRED_REASON_TYPE,
    )


def _names(name: Any) -> tuple[str | None, str | None]:
    """Lever keeps one `name`: its first word is taken as the first name, the rest as the last."""
    first, _, last = str(name or "").strip().partition(" ")
    return first or None, last.strip() or None


def _stage(opportunity: Mapping[str, Any]) -> str | None:
    stage = opportunity.get("stage")
    if isinstance(stage, Mapping):
        return str(stage["text"]) if stage.get("text") else None
    return None


def posting_application(opportunity: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The opportunity's (expanded) application for a posting, if it has one."""
    for application in opportunity.get("applications") or []:
        if isinstance(application, Mapping) and application.get("posting"):
            return application
    return None


def posting_of(opportunity: Mapping[str, Any]) -> str | None:
    """The id of the posting the opportunity applies for; None for a lead."""
    application = posting_application(opportunity)
    return str(application["posting"]) if application is not None else None


def archive_reason_of(opportunity: Mapping[str, Any]) -> str | None:
    """The id of the reason the opportunity was archived with; None while it is not archived."""
    archived = opportunity.get("archived")
    if isinstance(archived, Mapping) and archived.get("reason"):
        return str(archived["reason"])
    return None


def opportunity_snapshot(
    opportunity: Mapping[str, Any],
    reasons: Mapping[str, ArchiveReason],
    posting_names: Mapping[str, str],
) -> ApplicationSnapshot:
    """An opportunity (read with `expand=stage&expand=applications`) as the CRM holds it:
    archived with a hired reason is a hire, archived with another reason a rejection (the
    reason's text), otherwise active; without an application for a posting it is a prospect."""
    reason_id = archive_reason_of(opportunity)
    status, rejection_reason = ApplicationStatus.ACTIVE, None
    if reason_id is not None:
        reason = reasons.get(reason_id)
        if reason is not None and reason.hired:
            status = ApplicationStatus.HIRED
        else:
            status = ApplicationStatus.REJECTED
            rejection_reason = reason.text if reason is not None else None
    application = posting_application(opportunity)
    posting_id = posting_of(opportunity)
    first_name, last_name = _names(opportunity.get("name"))
    return ApplicationSnapshot(
        ats_application_id=str(opportunity["id"]),
        ats_candidate_id=str(opportunity.get("contact") or opportunity["id"]),
        emails=[str(e) for e in opportunity.get("emails") or [] if e],
        first_name=first_name,
        last_name=last_name,
        job_name=posting_names.get(posting_id) if posting_id else None,
        applied_at=ms_time((application or {}).get("createdAt") or opportunity.get("createdAt")),
        stage=_stage(opportunity),
        status=status,
        changed_at=ms_time(opportunity.get("updatedAt")),
        rejection_reason=rejection_reason,
        ats_job_id=posting_id,
        prospect=posting_id is None,
        source=opportunity,
    )


POSTING_STATES = {
    "published": JobStatus.OPEN,
    "internal": JobStatus.OPEN,
    "closed": JobStatus.CLOSED,
    "rejected": JobStatus.CLOSED,
    "draft": JobStatus.DRAFT,
    "pending": JobStatus.DRAFT,
}


def posting_job(posting: Mapping[str, Any]) -> AtsJob:
    """A Lever posting as a job: published and internal postings are open, closed (and
    rejected) ones closed, drafts and pending approvals drafts."""
    categories = posting.get("categories") or {}
    locations = categories.get("allLocations") or (
        [categories["location"]] if categories.get("location") else []
    )
    return AtsJob(
        ats_job_id=str(posting["id"]),
        name=str(posting.get("text") or ""),
        status=POSTING_STATES.get(str(posting.get("state")), JobStatus.DRAFT),
        changed_at=ms_time(posting.get("updatedAt")),
        departments=[str(d) for d in (categories.get("department"), categories.get("team")) if d],
        locations=[str(location) for location in locations],
    )
