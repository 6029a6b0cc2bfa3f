"""Applying an application's snapshot (its whole state, read from the ATS's API): the stored
application brought to it, with exactly the `ats.application_*` events the webhooks that led
there would have caused. Backfill, reconciliation and id-only webhooks all apply snapshots."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from crm_ats_sync.application.recording import record_change, record_new_application
from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.domain.changes import ApplicationSnapshot
from crm_ats_sync.domain.models import Connection
from crm_ats_sync.domain.snapshots import (
    as_new_application,
    changes_after_creation,
    changes_to_reach,
)
from crm_shared import Session


class SnapshotOutcome(StrEnum):
    """What applying a snapshot did."""

    CREATED = "created"
    UPDATED = "updated"
    # The stored application already is in the snapshot's state: nothing written or announced.
    UNCHANGED = "unchanged"
    # The snapshot is older than the stored state: ignored.
    STALE = "stale"


async def apply_snapshot(
    storage: AtsStorage,
    connection: Connection,
    snapshot: ApplicationSnapshot,
    *,
    received_at: datetime,
    session: Session,
) -> SnapshotOutcome:
    """Brings the connection's stored application to `snapshot` inside the caller's
    transaction; applying the same snapshot again changes and announces nothing."""
    stored = await storage.applications(connection.tenant_id).application(
        connection.id, snapshot.ats_application_id, session=session
    )
    if stored is None:
        created = await record_new_application(
            storage,
            connection,
            as_new_application(snapshot),
            session,
            changed_at=snapshot.changed_at,
            ats_job_id=snapshot.ats_job_id,
            prospect=snapshot.prospect,
        )
        if not created:
            # Stored meanwhile by a concurrent writer that committed first: its state stands
            # until the next read, which compares again.
            return SnapshotOutcome.UNCHANGED
        changes = changes_after_creation(snapshot)
        outcome = SnapshotOutcome.CREATED
    else:
        reaching = changes_to_reach(stored, snapshot)
        if reaching is None:
            return SnapshotOutcome.STALE
        if not reaching:
            return SnapshotOutcome.UNCHANGED
        changes = reaching
        outcome = SnapshotOutcome.UPDATED
    for change in changes:
        await record_change(storage, connection, change, received_at, session)
    return outcome
