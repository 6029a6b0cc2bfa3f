"""Request and response schemas of the ats-sync API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints

from crm_ats_sync.domain.breaker import BreakerState
from crm_ats_sync.domain.changes import ApplicationStatus
from crm_ats_sync.domain.models import Provider


class ConnectionCreate(BaseModel):
    """Connect an ATS account."""

    model_config = ConfigDict(extra="forbid")

    provider: Provider
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    api_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="The ATS API key the CRM reads history and pushes candidates with (a "
        "Greenhouse Harvest key, a Lever API key, a Workable access token); never shown again. "
        "Without it the connection takes webhooks only.",
    )
    api_base_url: HttpUrl | None = Field(
        default=None,
        description="The ATS API's address, when not the provider's public one (e.g. a "
        "Workable account's `https://<subdomain>.workable.com/spi/v3`, or a simulator).",
    )


class ConnectionPublic(BaseModel):
    id: str
    provider: Provider
    name: str
    webhook_url: str
    api_connected: bool = Field(
        default=False, description="Whether an API key is set (the key itself is never shown)."
    )
    api_base_url: str | None = None
    created_at: datetime
    secret_rotated_at: datetime | None = None
    previous_secret_until: datetime | None = Field(
        default=None,
        description="Until when deliveries signed with the secret before the last rotation are "
        "still accepted.",
    )


class ApiKeyReplacement(BaseModel):
    """Replace a connection's API key (and where its API is)."""

    model_config = ConfigDict(extra="forbid")

    api_key: str = Field(
        min_length=1, max_length=500, description="The new API key; never shown again."
    )
    api_base_url: HttpUrl | None = Field(
        default=None,
        description="The ATS API's address; absent or null: the provider's public API.",
    )


class WebhookHealth(BaseModel):
    last_received_at: datetime | None = Field(
        description="The last delivery from the ATS, whatever became of it (within 30 days)."
    )
    last_refused_at: datetime | None = Field(description="The last refused delivery.")
    last_refusal_reason: str | None = Field(
        description="`bad_signature`, `malformed` or `missing_delivery_id`."
    )
    last_refusal_detail: str | None = Field(description="What the ATS was answered.")
    counts_24h: dict[str, int] = Field(
        description="Deliveries of the last 24 hours by outcome: `accepted`, `duplicate`, "
        "`replayed`, `stale`, `refused`."
    )


class ApiHealth(BaseModel):
    breaker: BreakerState = Field(
        description="`closed` (calls go through), `open` (paused after consecutive failures "
        "until `retry_at`) or `half_open` (one trial call decides)."
    )
    consecutive_failures: int
    retry_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_error: str | None = None


class ConnectionHealthPublic(BaseModel):
    webhooks: WebhookHealth
    api: ApiHealth


class SecretRotation(BaseModel):
    """Rotate a connection's webhook secret."""

    model_config = ConfigDict(extra="forbid")

    grace_hours: int = Field(
        default=24,
        ge=0,
        le=720,
        description="How long the current secret stays valid beside the new one, so deliveries "
        "the ATS signs before you paste the new secret into it are not refused.",
    )


class ConnectionView(ConnectionPublic):
    """A connection with its health."""

    health: ConnectionHealthPublic


class ConnectionCreated(ConnectionPublic):
    """A new connection; the secret is shown this once, to paste into the ATS's webhook setup."""

    webhook_secret: str


class WebhookReceipt(BaseModel):
    status: str = Field(
        description="`accepted`; `duplicate` (this delivery id was received before); "
        "`replayed` (this signed body was received before under another id: ignored); `stale` "
        "(the change is older than the application's recorded state: ignored)."
    )
    delivery_id: str


class ApplicationPublic(BaseModel):
    id: str
    connection_id: str
    provider: Provider
    ats_application_id: str
    ats_candidate_id: str
    candidate_id: str | None
    email: str | None
    job_name: str | None
    applied_at: datetime | None
    stage: str | None
    status: ApplicationStatus
    received_at: datetime
    updated_at: datetime | None
