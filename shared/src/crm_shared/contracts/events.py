"""Payload models, one per topic.

These are a public contract: change them backward compatibly, or give the topic a new version.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CandidateCreated(BaseModel):
    """A candidate record was created in the candidates service."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    candidate_id: str = Field(description="The candidate's id in the candidates service.")
    first_name: str
    last_name: str
    emails: list[str] = Field(description="Normalised (lower-cased) email addresses.")
    phones: list[str] = Field(default_factory=list, description="Phone numbers as given.")
    headline: str | None = None
    current_title: str | None = None
    current_company: str | None = None
    location: str | None = None
    skills: list[str] = Field(default_factory=list, description="Normalised (lower-cased) skills.")
    tags: list[str] = Field(default_factory=list)
    source: str = Field(description="How the candidate entered the CRM, e.g. `sourced`.")
    owner_id: str | None = Field(default=None, description="The recruiter who owns the candidate.")
