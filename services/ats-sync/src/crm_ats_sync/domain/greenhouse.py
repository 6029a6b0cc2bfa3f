"""Greenhouse in the CRM's words: its Harvest webhooks and its Harvest API v3 records.

Each delivery is a JSON body `{"action": ..., "payload": {...}}` with a `Signature` header
`sha256 <hex HMAC-SHA256 of the whole body, keyed with the webhook's secret>` and a unique
`Greenhouse-Event-ID` header per delivery. The CRM uses `new_candidate_application` and the
application changes `candidate_stage_change`, `reject_candidate` and `hire_candidate`, whose
payload is `{"application": {...}}` with the application's `current_stage` (for a rejection:
the stage it had reached), its `candidate` and `jobs`; other actions are acknowledged and ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from typing import Any

from crm_ats_sync.domain.changes import (
    ApplicationChange,
    ApplicationSnapshot,
    ApplicationStatus,
    AtsJob,
    ChangeKind,
    JobStatus,
    NewApplication,
    Prospect,
    PushedProspect,
    WebhookRejectedError,
    WebhookReport,
)

SIGNATURE_HEADER = "signature"
DELIVERY_ID_HEADER = "greenhouse-event-id"
NEW_APPLICATION = "new_candidate_application"
STAGE_CHANGE = "candidate_stage_change"
REJECTION = "reject_candidate"
HIRE = "hire_candidate"


def sign(secret: str, body: bytes) -> str:
    """The `Signature` header Greenhouse sends for `body`."""
    return "sha256 " + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secrets: list[str], body: bytes, header: str | None) -> None:
    """Raises `WebhookRejectedError` unless `header` is Greenhouse's signature of `body` under
    one of `secrets` (the current one and, after a rotation, the previous one)."""
    presented = (header or "").strip()
    if not presented or not any(hmac.compare_digest(sign(s, body), presented) for s in secrets):
        raise WebhookRejectedError("the webhook signature does not match")


CHANGE_ACTIONS = {
    STAGE_CHANGE: ChangeKind.STAGE_CHANGED,
    REJECTION: ChangeKind.REJECTED,
    HIRE: ChangeKind.HIRED,
}


def _timestamp(value: Any) -> datetime | None:
    """A Greenhouse time; one without an offset is UTC (stored times are compared with it)."""
    if not value:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _emails(candidate: Any) -> list[str]:
    return [str(e["value"]) for e in candidate.get("email_addresses") or [] if e.get("value")]


def _job_name(application: Any) -> str | None:
    jobs = application.get("jobs") or []
    if jobs and jobs[0].get("name"):
        return str(jobs[0]["name"])
    job = application.get("job") or {}
    return str(job["name"]) if job.get("name") else None


def parse_webhook(body: bytes) -> tuple[str, WebhookReport]:
    """The webhook's action and what it reports about an application (None: not used)."""
    try:
        document: Any = json.loads(body)
        action = str(document["action"])
    except (ValueError, KeyError, TypeError) as error:
        raise WebhookRejectedError("the body is not a Greenhouse webhook") from error
    if action == NEW_APPLICATION:
        return action, _new_application(document)
    if action in CHANGE_ACTIONS:
        return action, _application_change(CHANGE_ACTIONS[action], action, document)
    return action, None


def _new_application(document: Any) -> NewApplication:
    try:
        application = document["payload"]["application"]
        candidate = application["candidate"]
        return NewApplication(
            ats_application_id=str(application["id"]),
            ats_candidate_id=str(candidate["id"]),
            emails=_emails(candidate),
            first_name=candidate.get("first_name"),
            last_name=candidate.get("last_name"),
            job_name=_job_name(application),
            applied_at=_timestamp(application.get("applied_at")),
            stage=(application.get("current_stage") or {}).get("name"),
            ats_job_id=_job_id(application),
            prospect=bool(application.get("prospect")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise WebhookRejectedError(f"the {NEW_APPLICATION} payload is malformed") from error


def _job_id(application: Any) -> str | None:
    """The application's job (its first, as the read API's snapshot takes it)."""
    jobs = _jobs(application)
    return str(jobs[0]["id"]) if jobs and jobs[0].get("id") is not None else None


def _application_change(kind: ChangeKind, action: str, document: Any) -> ApplicationChange:
    try:
        application = document["payload"]["application"]
        candidate = application["candidate"]
        stage = application.get("current_stage") or {}
        reason = application.get("rejection_reason") or {}
        offer = application.get("offer") or {}
        occurred_at = {
            ChangeKind.REJECTED: application.get("rejected_at"),
            ChangeKind.HIRED: offer.get("resolved_at"),
        }.get(kind) or application.get("last_activity_at")
        return ApplicationChange(
            kind=kind,
            ats_application_id=str(application["id"]),
            ats_candidate_id=str(candidate["id"]),
            emails=_emails(candidate),
            job_name=_job_name(application),
            stage=str(stage["name"]) if stage.get("name") else None,
            occurred_at=_timestamp(occurred_at),
            rejection_reason=str(reason["name"]) if reason.get("name") else None,
            first_name=candidate.get("first_name"),
            last_name=candidate.get("last_name"),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise WebhookRejectedError(f"the {action} payload is malformed") from error


# ---- the Harvest API (v3): credentials, applications, candidates, jobs --------------------


class HarvestRecordError(ValueError):
    """A Harvest API answer that is not the documented record."""


def client_credentials(api_key: str) -> tuple[str, str]:
    """The Harvest v3 OAuth client id and secret a connection's `api_key` holds, written
    `<client id>:<client secret>` (Greenhouse shows the two separately in Dev Center). Split at
    the first colon: a client id has none. `ValueError` when either half is missing."""
    client_id, colon, client_secret = api_key.partition(":")
    if not colon or not client_id.strip() or not client_secret.strip():
        raise ValueError(
            "a Greenhouse api_key is the Harvest v3 OAuth client id and client secret, "
            "written <client id>:<client secret>"
        )
    return client_id.strip(), client_secret.strip()


def harvest_filter_time(moment: datetime) -> str:
    """The `updated_at` filter of a Harvest v3 list: at or after `moment` (`gte|<time>`)."""
    utc = moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return f"gte|{utc}"


# Harvest's `status`; `converted` is a prospect application that became a candidate
# application (a new one, reported separately): the person is still in play.
APPLICATION_STATUSES = {
    "active": ApplicationStatus.ACTIVE,
    "converted": ApplicationStatus.ACTIVE,
    "rejected": ApplicationStatus.REJECTED,
    "hired": ApplicationStatus.HIRED,
}
JOB_STATUSES = {"open": JobStatus.OPEN, "closed": JobStatus.CLOSED, "draft": JobStatus.DRAFT}


LINK = re.compile(r"<([^>]*)>([^<]*)")
LINK_REL = re.compile(r'rel\s*=\s*"?([^";]+)"?')


def next_link(header: str | None) -> str | None:
    """The `rel="next"` URL of a `Link` header (RFC 8288), None on the last page. Split on the
    `<...>` targets, not on commas: a URL's query may hold commas (`candidate_ids=1,2`)."""
    for url, params in LINK.findall(header or ""):
        rel = LINK_REL.search(params)
        if rel and "next" in rel.group(1).split():
            return url.strip() or None
    return None


def _name(record: Any) -> str | None:
    return str(record["name"]) if isinstance(record, dict) and record.get("name") else None


def _latest(*values: Any) -> datetime | None:
    moments = [m for m in (_timestamp(v) for v in values) if m is not None]
    return max(moments) if moments else None


def _jobs(application: Any) -> list[Any]:
    """The application's jobs as `{"id", "name"}` records: v3's `jobs` list, or its bare
    `job_id` (a record without the name) when it carries only that."""
    jobs = application.get("jobs") or []
    if not jobs and application.get("job_id") is not None:
        return [{"id": application["job_id"]}]
    return list(jobs)


def snapshot_from_harvest(application: Any, candidate: Any) -> ApplicationSnapshot:
    """An application's state from Harvest's application record and its candidate's record
    (the application names the person by `candidate_id` only)."""
    try:
        jobs = _jobs(application)
        stage = _name(application.get("current_stage"))
        prospect = bool(application.get("prospect"))
        if stage is None and prospect:
            stage = _name((application.get("prospect_detail") or {}).get("prospect_stage"))
        status = APPLICATION_STATUSES[str(application["status"])]
        return ApplicationSnapshot(
            ats_application_id=str(application["id"]),
            ats_candidate_id=str(application["candidate_id"]),
            emails=_emails(candidate or {}),
            first_name=(candidate or {}).get("first_name"),
            last_name=(candidate or {}).get("last_name"),
            job_name=_name(jobs[0]) if jobs else None,
            applied_at=_timestamp(application.get("applied_at")),
            stage=stage,
            status=status,
            changed_at=_latest(
                application.get("last_activity_at"),
                application.get("updated_at"),
                application.get("rejected_at"),
            ),
            rejection_reason=(
                _name(application.get("rejection_reason"))
                if status is ApplicationStatus.REJECTED
                else None
            ),
            ats_job_id=str(jobs[0]["id"]) if jobs else None,
            prospect=prospect,
            source={"application": application, "candidate": candidate},
        )
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        raise HarvestRecordError(f"not a Harvest application: {error!r}") from error


def job_from_harvest(job: Any) -> AtsJob:
    """A job from Harvest's job record; an office's location name, else its name."""
    try:
        return AtsJob(
            ats_job_id=str(job["id"]),
            name=str(job["name"]),
            status=JOB_STATUSES[str(job["status"])],
            changed_at=_timestamp(job.get("updated_at")),
            departments=[str(d["name"]) for d in job.get("departments") or [] if d.get("name")],
            locations=[
                str(_name(o.get("location")) or o["name"])
                for o in job.get("offices") or []
                if _name(o.get("location")) or o.get("name")
            ],
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise HarvestRecordError(f"not a Harvest job: {error!r}") from error


def person_body(prospect: Prospect) -> dict[str, Any]:
    """The body of `POST /v3/prospects` (no job) or `POST /v3/candidates` (an application for
    `prospect.ats_job_id`) for a CRM candidate. Harvest requires both names: a missing first
    name is the email's local part, a missing last name "-"."""
    body: dict[str, Any] = {
        "first_name": prospect.first_name or prospect.email.partition("@")[0],
        "last_name": prospect.last_name or "-",
        "email_addresses": [{"value": prospect.email, "type": "personal"}],
    }
    if prospect.ats_job_id is None:
        return body
    return body | {"applications": [{"job_id": int(prospect.ats_job_id)}]}


def pushed_from_harvest(candidate: Any, *, ats_job_id: str | None) -> PushedProspect:
    """Greenhouse's ids for a person it just created: the candidate, and the application for
    `ats_job_id` (the prospect application without one). Greenhouse may answer a new prospect
    with a truncated record holding only its id: then the application id is unknown (None)."""
    try:
        applications = candidate.get("applications") or []
        wanted = [
            a
            for a in applications
            if (ats_job_id is None and a.get("prospect"))
            or any(str(j.get("id")) == ats_job_id for j in a.get("jobs") or [])
        ]
        return PushedProspect(
            ats_candidate_id=str(candidate["id"]),
            ats_application_id=str(wanted[0]["id"]) if wanted else None,
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise HarvestRecordError(f"not a Harvest candidate: {error!r}") from error
