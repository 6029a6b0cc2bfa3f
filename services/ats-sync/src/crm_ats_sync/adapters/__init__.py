"""The ATS adapters: one module per ATS, each implementing the ports in
`crm_ats_sync.application.ports`. Adding an ATS is adding a module and a line here."""

from __future__ import annotations

from crm_ats_sync.adapters import greenhouse, lever, workable
from crm_ats_sync.adapters.greenhouse import GreenhouseWebhooks
from crm_ats_sync.application.ports import AtsApiFactory, WebhookFormat
from crm_ats_sync.domain.models import Provider

WEBHOOK_FORMATS: dict[Provider, WebhookFormat] = {
    Provider.GREENHOUSE: GreenhouseWebhooks(),
    Provider.LEVER: lever.LeverWebhooks(),
    Provider.WORKABLE: workable.WorkableWebhooks(),
}

# Providers whose API the CRM reads (backfill, reconciliation, id-only webhooks) and writes
# (push): each adapter module's `open_api`.
API_FACTORIES: dict[Provider, AtsApiFactory] = {
    Provider.GREENHOUSE: greenhouse.open_api,
    Provider.LEVER: lever.open_api,
    Provider.WORKABLE: workable.open_api,
}
