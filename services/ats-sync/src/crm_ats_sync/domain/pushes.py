"""Pushing a CRM candidate to an ATS: who may be pushed, and a push's lifecycle.

A push is recorded before the ATS is called and is keyed by (connection, candidate, job), so a
repeat answers what the first one did and never creates the person in the ATS twice; only a
failed push is tried again. An attempt abandoned while pending is turned into a failure saying
the ATS may hold the person, so retrying it is a person's decision, not an automatic one."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from crm_ats_sync.domain.models import Provider
from crm_shared import new_id, utc_now

# The consent purpose under which a candidate's data may be handed to the tenant's ATS: the
# general processing of their data for recruiting, whatever its lawful basis (see
# docs/consent-and-gdpr.md). Marketing consent is about mail and does not cover it.
PUSH_CONSENT_PURPOSE = "data_processing"

ABANDONED_REASON = (
    "interrupted before the ATS answered: the ATS may already hold the person; check it "
    "before retrying"
)


class PushState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class KnownCandidate(BaseModel):
    """What ats-sync knows of a CRM candidate from the candidates service's events."""

    model_config = ConfigDict(frozen=True)

    candidate_id: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    status: str = "active"
    # The `data_processing` consent as `consent.changed` last reported it.
    consent_granted: bool = False
    consent_expires_at: datetime | None = None


class PushRefused(Exception):
    """The candidate cannot be pushed; `reason` is a problem type, the message says why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def check_pushable(candidate: KnownCandidate | None, candidate_id: str, now: datetime) -> None:
    """Raises `PushRefused` unless the candidate is a live person with an email whose data
    the tenant may hand to its ATS."""
    if candidate is None or candidate.email is None:
        raise PushRefused(
            "candidate-unknown", f"candidate {candidate_id} is not known here or has no email"
        )
    if candidate.status != "active":
        raise PushRefused(
            "candidate-not-active",
            f"candidate {candidate_id} is {candidate.status}: push the active record",
        )
    expired = candidate.consent_expires_at is not None and candidate.consent_expires_at <= now
    if not candidate.consent_granted or expired:
        raise PushRefused(
            "consent-required",
            f"candidate {candidate_id} has no granted `{PUSH_CONSENT_PURPOSE}` consent: "
            "their data may not be sent to the ATS",
        )


def push_key(connection_id: str, candidate_id: str, ats_job_id: str | None) -> str:
    """The identity of a push: one per connection, candidate and job (or none)."""
    return f"{connection_id}:{candidate_id}:{ats_job_id or ''}"


class Push(BaseModel):
    """One candidate sent (or being sent) to one ATS connection, as a prospect or for a job."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    key: str
    connection_id: str
    provider: Provider
    candidate_id: str
    ats_job_id: str | None = None
    state: PushState = PushState.PENDING
    requested_by: str
    attempts: int = 1
    ats_candidate_id: str | None = None
    ats_application_id: str | None = None
    # Why the last attempt failed (while `state` is failed).
    error: str | None = None
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)

    def abandoned(self, now: datetime, after: timedelta) -> bool:
        """Whether a pending attempt was abandoned: its process stopped before recording the
        ATS's answer, so the ATS may or may not hold the person."""
        return self.state is PushState.PENDING and now - self.updated_at > after
