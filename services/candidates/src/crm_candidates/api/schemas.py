"""Request and response schemas of the candidates API, kept apart from the stored record."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from crm_candidates.domain.models import CandidateSource, SegmentStatus
from crm_candidates.domain.segments import SEGMENTABLE_FIELDS

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
RULE_DESCRIPTION = (
    'A group `{"all"|"any"|"none": [...]}` of conditions '
    '`{"field", "op", "value"}` and nested groups. Operators: equals, not_equals, in, '
    f"contains, exists. Fields: {', '.join(SEGMENTABLE_FIELDS)}. Text matches ignore case and "
    "spacing; a condition on a list field holds when any element satisfies it."
)
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
    marketing_consent: bool = False


class CandidateUpdate(BaseModel):
    """A partial change to a candidate: only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    first_name: Name | None = None
    last_name: Name | None = None
    emails: list[EmailStr] | None = Field(default=None, min_length=1, max_length=10)
    phones: list[Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)]] | None = (
        Field(default=None, max_length=10)
    )
    headline: ShortText | None = None
    current_title: ShortText | None = None
    current_company: ShortText | None = None
    location: ShortText | None = None
    skills: list[Label] | None = Field(default=None, max_length=100)
    tags: list[Label] | None = Field(default=None, max_length=100)
    owner_id: str | None = None
    marketing_consent: bool | None = None


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
    marketing_consent: bool
    created_by: str
    created_at: datetime
    updated_at: datetime


class SegmentCreate(BaseModel):
    """A dynamic segment: the candidates matching `rule`, kept current on every change."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    rule: dict[str, Any] = Field(description=RULE_DESCRIPTION)


class SegmentPreviewRequest(BaseModel):
    """A rule to count before saving it as a segment."""

    model_config = ConfigDict(extra="forbid")

    rule: dict[str, Any] = Field(description=RULE_DESCRIPTION)
    sample_size: int = Field(default=10, ge=0, le=50)


class SegmentPreview(BaseModel):
    """How many candidates a rule matches now, and a few of them."""

    count: int
    sample: list[CandidatePublic]


class SegmentPublic(BaseModel):
    """A segment as the API returns it."""

    id: str
    name: str
    rule: dict[str, Any]
    status: SegmentStatus = Field(description="`computing` until the first full evaluation ends.")
    member_count: int
    created_by: str
    created_at: datetime
