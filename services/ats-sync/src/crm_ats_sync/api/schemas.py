"""Request and response schemas of the ats-sync API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints

from crm_ats_sync.domain.breaker import BreakerState
from crm_ats_sync.domain.changes import ApplicationStatus, JobStatus
from crm_ats_sync.domain.models import MAX_ATS_WEBHOOK_SECRETS, Provider
from crm_ats_sync.domain.pushes import PushState
from crm_ats_sync.domain.rejected_payloads import PayloadSource
from crm_ats_sync.domain.sync import SyncKind, SyncPhase, SyncState


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
        "Greenhouse Harvest v3 OAuth client id and secret written `<client id>:<client "
        "secret>`, a Lever API key, a Workable access token); never shown again. "
        "Without it the connection takes webhooks only.",
    )
    api_base_url: HttpUrl | None = Field(
        default=None,
        description="The ATS API's address, when not the provider's public one (a simulator); "
        "required for Workable: the account's `https://<subdomain>.workable.com/spi/v3` (with "
        "`api_key`, the access token Workable also signs its webhooks with).",
    )
    ats_user_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The ATS user candidates are pushed on behalf of: required by Greenhouse "
        "(a Harvest user id, from `GET /v1/users`) for pushes; for Lever the user to "
        "`perform_as` (default: the account's first super admin); unused by Workable.",
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
    ats_user_id: str | None = Field(
        default=None, description="The ATS user candidates are pushed on behalf of."
    )
    created_at: datetime
    secret_rotated_at: datetime | None = None
    previous_secret_until: datetime | None = Field(
        default=None,
        description="Until when deliveries signed with the secret before the last rotation are "
        "still accepted.",
    )
    ats_issued_secrets: int = Field(
        default=0,
        description="How many secrets the ATS issued are set (`PUT .../webhook-secrets`; the "
        "secrets themselves are never shown); while any is, deliveries are verified with "
        "them instead of the connection's own secret.",
    )
    ats_secrets_set_at: datetime | None = Field(
        default=None, description="When the ATS-issued secrets were last set."
    )
    previous_ats_secrets_until: datetime | None = Field(
        default=None,
        description="Until when deliveries signed with the ATS-issued secrets set before the "
        "last change are still accepted.",
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


AtsSecret = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]


class AtsWebhookSecrets(BaseModel):
    """Set the secrets the ATS issued and signs its webhooks with (Lever's signature tokens)."""

    model_config = ConfigDict(extra="forbid")

    secrets: list[AtsSecret] = Field(
        max_length=MAX_ATS_WEBHOOK_SECRETS,
        description="Every secret the ATS signs the connection's webhooks with: for Lever, the "
        "signature token of each webhook event type turned on (Settings > Integrations and "
        "API > Webhooks). Replaces the ones set before; stored encrypted and never shown. "
        "Empty: deliveries are verified with the connection's own secret again.",
    )
    grace_hours: int = Field(
        default=24,
        ge=0,
        le=720,
        description="How long the secrets set before stay valid beside these (0: at once).",
    )


class ConnectionView(ConnectionPublic):
    """A connection with its health."""

    health: ConnectionHealthPublic


class WebhookReceipt(BaseModel):
    status: str = Field(
        description="`accepted`; `duplicate` (this delivery id was received before); "
        "`replayed` (this signed body was received before under another id: ignored); `stale` "
        "(the change is older than the application's recorded state: ignored); `not_read` (the "
        "webhook names an application only and the connection has no API key to read it with: "
        "recorded, nothing applied); `gone` (the application it names no longer exists in the "
        "ATS: recorded, nothing applied)."
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
    rejection_reason: str | None = None
    ats_job_id: str | None = None
    prospect: bool = Field(
        default=False, description="A prospect: in the ATS, but no application for a job yet."
    )


class SyncCountsPublic(BaseModel):
    pages: int = Field(description="Pages read from the ATS (applications, then jobs).")
    applications_seen: int
    applications_created: int = Field(description="Applications new to the CRM.")
    applications_updated: int = Field(
        description="Applications whose stage or status the CRM did not have yet."
    )
    jobs_seen: int
    jobs_changed: int = Field(description="Jobs new to the CRM or changed.")
    errors: int


class SyncErrorPublic(BaseModel):
    at: datetime
    reason: str
    ats_id: str | None = Field(
        default=None, description="The application or job concerned; null for a page not read."
    )


class SyncRunPublic(BaseModel):
    """A backfill or reconciliation of a connection and how far it got."""

    id: str
    connection_id: str
    kind: SyncKind
    state: SyncState
    updated_after: datetime | None = Field(
        description="Only what the ATS changed after this was read (null: everything)."
    )
    phase: SyncPhase = Field(description="What the run reads now: applications, then jobs.")
    counts: SyncCountsPublic
    errors: list[SyncErrorPublic] = Field(description="The latest 50 errors, oldest first.")
    started_at: datetime
    finished_at: datetime | None
    requested_by: str | None = Field(description="Who started it; null for the schedule.")


class ConnectionCreated(ConnectionPublic):
    """A new connection; the secret is shown this once, to paste into the ATS's webhook setup."""

    webhook_secret: str
    backfill: SyncRunPublic | None = Field(
        default=None,
        description="The first backfill, started at once for a connection made with an API key "
        "(a key the ATS refuses fails it within seconds: `GET .../sync`); null without a key.",
    )


class SyncStatusPublic(BaseModel):
    backfill: SyncRunPublic | None = Field(description="The connection's last backfill.")
    reconcile: SyncRunPublic | None = Field(description="The connection's last reconciliation.")


class PushCreate(BaseModel):
    """Send a CRM candidate to the connection's ATS."""

    model_config = ConfigDict(extra="forbid")

    candidate_id: str = Field(min_length=1, max_length=100)
    ats_job_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="An open job of the connection (`GET /ats/jobs`): the candidate becomes an "
        "application for it; without it, a prospect.",
    )


class PushPublic(BaseModel):
    """A candidate sent (or being sent) to an ATS."""

    id: str
    connection_id: str
    provider: Provider
    candidate_id: str
    ats_job_id: str | None
    state: PushState = Field(description="`pending`, `done` or `failed` (see `error`).")
    ats_candidate_id: str | None
    ats_application_id: str | None
    error: str | None = Field(description="Why the last attempt failed, while `failed`.")
    attempts: int
    requested_by: str
    created_at: datetime
    updated_at: datetime


class JobPublic(BaseModel):
    id: str
    connection_id: str
    provider: Provider
    ats_job_id: str
    name: str
    status: JobStatus
    departments: list[str]
    locations: list[str]
    ats_changed_at: datetime | None = Field(description="When the ATS last changed the job.")
    updated_at: datetime = Field(description="When the CRM last stored a change of it.")


class RejectedPayloadPublic(BaseModel):
    """A payload from the ATS the CRM could not map or store, as it was received."""

    id: str
    connection_id: str
    source: PayloadSource = Field(
        description="`webhook` (answered 422), `backfill` or `reconcile` (the record skipped)."
    )
    reason: str = Field(description="Why it was rejected.")
    ats_id: str | None = Field(
        default=None, description="The ATS's id of the record, where the payload names one."
    )
    received_at: datetime
    body: str = Field(
        description="The payload as text (UTF-8), at most 64 KiB: a webhook's body as sent, a "
        "record of the ATS's API as JSON."
    )
    size: int = Field(description="The payload's whole size in bytes.")
    truncated: bool = Field(description="Whether `body` was cut at 64 KiB.")
