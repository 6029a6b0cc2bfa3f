"""Settings of the campaigns service."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator, model_validator

from crm_campaigns.adapters.senders import TenantSenderSettings
from crm_campaigns.adapters.smtp import SmtpTls
from crm_shared import Quotas, ServiceSettings


class CampaignsSettings(ServiceSettings):
    """Campaigns service settings, read from the environment."""

    service_name: str = "campaigns"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_timeout_seconds: float = 10.0
    # Transport security: "none" (plain text, a relay on the same host or network), "starttls"
    # (upgraded before anything else is said; port 587) or "tls" (implicit TLS, SMTPS; 465).
    smtp_security: SmtpTls = SmtpTls.NONE
    # SMTP AUTH (PLAIN, or LOGIN where the server offers only that); needs TLS.
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    # A PEM bundle to verify the server's certificate against instead of the system's CAs (a
    # private CA, a self-signed test server). The certificate is always verified.
    smtp_ca_file: str | None = None
    smtp_sender: str = "Talent Team <talent@recruitcrm.local>"
    # Tenants that send as themselves: their From address and that domain's DKIM selector and
    # private key (a file, typically a mounted secret, or the PEM itself from a secret store).
    # The rest send as `smtp_sender`, unsigned.
    tenant_senders: dict[str, TenantSenderSettings] = Field(default_factory=dict)
    public_base_url: str = "http://127.0.0.1:8000"
    tracking_secret: SecretStr = SecretStr("")
    # Rotation, as for link signing: the current key's id and earlier secrets by key id.
    tracking_key_id: str = ""
    tracking_retired_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    sequence_poll_interval_seconds: float = 1.0
    delivery_poll_interval_seconds: float = 1.0
    delivery_batch_size: int = 100
    delivery_max_attempts: int = 5
    lease_seconds: float = 60.0
    # Persistent SMTP connections per dispatcher, and so messages in flight at once for each.
    smtp_pool_size: int = Field(default=4, ge=1, le=64)
    # Dispatchers in one process (each with its own connections): while some wait for the
    # database (claim, recipients, record: most of a batch's time), others send.
    delivery_workers: int = Field(default=4, ge=1, le=16)
    # Backoff of transient SMTP errors: full jitter under min(cap, base * 2**(attempt-1)).
    retry_base_seconds: float = Field(default=5.0, gt=0)
    retry_max_seconds: float = Field(default=3600.0, gt=0)
    # The mail provider's limit (token bucket, messages a second and burst); 0 = unlimited.
    provider_rate_per_second: float = Field(default=2000.0, ge=0)
    provider_burst: float = Field(default=200.0, ge=1)
    # Each tenant's share of the sending capacity (token bucket per tenant); 0 = unlimited.
    tenant_rate_per_second: float = Field(default=1000.0, ge=0)
    tenant_burst: float = Field(default=200.0, ge=1)
    # A broadcast pauses itself once `error_pause_min_sample` attempts were made and at least
    # `error_pause_ratio` of them failed.
    error_pause_min_sample: int = Field(default=50, ge=1)
    error_pause_ratio: float = Field(default=0.2, gt=0, le=1)
    # The zone of a recipient without one, for local-time broadcasts: per tenant, else default.
    default_time_zone: str = "UTC"
    tenant_time_zones: dict[str, str] = Field(default_factory=dict)
    broadcast_poll_interval_seconds: float = 1.0
    broadcast_chunk_size: int = Field(default=1000, ge=1)
    # How long after its send a broadcast waits for audience members the service does not know
    # yet (their `candidate.created` still on its way) before skipping them; 0 never waits.
    broadcast_recipient_wait_seconds: float = Field(default=180.0, ge=0)
    quotas: Quotas = Field(
        default_factory=Quotas,
        description="Concurrent broadcasts per tenant (`max_concurrent_broadcasts`): defaults, "
        "per-tenant overrides and per-role caps (JSON, see docs/security.md).",
    )
    # The runner hands the messages due now straight to this process's dispatchers, which
    # insert them claimed (two document writes a message instead of three, and no read back).
    # A broadcast is then sent by the replica that prepares it; turn it off to queue every
    # message for the dispatchers of all replicas to share.
    broadcast_handoff: bool = True
    # A pixel fetched or a link followed this soon after sending is a machine (security
    # scanners, prefetching proxies); 0 turns the timing rule off.
    machine_fetch_window_seconds: float = 2.0
    # Clicks on different links of one message this close together are a link scanner.
    link_scan_burst_seconds: float = 2.0

    @model_validator(mode="after")
    def _credentials_need_tls(self) -> CampaignsSettings:
        if self.smtp_username and self.smtp_security is SmtpTls.NONE:
            raise ValueError("SMTP_USERNAME needs SMTP_SECURITY=starttls or tls")
        return self

    @field_validator("default_time_zone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        ZoneInfo(name)  # raises for an unknown zone: a typo should stop the service starting
        return name

    @field_validator("tenant_time_zones")
    @classmethod
    def _known_zones(cls, zones: dict[str, str]) -> dict[str, str]:
        for name in zones.values():
            ZoneInfo(name)
        return zones
