"""Settings of the gateway."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    IPvAnyNetwork,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import NoDecode

from crm_gateway.oidc_config import OidcSettings
from crm_shared import Role, ServiceSettings
from crm_shared.bootstrap import SERVER_KEEP_ALIVE_SECONDS


class DevIdentity(BaseModel):
    """Who a development bearer token stands for."""

    tenant_id: str
    user_id: str
    roles: list[Role]


class TenantStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Tenant(BaseModel):
    """A customer organisation using the CRM."""

    name: str
    status: TenantStatus = TenantStatus.ACTIVE
    community_key: str | None = Field(
        default=None,
        description="The public key naming the tenant in its talent-community sign-up form; "
        "without one the tenant has no public sign-up.",
    )


class GatewaySettings(ServiceSettings):
    """Gateway settings, read from the environment."""

    service_name: str = "gateway"
    candidates_url: str = "http://127.0.0.1:8001"
    campaigns_url: str = "http://127.0.0.1:8002"
    events_url: str = "http://127.0.0.1:8003"
    ats_sync_url: str = "http://127.0.0.1:8004"
    analytics_url: str = "http://127.0.0.1:8005"
    upstream_timeout_seconds: float = 10.0
    upstream_keep_alive_seconds: float = Field(
        default=30.0,
        gt=0,
        lt=SERVER_KEEP_ALIVE_SECONDS,
        description="How long an idle connection to a service is kept for reuse. Shorter than "
        "the services' own keep-alive, so the gateway never reuses one a service is closing.",
    )
    route_refresh_seconds: float = Field(
        default=30.0,
        gt=0,
        description="The gateway forwards only the operations the services publish in their "
        "OpenAPI documents. A path or method not found there is looked up again in a fresh "
        "document at most this often per service, so a newly deployed operation is routed.",
    )
    idempotency_key_lifetime_hours: float = Field(
        default=24.0,
        gt=0,
        description="How long the response of a POST sent with an `Idempotency-Key` is kept and "
        "replayed for the same request; after that the key may be used again.",
    )
    idempotency_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a key whose request is running is held (a second request with "
        "it is refused with a 409). Only a gateway that dies mid-request leaves a key held "
        "this long; longer than `upstream_timeout_seconds`, which bounds a request otherwise.",
    )
    max_request_bytes: int = 1_048_576
    max_upload_bytes: int = 268_435_456
    max_public_request_bytes: int = 16_384
    max_webhook_bytes: int = 524_288
    tenant_requests_per_minute: int = 6000
    public_requests_per_minute_per_ip: int = 120
    signups_per_minute_per_ip: int = Field(
        default=10,
        gt=0,
        description="Talent-community sign-ups one client address may send per minute (bursts "
        "of a quarter of that, at least one), on top of the public per-IP limit.",
    )
    signups_per_minute_per_community: int = Field(
        default=60,
        gt=0,
        description="Sign-ups one tenant's community key accepts per minute from all addresses "
        "together (per gateway process).",
    )
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = Field(
        default_factory=list,
        description="CIDRs of the reverse proxies in front of the gateway (comma separated). "
        "Only a connection from one of them may name the client in `X-Forwarded-For`; empty "
        "(the default) means the socket peer is the client.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Browser origins (comma separated, e.g. `https://console.example.com`) "
        "allowed to call the API cross-origin. Empty: no cross-origin access.",
    )
    captcha_provider: Literal["", "turnstile", "hcaptcha"] = Field(
        default="",
        description="CAPTCHA verified on each talent-community sign-up: `turnstile` "
        "(Cloudflare) or `hcaptcha`; empty (the default) verifies none.",
    )
    captcha_secret: SecretStr = SecretStr("")
    captcha_verify_url: str = Field(
        default="",
        description="The provider's siteverify endpoint; empty for the provider's documented "
        "one (tests point it at a local fake).",
    )
    captcha_timeout_seconds: float = Field(default=5.0, gt=0)
    audit_retention_days: float = Field(
        default=365.0,
        gt=0,
        description="How long an audit log entry is kept (days); the store deletes it after "
        "that (a TTL index on each entry's `expires_at`, set when it is written).",
    )
    audit_buffer_entries: int = Field(
        default=10_000,
        gt=0,
        description="Audit entries held in memory while they wait to be written (or while the "
        "audit store is unreachable); past that, new entries are dropped and counted in "
        "`crm_audit_entries_dropped_total`.",
    )
    audit_batch_size: int = Field(default=200, gt=0, description="Audit entries per write.")
    audit_flush_interval_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often buffered audit entries are written (sooner once a batch is full).",
    )
    tenants: dict[str, Tenant] = Field(
        default_factory=dict,
        description="The tenants (JSON object: tenant id -> {name, status}). A caller whose "
        "tenant is not here, or is suspended, is refused.",
    )
    dev_tokens: dict[str, DevIdentity] = Field(
        default_factory=dict,
        description="Development bearer tokens (JSON object: token -> identity). Empty in "
        "production, where OIDC and API keys authenticate callers.",
    )
    oidc: OidcSettings = Field(
        default_factory=OidcSettings,
        description="OIDC sign-in (JSON): the identity provider each tenant trusts; a bearer "
        "token that is no development token is verified as that provider's JWT "
        "(docs/security.md, Signing in).",
    )

    @model_validator(mode="after")
    def _lease_outlasts_a_request(self) -> GatewaySettings:
        if self.idempotency_lease_seconds <= self.upstream_timeout_seconds:
            raise ValueError(
                "IDEMPOTENCY_LEASE_SECONDS must be longer than UPSTREAM_TIMEOUT_SECONDS: a key "
                "whose request is still running would be given to a second attempt"
            )
        return self

    @field_validator("trusted_proxies", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value
