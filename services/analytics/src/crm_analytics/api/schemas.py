"""Response schemas of the analytics API."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TenantSummary(BaseModel):
    """The caller's tenant's running totals."""

    candidates: int = Field(description="Candidates created in the tenant.")
