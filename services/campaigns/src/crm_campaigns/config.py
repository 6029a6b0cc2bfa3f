"""Settings of the campaigns service."""

from __future__ import annotations

from pydantic import SecretStr

from crm_shared import ServiceSettings


class CampaignsSettings(ServiceSettings):
    """Campaigns service settings, read from the environment."""

    service_name: str = "campaigns"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_timeout_seconds: float = 10.0
    smtp_sender: str = "Talent Team <talent@recruitcrm.local>"
    public_base_url: str = "http://127.0.0.1:8000"
    tracking_secret: SecretStr = SecretStr("")
    sequence_poll_interval_seconds: float = 1.0
    delivery_poll_interval_seconds: float = 1.0
    delivery_batch_size: int = 100
    delivery_max_attempts: int = 5
    lease_seconds: float = 60.0
