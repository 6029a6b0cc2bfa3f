"""Request and response schemas of the ats-sync API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from crm_ats_sync.domain.models import ApplicationStatus, Provider


class ConnectionCreate(BaseModel):
    """Connect an ATS account."""

    model_config = ConfigDict(extra="forbid")

    provider: Provider
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ConnectionPublic(BaseModel):
    id: str
    provider: Provider
    name: str
    webhook_url: str
    created_at: datetime


class ConnectionCreated(ConnectionPublic):
    """A new connection; the secret is shown this once, to paste into the ATS's webhook setup."""

    webhook_secret: str


class WebhookReceipt(BaseModel):
    status: str
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
