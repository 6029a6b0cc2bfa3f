"""Consent and erasure events of the candidates service, staged in its outbox."""

from __future__ import annotations

from datetime import datetime

from crm_candidates.domain.consent import ConsentEntry
from crm_shared import (
    CANDIDATE_ERASED,
    CONSENT_CHANGED,
    CONSENT_CONFIRMATION_REQUESTED,
    CandidateErased,
    ConsentChanged,
    ConsentConfirmationRequested,
    Outbox,
    Session,
)


async def to_consent_changed(
    outbox: Outbox, entry: ConsentEntry, *, marketing_consent: bool, session: Session
) -> None:
    """Stages `consent.changed` for a new ledger entry."""
    await outbox.stage(
        CONSENT_CHANGED,
        tenant_id=entry.tenant_id,
        subject=entry.candidate_id,
        data=ConsentChanged(
            candidate_id=entry.candidate_id,
            purpose=entry.purpose.value,
            status=entry.status.value,
            lawful_basis=entry.lawful_basis.value,
            source=entry.source.value,
            expires_at=entry.expires_at,
            marketing_consent=marketing_consent,
            message_id=entry.message_id,
        ),
        session=session,
    )


async def to_consent_confirmation_requested(
    outbox: Outbox, tenant_id: str, request: ConsentConfirmationRequested, *, session: Session
) -> None:
    """Stages `consent.confirmation_requested`; campaigns mails the link."""
    await outbox.stage(
        CONSENT_CONFIRMATION_REQUESTED,
        tenant_id=tenant_id,
        subject=request.candidate_id,
        data=request,
        session=session,
    )


async def to_candidate_erased(
    outbox: Outbox,
    tenant_id: str,
    candidate_id: str,
    email_hashes: list[str],
    erased_at: datetime,
    *,
    session: Session,
) -> None:
    """Stages `candidate.erased` (digests of the addresses only, no personal data)."""
    await outbox.stage(
        CANDIDATE_ERASED,
        tenant_id=tenant_id,
        subject=candidate_id,
        data=CandidateErased(
            candidate_id=candidate_id, email_sha256=email_hashes, erased_at=erased_at
        ),
        session=session,
    )
