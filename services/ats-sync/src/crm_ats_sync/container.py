"""Everything `create_app` builds for the ats-sync service's routes and subscribers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from crm_ats_sync.application.breaker import CircuitBreaker
from crm_ats_sync.application.ports import WebhookFormat
from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.domain.models import Provider


@dataclass(frozen=True)
class AtsSyncContainer:
    """The ats-sync service's wiring: what its use cases work with, and where it is reached."""

    storage: AtsStorage
    # The public address webhook URLs are built from, without a trailing slash.
    public_base_url: str
    # How each ATS the CRM takes webhooks from signs and words them.
    webhook_formats: Mapping[Provider, WebhookFormat]
    # Guards each connection's ATS API calls (backfill, reconcile, push).
    breaker: CircuitBreaker
