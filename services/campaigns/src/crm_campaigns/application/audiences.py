"""The pool and stored list memberships that sequences and broadcasts are aimed at."""

from __future__ import annotations

from crm_campaigns.application.enrolments import enrol_in
from crm_campaigns.domain.models import PoolStageTrigger
from crm_campaigns.domain.pool_stages import stage_key, stage_now_called
from crm_campaigns.repositories.broadcasts import BroadcastRepository
from crm_campaigns.repositories.lists import StoredListRepository
from crm_campaigns.repositories.pools import KnownPoolRepository, PoolMemberRepository
from crm_campaigns.repositories.sequences import SequenceRepository
from crm_shared import (
    Database,
    ListArchived,
    ListMemberAdded,
    ListMemberRemoved,
    PoolSaved,
    PoolStageChanged,
    PoolStageRenamed,
    Session,
    is_erased,
)


async def learn_pool(
    database: Database, tenant_id: str, saved: PoolSaved, session: Session
) -> None:
    """Keeps the pool's name and stages, which the stages sequences name are checked against."""
    await KnownPoolRepository(database, tenant_id).learn(saved, session=session)


async def place_in_pool(
    database: Database, tenant_id: str, moved: PoolStageChanged, session: Session
) -> None:
    """Keeps pool membership; enrols a candidate reaching a stage in the sequences it triggers."""
    members = PoolMemberRepository(database, tenant_id)
    if moved.to_stage is not None:
        # Renames come on their own topic: a move made before one may arrive after it.
        renames = await members.renames(moved.pool_id, session=session)
        moved = moved.model_copy(
            update={"to_stage": stage_now_called(moved.to_stage, moved.moved_at, renames)}
        )
    await members.place(moved.pool_id, moved.candidate_id, moved.to_stage, session=session)
    if moved.to_stage is None:
        return  # removed from the pool: nothing was reached
    sequences = SequenceRepository(database, tenant_id)
    triggered = [
        sequence
        for sequence in await sequences.triggered_by(
            "pool_stage_reached", pool_id=moved.pool_id, session=session
        )
        if isinstance(sequence.trigger, PoolStageTrigger)
        and stage_key(sequence.trigger.stage) == stage_key(moved.to_stage)
    ]
    await enrol_in(
        database,
        tenant_id,
        triggered,
        moved.candidate_id,
        f"pool:{moved.pool_id}:{moved.to_stage}",
        session,
    )


async def rename_pool_stage(
    database: Database, tenant_id: str, renamed: PoolStageRenamed, session: Session
) -> None:
    """Follows a stage's rename in pool membership, sequences and unsnapshotted broadcasts."""
    await PoolMemberRepository(database, tenant_id).rename_stage(renamed, session=session)
    await SequenceRepository(database, tenant_id).rename_pool_stage(renamed, session=session)
    await BroadcastRepository(database, tenant_id).rename_pool_stage(renamed, session=session)


async def add_list_member(
    database: Database, tenant_id: str, added: ListMemberAdded, session: Session
) -> None:
    """Records a stored list member (unless the person was erased meanwhile)."""
    if await is_erased(database, tenant_id, added.candidate_id, session=session):
        return  # added just before the person was erased: nobody to send to
    await StoredListRepository(database, tenant_id).record(
        added.list_id,
        added.candidate_id,
        member=True,
        changed_at=added.changed_at,
        session=session,
    )


async def remove_list_member(
    database: Database, tenant_id: str, removed: ListMemberRemoved, session: Session
) -> None:
    """Records that a candidate left a stored list."""
    await StoredListRepository(database, tenant_id).record(
        removed.list_id,
        removed.candidate_id,
        member=False,
        changed_at=removed.changed_at,
        session=session,
    )


async def archive_list(
    database: Database, tenant_id: str, archived: ListArchived, session: Session
) -> None:
    """Remembers an archived list: broadcasts to it are paused, not sent."""
    await StoredListRepository(database, tenant_id).archive(
        archived.list_id, archived.archived_at, session=session
    )
