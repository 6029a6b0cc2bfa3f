"""Events the ats-sync service emits, staged in its outbox inside the write's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from crm_ats_sync.domain.changes import ApplicationChange, ChangeKind
from crm_ats_sync.domain.jobs import StoredJob
from crm_ats_sync.domain.models import Application
from crm_ats_sync.domain.pushes import Push
from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_HIRED,
    ATS_APPLICATION_REJECTED,
    ATS_APPLICATION_STAGE_CHANGED,
    ATS_CANDIDATE_PUSHED,
    JOB_CHANGED,
    AtsApplicationCreated,
    AtsApplicationHired,
    AtsApplicationRejected,
    AtsApplicationStageChanged,
    AtsCandidatePushed,
    EventEnvelope,
    JobChanged,
    Outbox,
    Session,
    TopicSpec,
)


def application_key(application: Application) -> str:
    """The key of an application's events: its address when it has one (fixed for the
    application's life, so its events stay in order on one partition even when the person is
    matched to a candidate halfway through, which a key by candidate would break; and the key
    a GDPR erasure finds its outbox records by), else the ATS's person."""
    return application.email or application.candidate_id or application.ats_candidate_id


def ats_application_created(
    outbox: Outbox, application: Application, *, first_name: str | None, last_name: str | None
) -> EventEnvelope[Any]:
    """`ats.application_created`, keyed by the application (`application_key`), with the
    person's name as the ATS has it (not stored here: the candidates service needs it once, to
    create a candidate for a person nobody knew). `ValueError` if it cannot be keyed."""
    payload = AtsApplicationCreated(
        provider=application.provider.value,
        connection_id=application.connection_id,
        ats_application_id=application.ats_application_id,
        ats_candidate_id=application.ats_candidate_id,
        candidate_id=application.candidate_id,
        email=application.email,
        job_name=application.job_name,
        applied_at=application.applied_at,
        stage=application.stage,
        prospect=application.prospect,
        first_name=first_name,
        last_name=last_name,
    )
    return outbox.envelope(
        ATS_APPLICATION_CREATED,
        tenant_id=application.tenant_id,
        subject=application_key(application),
        data=payload,
    )


async def to_ats_application_created(
    outbox: Outbox,
    application: Application,
    *,
    first_name: str | None,
    last_name: str | None,
    session: Session,
) -> None:
    """Stages `ats.application_created` (`ats_application_created`) in the caller's
    transaction."""
    envelope = ats_application_created(
        outbox, application, first_name=first_name, last_name=last_name
    )
    await outbox.add(envelope, session=session)


def ats_application_changed(
    outbox: Outbox,
    application: Application,
    change: ApplicationChange,
    *,
    from_stage: str | None,
    received_at: datetime,
) -> EventEnvelope[Any]:
    """`ats.application_stage_changed`, `ats.application_rejected` (with the stage the
    application reached) or `ats.application_hired` of `application` as the change left it."""
    common: dict[str, Any] = {
        "provider": application.provider.value,
        "connection_id": application.connection_id,
        "ats_application_id": application.ats_application_id,
        "ats_candidate_id": application.ats_candidate_id,
        "candidate_id": application.candidate_id,
        "email": application.email,
        "job_name": application.job_name,
        "stage": application.stage,
        "occurred_at": change.occurred_at or received_at,
        "first_name": change.first_name,
        "last_name": change.last_name,
    }
    spec: TopicSpec
    data: BaseModel
    if change.kind is ChangeKind.STAGE_CHANGED:
        spec = ATS_APPLICATION_STAGE_CHANGED
        data = AtsApplicationStageChanged(**common, from_stage=from_stage)
    elif change.kind is ChangeKind.REJECTED:
        spec = ATS_APPLICATION_REJECTED
        data = AtsApplicationRejected(**common, rejection_reason=change.rejection_reason)
    else:
        spec, data = ATS_APPLICATION_HIRED, AtsApplicationHired(**common)
    return outbox.envelope(
        spec, tenant_id=application.tenant_id, subject=application_key(application), data=data
    )


async def to_ats_application_changed(
    outbox: Outbox,
    application: Application,
    change: ApplicationChange,
    *,
    from_stage: str | None,
    received_at: datetime,
    session: Session,
) -> None:
    """Stages the change's event (`ats_application_changed`) in the caller's transaction."""
    envelope = ats_application_changed(
        outbox, application, change, from_stage=from_stage, received_at=received_at
    )
    await outbox.add(envelope, session=session)


async def to_job_changed(
    outbox: Outbox,
    job: StoredJob,
    *,
    created: bool,
    session: Session,
    changed_at: datetime | None = None,
) -> None:
    """Stages `job.changed`, keyed by the connection and the ATS's job id; `changed_at` when
    the state is the CRM's own (a job closed with its connection), else the ATS's time."""
    await outbox.stage(
        JOB_CHANGED,
        tenant_id=job.tenant_id,
        subject=f"{job.connection_id}:{job.ats_job_id}",
        data=JobChanged(
            provider=job.provider.value,
            connection_id=job.connection_id,
            ats_job_id=job.ats_job_id,
            name=job.name,
            status=job.status.value,
            departments=job.departments,
            locations=job.locations,
            created=created,
            changed_at=changed_at or job.ats_changed_at,
        ),
        session=session,
    )


async def to_ats_candidate_pushed(outbox: Outbox, push: Push, *, session: Session) -> None:
    """Stages `ats.candidate_pushed` for a push the ATS answered, keyed by the candidate."""
    if push.ats_candidate_id is None:
        raise ValueError("only a push the ATS answered is announced")
    payload = AtsCandidatePushed(
        provider=push.provider.value,
        connection_id=push.connection_id,
        candidate_id=push.candidate_id,
        ats_candidate_id=push.ats_candidate_id,
        ats_application_id=push.ats_application_id,
        ats_job_id=push.ats_job_id,
        pushed_at=push.updated_at,
    )
    await outbox.stage(
        ATS_CANDIDATE_PUSHED,
        tenant_id=push.tenant_id,
        subject=push.candidate_id,
        data=payload,
        session=session,
    )
