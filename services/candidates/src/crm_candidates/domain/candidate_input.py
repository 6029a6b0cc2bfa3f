"""What a person may send to create or change a candidate: the field shapes and limits.

The API's request bodies and the CSV import's row check share these models, so a row is held
to exactly what `POST /candidates` and `PATCH /candidates/{id}` accept. Normalising the values
(phones, URLs, skills, custom fields) is `domain/profile.py`'s part.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from crm_candidates.domain.models import CandidateSource, WorkPreferences

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# Empty for a person with one name (Indonesia, parts of India, Myanmar...).
LastName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=200),
    Field(description="Empty for a person with one name."),
]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
ProfileUrl = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
TimeZone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Locale = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
Region = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z]{2}$")]
OwnerId = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
PHONES_DESCRIPTION = (
    "Stored in E.164. A number without a country code is read in `default_region`, else the "
    "tenant's default phone region (`/profile-settings`), else US."
)
PROFILE_URLS_DESCRIPTION = (
    "Social and portfolio profiles, stored canonical: https, lower-case host without www, no "
    "tracking parameters or trailing slash, `linkedin.com/in/<handle>`."
)
SKILLS_DESCRIPTION = "Mapped to the tenant's canonical skills (`/skills/vocabulary`), lower-case."
CUSTOM_FIELDS_DESCRIPTION = (
    "Values of the tenant's custom fields (`/custom-fields`) by key. On a change the keys sent "
    "are merged into the stored values; null removes a key."
)
DEFAULT_REGION_DESCRIPTION = (
    "Two-letter region to read national phone numbers of this request in, e.g. DE."
)


class CandidateCreate(BaseModel):
    """What a recruiter sends to create a candidate."""

    model_config = ConfigDict(extra="forbid")

    first_name: Name
    last_name: LastName = ""
    emails: list[EmailStr] = Field(min_length=1, max_length=10)
    phones: list[Phone] = Field(default_factory=list, max_length=10, description=PHONES_DESCRIPTION)
    headline: ShortText | None = None
    current_title: ShortText | None = None
    current_company: ShortText | None = None
    location: ShortText | None = None
    skills: list[Label] = Field(
        default_factory=list, max_length=100, description=SKILLS_DESCRIPTION
    )
    tags: list[Label] = Field(default_factory=list, max_length=100)
    source: CandidateSource = CandidateSource.SOURCED
    owner_id: OwnerId | None = None
    marketing_consent: bool = False
    profile_urls: list[ProfileUrl] = Field(
        default_factory=list, max_length=20, description=PROFILE_URLS_DESCRIPTION
    )
    time_zone: TimeZone | None = Field(default=None, description="IANA name, e.g. Europe/Berlin.")
    locale: Locale | None = Field(default=None, description="Language tag, e.g. en or pt-BR.")
    seniority: Label | None = None
    desired_roles: list[Label] = Field(default_factory=list, max_length=20)
    work_preferences: WorkPreferences | None = None
    custom_fields: dict[str, Any] = Field(
        default_factory=dict, max_length=100, description=CUSTOM_FIELDS_DESCRIPTION
    )
    default_region: Region | None = Field(default=None, description=DEFAULT_REGION_DESCRIPTION)


class CandidateUpdate(BaseModel):
    """A partial change to a candidate: only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    first_name: Name | None = None
    last_name: Name | None = None
    emails: list[EmailStr] | None = Field(default=None, min_length=1, max_length=10)
    phones: list[Phone] | None = Field(default=None, max_length=10, description=PHONES_DESCRIPTION)
    headline: ShortText | None = None
    current_title: ShortText | None = None
    current_company: ShortText | None = None
    location: ShortText | None = None
    skills: list[Label] | None = Field(default=None, max_length=100, description=SKILLS_DESCRIPTION)
    tags: list[Label] | None = Field(default=None, max_length=100)
    owner_id: OwnerId | None = None
    marketing_consent: bool | None = None
    profile_urls: list[ProfileUrl] | None = Field(
        default=None, max_length=20, description=PROFILE_URLS_DESCRIPTION
    )
    time_zone: TimeZone | None = None
    locale: Locale | None = None
    seniority: Label | None = None
    desired_roles: list[Label] | None = Field(default=None, max_length=20)
    work_preferences: WorkPreferences | None = None
    custom_fields: dict[str, Any] | None = Field(
        default=None, max_length=100, description=CUSTOM_FIELDS_DESCRIPTION
    )
    default_region: Region | None = Field(default=None, description=DEFAULT_REGION_DESCRIPTION)
