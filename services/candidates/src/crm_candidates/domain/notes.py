"""Recruiters' notes on a candidate."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from crm_shared import new_id, utc_now


class Note(BaseModel):
    """A note a user wrote about a candidate; notes are never edited, only added."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    candidate_id: str
    author_id: str
    body: str
    created_at: datetime = Field(default_factory=utc_now)
