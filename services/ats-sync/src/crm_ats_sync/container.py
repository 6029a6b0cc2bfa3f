"""Everything `create_app` builds for the ats-sync service's routes and subscribers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from crm_ats_sync.application.breaker import CircuitBreaker
from crm_ats_sync.application.ports import AtsApiFactory, WebhookFormat
from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.application.sync import SyncPolicy, SyncRunner
from crm_ats_sync.domain.addresses import ApiAddressPolicy
from crm_ats_sync.domain.models import Provider


@dataclass(frozen=True)
class AtsSyncContainer:
    """The ats-sync service's wiring: what its use cases work with, and where it is reached."""

    storage: AtsStorage
    # The public address webhook URLs are built from, without a trailing slash.
    public_base_url: str
    # How each ATS the CRM takes webhooks from signs and words them.
    webhook_formats: Mapping[Provider, WebhookFormat]
    # Guards each connection's ATS API calls (backfill, reconcile, webhook read-back, push).
    breaker: CircuitBreaker
    # How each ATS whose API the CRM reads and writes is opened for one connection.
    api_factories: Mapping[Provider, AtsApiFactory]
    sync_policy: SyncPolicy
    # Where a connection's API key may be sent.
    address_policy: ApiAddressPolicy
    # Advances backfills and reconciliations in the background.
    sync_runner: SyncRunner
