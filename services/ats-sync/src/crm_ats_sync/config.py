"""Settings of the ats-sync service."""

from __future__ import annotations

from pydantic import Field, SecretStr

from crm_ats_sync.domain.addresses import KNOWN_API_HOSTS
from crm_shared import ServiceSettings


class AtsSyncSettings(ServiceSettings):
    """ATS sync settings, read from the environment."""

    service_name: str = "ats-sync"
    public_base_url: str = "http://127.0.0.1:8000"
    # The key-encryption keys that wrap each connection's data key (`crm_shared.envelope`):
    # `id:key[,id:key...]`, each key 32 random bytes in URL-safe base64; the first wraps, all
    # unwrap. Required: the service refuses to start without it (docs/ats.md, "Secrets and
    # health", says how to rotate it).
    ats_secret_keys: SecretStr = SecretStr("")
    # A connection's ATS API breaker opens after this many consecutive failed calls and lets a
    # trial call through after the cool-down.
    ats_breaker_failure_threshold: int = Field(default=5, ge=1)
    ats_breaker_cool_down_seconds: float = Field(default=60.0, gt=0)
    # The hosts a connection's `api_base_url` may name (`*.` for any subdomain): the ATSs' own
    # by default; add a self-hosted or regional instance here (docs/ats.md).
    api_hosts_allowed: list[str] = Field(default_factory=lambda: list(KNOWN_API_HOSTS))
    # Every connection with an API key is reconciled this often (seconds).
    reconcile_interval_seconds: int = Field(default=900, ge=10)
    # A reconciliation reads again what changed this long before the last good run started.
    reconcile_overlap_seconds: int = Field(default=300, ge=0)
    # How often the sync runner looks for due backfill and reconciliation pages.
    sync_poll_interval_seconds: float = Field(default=2.0, gt=0)
    # How long a runner holds a connection while it pulls one page.
    sync_lease_seconds: int = Field(default=120, ge=1)
    # Pages the ATS does not answer in a row before a run fails, and the first wait after one.
    sync_max_failures: int = Field(default=5, ge=1)
    sync_retry_seconds: float = Field(default=30.0, ge=0)
    # Snapshots of a backfill or reconciliation page stored in one transaction, with their
    # events (docs/ats.md).
    sync_apply_batch: int = Field(default=500, ge=1, le=2000)
