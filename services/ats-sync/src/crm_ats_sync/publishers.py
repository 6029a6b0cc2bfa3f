"""Events the ats-sync service emits, staged in its outbox inside the write's transaction."""

from __future__ import annotations

from crm_ats_sync.domain.models import Application
from crm_shared import ATS_APPLICATION_CREATED, AtsApplicationCreated, Outbox, Session


async def to_ats_application_created(
    outbox: Outbox, application: Application, *, session: Session
) -> None:
    """Stages `ats.application_created`, keyed by the candidate (or email, or ATS candidate)."""
    payload = AtsApplicationCreated(
        provider=application.provider.value,
        connection_id=application.connection_id,
        ats_application_id=application.ats_application_id,
        ats_candidate_id=application.ats_candidate_id,
        candidate_id=application.candidate_id,
        email=application.email,
        job_name=application.job_name,
        applied_at=application.applied_at,
    )
    subject = application.candidate_id or application.email or application.ats_candidate_id
    await outbox.stage(
        ATS_APPLICATION_CREATED,
        tenant_id=application.tenant_id,
        subject=subject,
        data=payload,
        session=session,
    )
