"""Recording what an ATS reports about an application, whichever way it came (a webhook, a
snapshot read from its API): the person matched to a CRM candidate, the application stored or
changed unless stale, and the matching `ats.application_*` event staged in the same
transaction."""

from __future__ import annotations

from datetime import datetime

from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.domain.changes import ApplicationChange, NewApplication, status_after
from crm_ats_sync.domain.models import Application, Connection
from crm_ats_sync.publishers import to_ats_application_changed, to_ats_application_created
from crm_shared import Session, normalise_email


async def matched_candidate(
    storage: AtsStorage, tenant_id: str, emails: list[str], session: Session
) -> str | None:
    """The CRM candidate one of the person's addresses belongs to (identity resolution through
    the service's candidate directory), in the order the ATS lists them."""
    directory = storage.directory(tenant_id)
    for email in emails:
        candidate_id = await directory.candidate_for(email, session=session)
        if candidate_id:
            return candidate_id
    return None


def first_email(emails: list[str]) -> str | None:
    return normalise_email(emails[0]) if emails else None


async def record_change(
    storage: AtsStorage,
    connection: Connection,
    reported: ApplicationChange,
    received_at: datetime,
    session: Session,
) -> bool:
    """Records a stage change, rejection or hire and announces it; False if it is stale."""
    changed = await storage.applications(connection.tenant_id).apply_change(
        connection,
        reported,
        status_after(reported.kind),
        await matched_candidate(storage, connection.tenant_id, reported.emails, session),
        first_email(reported.emails),
        session=session,
    )
    if changed is None:
        return False
    application, from_stage = changed
    await to_ats_application_changed(
        storage.outbox,
        application,
        reported,
        from_stage=from_stage,
        received_at=received_at,
        session=session,
    )
    return True


async def record_new_application(
    storage: AtsStorage,
    connection: Connection,
    reported: NewApplication,
    session: Session,
    *,
    changed_at: datetime | None = None,
) -> bool:
    """Stores a new application and announces it, unless the ATS reported it before; True if
    new. `changed_at` dates the state it is created in, when the ATS says (a snapshot)."""
    application = Application(
        tenant_id=connection.tenant_id,
        connection_id=connection.id,
        provider=connection.provider,
        ats_application_id=reported.ats_application_id,
        ats_candidate_id=reported.ats_candidate_id,
        candidate_id=await matched_candidate(
            storage, connection.tenant_id, reported.emails, session
        ),
        email=first_email(reported.emails),
        job_name=reported.job_name,
        applied_at=reported.applied_at,
        stage=reported.stage,
        ats_changed_at=changed_at,
        ats_job_id=reported.ats_job_id,
        prospect=reported.prospect,
    )
    if not await storage.applications(connection.tenant_id).add_application(
        application, session=session
    ):
        return False
    await to_ats_application_created(
        storage.outbox,
        application,
        first_name=reported.first_name,
        last_name=reported.last_name,
        session=session,
    )
    return True
