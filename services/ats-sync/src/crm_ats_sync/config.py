"""Settings of the ats-sync service."""

from __future__ import annotations

from pydantic import Field, SecretStr

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
