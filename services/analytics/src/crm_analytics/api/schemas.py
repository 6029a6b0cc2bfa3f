"""Response schemas of the analytics API."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TenantSummary(BaseModel):
    """The caller's tenant's running totals."""

    candidates: int = Field(description="Candidates created in the tenant.")
    messages_sent: int = Field(description="Messages handed to SMTP.")
    messages_opened: int = Field(description="Messages opened at least once by a person.")
    messages_clicked: int = Field(description="Messages with at least one tracked click.")
    event_registrations: int = Field(description="Registrations for recruiting events.")
    applications: int = Field(description="Applications reported by connected ATSs.")
