"""ATS connections, received webhook deliveries and applications."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from crm_shared import new_id, utc_now


class Provider(StrEnum):
    GREENHOUSE = "greenhouse"


class Connection(BaseModel):
    """A tenant's link to one ATS account; its secret verifies the ATS's webhooks."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    provider: Provider
    name: str
    webhook_secret: str
    created_by: str
    created_at: datetime = Field(default_factory=utc_now)


class ApplicationStatus(StrEnum):
    ACTIVE = "active"
    REJECTED = "rejected"
    HIRED = "hired"


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
