"""Use cases of the lifecycle of templates and sequences: create, edit, pause, resume and
archive.

Each one checks the domain's rules (`domain/lifecycle.py`) and changes the resource and what
depends on it in one transaction, so a sequence is never paused while some of its enrolments
still run; a sequence's change stages `sequence.saved` in that transaction.
"""

from __future__ import annotations

import logging
from typing import Any

from crm_campaigns.application.standing import enrol_unless_excluded
from crm_campaigns.domain.lifecycle import (
    LifecycleConflict,
    SequenceAction,
    sequence_after,
    template_archivable,
)
from crm_campaigns.domain.models import (
    EnrolmentStatus,
    ExitReason,
    SegmentTrigger,
    SendStep,
    Sequence,
    SequenceStatus,
    Step,
    Trigger,
)
from crm_campaigns.domain.pool_stages import stage_problems
from crm_campaigns.domain.sequences import step_remap
from crm_campaigns.publishers import to_sequence_saved
from crm_campaigns.repositories.broadcasts import BroadcastRepository
from crm_campaigns.repositories.collections import SEQUENCES
from crm_campaigns.repositories.enrolments import EnrolmentRepository
from crm_campaigns.repositories.pools import KnownPoolRepository
from crm_campaigns.repositories.segments import SegmentMemberRepository
from crm_campaigns.repositories.sequences import SequenceRepository
from crm_campaigns.repositories.templates import TemplateRepository
from crm_shared import (
    Database,
    MongoClient,
    Outbox,
    Session,
    StaleVersionError,
    current_trace_context,
    in_transaction,
)

logger = logging.getLogger(__name__)


class TemplateNotLive(Exception):
    """A send step names a template that is unknown or archived."""

    def __init__(self, step_index: int, template_id: str) -> None:
        super().__init__(f"step {step_index} sends template {template_id}, which does not exist")
        self.step_index = step_index
        self.template_id = template_id


class StagesNotInPool(Exception):
    """A trigger or `move_stage` step names a stage its talent pool does not have."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(reason for _, reason in problems))
        self.problems = problems


async def check_pool_stages(
    database: Database,
    tenant_id: str,
    trigger: Trigger | None,
    steps: list[Step],
    *,
    session: Session,
) -> None:
    """Raises `StagesNotInPool` for each stage the trigger or steps name that its pool, as the
    candidates service last announced it, does not have (a pool not heard of yet passes)."""
    pool_ids = sorted(
        {
            pool_id
            for node in [trigger, *steps]
            if isinstance(pool_id := getattr(node, "pool_id", None), str)
        }
    )
    known = await KnownPoolRepository(database, tenant_id).among(pool_ids, session=session)
    problems = stage_problems(trigger, steps, known)
    if problems:
        raise StagesNotInPool(problems)


async def hold_send_templates(
    database: Database, tenant_id: str, steps: list[Step], *, session: Session
) -> None:
    """Marks every template the steps send as used, in the caller's transaction (see
    `TemplateRepository.hold_live`); raises `TemplateNotLive` for the first one that is not."""
    templates = TemplateRepository(database, tenant_id)
    for index, step in enumerate(steps):
        if isinstance(step, SendStep) and not await templates.hold_live(
            step.template_id, session=session
        ):
            raise TemplateNotLive(index, step.template_id)


async def archive_template(
    mongo: MongoClient, database: Database, tenant_id: str, template_id: str
) -> bool:
    """Archives a template nothing live uses; False if it was archived already.

    Raises `LifecycleConflict` naming the sequences and broadcasts that still use it.
    """

    async def archive(session: Session) -> bool:
        sequences = await SequenceRepository(database, tenant_id).using_template(
            template_id, session=session
        )
        broadcasts = await BroadcastRepository(database, tenant_id).unfinished_using_template(
            template_id, session=session
        )
        templates = TemplateRepository(database, tenant_id)
        if sequences or broadcasts:
            template = await templates.get(template_id, session=session)
            name = template.name if template is not None else template_id
            template_archivable(name, [s.name for s in sequences], [b.name for b in broadcasts])
        return await templates.archive(template_id, session=session)

    return await in_transaction(mongo, archive)


async def save_new_sequence(
    mongo: MongoClient,
    database: Database,
    outbox: Outbox,
    sequence: Sequence,
    *,
    enrol_current_members: bool,
) -> None:
    """Stores a new sequence and stages `sequence.saved`; for a segment trigger its current
    members enrol too when asked. Raises `TemplateNotLive` if a step sends a template that is
    unknown or archived, `StagesNotInPool` if it names a stage its pool does not have."""
    sequences = SequenceRepository(database, sequence.tenant_id)
    trigger = sequence.trigger

    async def store(session: Session) -> None:
        await check_pool_stages(
            database, sequence.tenant_id, trigger, sequence.steps, session=session
        )
        await hold_send_templates(database, sequence.tenant_id, sequence.steps, session=session)
        await sequences.add(sequence, session=session)
        await to_sequence_saved(outbox, sequence, session=session)
        await sequences.mark_announced(sequence.id, session=session)
        if not enrol_current_members or not isinstance(trigger, SegmentTrigger):
            return
        members = SegmentMemberRepository(database, sequence.tenant_id)
        await members.guard_enrolments(trigger.segment_id, session=session)
        for candidate_id in await members.members(trigger.segment_id, session=session):
            await enrol_unless_excluded(
                database,
                sequence,
                candidate_id,
                current_trace_context(),
                enrolled_by=f"segment:{trigger.segment_id}",
                session=session,
            )

    await in_transaction(mongo, store)
    outbox.notify_committed()


async def edit_sequence(
    mongo: MongoClient,
    database: Database,
    outbox: Outbox,
    sequence: Sequence,
    version: int,
    changes: dict[str, Any],
    *,
    new_steps: list[Step] | None,
    new_trigger: Trigger | None = None,
    user_id: str,
) -> None:
    """Applies an edit made from `version` of the sequence, and stages `sequence.saved`.

    Enrolments in progress move with the steps (`step_remap`): each runs next what it had not
    reached (the step it was about to run, what replaced it, or the step after a removed one,
    after any step inserted right there), and an edit never runs again what it had run. Raises
    `TemplateNotLive` if one of `new_steps` sends a template that is unknown or archived,
    `StagesNotInPool` if `new_trigger` or `new_steps` name a stage their pool does not have.
    """
    sequence_after(sequence.status, SequenceAction.EDIT)
    sequences = SequenceRepository(database, sequence.tenant_id)

    async def edit(session: Session) -> None:
        await check_pool_stages(
            database, sequence.tenant_id, new_trigger, new_steps or [], session=session
        )
        if new_steps is not None:
            await hold_send_templates(database, sequence.tenant_id, new_steps, session=session)
        # The steps the edit replaces, read in its transaction (the replace below takes only
        # `version`, so these are that version's when it succeeds).
        replaced = await sequences.get(sequence.id, session=session)
        if await sequences.replace(
            sequence.id, version, changes, updated_by=user_id, session=session
        ):
            edited = await sequences.get(sequence.id, session=session)
            assert edited is not None
            if new_steps is not None and replaced is not None:
                await EnrolmentRepository(database, sequence.tenant_id).follow_edited_steps(
                    sequence.id, step_remap(replaced.steps, new_steps), session=session
                )
            await to_sequence_saved(outbox, edited, session=session)
            return
        latest = await sequences.get(sequence.id, session=session)
        if latest is not None and latest.version != version:
            raise StaleVersionError(latest.version)
        raise LifecycleConflict(f"the sequence is {latest.status.value if latest else 'gone'}")

    await in_transaction(mongo, edit)
    outbox.notify_committed()


async def change_sequence_status(
    mongo: MongoClient,
    database: Database,
    outbox: Outbox,
    sequence: Sequence,
    action: SequenceAction,
    user_id: str,
) -> None:
    """Pauses, resumes or archives a sequence together with its enrolments in progress.

    Paused: its enrolments are `paused` (and new ones start paused) until it resumes. Archived:
    it enrols nobody any more and its enrolments in progress exit (`sequence_archived`); their
    records and messages are kept.
    """
    target = sequence_after(sequence.status, action)
    tenant_id = sequence.tenant_id

    async def change(session: Session) -> None:
        sequences = SequenceRepository(database, tenant_id)
        current = await sequences.get(sequence.id, session=session)
        if current is None:
            raise LookupError(sequence.id)
        sequence_after(current.status, action)
        await sequences.move(
            sequence.id, current.status, target, updated_by=user_id, session=session
        )
        enrolments = EnrolmentRepository(database, tenant_id)
        if target is SequenceStatus.PAUSED:
            await enrolments.move_all(
                sequence.id, EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED, session=session
            )
        elif target is SequenceStatus.ACTIVE:
            await enrolments.move_all(
                sequence.id, EnrolmentStatus.PAUSED, EnrolmentStatus.ACTIVE, session=session
            )
        else:
            await enrolments.exit_sequence(
                sequence.id, ExitReason.SEQUENCE_ARCHIVED, session=session
            )
        changed = await sequences.get(sequence.id, session=session)
        assert changed is not None
        await to_sequence_saved(outbox, changed, session=session)

    await in_transaction(mongo, change)
    outbox.notify_committed()


async def announce_sequences(mongo: MongoClient, database: Database, outbox: Outbox) -> None:
    """Stages `sequence.saved` for every sequence saved before the topic existed, once each, so
    the services that depend on it learn of those too (a start-up task)."""
    # Deliberately cross-tenant: a start-up task over every tenant's sequences.
    unannounced = (
        await database[SEQUENCES].find({"announced": {"$ne": True}}, {"tenant_id": 1}).to_list()
    )
    for document in unannounced:
        await _announce(mongo, database, outbox, document["tenant_id"], str(document["_id"]))
    if unannounced:
        outbox.notify_committed()
        logger.info("announced %d sequences saved before sequence.saved", len(unannounced))


async def _announce(
    mongo: MongoClient, database: Database, outbox: Outbox, tenant_id: str, sequence_id: str
) -> None:
    sequences = SequenceRepository(database, tenant_id)

    async def announce(session: Session) -> None:
        sequence = await sequences.get(sequence_id, session=session)
        if sequence is not None:
            await to_sequence_saved(outbox, sequence, session=session)
            await sequences.mark_announced(sequence_id, session=session)

    await in_transaction(mongo, announce)
