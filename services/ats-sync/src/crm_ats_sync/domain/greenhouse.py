"""Greenhouse Harvest webhooks, as documented by Greenhouse.

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
from datetime import UTC, datetime
from typing import Any

from crm_ats_sync.domain.changes import (
    ApplicationChange,
    ChangeKind,
    NewApplication,
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
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise WebhookRejectedError(f"the {NEW_APPLICATION} payload is malformed") from error


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
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise WebhookRejectedError(f"the {action} payload is malformed") from error
