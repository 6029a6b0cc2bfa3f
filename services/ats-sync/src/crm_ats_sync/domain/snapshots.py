"""What an application's snapshot (its whole state, read from the ATS's API) means against the
state the CRM holds: the changes a webhook stream would have reported to get from one to the
other, so backfill, reconciliation and id-only webhooks announce exactly what webhooks would."""

from __future__ import annotations

from datetime import datetime

from crm_ats_sync.domain.changes import (
    ApplicationChange,
    ApplicationSnapshot,
    ApplicationStatus,
    ChangeKind,
    NewApplication,
    is_stale,
)
from crm_ats_sync.domain.models import Application

_TERMINAL_KIND = {
    ApplicationStatus.REJECTED: ChangeKind.REJECTED,
    ApplicationStatus.HIRED: ChangeKind.HIRED,
}


def as_new_application(snapshot: ApplicationSnapshot) -> NewApplication:
    """The snapshot as the webhook that created the application would have reported it."""
    return NewApplication(
        ats_application_id=snapshot.ats_application_id,
        ats_candidate_id=snapshot.ats_candidate_id,
        emails=snapshot.emails,
        first_name=snapshot.first_name,
        last_name=snapshot.last_name,
        job_name=snapshot.job_name,
        applied_at=snapshot.applied_at,
        stage=snapshot.stage,
        ats_job_id=snapshot.ats_job_id,
        prospect=snapshot.prospect,
    )


def _change(kind: ChangeKind, snapshot: ApplicationSnapshot) -> ApplicationChange:
    return ApplicationChange(
        kind=kind,
        ats_application_id=snapshot.ats_application_id,
        ats_candidate_id=snapshot.ats_candidate_id,
        emails=snapshot.emails,
        job_name=snapshot.job_name,
        stage=snapshot.stage,
        occurred_at=snapshot.changed_at,
        rejection_reason=snapshot.rejection_reason if kind is ChangeKind.REJECTED else None,
        first_name=snapshot.first_name,
        last_name=snapshot.last_name,
    )


def changes_after_creation(snapshot: ApplicationSnapshot) -> list[ApplicationChange]:
    """What follows the creation of an application first seen in this state: its rejection or
    hire (the stage it is created in is already the snapshot's)."""
    kind = _TERMINAL_KIND.get(snapshot.status)
    return [] if kind is None else [_change(kind, snapshot)]


def changes_to_reach(
    stored: Application, snapshot: ApplicationSnapshot
) -> list[ApplicationChange] | None:
    """The changes that take the stored application to the snapshot's state, in order; [] when
    it is there already, None when the snapshot is older than the stored state (stale).

    A move to another stage before a rejection or hire is reported as its own stage change
    first, as the ATS's webhooks would have; a rejected or hired application seen at another
    stage is reported again in its (unchanged) status, at that stage."""
    if is_stale(snapshot.changed_at, stored.ats_changed_at):
        return None
    if stored.status is snapshot.status and stored.stage == snapshot.stage:
        return []
    terminal = _TERMINAL_KIND.get(snapshot.status)
    if terminal is None:
        return [_change(ChangeKind.STAGE_CHANGED, snapshot)]
    moved = snapshot.stage is not None and snapshot.stage != stored.stage
    if moved and stored.status is ApplicationStatus.ACTIVE:
        return [_change(ChangeKind.STAGE_CHANGED, snapshot), _change(terminal, snapshot)]
    return [_change(terminal, snapshot)]


def details_to_reach(stored: Application, snapshot: ApplicationSnapshot) -> dict[str, object]:
    """The fields besides status and stage in which the stored application differs from a
    snapshot that is not stale: its job (id and name), whether it is a prospect, and its
    rejection's reason. No event reports them (a webhook may have left them out, or the ATS
    corrected them), so a snapshot sets them as it says: after a reconciliation the CRM holds
    what the ATS does."""
    wanted: dict[str, object] = {
        "ats_job_id": snapshot.ats_job_id,
        "job_name": snapshot.job_name,
        "prospect": snapshot.prospect,
        "rejection_reason": snapshot.rejection_reason
        if snapshot.status is ApplicationStatus.REJECTED
        else None,
    }
    return {name: value for name, value in wanted.items() if getattr(stored, name) != value}


def after_change(
    application: Application,
    change: ApplicationChange,
    status: ApplicationStatus,
    candidate_id: str | None,
    now: datetime,
) -> Application:
    """The application once a (not stale) stage change, rejection or hire is recorded at `now`:
    in `status` (the one the change leaves it in, `status_after`), at the change's stage and
    date where it says them, with the rejection's reason while rejected, and matched to
    `candidate_id` if it was not."""
    update: dict[str, object] = {
        "status": status,
        "updated_at": now,
        "rejection_reason": change.rejection_reason
        if status is ApplicationStatus.REJECTED
        else None,
    }
    if change.occurred_at is not None:
        update["ats_changed_at"] = change.occurred_at
    if change.stage is not None:
        update["stage"] = change.stage
    if application.candidate_id is None and candidate_id is not None:
        update["candidate_id"] = candidate_id
    return application.model_copy(update=update)
