"""Settings of the gateway."""

from __future__ import annotations

import re
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

from crm_gateway.domain import tenants as tenancy
from crm_gateway.domain.tenants import TenantStatus
from crm_gateway.oidc_config import OidcSettings, OidcTenantSettings
from crm_shared import Role, ServiceSettings
from crm_shared.bootstrap import SERVER_KEEP_ALIVE_SECONDS


class DevIdentity(BaseModel):
    """Who a development bearer token stands for."""

    tenant_id: str
    user_id: str
    roles: list[Role]


class Tenant(BaseModel):
    """A customer organisation using the CRM, as the `TENANTS` setting bootstraps it."""

    name: str
    status: TenantStatus = TenantStatus.ACTIVE
    community_key: str | None = Field(
        default=None,
        description="The public key naming the tenant in its talent-community sign-up form; "
        "without one the tenant has no public sign-up.",
    )

    def as_stored(self, tenant_id: str, oidc: OidcTenantSettings | None) -> tenancy.Tenant:
        """The tenant as the database keeps it; the `OIDC` setting's provider as its sign-in,
        taking roles from the token and provisioning its users on first sign-in, as that
        setting did before tenants were stored."""
        sign_in = tenancy.SignInSettings()
        if oidc is not None:
            sign_in = tenancy.SignInSettings(
                issuer=oidc.issuer,
                audience=oidc.audience,
                roles_claim=oidc.roles_claim,
                role_mapping=dict(oidc.role_mapping),
                user_claim=oidc.user_claim,
                tenant_claim=oidc.tenant_claim,
                jit_provisioning=True,
                roles_from_token=True,
            )
        return tenancy.Tenant(
            tenant_id=tenant_id,
            name=self.name,
            status=self.status,
            community_key=self.community_key,
            sign_in=sign_in,
        )


class GatewaySettings(ServiceSettings):
    """Gateway settings, read from the environment."""

    service_name: str = "gateway"
    candidates_url: str = "http://127.0.0.1:8001"
    campaigns_url: str = "http://127.0.0.1:8002"
    events_url: str = "http://127.0.0.1:8003"
    ats_sync_url: str = "http://127.0.0.1:8004"
    analytics_url: str = "http://127.0.0.1:8005"
    console_url: str = Field(
        default="",
        description="Where the console service runs; the gateway serves it at `/console/` to "
        "signed-in browsers. Empty: no console.",
    )
    upstream_timeout_seconds: float = 10.0
    upstream_keep_alive_seconds: float = Field(
        default=30.0,
        gt=0,
        lt=SERVER_KEEP_ALIVE_SECONDS,
        description="How long an idle connection to a service is kept for reuse. Shorter than "
        "the services' own keep-alive, so the gateway never reuses one a service is closing.",
    )
    upstream_max_connections: int = Field(
        default=32,
        gt=0,
        description="Requests the gateway has in flight to the services at most (all services "
        "together), each on a kept-alive connection; a request beyond waits for a free one, up "
        "to `upstream_timeout_seconds`, then is a 502.",
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
    tenant_requests_per_minute: int = Field(
        default=6000,
        ge=0,
        description="Authenticated requests one tenant may send per minute, counted across "
        "every gateway replica (in the gateway's MongoDB database); 0: unlimited.",
    )
    api_key_requests_per_minute: int = Field(
        default=600,
        ge=0,
        description="Requests one API key may send per minute, across every replica, within "
        "its tenant's budget; 0: unlimited.",
    )
    rate_limit_storage: Literal["mongodb", "memory"] = Field(
        default="mongodb",
        description="Where the tenant and API-key counters live: `mongodb` (shared by every "
        "replica) or `memory` (one process only: a single replica, tests).",
    )
    rate_limit_timeout_seconds: float = Field(
        default=0.25,
        gt=0,
        description="How long a request waits for its rate-limit count in MongoDB; past it "
        "(or when MongoDB fails) the process counts on its own for a few seconds.",
    )
    public_requests_per_minute_per_ip: int = Field(
        default=120,
        ge=0,
        description="Requests one client address may send per minute to the public endpoints "
        "(bursts of a quarter of that), except the ATS webhooks; 0: unlimited.",
    )
    ats_webhooks_per_minute_per_connection: int = Field(
        default=3000,
        ge=0,
        description="ATS webhook deliveries one connection (the id in the path) may receive per "
        "minute, bursts of a quarter of that, instead of the public per-IP limit: an ATS sends "
        "a bulk action's hundreds of webhooks at once, from a few addresses; 0: unlimited.",
    )
    ats_webhooks_per_minute_per_ip: int = Field(
        default=12000,
        ge=0,
        description="ATS webhook deliveries one client address may send per minute to all "
        "connections together (bursts of a quarter of that): a ceiling well above what an "
        "ATS sends, against one address spraying made-up connection ids; 0: unlimited.",
    )
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
        description="Bootstrap tenants (JSON object: tenant id -> {name, status, "
        "community_key}). Tenants live in the gateway's database; on its first read, those here "
        "that the database lacks are inserted (docs/security.md, Tenants, users and API keys).",
    )
    platform_operator_key_hashes: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="SHA-256 hex digests (comma separated) of the platform operators' keys, "
        "which authenticate `/api/v1/platform/...` (tenant creation and suspension). Empty: "
        "no operator API.",
    )
    identity_cache_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="How long each gateway process reuses what it read of tenants, "
        "memberships and API keys: a suspension, removal or revocation made through another "
        "replica takes effect within this time.",
    )
    api_key_max_lifetime_days: int = Field(
        default=366, gt=0, description="The longest lifetime an API key may be given."
    )
    dev_tokens: dict[str, DevIdentity] = Field(
        default_factory=dict,
        description="Development bearer tokens (JSON object: token -> identity). Empty in "
        "production, where OIDC and API keys authenticate callers.",
    )
    internal_token_private_key: SecretStr = Field(
        default=SecretStr(""),
        description="The Ed25519 private key (PEM text, or the path of a PEM file) the gateway "
        "signs internal tokens with; the gateway refuses to start without it. Only the gateway "
        "holds it; services get the public half (`INTERNAL_TOKEN_PUBLIC_KEY`).",
    )
    sign_in_without_oidc: bool = Field(
        default=False,
        description="Production only: start although no OIDC issuer is configured, because "
        "callers authenticate otherwise (API keys). Without it such a gateway refuses to start, "
        "as nobody could sign in.",
    )
    session_idle_minutes: float = Field(
        default=30.0,
        gt=0,
        description="A console session (browser sign-in) ends after this long without a request.",
    )
    session_absolute_hours: float = Field(
        default=12.0,
        gt=0,
        description="A console session ends this long after sign-in, however busy.",
    )
    sign_in_attempt_minutes: float = Field(
        default=10.0,
        gt=0,
        description="How long a browser has to come back from the identity provider with the "
        "`state` of a sign-in it started.",
    )
    oidc_client_secrets: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Client secrets (JSON object: tenant id -> secret) when a tenant's provider "
        "registers the gateway as a confidential client; a tenant without one signs browsers in "
        "as a public client (PKCE only). Kept in the settings, never in the database.",
    )
    public_url: str = Field(
        default="",
        description="The gateway's URL as browsers reach it (e.g. `https://crm.example.com`), "
        "for the sign-in callback (`<url>/auth/callback`) and the page after sign-out; empty: "
        "taken from each request.",
    )
    oidc: OidcSettings = Field(
        default_factory=OidcSettings,
        description="OIDC sign-in (JSON): the token tolerances and key caching; and, as a "
        "bootstrap of the `TENANTS` tenants' stored sign-in settings, the identity provider "
        "each trusts (docs/security.md, Signing in).",
    )

    @model_validator(mode="after")
    def _lease_outlasts_a_request(self) -> GatewaySettings:
        if self.idempotency_lease_seconds <= self.upstream_timeout_seconds:
            raise ValueError(
                "IDEMPOTENCY_LEASE_SECONDS must be longer than UPSTREAM_TIMEOUT_SECONDS: a key "
                "whose request is still running would be given to a second attempt"
            )
        return self

    def production_refusals(self) -> list[str]:
        """Why this configuration must not serve production (empty when it may, or when the
        environment is development)."""
        if self.environment != "production":
            return []
        refusals = []
        if self.dev_tokens:
            refusals.append(
                "DEV_TOKENS is set: development tokens are accepted only with "
                "ENVIRONMENT=development"
            )
        if not self.oidc.tenants and not self.sign_in_without_oidc:
            refusals.append(
                "no OIDC issuer is configured (OIDC): nobody could sign in; configure one, or "
                "set SIGN_IN_WITHOUT_OIDC=true when callers use API keys only"
            )
        downgrades = self.oidc.backchannel_downgrades()
        if downgrades:
            refusals.append(
                "OIDC backchannel_urls sends an https issuer's calls over plain HTTP "
                f"({', '.join(downgrades)}): only with ENVIRONMENT=development"
            )
        return refusals

    @field_validator("platform_operator_key_hashes")
    @classmethod
    def _sha256_digests(cls, digests: list[str]) -> list[str]:
        for digest in digests:
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise ValueError(
                    "PLATFORM_OPERATOR_KEY_HASHES holds SHA-256 hex digests (64 lower-case hex "
                    "characters), never the keys themselves"
                )
        return digests

    def bootstrap_tenants(self) -> list[tenancy.Tenant]:
        """The `TENANTS` setting's tenants, with their `OIDC` setting's identity provider."""
        providers = {provider.tenant_id: provider for provider in self.oidc.tenants}
        return [
            tenant.as_stored(tenant_id, providers.get(tenant_id))
            for tenant_id, tenant in self.tenants.items()
        ]

    @field_validator(
        "trusted_proxies", "cors_origins", "platform_operator_key_hashes", mode="before"
    )
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value
