"""The Greenhouse adapter: its webhooks (Harvest web hooks) and its Harvest API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from crm_ats_sync.domain import greenhouse
from crm_ats_sync.domain.changes import WebhookReport


class GreenhouseWebhooks:
    """Greenhouse's webhooks: `Signature: sha256 <hex HMAC of the body>`, a
    `Greenhouse-Event-ID` per delivery, `{"action", "payload"}` bodies."""

    signature_header = "Signature"
    delivery_id_header = "Greenhouse-Event-ID"

    def verify(self, secrets: Sequence[str], headers: Mapping[str, str], body: bytes) -> None:
        greenhouse.verify_signature(list(secrets), body, headers.get(greenhouse.SIGNATURE_HEADER))

    def delivery_id(self, headers: Mapping[str, str], body: bytes) -> str:
        return (headers.get(greenhouse.DELIVERY_ID_HEADER) or "").strip()

    def parse(self, body: bytes) -> tuple[str, WebhookReport]:
        return greenhouse.parse_webhook(body)
