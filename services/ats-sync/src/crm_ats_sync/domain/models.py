"""ATS connections, received webhook deliveries and applications."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from crm_ats_sync.domain.changes import ApplicationStatus
from crm_shared import new_id, utc_now


class Provider(StrEnum):
    GREENHOUSE = "greenhouse"
    LEVER = "lever"
    WORKABLE = "workable"


# What a connection to each ATS cannot work without: Workable has no shared API host (every
# account answers at its own subdomain) and signs its webhooks with the account's access token.
REQUIRED_CONNECTION_SETTINGS: dict[Provider, tuple[str, ...]] = {
    Provider.WORKABLE: ("api_base_url", "api_key"),
}

# The ATSs that issue the secrets they sign webhooks with, which an admin copies into the CRM:
# Lever generates a signature token per webhook event type (the CRM cannot choose it).
# Greenhouse takes the secret the CRM issues; Workable signs with the account's access token.
ATS_ISSUED_WEBHOOK_SECRETS = frozenset({Provider.LEVER})
# At most this many ATS-issued secrets per connection: one per Lever webhook event type.
MAX_ATS_WEBHOOK_SECRETS = 10


class Connection(BaseModel):
    """A tenant's link to one ATS account; its secret verifies the ATS's webhooks.

    Its secrets are in the clear here and sealed where stored; `repr=False` keeps them out of
    logs and tracebacks."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    provider: Provider
    name: str
    webhook_secret: str = Field(repr=False)
    created_by: str
    # Where and how the ATS's read/write API is called (None: webhooks only, no backfill,
    # reconciliation or push). The base URL defaults to the provider's public API.
    api_base_url: str | None = None
    api_key: str | None = Field(default=None, repr=False)
    # The ATS user writes (pushes) are made on behalf of, where the ATS asks for one (Greenhouse's
    # `On-Behalf-Of`; Lever's `perform_as`, else its first super admin).
    ats_user_id: str | None = None
    # Which ATS account the API credentials reach (a digest of provider, API base URL and the
    # account's client id or key: `application.connections.account_of`); None without an API
    # key. Two live connections of a tenant never share one.
    account: str | None = None
    created_at: datetime = Field(default_factory=utc_now)
    # After a rotation the previous secret is still accepted until `previous_secret_until`, so
    # deliveries the ATS signed before it was reconfigured are not lost.
    previous_webhook_secret: str | None = Field(default=None, repr=False)
    previous_secret_until: datetime | None = None
    secret_rotated_at: datetime | None = None
    # The secrets the ATS issued and signs with (Lever: one signature token per webhook event
    # type), set by an admin; while any is set they verify deliveries instead of
    # `webhook_secret`. The ones they replaced are still accepted until
    # `previous_ats_secrets_until`.
    ats_webhook_secrets: tuple[str, ...] = Field(default=(), repr=False)
    previous_ats_webhook_secrets: tuple[str, ...] = Field(default=(), repr=False)
    previous_ats_secrets_until: datetime | None = None
    ats_secrets_set_at: datetime | None = None
    deleted_at: datetime | None = None

    def accepted_secrets(self, now: datetime) -> list[str]:
        """The secrets a delivery may be signed with at `now`: the ATS-issued ones when set,
        else the connection's own and, during a rotation's grace, its previous one; and the
        ATS-issued ones replaced last, during their grace. Workable has no webhook secret: it
        signs with the account's access token, the connection's API key."""
        if self.provider is Provider.WORKABLE:
            return [self.api_key] if self.api_key else []
        secrets = list(self.ats_webhook_secrets)
        if not secrets:
            secrets.append(self.webhook_secret)
            if (
                self.previous_webhook_secret
                and self.previous_secret_until is not None
                and now < self.previous_secret_until
            ):
                secrets.append(self.previous_webhook_secret)
        if self.previous_ats_secrets_until is not None and now < self.previous_ats_secrets_until:
            secrets.extend(s for s in self.previous_ats_webhook_secrets if s not in secrets)
        return secrets


class Application(BaseModel):
    """An application as the ATS reported it, matched to a CRM candidate where possible."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    connection_id: str
    provider: Provider
    ats_application_id: str
    ats_candidate_id: str
    candidate_id: str | None
    email: str | None
    job_name: str | None
    applied_at: datetime | None
    stage: str | None = None
    status: ApplicationStatus = ApplicationStatus.ACTIVE
    received_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime | None = None
    # When the ATS says the state it last reported happened: an older delivery never moves the
    # application back.
    ats_changed_at: datetime | None = None
    # Why it was rejected (while `status` is rejected), the ATS's job and whether the person is a
    # prospect (no application for a job yet): known from the read API and from rejections.
    rejection_reason: str | None = None
    ats_job_id: str | None = None
    prospect: bool = False
