"""MongoDB access of the campaigns service.

API and handler access is tenant-scoped. The sequence engine and the mail dispatcher work for
every tenant at once, so their claim queries are deliberately cross-tenant; each claimed record
is then processed within its own tenant.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError, OperationFailure

from crm_campaigns.domain.contact_policy import ContactPolicy
from crm_campaigns.domain.lifecycle import UNFINISHED_BROADCASTS
from crm_campaigns.domain.models import (
    ENROLMENTS_IN_PROGRESS,
    Block,
    BranchCondition,
    Broadcast,
    BroadcastStatus,
    Enrolment,
    EnrolmentRefused,
    EnrolmentState,
    EnrolmentStatus,
    ExitReason,
    Message,
    MessageStatus,
    Notification,
    Recipient,
    ReentryPolicy,
    Sequence,
    SequenceStatus,
    Template,
    enrolment_id,
    failure_reason_of,
)
from crm_campaigns.domain.policy import ALLOW, Decision, Verdict
from crm_campaigns.domain.pool_stages import StageRename, with_stage_renamed
from crm_campaigns.domain.sequences import Signal
from crm_campaigns.domain.suppression import ListReason, Suppression
from crm_campaigns.domain.templates import BlockSource
from crm_shared import (
    CurrentPrincipal,
    Database,
    Document,
    MongoClient,
    PoolStageRenamed,
    Session,
    TenantScopedCollection,
    from_document,
    give_back,
    in_transaction,
    move_to_survivor,
    moved_by,
    to_document,
    utc_now,
)

RECIPIENTS = "recipients"
TEMPLATES = "templates"
SEQUENCES = "sequences"
ENROLMENTS = "enrolments"
MESSAGES = "messages"
SEGMENT_MEMBERS = "segment_members"
POOL_MEMBERS = "pool_members"
LIST_MEMBERS = "list_members"
POOL_STAGE_RENAMES = "pool_stage_renames"
ARCHIVED_LISTS = "archived_lists"
BROADCASTS = "broadcasts"
BROADCAST_RECIPIENTS = "broadcast_recipients"
BLOCKS = "blocks"
SIGNALS = "candidate_signals"
SIGNAL_RETENTION_SECONDS = 400 * 24 * 3600
NOTIFICATIONS = "notifications"
# The unique index of the first version, which allowed one enrolment per candidate and sequence.
_SINGLE_ENROLMENT_INDEX = "tenant_id_1_sequence_id_1_candidate_id_1"
SUPPRESSIONS = "suppressions"
CONTACT_POLICIES = "contact_policies"
CONTACT_LEDGER = "contact_ledger"
SOFT_BOUNCES = "soft_bounces"
GOVERNANCE_COUNTERS = "governance_counters"
# The send ledger keeps what the longest possible frequency cap window can look at.
LEDGER_RETENTION = timedelta(days=90)


async def ensure_indexes(database: Database) -> None:
    """Creates the indexes of the service's collections."""
    await database[RECIPIENTS].create_index(
        [("tenant_id", ASCENDING), ("candidate_id", ASCENDING)], unique=True
    )
    await database[TEMPLATES].create_index([("tenant_id", ASCENDING), ("_id", ASCENDING)])
    await database[SEQUENCES].create_index(
        [("tenant_id", ASCENDING), ("trigger.type", ASCENDING), ("trigger.segment_id", ASCENDING)]
    )
    enrolments = database[ENROLMENTS]
    # Re-entry replaced "one enrolment per candidate and sequence" by one per entry.
    with contextlib.suppress(OperationFailure):  # a database created since never had it
        await enrolments.drop_index(_SINGLE_ENROLMENT_INDEX)
    await enrolments.create_index(
        [
            ("tenant_id", ASCENDING),
            ("sequence_id", ASCENDING),
            ("candidate_id", ASCENDING),
            ("entry", DESCENDING),
        ],
        unique=True,
    )
    await enrolments.create_index([("status", ASCENDING), ("next_run_at", ASCENDING)])
    await enrolments.create_index([("tenant_id", ASCENDING), ("candidate_id", ASCENDING)])
    await database[POOL_MEMBERS].create_index(
        [("tenant_id", ASCENDING), ("pool_id", ASCENDING), ("candidate_id", ASCENDING)],
        unique=True,
    )
    await database[LIST_MEMBERS].create_index(
        [("tenant_id", ASCENDING), ("list_id", ASCENDING), ("candidate_id", ASCENDING)],
        unique=True,
    )
    await database[BROADCASTS].create_index([("status", ASCENDING)])
    await database[BLOCKS].create_index([("tenant_id", ASCENDING), ("key", ASCENDING)], unique=True)
    await database[BROADCAST_RECIPIENTS].create_index(
        [("tenant_id", ASCENDING), ("broadcast_id", ASCENDING), ("group", ASCENDING)]
    )
    for moved in (enrolments, database[MESSAGES]):
        # Undoing a merge finds what it moved.
        await moved.create_index([("tenant_id", ASCENDING), ("merges.merge_id", ASCENDING)])
    await database[SEGMENT_MEMBERS].create_index(
        [("tenant_id", ASCENDING), ("segment_id", ASCENDING), ("candidate_id", ASCENDING)],
        unique=True,
    )
    messages = database[MESSAGES]
    await messages.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
    await messages.create_index([("tenant_id", ASCENDING), ("candidate_id", ASCENDING)])
    await messages.create_index(
        [("tenant_id", ASCENDING), ("broadcast_id", ASCENDING), ("status", ASCENDING)]
    )
    await database[SIGNALS].create_index(
        [("tenant_id", ASCENDING), ("candidate_id", ASCENDING), ("kind", ASCENDING)]
    )
    # No branch window is longer than a year: older signals can never decide one.
    await database[SIGNALS].create_index("at", expireAfterSeconds=SIGNAL_RETENTION_SECONDS)
    await database[NOTIFICATIONS].create_index(
        [("tenant_id", ASCENDING), ("user_id", ASCENDING), ("_id", ASCENDING)]
    )
    suppressions = database[SUPPRESSIONS]
    await suppressions.create_index(
        [("tenant_id", ASCENDING), ("email_sha256", ASCENDING), ("reason", ASCENDING)],
        unique=True,
    )
    await suppressions.create_index([("tenant_id", ASCENDING), ("_id", ASCENDING)])
    for per_tenant in (CONTACT_POLICIES, GOVERNANCE_COUNTERS):
        await database[per_tenant].create_index([("tenant_id", ASCENDING)], unique=True)
    await database[CONTACT_LEDGER].create_index(
        [("tenant_id", ASCENDING), ("candidate_id", ASCENDING)], unique=True
    )
    await database[SOFT_BOUNCES].create_index(
        [("tenant_id", ASCENDING), ("email_sha256", ASCENDING)], unique=True
    )


class RecipientRepository:
    """The tenant's projection of candidates: only what sending a message needs."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._recipients = TenantScopedCollection(database[RECIPIENTS], tenant_id)

    async def upsert(self, recipient: Recipient, *, session: Session) -> None:
        """Stores the latest known data of a candidate."""
        fields = recipient.model_dump(exclude={"tenant_id"})
        await self._recipients.update_one(
            {"candidate_id": recipient.candidate_id}, {"$set": fields}, upsert=True, session=session
        )

    async def get(self, candidate_id: str, *, session: Session | None = None) -> Recipient | None:
        """The recipient data of a candidate, if known."""
        document = await self._recipients.find_one({"candidate_id": candidate_id}, session=session)
        return Recipient.model_validate(document) if document else None

    async def many(self, candidate_ids: list[str]) -> dict[str, Recipient]:
        """The known recipients among `candidate_ids`, by candidate id, in one query."""
        documents = await self._recipients.find({"candidate_id": {"$in": candidate_ids}})
        return {d["candidate_id"]: Recipient.model_validate(d) for d in documents}

    async def fold_into(self, merged_id: str, survivor_id: str, *, session: Session) -> None:
        """A merge: the merged candidate's recipient becomes the survivor's unless it has one."""
        if await self.get(survivor_id, session=session) is not None:
            await self._recipients.delete_one({"candidate_id": merged_id}, session=session)
            return
        await self._recipients.update_one(
            {"candidate_id": merged_id}, {"$set": {"candidate_id": survivor_id}}, session=session
        )


class TemplateRepository:
    """The tenant's templates."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._templates = TenantScopedCollection(database[TEMPLATES], tenant_id)

    async def add(self, template: Template) -> None:
        await self._templates.insert_one(to_document(template))

    async def get(self, template_id: str, *, session: Session | None = None) -> Template | None:
        document = await self._templates.find_one({"_id": template_id}, session=session)
        return from_document(Template, document) if document else None

    async def live(self, template_id: str) -> Template | None:
        """The template, unless it is unknown or archived (nothing new may use it)."""
        template = await self.get(template_id)
        return template if template is not None and template.archived_at is None else None

    async def all(self, *, include_archived: bool = False) -> list[Template]:
        query = {} if include_archived else {"archived_at": None}
        documents = await self._templates.find(query, sort=[("_id", ASCENDING)])
        return [from_document(Template, d) for d in documents]

    async def replace(
        self, template_id: str, version: int, parts: dict[str, str], *, updated_by: str
    ) -> bool:
        """Replaces a live template's name and parts if it is still at `version`."""
        result = await self._templates.update_one(
            {"_id": template_id, "version": version, "archived_at": None},
            {
                "$set": parts | {"updated_by": updated_by, "updated_at": utc_now()},
                "$inc": {"version": 1},
            },
        )
        return result.modified_count == 1

    async def hold_live(self, template_id: str, *, session: Session) -> bool:
        """Records, in the caller's transaction, that something new uses the template; False if
        it is unknown or archived.

        The write is the point: archiving writes the same document, so a new use and an archive
        racing each other conflict, and the retried transaction sees the other's outcome (a
        sequence is never created on an archived template, nor a used template archived).
        """
        result = await self._templates.update_one(
            {"_id": template_id, "archived_at": None},
            {"$set": {"last_used_at": utc_now()}},
            session=session,
        )
        return result.matched_count == 1

    async def archive(self, template_id: str, *, session: Session) -> bool:
        result = await self._templates.update_one(
            {"_id": template_id, "archived_at": None},
            {"$set": {"archived_at": utc_now()}, "$inc": {"version": 1}},
            session=session,
        )
        return result.modified_count == 1


class SequenceRepository:
    """The tenant's sequences."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._sequences = TenantScopedCollection(database[SEQUENCES], tenant_id)

    async def add(self, sequence: Sequence, *, session: Session | None = None) -> None:
        await self._sequences.insert_one(to_document(sequence), session=session)

    async def get(self, sequence_id: str, *, session: Session | None = None) -> Sequence | None:
        document = await self._sequences.find_one({"_id": sequence_id}, session=session)
        return from_document(Sequence, document) if document else None

    async def all(self, *, include_archived: bool = False) -> list[Sequence]:
        query = {} if include_archived else _NOT_ARCHIVED
        documents = await self._sequences.find(query, sort=[("_id", ASCENDING)])
        return [from_document(Sequence, d) for d in documents]

    async def mark_announced(self, sequence_id: str, *, session: Session) -> None:
        await self._sequences.update_one(
            {"_id": sequence_id}, {"$set": {"announced": True}}, session=session
        )

    async def using_template(self, template_id: str, *, session: Session) -> list[Sequence]:
        """The sequences not archived with a step that sends `template_id`."""
        documents = await self._sequences.find(
            {"steps.template_id": template_id} | _NOT_ARCHIVED, session=session
        )
        return [from_document(Sequence, d) for d in documents]

    async def replace(
        self,
        sequence_id: str,
        version: int,
        changes: dict[str, Any],
        *,
        updated_by: str,
        session: Session | None = None,
    ) -> bool:
        """Applies an edit if the sequence is still at `version` (and not archived)."""
        result = await self._sequences.update_one(
            {"_id": sequence_id, "version": version} | _NOT_ARCHIVED,
            {
                "$set": changes | {"updated_by": updated_by, "updated_at": utc_now()},
                "$inc": {"version": 1},
            },
            session=session,
        )
        return result.modified_count == 1

    async def move(
        self,
        sequence_id: str,
        source: SequenceStatus,
        target: SequenceStatus,
        *,
        updated_by: str,
        session: Session,
    ) -> bool:
        """Moves the sequence from `source` to `target`; False if it was not in `source`."""
        current: dict[str, Any] = {"status": source.value}
        if source is SequenceStatus.ACTIVE:
            current = {"status": {"$in": [source.value, None]}}  # sequences from before statuses
        result = await self._sequences.update_one(
            {"_id": sequence_id} | current,
            {
                "$set": {"status": target.value, "updated_by": updated_by, "updated_at": utc_now()},
                "$inc": {"version": 1},
            },
            session=session,
        )
        return result.modified_count == 1

    async def triggered_by(
        self, trigger_type: str, *, session: Session, **fields: str | None
    ) -> list[Sequence]:
        """The sequences not archived whose trigger is of `trigger_type` with these `fields`."""
        query: dict[str, Any] = {"trigger.type": trigger_type} | _NOT_ARCHIVED
        query.update({f"trigger.{name}": value for name, value in fields.items()})
        documents = await self._sequences.find(query, session=session)
        return [from_document(Sequence, d) for d in documents]

    async def rename_pool_stage(self, renamed: PoolStageRenamed, *, session: Session) -> None:
        """Triggers and `move_stage` steps naming the renamed stage name its new name; each
        sequence changed is a new version, so an edit made from the old one is refused."""
        documents = await self._sequences.find(
            {"$or": [{"trigger.pool_id": renamed.pool_id}, {"steps.pool_id": renamed.pool_id}]},
            session=session,
        )
        for document in documents:
            changes = {}
            for part in ("trigger", "steps"):
                value, changed = with_stage_renamed(
                    document.get(part), renamed.pool_id, renamed.from_stage, renamed.to_stage
                )
                if changed:
                    changes[part] = value
            if changes:
                await self._sequences.update_one(
                    {"_id": document["_id"]},
                    {"$set": changes, "$inc": {"version": 1}},
                    session=session,
                )

    async def triggered_by_segment(self, segment_id: str, *, session: Session) -> list[Sequence]:
        """The sequences that enrol candidates entering `segment_id`."""
        return await self.triggered_by("segment_entered", segment_id=segment_id, session=session)


class EnrolmentRepository:
    """The tenant's enrolments."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._enrolments = TenantScopedCollection(database[ENROLMENTS], tenant_id)

    async def latest(
        self, sequence_id: str, candidate_id: str, *, session: Session | None = None
    ) -> Enrolment | None:
        """The candidate's most recent enrolment in the sequence."""
        documents = await self._enrolments.find(
            {"sequence_id": sequence_id, "candidate_id": candidate_id},
            sort=[("entry", DESCENDING)],
            limit=1,
            session=session,
        )
        return from_document(Enrolment, documents[0]) if documents else None

    async def enrol(
        self,
        sequence: Sequence,
        candidate_id: str,
        trace_context: dict[str, str],
        *,
        enrolled_by: str,
        session: Session,
    ) -> Enrolment | EnrolmentRefused:
        """Enrols a candidate as the sequence's re-entry policy allows; the enrolment or why not.

        The id of the next entry is derived from sequence, candidate and entry number, so two
        concurrent enrolments of the same entry collide on it and only one commits.
        """
        latest = await self.latest(sequence.id, candidate_id, session=session)
        if latest is not None:
            refused = _reentry_refusal(sequence, latest)
            if refused is not None:
                return refused
        entry = latest.entry + 1 if latest is not None else 1
        enrolment = Enrolment(
            id=enrolment_id(sequence.id, candidate_id, entry),
            tenant_id=self.tenant_id,
            sequence_id=sequence.id,
            candidate_id=candidate_id,
            entry=entry,
            enrolled_by=enrolled_by,
            status=(
                EnrolmentStatus.PAUSED
                if sequence.status is SequenceStatus.PAUSED
                else EnrolmentStatus.ACTIVE
            ),
        )
        document = to_document(enrolment) | {
            "trace_context": trace_context,
            "lease_owner": None,
            "lease_until": None,
        }
        await self._enrolments.insert_one(document, session=session)
        return enrolment

    async def exit_active(
        self,
        candidate_id: str,
        reason: ExitReason,
        *,
        session: Session,
        sequence_ids: list[str] | None = None,
    ) -> int:
        """Ends a candidate's active enrolments (of `sequence_ids`, or of every sequence whose
        exit conditions include `reason`); returns how many ended."""
        query: dict[str, Any] = {
            "candidate_id": candidate_id,
            "status": {"$in": [status.value for status in ENROLMENTS_IN_PROGRESS]},
        }
        if sequence_ids is not None:
            query["sequence_id"] = {"$in": sequence_ids}
        return await self._exit(query, reason, session=session)

    async def _exit(self, query: dict[str, Any], reason: ExitReason, *, session: Session) -> int:
        result = await self._enrolments.update_many(
            query,
            {
                "$set": {
                    "status": EnrolmentStatus.EXITED.value,
                    "exit_reason": reason.value,
                    "ended_at": utc_now(),
                    "next_run_at": None,
                    "awaiting_signal": False,
                }
            },
            session=session,
        )
        return result.modified_count

    async def move_all(
        self,
        sequence_id: str,
        source: EnrolmentStatus,
        target: EnrolmentStatus,
        *,
        session: Session,
    ) -> int:
        """Pauses or resumes the sequence's enrolments in `source` (timers are kept: one that
        passed meanwhile runs at once on resume)."""
        result = await self._enrolments.update_many(
            {"sequence_id": sequence_id, "status": source.value},
            {"$set": {"status": target.value}},
            session=session,
        )
        return result.modified_count

    async def exit_sequence(self, sequence_id: str, reason: ExitReason, *, session: Session) -> int:
        """Ends every enrolment of the sequence still in progress, with `reason`."""
        in_progress = [status.value for status in ENROLMENTS_IN_PROGRESS]
        query = {"sequence_id": sequence_id, "status": {"$in": in_progress}}
        return await self._exit(query, reason, session=session)

    async def active_sequences(self, candidate_id: str, *, session: Session) -> list[str]:
        """The sequences the candidate is enrolled in and not done with (active, paused with its
        sequence, or failed at a step), which exit conditions end."""
        documents = await self._enrolments.find(
            {
                "candidate_id": candidate_id,
                "status": {"$in": [status.value for status in ENROLMENTS_IN_PROGRESS]},
            },
            session=session,
        )
        return sorted({document["sequence_id"] for document in documents})

    async def wake_awaiting(self, candidate_id: str, *, session: Session) -> int:
        """Makes the candidate's enrolments waiting at a branch look again now."""
        result = await self._enrolments.update_many(
            {
                "candidate_id": candidate_id,
                "status": EnrolmentStatus.ACTIVE.value,
                "awaiting_signal": True,
            },
            {"$set": {"next_run_at": utc_now()}},
            session=session,
        )
        return result.modified_count

    async def fold_into(
        self, merged_id: str, survivor_id: str, merge_id: str, *, session: Session
    ) -> None:
        """A merge: the merged candidate's enrolments continue under the survivor.

        Where the survivor is enrolled in the same sequence already (a candidate goes through
        a sequence once), the merged record's enrolment ends instead.
        """
        for document in await self._enrolments.find({"candidate_id": merged_id}, session=session):
            taken = await self._enrolments.find_one(
                {"sequence_id": document["sequence_id"], "candidate_id": survivor_id},
                session=session,
            )
            change: dict[str, Any]
            if taken is None:
                change = {"candidate_id": survivor_id}
            elif document.get("status") in {status.value for status in ENROLMENTS_IN_PROGRESS}:
                change = {
                    "status": EnrolmentStatus.EXITED.value,
                    "exit_reason": ExitReason.MERGED.value,
                    "ended_at": utc_now(),
                    "next_run_at": None,
                }
            else:
                continue
            await self._enrolments.update_one(
                {"_id": document["_id"]},
                {"$set": change, "$push": moved_by(merge_id, document, change)},
                session=session,
            )

    async def unfold(self, merge_id: str, *, session: Session) -> None:
        """An undone merge: the enrolments a merge moved go back to their own candidate."""
        await give_back(self._enrolments, merge_id, session=session)

    async def of_sequence(
        self, sequence_id: str, state: EnrolmentState | None = None, *, limit: int = 1000
    ) -> list[Enrolment]:
        query = {"sequence_id": sequence_id} | (_state_query(state) if state else {})
        documents = await self._enrolments.find(query, sort=[("_id", ASCENDING)], limit=limit)
        return [from_document(Enrolment, d) for d in documents]

    async def state_counts(self, sequence_id: str) -> dict[EnrolmentState, int]:
        """How many of the sequence's enrolments are in each state."""
        return {
            state: await self._enrolments.count({"sequence_id": sequence_id} | _state_query(state))
            for state in EnrolmentState
        }

    async def failure_reasons(self, sequence_id: str) -> dict[str, int]:
        """Why the sequence's failed enrolments failed, by reason."""
        documents = await self._enrolments.find(
            {"sequence_id": sequence_id, "status": EnrolmentStatus.FAILED.value},
            projection={"failure_reason": 1},
        )
        return dict(Counter(str(d.get("failure_reason")) for d in documents))

    async def retry(self, enrolment: Enrolment) -> bool:
        """Puts a failed enrolment back to work at the step that failed; False if it is no
        longer failed."""
        result = await self._enrolments.update_one(
            {"_id": enrolment.id, "status": EnrolmentStatus.FAILED.value},
            {
                "$set": {
                    "status": EnrolmentStatus.ACTIVE.value,
                    "next_run_at": utc_now(),
                    "failure_reason": None,
                    "failed_at": None,
                    "step_errors": 0,
                    "lease_owner": None,
                    "lease_until": None,
                }
            },
        )
        return result.modified_count == 1

    async def of_candidate(self, candidate_id: str) -> list[Enrolment]:
        documents = await self._enrolments.find(
            {"candidate_id": candidate_id}, sort=[("_id", ASCENDING)]
        )
        return [from_document(Enrolment, d) for d in documents]


_NOT_ARCHIVED: dict[str, Any] = {"status": {"$ne": SequenceStatus.ARCHIVED.value}}


def _state_query(state: EnrolmentState) -> dict[str, Any]:
    """The stored enrolments in `state`: `active` ones are due now, `waiting` ones later."""
    if state is EnrolmentState.ACTIVE:
        return {"status": EnrolmentStatus.ACTIVE.value, "next_run_at": {"$lte": utc_now()}}
    if state is EnrolmentState.WAITING:
        return {"status": EnrolmentStatus.ACTIVE.value, "next_run_at": {"$gt": utc_now()}}
    return {"status": state.value}


def _reentry_refusal(sequence: Sequence, latest: Enrolment) -> EnrolmentRefused | None:
    if latest.status in ENROLMENTS_IN_PROGRESS:
        return EnrolmentRefused.ALREADY_ACTIVE
    policy = sequence.reentry.policy
    if policy is ReentryPolicy.NEVER:
        return EnrolmentRefused.REENTRY_NOT_ALLOWED
    if policy is ReentryPolicy.AFTER_DAYS:
        ended_at = latest.ended_at or latest.enrolled_at
        if utc_now() < ended_at + timedelta(days=sequence.reentry.days):
            return EnrolmentRefused.REENTRY_TOO_SOON
    return None


class SignalRepository:
    """What the tenant's candidates did that sequence branches look at (opens, clicks, ...)."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._signals = TenantScopedCollection(database[SIGNALS], tenant_id)

    async def record(self, candidate_id: str, signal: Signal, *, session: Session) -> None:
        await self._signals.insert_one(
            {
                "candidate_id": candidate_id,
                "kind": signal.kind.value,
                "at": signal.at,
                "message_id": signal.message_id,
                "event_id": signal.event_id,
            },
            session=session,
        )

    async def of_candidate(
        self, candidate_id: str, kind: BranchCondition, *, session: Session | None = None
    ) -> list[Signal]:
        documents = await self._signals.find(
            {"candidate_id": candidate_id, "kind": kind.value},
            sort=[("at", ASCENDING)],
            limit=1000,
            session=session,
        )
        return [
            Signal(
                kind=BranchCondition(d["kind"]),
                at=d["at"],
                message_id=d.get("message_id"),
                event_id=d.get("event_id"),
            )
            for d in documents
        ]


class NotificationRepository:
    """The tenant's notifications for recruiters."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._notifications = TenantScopedCollection(database[NOTIFICATIONS], tenant_id)

    async def add(self, notification: Notification, *, session: Session) -> None:
        await self._notifications.insert_one(to_document(notification), session=session)

    async def page(
        self, user_id: str, *, unread_only: bool, after: str | None, limit: int
    ) -> list[Notification]:
        query: dict[str, Any] = {"user_id": user_id}
        if unread_only:
            query["read_at"] = None
        if after:
            query["_id"] = {"$gt": after}
        documents = await self._notifications.find(query, sort=[("_id", ASCENDING)], limit=limit)
        return [from_document(Notification, d) for d in documents]

    async def mark_read(self, user_id: str, notification_id: str) -> Notification | None:
        """Marks one of the user's notifications read (once); None if the user has no such one."""
        await self._notifications.update_one(
            {"_id": notification_id, "user_id": user_id, "read_at": None},
            {"$set": {"read_at": utc_now()}},
        )
        document = await self._notifications.find_one({"_id": notification_id, "user_id": user_id})
        return from_document(Notification, document) if document else None


class SegmentMemberRepository:
    """The tenant's projection of segment membership, from segment.entered / segment.exited."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._members = TenantScopedCollection(database[SEGMENT_MEMBERS], tenant_id)

    async def enter(self, segment_id: str, candidate_id: str, *, session: Session) -> None:
        await self._members.update_one(
            {"segment_id": segment_id, "candidate_id": candidate_id},
            {"$setOnInsert": {"entered_at": utc_now()}},
            upsert=True,
            session=session,
        )

    async def exit(self, segment_id: str, candidate_id: str, *, session: Session) -> None:
        await self._members.delete_one(
            {"segment_id": segment_id, "candidate_id": candidate_id}, session=session
        )

    async def member_ids(self, segment_id: str) -> list[str]:
        """The candidate ids in a segment now (a broadcast's audience snapshot)."""
        documents = await self._members.find(
            {"segment_id": segment_id}, projection={"candidate_id": 1}
        )
        return [document["candidate_id"] for document in documents]

    async def members(self, segment_id: str, *, session: Session) -> list[str]:
        documents = await self._members.find({"segment_id": segment_id}, session=session)
        return [document["candidate_id"] for document in documents]


class MessageRepository:
    """The tenant's messages."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._messages = TenantScopedCollection(database[MESSAGES], tenant_id)

    async def get(self, message_id: str, *, session: Session | None = None) -> Message | None:
        document = await self._messages.find_one({"_id": message_id}, session=session)
        return from_document(Message, document) if document else None

    async def page(
        self, *, candidate_id: str | None, after: str | None, limit: int
    ) -> list[Message]:
        query: dict[str, Any] = {}
        if candidate_id:
            query["candidate_id"] = candidate_id
        if after:
            query["_id"] = {"$gt": after}
        documents = await self._messages.find(query, sort=[("_id", ASCENDING)], limit=limit)
        return [from_document(Message, d) for d in documents]

    async def fold_into(
        self, merged_id: str, survivor_id: str, merge_id: str, *, session: Session
    ) -> None:
        """A merge: the merged candidate's messages become the survivor's history."""
        await move_to_survivor(self._messages, merged_id, survivor_id, merge_id, session=session)

    async def unfold(self, merge_id: str, *, session: Session) -> None:
        """An undone merge: the messages a merge moved go back to their own candidate."""
        await give_back(self._messages, merge_id, session=session)

    async def count_engagement(self, message_id: str, field: str, *, session: Session) -> None:
        """Adds one open or click to a message's tally."""
        await self._messages.update_one({"_id": message_id}, {"$inc": {field: 1}}, session=session)

    async def record_click(
        self,
        message_id: str,
        link_index: int,
        at: datetime,
        automated: bool,
        *,
        session: Session,
    ) -> None:
        """Counts a click and remembers it, so a scanner's burst over every link shows."""
        await self._messages.update_one(
            {"_id": message_id},
            {
                "$inc": {"automated_clicks" if automated else "clicks": 1},
                "$set": {"last_click_index": link_index, "last_click_at": at},
            },
            session=session,
        )


class SuppressionRepository:
    """The tenant's suppression list (addresses by SHA-256, one entry per reason)."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._entries = TenantScopedCollection(database[SUPPRESSIONS], tenant_id)

    async def add(self, suppression: Suppression, *, session: Session | None = None) -> bool:
        """Lists an address for a reason unless it already is; True if newly listed."""
        document = to_document(suppression)
        result = await self._entries.update_one(
            {"email_sha256": suppression.email_sha256, "reason": suppression.reason.value},
            {
                "$setOnInsert": {
                    key: value
                    for key, value in document.items()
                    if key not in ("email_sha256", "reason", "tenant_id")
                }
            },
            upsert=True,
            session=session,
        )
        return result.upserted_id is not None

    async def reasons(
        self, email_sha256: str, *, session: Session | None = None
    ) -> set[ListReason]:
        """Every reason the address is suppressed for (empty when it is not)."""
        documents = await self._entries.find({"email_sha256": email_sha256}, session=session)
        return {ListReason(document["reason"]) for document in documents}

    async def remove(
        self, email_sha256: str, reason: ListReason, *, session: Session | None = None
    ) -> bool:
        """Takes an address off the list for one reason; True if it was listed for it."""
        result = await self._entries.delete_one(
            {"email_sha256": email_sha256, "reason": reason.value}, session=session
        )
        return result.deleted_count > 0

    async def get(self, suppression_id: str) -> Suppression | None:
        document = await self._entries.find_one({"_id": suppression_id})
        return from_document(Suppression, document) if document else None

    async def delete(self, suppression_id: str) -> bool:
        result = await self._entries.delete_one({"_id": suppression_id})
        return result.deleted_count > 0

    async def page(
        self,
        *,
        email_sha256: str | None,
        reason: ListReason | None,
        after: str | None,
        limit: int,
    ) -> list[Suppression]:
        query: dict[str, Any] = {}
        if email_sha256:
            query["email_sha256"] = email_sha256
        if reason:
            query["reason"] = reason.value
        if after:
            query["_id"] = {"$gt": after}
        documents = await self._entries.find(query, sort=[("_id", ASCENDING)], limit=limit)
        return [from_document(Suppression, d) for d in documents]


class SoftBounceRepository:
    """How often each address of the tenant bounced softly."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._counters = TenantScopedCollection(database[SOFT_BOUNCES], tenant_id)

    async def count(self, email_sha256: str, *, session: Session) -> int:
        """Adds one soft bounce of the address; returns how many it has had."""
        await self._counters.update_one(
            {"email_sha256": email_sha256},
            {"$inc": {"soft_bounces": 1}, "$set": {"last_bounce_at": utc_now()}},
            upsert=True,
            session=session,
        )
        document = await self._counters.find_one({"email_sha256": email_sha256}, session=session)
        return int(document["soft_bounces"]) if document else 1


class ContactPolicyRepository:
    """The tenant's contact policy and the tally of what it held back."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._policies = TenantScopedCollection(database[CONTACT_POLICIES], tenant_id)
        self._counters = TenantScopedCollection(database[GOVERNANCE_COUNTERS], tenant_id)

    async def get(self, *, session: Session | None = None) -> ContactPolicy:
        """The tenant's policy; the permissive default when none was set."""
        document = await self._policies.find_one({}, session=session)
        if document is None:
            return ContactPolicy()
        return ContactPolicy.model_validate(document["policy"])

    async def put(self, policy: ContactPolicy, updated_by: str) -> None:
        await self._policies.update_one(
            {},
            {
                "$set": {
                    "policy": policy.model_dump(mode="json"),
                    "updated_by": updated_by,
                    "updated_at": utc_now(),
                }
            },
            upsert=True,
        )

    async def count_outcome(
        self, verdict: str, reason: str, *, session: Session | None = None
    ) -> None:
        """Adds one to the tally of a verdict for a reason (e.g. `defer`, `quiet_hours`)."""
        await self._counters.update_one(
            {}, {"$inc": {f"outcomes.{verdict}.{reason}": 1}}, upsert=True, session=session
        )

    async def outcomes(self) -> dict[str, int]:
        """Every tally as `<verdict>.<reason>` -> count."""
        document = await self._counters.find_one({})
        by_verdict: dict[str, dict[str, int]] = (document or {}).get("outcomes", {})
        return {
            f"{verdict}.{reason}": int(count)
            for verdict, reasons in by_verdict.items()
            for reason, count in reasons.items()
        }


class LedgerContentionError(RuntimeError):
    """A candidate's send ledger kept changing under us; the message is retried later."""


class ContactLedger:
    """Each candidate's recent marketing sends, shared by every sequence and broadcast.

    A send is reserved in the ledger before the message goes out, with a conditional update on
    the ledger's version: two dispatchers deciding for one candidate at once cannot both take
    the last slot, because the second one's update finds the version changed and decides again.
    """

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._ledgers = TenantScopedCollection(database[CONTACT_LEDGER], tenant_id)

    async def sends(self, candidate_id: str) -> list[datetime]:
        """When the candidate's recent marketing messages were sent."""
        document = await self._ledgers.find_one({"candidate_id": candidate_id})
        return [entry["at"] for entry in (document or {}).get("sends", [])]

    async def reserve(
        self,
        candidate_id: str,
        message_id: str,
        decide: Callable[[list[datetime]], Decision],
        *,
        now: datetime,
        max_rounds: int = 20,
    ) -> Decision:
        """Reserves a slot for `message_id` if `decide` allows it given the recent sends."""
        for _ in range(max_rounds):
            document = await self._ledgers.find_one({"candidate_id": candidate_id})
            entries: list[dict[str, Any]] = (document or {}).get("sends", [])
            if any(entry["message_id"] == message_id for entry in entries):
                return ALLOW  # reserved by an earlier attempt of this message
            decision = decide([entry["at"] for entry in entries])
            if decision.verdict is not Verdict.ALLOW:
                return decision
            kept = [entry for entry in entries if entry["at"] > now - LEDGER_RETENTION]
            kept.append({"message_id": message_id, "at": now})
            if document is None:
                try:
                    await self._ledgers.insert_one(
                        {"candidate_id": candidate_id, "version": 1, "sends": kept}
                    )
                except DuplicateKeyError:
                    continue
                return decision
            updated = await self._ledgers.update_one(
                {"candidate_id": candidate_id, "version": document["version"]},
                {"$set": {"sends": kept}, "$inc": {"version": 1}},
            )
            if updated.modified_count:
                return decision
        raise LedgerContentionError(f"the send ledger of {candidate_id} is contended")

    async def release(self, candidate_id: str, message_id: str) -> None:
        """Gives back the slot of a message that was finally not sent."""
        await self._ledgers.update_one(
            {"candidate_id": candidate_id},
            {"$pull": {"sends": {"message_id": message_id}}, "$inc": {"version": 1}},
        )


class BlockRepository:
    """The tenant's reusable template blocks, addressed by key."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._blocks = TenantScopedCollection(database[BLOCKS], tenant_id)

    async def add(self, block: Block) -> bool:
        """Saves a new block; False if the key is taken."""
        result = await self._blocks.update_one(
            {"key": block.key},
            {
                "$setOnInsert": {
                    k: v for k, v in to_document(block).items() if k not in ("key", "tenant_id")
                }
            },
            upsert=True,
        )
        return result.upserted_id is not None

    async def replace(self, key: str, changes: dict[str, Any]) -> Block | None:
        await self._blocks.update_one({"key": key}, {"$set": changes})
        return await self.get(key)

    async def get(self, key: str) -> Block | None:
        document = await self._blocks.find_one({"key": key})
        return from_document(Block, document) if document else None

    async def delete(self, key: str) -> bool:
        result = await self._blocks.delete_one({"key": key})
        return result.deleted_count == 1

    async def all(self, *, session: Session | None = None) -> list[Block]:
        documents = await self._blocks.find({}, sort=[("key", ASCENDING)], session=session)
        return [from_document(Block, d) for d in documents]

    async def keys(self) -> list[str]:
        return [block.key for block in await self.all()]

    async def sources(self, *, session: Session | None = None) -> dict[str, BlockSource]:
        """Every block's parts by key, for rendering."""
        return {b.key: BlockSource(b.html, b.text) for b in await self.all(session=session)}


class StoredListRepository:
    """The tenant's projection of stored static lists (owned by the candidates service): who
    is on each, from list.member_added / list.member_removed, and which were archived."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._members = TenantScopedCollection(database[LIST_MEMBERS], tenant_id)
        self._archived = TenantScopedCollection(database[ARCHIVED_LISTS], tenant_id)

    async def record(
        self,
        list_id: str,
        candidate_id: str,
        *,
        member: bool,
        changed_at: datetime,
        session: Session,
    ) -> None:
        """Records an addition (`member`) or a removal made at `changed_at`, unless a later
        change of the same membership is recorded already.

        Additions and removals arrive on two topics, so a removal may be consumed before the
        addition it undoes; comparing their times keeps the latest, and a removal is kept (as
        `member: false`) for that comparison."""
        key = {"list_id": list_id, "candidate_id": candidate_id}
        # MongoDB keeps milliseconds: compare at that precision.
        at = changed_at.replace(microsecond=changed_at.microsecond // 1000 * 1000)
        current = await self._members.find_one(key, session=session)
        if current is not None and current.get("changed_at") is not None:
            recorded = current["changed_at"]
            if recorded.tzinfo is None:
                recorded = recorded.replace(tzinfo=at.tzinfo)
            if recorded >= at:
                return
        await self._members.update_one(
            key,
            {"$set": {"member": member, "changed_at": at}, "$setOnInsert": {"added_at": utc_now()}},
            upsert=True,
            session=session,
        )

    async def member_ids(self, list_id: str) -> list[str]:
        """The candidate ids on the list now (a broadcast's audience snapshot)."""
        documents = await self._members.find(
            {"list_id": list_id, "member": {"$ne": False}}, projection={"candidate_id": 1}
        )
        return [document["candidate_id"] for document in documents]

    async def archive(self, list_id: str, archived_at: datetime, *, session: Session) -> None:
        await self._archived.update_one(
            {"_id": list_id}, {"$set": {"archived_at": archived_at}}, upsert=True, session=session
        )

    async def is_archived(self, list_id: str) -> bool:
        return await self._archived.find_one({"_id": list_id}) is not None


class PoolMemberRepository:
    """The tenant's projection of talent pool membership and stage, from pool.stage_changed."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._members = TenantScopedCollection(database[POOL_MEMBERS], tenant_id)
        self._renames = TenantScopedCollection(database[POOL_STAGE_RENAMES], tenant_id)

    async def place(
        self, pool_id: str, candidate_id: str, stage: str | None, *, session: Session
    ) -> None:
        """Records the candidate's current stage in the pool; no stage means they left it."""
        key = {"pool_id": pool_id, "candidate_id": candidate_id}
        if stage is None:
            await self._members.delete_one(key, session=session)
            return
        await self._members.update_one(
            key, {"$set": {"stage": stage, "updated_at": utc_now()}}, upsert=True, session=session
        )

    async def rename_stage(self, renamed: PoolStageRenamed, *, session: Session) -> None:
        """Members at the renamed stage are at its new name; the rename is kept so a move made
        before it but delivered after it can follow it (`stage_now_called`)."""
        await self._members.update_many(
            {"pool_id": renamed.pool_id, "stage": renamed.from_stage},
            {"$set": {"stage": renamed.to_stage}},
            session=session,
        )
        await self._renames.update_one(
            {"_id": f"{renamed.pool_id}:{renamed.renamed_at.isoformat()}"},
            {
                "$set": {
                    "pool_id": renamed.pool_id,
                    "from_stage": renamed.from_stage,
                    "to_stage": renamed.to_stage,
                    "renamed_at": renamed.renamed_at,
                }
            },
            upsert=True,
            session=session,
        )

    async def renames(self, pool_id: str, *, session: Session) -> list[StageRename]:
        """The pool's stage renames campaigns has seen."""
        documents = await self._renames.find({"pool_id": pool_id}, session=session)
        return [
            StageRename(
                from_stage=document["from_stage"],
                to_stage=document["to_stage"],
                renamed_at=document["renamed_at"],
            )
            for document in documents
        ]

    async def members(self, pool_id: str, stage: str | None) -> list[str]:
        query: dict[str, Any] = {"pool_id": pool_id}
        if stage is not None:
            query["stage"] = stage
        documents = await self._members.find(query, projection={"candidate_id": 1})
        return [document["candidate_id"] for document in documents]


class BroadcastRepository:
    """The tenant's broadcasts."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._broadcasts = TenantScopedCollection(database[BROADCASTS], tenant_id)
        self._messages = TenantScopedCollection(database[MESSAGES], tenant_id)

    async def rename_pool_stage(self, renamed: PoolStageRenamed, *, session: Session) -> None:
        """Broadcasts to the renamed stage that have not snapshotted their audience yet (drafts
        and those preparing) name its new name; one that did keeps the record of its audience."""
        documents = await self._broadcasts.find(
            {
                "audience.type": "pool",
                "audience.pool_id": renamed.pool_id,
                "status": {"$in": [BroadcastStatus.DRAFT.value, BroadcastStatus.PREPARING.value]},
            },
            session=session,
        )
        for document in documents:
            audience, changed = with_stage_renamed(
                document["audience"], renamed.pool_id, renamed.from_stage, renamed.to_stage
            )
            if changed:
                await self._broadcasts.update_one(
                    {"_id": document["_id"]},
                    {"$set": {"audience": audience}, "$inc": {"version": 1}},
                    session=session,
                )

    async def unfinished_using_template(
        self, template_id: str, *, session: Session
    ) -> list[Broadcast]:
        """The broadcasts that will still render `template_id`."""
        documents = await self._broadcasts.find(
            {
                "template_id": template_id,
                "status": {"$in": [status.value for status in UNFINISHED_BROADCASTS]},
            },
            session=session,
        )
        return [from_document(Broadcast, d) for d in documents]

    async def add(self, broadcast: Broadcast) -> None:
        # BSON has no date or time-of-day type: the schedule is stored as its JSON form.
        document = to_document(broadcast) | {"schedule": broadcast.schedule.model_dump(mode="json")}
        await self._broadcasts.insert_one(document)

    async def replace_draft(self, broadcast: Broadcast, version: int) -> bool:
        """Replaces a draft's definition if it is still a draft at `version`."""
        definition = to_document(broadcast)
        result = await self._broadcasts.update_one(
            {"_id": broadcast.id, "status": BroadcastStatus.DRAFT.value, "version": version},
            {
                "$set": {
                    field: definition[field]
                    for field in ("name", "template_id", "audience", "ab_test")
                }
                | {"schedule": broadcast.schedule.model_dump(mode="json")},
                "$inc": {"version": 1},
            },
        )
        return result.modified_count == 1

    async def delete_draft(self, broadcast_id: str) -> bool:
        """Deletes a broadcast that was never sent; False if it is not a draft (any more)."""
        result = await self._broadcasts.delete_one(
            {"_id": broadcast_id, "status": BroadcastStatus.DRAFT.value}
        )
        return result.deleted_count == 1

    async def get(self, broadcast_id: str, *, session: Session | None = None) -> Broadcast | None:
        document = await self._broadcasts.find_one({"_id": broadcast_id}, session=session)
        return from_document(Broadcast, document) if document else None

    async def active_count(self) -> int:
        """How many of the tenant's broadcasts are preparing or sending (a paused one is not)."""
        return await self._broadcasts.count(
            {"status": {"$in": [BroadcastStatus.PREPARING.value, BroadcastStatus.SENDING.value]}}
        )

    async def page(self, *, after: str | None, limit: int) -> list[Broadcast]:
        query: dict[str, Any] = {"_id": {"$gt": after}} if after else {}
        documents = await self._broadcasts.find(query, sort=[("_id", ASCENDING)], limit=limit)
        return [from_document(Broadcast, d) for d in documents]

    async def transition(
        self,
        broadcast_id: str,
        expected: BroadcastStatus,
        changes: dict[str, Any],
        *,
        session: Session | None = None,
    ) -> bool:
        """Applies `changes` only if the broadcast is still in `expected`; True if it was."""
        result = await self._broadcasts.update_one(
            {"_id": broadcast_id, "status": expected.value}, {"$set": changes}, session=session
        )
        return result.modified_count == 1

    async def renew_lease(
        self, broadcast_id: str, expected: BroadcastStatus, owner: str, lease: timedelta
    ) -> bool:
        """Extends `owner`'s lease while the broadcast is still in `expected`; False if it is
        not, or another worker holds the lease now."""
        result = await self._broadcasts.update_one(
            {"_id": broadcast_id, "status": expected.value, "lease_owner": owner},
            {"$set": {"lease_until": utc_now() + lease}},
        )
        return result.modified_count == 1

    async def move_messages(
        self,
        broadcast_id: str,
        source: MessageStatus,
        target: MessageStatus,
        *,
        session: Session | None = None,
    ) -> int:
        """Moves the broadcast's messages in `source` to `target` (hold, release, cancel)."""
        result = await self._messages.update_many(
            {"broadcast_id": broadcast_id, "status": source.value},
            {"$set": {"status": target.value}},
            session=session,
        )
        return result.modified_count

    async def decide_winner(self, broadcast_id: str, winner: str) -> None:
        """Records the A/B winner unless one was recorded already."""
        await self._broadcasts.update_one(
            {"_id": broadcast_id, "winner": None},
            {"$set": {"winner": winner, "winner_decided_at": utc_now()}},
        )

    async def skipped_reasons(self, broadcast_id: str) -> dict[str, int]:
        """How many of the broadcast's messages a send rule skipped, by reason."""
        documents = await self._messages.find(
            {"broadcast_id": broadcast_id, "status": MessageStatus.SUPPRESSED.value},
            projection={"suppression_reason": 1},
        )
        return dict(Counter(str(d.get("suppression_reason")) for d in documents))

    async def failure_reasons(self, broadcast_id: str) -> dict[str, int]:
        """Why the broadcast's failed messages failed, by reason (`render_failed`, or
        `delivery_failed` for the SMTP errors each message's `last_error` spells out)."""
        documents = await self._messages.find(
            {"broadcast_id": broadcast_id, "status": MessageStatus.FAILED.value},
            projection={"failure_reason": 1},
        )
        return dict(
            Counter(
                str(failure_reason_of(MessageStatus.FAILED, d.get("failure_reason")))
                for d in documents
            )
        )

    async def count_messages(self, broadcast_id: str, **conditions: Any) -> int:
        return await self._messages.count({"broadcast_id": broadcast_id, **conditions})


async def hold_broadcast(
    mongo: MongoClient, database: Database, tenant_id: str, broadcast_id: str, *, reason: str
) -> bool:
    """Pauses a preparing or sending broadcast and holds its queued messages; False if it was
    in neither state."""
    broadcasts = BroadcastRepository(database, tenant_id)

    async def hold(session: Session) -> bool:
        current = await broadcasts.get(broadcast_id, session=session)
        if current is None or current.status not in PAUSABLE:
            return False
        changes = {
            "status": BroadcastStatus.PAUSED.value,
            "pause_reason": reason,
            "paused_from": current.status.value,
        }
        if not await broadcasts.transition(broadcast_id, current.status, changes, session=session):
            return False
        await broadcasts.move_messages(
            broadcast_id, MessageStatus.QUEUED, MessageStatus.HELD, session=session
        )
        return True

    return await in_transaction(mongo, hold)


PAUSABLE = (BroadcastStatus.PREPARING, BroadcastStatus.SENDING)


async def complete_if_done(database: Database, tenant_id: str, broadcast_id: str) -> bool:
    """Marks a sending broadcast completed once all its messages are queued and none is left
    without an outcome (queued, sending or held)."""
    broadcasts = TenantScopedCollection(database[BROADCASTS], tenant_id)
    messages = TenantScopedCollection(database[MESSAGES], tenant_id)
    current = await broadcasts.find_one({"_id": broadcast_id})
    if current is None or current.get("status") != BroadcastStatus.SENDING.value:
        return False
    if not current.get("materialized"):
        return False
    unfinished = [MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.HELD]
    # An existence check, not a count: it runs after every batch, with up to the whole audience
    # still unfinished.
    if await messages.find_one(
        {"broadcast_id": broadcast_id, "status": {"$in": [s.value for s in unfinished]}}
    ):
        return False
    result = await broadcasts.update_one(
        {"_id": broadcast_id, "status": BroadcastStatus.SENDING.value, "materialized": True},
        {"$set": {"status": BroadcastStatus.COMPLETED.value, "completed_at": utc_now()}},
    )
    return result.modified_count == 1


async def complete_finished_broadcasts(database: Database) -> int:
    """Completes every sending broadcast that has nothing left to send; returns how many.

    Deliberately cross-tenant. The dispatchers complete the broadcasts they sent for, but a
    process that died after a broadcast's last outcome, or whose last claims were recovered by
    another process, leaves no dispatcher that would; this sweep does, whoever runs it.
    """
    sending = (
        await database[BROADCASTS]
        .find({"status": BroadcastStatus.SENDING.value, "materialized": True}, {"tenant_id": 1})
        .to_list()
    )
    completed = 0
    for broadcast in sending:
        completed += await complete_if_done(database, broadcast["tenant_id"], broadcast["_id"])
    return completed


async def settle_requeued(database: Database, tenant_id: str, broadcast_id: str) -> None:
    """After messages of a broadcast went back to the queue (recovered claims), holds them if
    the broadcast is paused and cancels them if it is cancelled, as pausing or cancelling it
    would have done had they been queued then."""
    broadcasts = BroadcastRepository(database, tenant_id)
    current = await broadcasts.get(broadcast_id)
    if current is None:
        return
    if current.status is BroadcastStatus.PAUSED:
        await broadcasts.move_messages(broadcast_id, MessageStatus.QUEUED, MessageStatus.HELD)
    elif current.status is BroadcastStatus.CANCELLED:
        await broadcasts.move_messages(broadcast_id, MessageStatus.QUEUED, MessageStatus.CANCELLED)


async def claim_next(
    database: Database,
    collection: str,
    due: Document,
    *,
    owner: str,
    lease: timedelta,
    order_by: str,
) -> Document | None:
    """Leases one due record of any tenant to `owner`; None when nothing is due.

    A lease keeps other workers away while it lasts; if the owner dies, it expires and another
    worker takes the record over.
    """
    now = utc_now()
    return await database[collection].find_one_and_update(
        {**due, "$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}]},
        {"$set": {"lease_owner": owner, "lease_until": now + lease}},
        sort=[(order_by, ASCENDING)],
        return_document=ReturnDocument.AFTER,
    )


def _database(request: Request) -> Database:
    database: Database = request.app.state.platform.require_database()
    return database


def _scoped(factory: Any) -> Any:
    def dependency(request: Request, principal: CurrentPrincipal) -> Any:
        return factory(_database(request), principal.tenant_id)

    return Depends(dependency)


TemplatesRepo = Annotated[TemplateRepository, _scoped(TemplateRepository)]
StoredListsRepo = Annotated[StoredListRepository, _scoped(StoredListRepository)]
SequencesRepo = Annotated[SequenceRepository, _scoped(SequenceRepository)]
EnrolmentsRepo = Annotated[EnrolmentRepository, _scoped(EnrolmentRepository)]
MessagesRepo = Annotated[MessageRepository, _scoped(MessageRepository)]
RecipientsRepo = Annotated[RecipientRepository, _scoped(RecipientRepository)]
BlocksRepo = Annotated[BlockRepository, _scoped(BlockRepository)]
BroadcastsRepo = Annotated[BroadcastRepository, _scoped(BroadcastRepository)]
NotificationsRepo = Annotated[NotificationRepository, _scoped(NotificationRepository)]
SuppressionsRepo = Annotated[SuppressionRepository, _scoped(SuppressionRepository)]
ContactPoliciesRepo = Annotated[ContactPolicyRepository, _scoped(ContactPolicyRepository)]
