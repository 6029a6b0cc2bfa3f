"""Greenhouse Harvest webhooks, as documented by Greenhouse.

Each delivery is a JSON body `{"action": ..., "payload": {...}}` with a `Signature` header
`sha256 <hex HMAC-SHA256 of the whole body, keyed with the webhook's secret>` and a unique
`Greenhouse-Event-ID` header per delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SIGNATURE_HEADER = "signature"
DELIVERY_ID_HEADER = "greenhouse-event-id"
NEW_APPLICATION = "new_candidate_application"


class WebhookRejectedError(ValueError):
    """The delivery is not from the connected Greenhouse account, or is not a valid webhook."""


def sign(secret: str, body: bytes) -> str:
    """The `Signature` header Greenhouse sends for `body`."""
    return "sha256 " + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> None:
    """Raises `WebhookRejectedError` unless `header` is Greenhouse's signature of `body`."""
    if not header or not hmac.compare_digest(sign(secret, body), header.strip()):
        raise WebhookRejectedError("the webhook signature does not match")


@dataclass(frozen=True)
class NewApplication:
    """The parts of a `new_candidate_application` webhook the CRM uses."""

    ats_application_id: str
    ats_candidate_id: str
    emails: list[str]
    first_name: str | None
    last_name: str | None
    job_name: str | None
    applied_at: datetime | None


def parse_webhook(body: bytes) -> tuple[str, NewApplication | None]:
    """The webhook's action, and the application when it is a new-application webhook."""
    try:
        document: Any = json.loads(body)
        action = str(document["action"])
    except (ValueError, KeyError, TypeError) as error:
        raise WebhookRejectedError("the body is not a Greenhouse webhook") from error
    if action != NEW_APPLICATION:
        return action, None
    try:
        application = document["payload"]["application"]
        candidate = application["candidate"]
        jobs = application.get("jobs") or []
        applied_at = application.get("applied_at")
        return action, NewApplication(
            ats_application_id=str(application["id"]),
            ats_candidate_id=str(candidate["id"]),
            emails=[
                str(e["value"]) for e in candidate.get("email_addresses") or [] if e.get("value")
            ],
            first_name=candidate.get("first_name"),
            last_name=candidate.get("last_name"),
            job_name=str(jobs[0]["name"]) if jobs and jobs[0].get("name") else None,
            applied_at=datetime.fromisoformat(applied_at.replace("Z", "+00:00"))
            if applied_at
            else None,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise WebhookRejectedError(f"the {NEW_APPLICATION} payload is malformed") from error
