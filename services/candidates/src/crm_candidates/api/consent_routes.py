"""Recruiter-facing consent, retention settings and GDPR erasure routes of the candidates API."""

from __future__ import annotations

from fastapi import APIRouter, Request

from crm_candidates.api.consent_schemas import (
    CandidateConsents,
    ConsentEntryPublic,
    ConsentRecord,
    ConsentStatePublic,
    ErasureResult,
    RetentionPolicyChange,
)
from crm_candidates.api.deps import consent_service, container_of
from crm_candidates.application.consents import ConsentChange
from crm_candidates.application.erasure import CandidateEraser
from crm_candidates.domain.consent import ConsentStatus, RetentionPolicy
from crm_shared import (
    CurrentPrincipal,
    FieldError,
    ProblemError,
    require_permission,
    utc_now,
    validation_problem,
)

consent_router = APIRouter(tags=["consent"])
retention_router = APIRouter(prefix="/settings", tags=["settings"])


def _not_found(candidate_id: str) -> ProblemError:
    return ProblemError(404, f"no candidate {candidate_id}", problem_type="not-found")


@consent_router.get(
    "/candidates/{candidate_id}/consents",
    dependencies=[require_permission("consent:read")],
    response_model=CandidateConsents,
)
async def get_consents(
    candidate_id: str, request: Request, principal: CurrentPrincipal
) -> CandidateConsents:
    """The candidate's current consent per purpose and the append-only ledger."""
    ledger = await consent_service(request, principal.tenant_id).ledger(candidate_id)
    if ledger is None:
        raise _not_found(candidate_id)
    return CandidateConsents(
        candidate_id=candidate_id,
        marketing_consent=ledger.candidate.marketing_consent,
        current=[ConsentStatePublic.model_validate(s.model_dump()) for s in ledger.current],
        history=[ConsentEntryPublic.model_validate(e.model_dump()) for e in ledger.history],
    )


@consent_router.post(
    "/candidates/{candidate_id}/consents",
    dependencies=[require_permission("consent:write")],
    status_code=201,
    response_model=ConsentEntryPublic,
)
async def record_consent(
    candidate_id: str, body: ConsentRecord, request: Request, principal: CurrentPrincipal
) -> ConsentEntryPublic:
    """Records a grant or withdrawal; emits `consent.changed` (and `candidate.updated` when the
    marketing state changed)."""
    if body.action == "grant" and body.expires_at is not None and body.expires_at <= utc_now():
        raise validation_problem(
            [FieldError("expires_at", "must be in the future")],
            "expires_at must be in the future",
        )
    change = ConsentChange(
        purpose=body.purpose,
        status=ConsentStatus.GRANTED if body.action == "grant" else ConsentStatus.WITHDRAWN,
        lawful_basis=body.lawful_basis,
        source=body.source,
        expires_at=body.expires_at,
        evidence={"note": body.evidence} if body.evidence else {},
    )
    entry = await consent_service(request, principal.tenant_id).record(
        candidate_id, change, principal.user_id
    )
    if entry is None:
        raise _not_found(candidate_id)
    return ConsentEntryPublic.model_validate(entry.model_dump())


@consent_router.post(
    "/candidates/{candidate_id}/erasure",
    dependencies=[require_permission("gdpr:write")],
    response_model=ErasureResult,
)
async def erase_candidate(
    candidate_id: str, request: Request, principal: CurrentPrincipal
) -> ErasureResult:
    """Erases the person (GDPR article 17) and emits `candidate.erased` so every service
    follows; a tombstone without personal data remains (`gdpr:write`)."""
    eraser: CandidateEraser = container_of(request).candidate_eraser
    erased_at = await eraser.erase(principal.tenant_id, candidate_id)
    if erased_at is None:
        raise _not_found(candidate_id)
    return ErasureResult(candidate_id=candidate_id, erased_at=erased_at)


@retention_router.get(
    "/retention", dependencies=[require_permission("settings:read")], response_model=RetentionPolicy
)
async def get_retention(request: Request, principal: CurrentPrincipal) -> RetentionPolicy:
    """The tenant's consent lifetime, re-permission window and lapse action."""
    return await consent_service(request, principal.tenant_id).retention()


@retention_router.put(
    "/retention",
    dependencies=[require_permission("settings:write")],
    response_model=RetentionPolicy,
)
async def put_retention(
    body: RetentionPolicyChange, request: Request, principal: CurrentPrincipal
) -> RetentionPolicy:
    """Replaces the tenant's retention policy (`settings:write`); due consents follow it at their
    next check."""
    policy = RetentionPolicy.model_validate(body.model_dump())
    await consent_service(request, principal.tenant_id).set_retention(policy)
    return policy
