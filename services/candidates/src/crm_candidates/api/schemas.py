"""Request and response schemas of the candidates API, kept apart from the stored record."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from crm_candidates.domain.models import CandidateSource

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class CandidateCreate(BaseModel):
    """What a recruiter sends to create a candidate."""

    model_config = ConfigDict(extra="forbid")

    first_name: Name
    last_name: Name
    emails: list[EmailStr] = Field(min_length=1, max_length=10)
    phones: list[Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)]] = Field(
        default_factory=list, max_length=10
    )
    headline: ShortText | None = None
    current_title: ShortText | None = None
    current_company: ShortText | None = None
    location: ShortText | None = None
    skills: list[Label] = Field(default_factory=list, max_length=100)
    tags: list[Label] = Field(default_factory=list, max_length=100)
    source: CandidateSource = CandidateSource.SOURCED
    owner_id: str | None = None


class CandidatePublic(BaseModel):
    """A candidate as the API returns it."""

    id: str
    first_name: str
    last_name: str
    emails: list[str]
    phones: list[str]
    headline: str | None
    current_title: str | None
    current_company: str | None
    location: str | None
    skills: list[str]
    tags: list[str]
    source: CandidateSource
    owner_id: str | None
    created_by: str
    created_at: datetime
