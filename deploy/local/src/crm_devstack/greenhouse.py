"""Sends webhooks the way Greenhouse Harvest documents them, for tests and the demo.

Body `{"action": ..., "payload": {...}}`; header `Signature: sha256 <hex HMAC-SHA256 of the body
keyed with the webhook secret>`; a unique `Greenhouse-Event-ID` per delivery (a retry of the same
delivery repeats it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx


def webhook_body(action: str, application: dict[str, Any]) -> bytes:
    """The body of a webhook of `action` about `application` (with its `candidate` embedded,
    as Greenhouse's application webhooks carry it)."""
    return json.dumps({"action": action, "payload": {"application": application}}).encode()


def _application(
    *,
    application_id: int,
    candidate_id: int,
    email: str,
    first_name: str,
    last_name: str,
    job_name: str,
    status: str,
    stage: str | None,
) -> dict[str, Any]:
    application: dict[str, Any] = {
        "id": application_id,
        "prospect": False,
        "status": status,
        "applied_at": _hours_ago(4),
        "source": {"id": 2, "public_name": "Jobs page on your website"},
        "jobs": [{"id": 107761, "name": job_name}],
        "candidate": {
            "id": candidate_id,
            "first_name": first_name,
            "last_name": last_name,
            "email_addresses": [{"value": email, "type": "personal"}],
        },
    }
    if stage is not None:
        application["current_stage"] = {"id": 767358, "name": stage, "interviews": []}
    return application


def _hours_ago(hours: int) -> str:
    """A recent Greenhouse time. The builders' default times are recent and in the order of a
    real application's life (applied, moved, rejected, hired), because campaigns treat an ATS
    change older than a week as history (it starts no sequence)."""
    moment = datetime.now(UTC) - timedelta(hours=hours)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def new_candidate_application(
    *,
    application_id: int,
    candidate_id: int,
    email: str,
    first_name: str,
    last_name: str,
    job_name: str,
    applied_at: str | None = None,
) -> bytes:
    """The body of a `new_candidate_application` webhook."""
    application = _application(
        application_id=application_id,
        candidate_id=candidate_id,
        email=email,
        first_name=first_name,
        last_name=last_name,
        job_name=job_name,
        status="active",
        stage="Application Review",
    )
    application["applied_at"] = applied_at or _hours_ago(4)
    return webhook_body("new_candidate_application", application)


def candidate_stage_change(
    *,
    application_id: int,
    candidate_id: int,
    email: str,
    stage: str,
    job_name: str = "Platform Engineer",
    first_name: str = "Ada",
    last_name: str = "Lovelace",
    last_activity_at: str | None = None,
) -> bytes:
    """The body of a `candidate_stage_change` webhook: the application is now in `stage`."""
    application = _application(
        application_id=application_id,
        candidate_id=candidate_id,
        email=email,
        first_name=first_name,
        last_name=last_name,
        job_name=job_name,
        status="active",
        stage=stage,
    )
    application |= {"rejected_at": None, "last_activity_at": last_activity_at or _hours_ago(3)}
    return webhook_body("candidate_stage_change", application)


def reject_candidate(
    *,
    application_id: int,
    candidate_id: int,
    email: str,
    stage: str,
    reason: str = "Hired another candidate",
    job_name: str = "Platform Engineer",
    first_name: str = "Ada",
    last_name: str = "Lovelace",
    rejected_at: str | None = None,
) -> bytes:
    """The body of a `reject_candidate` webhook; `stage` is the stage the application reached."""
    application = _application(
        application_id=application_id,
        candidate_id=candidate_id,
        email=email,
        first_name=first_name,
        last_name=last_name,
        job_name=job_name,
        status="rejected",
        stage=stage,
    )
    rejected_at = rejected_at or _hours_ago(2)
    application |= {
        "rejected_at": rejected_at,
        "last_activity_at": rejected_at,
        "rejection_reason": {
            "id": 14,
            "name": reason,
            "type": {"id": 1, "name": "We rejected them"},
        },
    }
    return webhook_body("reject_candidate", application)


def hire_candidate(
    *,
    application_id: int,
    candidate_id: int,
    email: str,
    job_name: str = "Platform Engineer",
    first_name: str = "Ada",
    last_name: str = "Lovelace",
    resolved_at: str | None = None,
) -> bytes:
    """The body of a `hire_candidate` webhook (an accepted offer); like Greenhouse's own
    example it carries the offer, not the stage."""
    application = _application(
        application_id=application_id,
        candidate_id=candidate_id,
        email=email,
        first_name=first_name,
        last_name=last_name,
        job_name=job_name,
        status="hired",
        stage=None,
    )
    application["offer"] = {
        "id": 506409,
        "version": 1,
        "created_at": "2026-11-29T10:00:00Z",
        "sent_at": "2026-11-29",
        "resolved_at": resolved_at or _hours_ago(1),
        "starts_at": "2027-01-04",
    }
    return webhook_body("hire_candidate", application)


@dataclass(frozen=True)
class GreenhouseWebhooks:
    """One configured Greenhouse webhook: where it posts and the secret it signs with."""

    url: str
    secret: str

    def signature(self, body: bytes) -> str:
        return "sha256 " + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()

    async def deliver(
        self,
        client: httpx.AsyncClient,
        body: bytes,
        *,
        delivery_id: str | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Posts one delivery; pass the same `delivery_id` to replay it."""
        return await client.post(
            self.url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "Signature": signature or self.signature(body),
                "Greenhouse-Event-ID": delivery_id or str(uuid.uuid4()),
                **(headers or {}),
            },
        )
