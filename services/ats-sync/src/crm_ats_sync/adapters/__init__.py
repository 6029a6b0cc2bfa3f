"""The ATS adapters: one module per ATS, each implementing the ports in
`crm_ats_sync.application.ports`. Adding an ATS is adding a module and a line here."""

from __future__ import annotations

from crm_ats_sync.adapters.greenhouse import GreenhouseWebhooks
from crm_ats_sync.application.ports import WebhookFormat
from crm_ats_sync.domain.models import Provider

WEBHOOK_FORMATS: dict[Provider, WebhookFormat] = {
    Provider.GREENHOUSE: GreenhouseWebhooks(),
}
