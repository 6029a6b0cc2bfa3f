"""Applying an application's snapshot (its whole state, read from the ATS's API): the stored
application brought to it, with exactly the `ats.application_*` events the webhooks that led
there would have caused. Backfill, reconciliation and id-only webhooks all apply snapshots.

Snapshots are applied in batches (a backfill's page; one for a webhook) with a fixed number of
round trips whatever their number: the stored applications read in one query and the
directory in another, each snapshot compared with its stored state by the domain's rules, then
the new applications written in one bulk upsert, the changed ones in one bulk update and every
event in one outbox write, all in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from crm_ats_sync.application.recording import first_email
from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.domain.changes import ApplicationChange, ApplicationSnapshot, status_after
from crm_ats_sync.domain.models import Application, Connection
from crm_ats_sync.domain.snapshots import (
    after_change,
    as_new_application,
    changes_after_creation,
    changes_to_reach,
    details_to_reach,
)
from crm_ats_sync.publishers import ats_application_changed, ats_application_created
from crm_shared import EventEnvelope, Session, normalise_email, utc_now


class SnapshotOutcome(StrEnum):
    """What applying a snapshot did."""

    CREATED = "created"
    UPDATED = "updated"
    # The stored application already is in the snapshot's state: nothing written or announced.
    UNCHANGED = "unchanged"
    # The snapshot is older than the stored state: ignored.
    STALE = "stale"


# Per snapshot, in order: what applying it did, or why the CRM cannot store it (then nothing of
# it was written and the others were applied all the same).
SnapshotResult = SnapshotOutcome | ValueError


@dataclass
class _Plan:
    """What applying one snapshot writes: the application as it ends up, and its events."""

    application: Application
    outcome: SnapshotOutcome
    events: list[EventEnvelope[Any]] = field(default_factory=list)


async def apply_snapshot(
    storage: AtsStorage,
    connection: Connection,
    snapshot: ApplicationSnapshot,
    *,
    received_at: datetime,
    session: Session,
) -> SnapshotOutcome:
    """Brings the connection's stored application to `snapshot` inside the caller's
    transaction; applying the same snapshot again changes and announces nothing. `ValueError`
    if the CRM cannot store it."""
    (result,) = await apply_snapshots(
        storage, connection, [snapshot], received_at=received_at, session=session
    )
    if isinstance(result, ValueError):
        raise result
    return result


async def apply_snapshots(
    storage: AtsStorage,
    connection: Connection,
    snapshots: Sequence[ApplicationSnapshot],
    *,
    received_at: datetime,
    session: Session,
) -> list[SnapshotResult]:
    """Brings the connection's stored applications to `snapshots` inside the caller's
    transaction, with the same outcomes and events as applying them one after the other.

    An application listed twice (an ATS's pages can shift while they are read) is compared the
    second time with what the first left: the list is applied in runs without a repeat."""
    results: list[SnapshotResult] = []
    start = 0
    while start < len(snapshots):
        end, seen = start, set()
        while end < len(snapshots) and snapshots[end].ats_application_id not in seen:
            seen.add(snapshots[end].ats_application_id)
            end += 1
        results += await _apply_distinct(
            storage, connection, snapshots[start:end], received_at, session
        )
        start = end
    return results


async def _apply_distinct(
    storage: AtsStorage,
    connection: Connection,
    snapshots: Sequence[ApplicationSnapshot],
    received_at: datetime,
    session: Session,
) -> list[SnapshotResult]:
    """`apply_snapshots` of snapshots of distinct applications."""
    applications = storage.applications(connection.tenant_id)
    stored = await applications.by_ats_ids(
        connection.id, [s.ats_application_id for s in snapshots], session=session
    )
    directory = await storage.directory(connection.tenant_id).candidates_for(
        (email for s in snapshots for email in s.emails), session=session
    )
    now = utc_now()
    plans: list[_Plan | SnapshotResult] = []
    for snapshot in snapshots:
        # The person's CRM candidate: the first of their addresses the directory knows.
        candidate_id = next(
            (
                directory[address]
                for address in map(normalise_email, snapshot.emails)
                if address in directory
            ),
            None,
        )
        try:
            plans.append(
                _plan(
                    storage,
                    connection,
                    snapshot,
                    stored.get(snapshot.ats_application_id),
                    candidate_id,
                    received_at=received_at,
                    now=now,
                )
            )
        except ValueError as invalid:
            plans.append(invalid)

    new = [p for p in plans if isinstance(p, _Plan) and p.outcome is SnapshotOutcome.CREATED]
    added = await applications.add_applications([p.application for p in new], session=session)
    for plan, was_new in zip(new, added, strict=True):
        if not was_new:
            # Stored meanwhile by a concurrent writer that committed first: its state stands
            # until the next read, which compares again.
            plan.outcome, plan.events = SnapshotOutcome.UNCHANGED, []
    changed = [p for p in plans if isinstance(p, _Plan) and p.outcome is SnapshotOutcome.UPDATED]
    if changed:
        await applications.save_states([p.application for p in changed], session=session)
    events = [event for p in plans if isinstance(p, _Plan) for event in p.events]
    await storage.outbox.add_many(events, session=session)
    return [p.outcome if isinstance(p, _Plan) else p for p in plans]


def _plan(
    storage: AtsStorage,
    connection: Connection,
    snapshot: ApplicationSnapshot,
    stored: Application | None,
    candidate_id: str | None,
    *,
    received_at: datetime,
    now: datetime,
) -> _Plan | SnapshotOutcome:
    """What bringing one stored application (None: not stored yet) to its snapshot writes and
    announces, as recording the webhooks that lead there one by one would; the outcome alone
    when it writes nothing. `ValueError` for what the CRM cannot store or announce."""
    changes: list[ApplicationChange]
    if stored is None:
        reported = as_new_application(snapshot)
        application = Application(
            tenant_id=connection.tenant_id,
            connection_id=connection.id,
            provider=connection.provider,
            ats_application_id=reported.ats_application_id,
            ats_candidate_id=reported.ats_candidate_id,
            candidate_id=candidate_id,
            email=first_email(reported.emails),
            job_name=reported.job_name,
            applied_at=reported.applied_at,
            stage=reported.stage,
            ats_changed_at=snapshot.changed_at,
            ats_job_id=snapshot.ats_job_id,
            prospect=snapshot.prospect,
        )
        plan = _Plan(application, SnapshotOutcome.CREATED)
        plan.events.append(
            ats_application_created(
                storage.outbox,
                application,
                first_name=reported.first_name,
                last_name=reported.last_name,
            )
        )
        changes = changes_after_creation(snapshot)
    else:
        reaching = changes_to_reach(stored, snapshot)
        if reaching is None:
            return SnapshotOutcome.STALE
        if not reaching:
            details = details_to_reach(stored, snapshot)
            if not details:
                return SnapshotOutcome.UNCHANGED
            # The state is the ATS's already: the details are set, and nothing is announced.
            return _Plan(
                stored.model_copy(update=details | {"updated_at": now}), SnapshotOutcome.UPDATED
            )
        plan = _Plan(stored, SnapshotOutcome.UPDATED)
        changes = reaching
    for change in changes:
        before = plan.application
        plan.application = after_change(
            before, change, status_after(change.kind), candidate_id, now
        )
        plan.events.append(
            ats_application_changed(
                storage.outbox,
                plan.application,
                change,
                from_stage=before.stage,
                received_at=received_at,
            )
        )
    details = details_to_reach(plan.application, snapshot)
    if details and stored is not None:
        plan.application = plan.application.model_copy(update=details)
    return plan
