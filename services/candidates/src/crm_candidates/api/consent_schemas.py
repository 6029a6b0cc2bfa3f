"""Request and response schemas of the consent, preference and GDPR endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from crm_candidates.domain.consent import (
    ConsentPurpose,
    ConsentSource,
    ConsentStatus,
    Frequency,
    LawfulBasis,
    RetentionPolicy,
)
from crm_shared import EveryFieldRequired

Topic = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OptionalName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class ConsentRecord(BaseModel):
    """A grant or withdrawal a recruiter records for a candidate."""

    model_config = ConfigDict(extra="forbid")

    purpose: ConsentPurpose
    action: Literal["grant", "withdraw"]
    lawful_basis: LawfulBasis = LawfulBasis.CONSENT
    source: ConsentSource = ConsentSource.RECRUITER
    expires_at: datetime | None = Field(
        default=None,
        description="When a grant ends; a grant on the basis `consent` without one lasts the "
        "tenant's `consent_validity_days`.",
    )
    evidence: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = (
        Field(
            default=None,
            description="How the consent was obtained, as text (e.g. a call note, at most 500 "
            "characters); the ledger entry keeps it as `evidence.note`.",
        )
    )


class ConsentEntryPublic(BaseModel):
    """One ledger entry."""

    id: str
    purpose: ConsentPurpose
    status: ConsentStatus
    lawful_basis: LawfulBasis
    source: ConsentSource
    recorded_at: datetime
    expires_at: datetime | None
    message_id: str | None
    recorded_by: str
    evidence: dict[str, str]


class ConsentStatePublic(BaseModel):
    """The current state of one purpose."""

    purpose: ConsentPurpose
    status: ConsentStatus
    lawful_basis: LawfulBasis
    source: ConsentSource
    granted_at: datetime | None
    withdrawn_at: datetime | None
    expires_at: datetime | None


class CandidateConsents(BaseModel):
    """A candidate's consent: the current state per purpose and the full ledger."""

    candidate_id: str
    marketing_consent: bool
    current: list[ConsentStatePublic]
    history: list[ConsentEntryPublic]


class CommunitySignup(BaseModel):
    """The public talent-community form."""

    model_config = ConfigDict(extra="forbid")

    tenant: Annotated[str, StringConstraints(min_length=1, max_length=100)] = Field(
        description="The tenant's public community key (the gateway resolves it)."
    )
    email: EmailStr
    first_name: Name
    last_name: OptionalName = ""
    topics: list[Topic] = Field(default_factory=list, max_length=20)
    locale: str | None = Field(
        default=None,
        max_length=35,
        pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$",
        description="The person's language (`de-CH`), for their confirmation mail; without it "
        "the browser's first accepted language (`Accept-Language`) is taken.",
    )
    website: str | None = Field(
        default=None,
        description="Leave empty. A hidden form field: people never fill it, bots do.",
    )
    captcha_token: str | None = Field(
        default=None,
        max_length=4096,
        description="The CAPTCHA widget's token (Cloudflare Turnstile or hCaptcha), required "
        "when the gateway is configured with a CAPTCHA provider; the gateway verifies it.",
    )


class SignupAccepted(BaseModel):
    """What every sign-up is told, so the answer reveals nothing about the address."""

    status: Literal["pending_confirmation"] = "pending_confirmation"
    detail: str = "If the address can receive mail, a confirmation link is on its way."


class ConfirmationResult(BaseModel):
    """A confirmed consent link."""

    status: Literal["confirmed", "already_confirmed"]
    purposes: list[ConsentPurpose]


class PreferencesPublic(BaseModel):
    """What the preference centre shows."""

    first_name: str
    subscribed: bool = Field(description="Whether marketing messages may be sent.")
    topics: list[str]
    frequency: Frequency


class PreferencesUpdate(BaseModel):
    """Changes made in the preference centre; only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    topics: list[Topic] | None = Field(default=None, max_length=20)
    frequency: Frequency | None = None
    subscribed: bool | None = None


class UnsubscribeResult(BaseModel):
    """The outcome of an unsubscribe link."""

    status: Literal["unsubscribed"] = "unsubscribed"


class ErasureResult(BaseModel):
    """An erased candidate."""

    candidate_id: str
    erased_at: datetime


class RetentionPolicyChange(RetentionPolicy, EveryFieldRequired):
    """A new retention policy; its re-permission mail must go while the consent still lasts.

    Checked here rather than on the stored policy, so a policy stored before the rule still
    reads."""

    @field_validator("re_permission_days_before")
    @classmethod
    def _within_the_consent(cls, days: int, info: ValidationInfo) -> int:
        validity = info.data.get("consent_validity_days")
        if validity is not None and days >= validity:
            raise ValueError(
                f"the re-permission mail must go before the consent ends: fewer than the "
                f"{validity} days a consent lasts"
            )
        return days
