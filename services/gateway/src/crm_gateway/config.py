"""Settings of the gateway."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

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
    max_request_bytes: int = 1_048_576
    max_upload_bytes: int = 268_435_456
    max_public_request_bytes: int = 16_384
    max_webhook_bytes: int = 524_288
    tenant_requests_per_minute: int = 6000
    public_requests_per_minute_per_ip: int = 120
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
