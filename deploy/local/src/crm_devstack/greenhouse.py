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

import httpx


def new_candidate_application(
    *,
    application_id: int,
    candidate_id: int,
    email: str,
    first_name: str,
    last_name: str,
    job_name: str,
    applied_at: str = "2026-11-26T09:30:00.000Z",
) -> bytes:
    """The body of a `new_candidate_application` webhook."""
    return json.dumps(
        {
            "action": "new_candidate_application",
            "payload": {
                "application": {
                    "id": application_id,
                    "applied_at": applied_at,
                    "status": "active",
                    "source": {"id": 2, "public_name": "Jobs page on your website"},
                    "current_stage": {"id": 767358, "name": "Application Review"},
                    "jobs": [{"id": 107761, "name": job_name}],
                    "candidate": {
                        "id": candidate_id,
                        "first_name": first_name,
                        "last_name": last_name,
                        "email_addresses": [{"value": email, "type": "personal"}],
                    },
                }
            },
        }
    ).encode()


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
