"""Enrolments of candidates in sequences."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING

from crm_campaigns.domain.enrolments import reentry_refusal
from crm_campaigns.domain.models import (
    ENROLMENTS_IN_PROGRESS,
    MAX_STEP_PROBLEMS,
    Enrolment,
    EnrolmentRefused,
    EnrolmentState,
    EnrolmentStatus,
    ExitReason,
    Sequence,
    SequenceStatus,
    StepProblem,
    enrolment_id,
)
from crm_campaigns.domain.sequences import StepRemap
from crm_campaigns.publishers import SOURCE, enrolment_ended_envelope, to_enrolment_started
from crm_campaigns.repositories.collections import (
    ENROLMENTS,
    SEQUENCES,
)
from crm_shared import (
    Database,
    EventEnvelope,
    Outbox,
    Session,
    TenantScopedCollection,
    from_document,
    give_back,
    moved_by,
    to_document,
    utc_now,
)


def _in_progress_of(candidate_id: str) -> dict[str, Any]:
    return {
        "candidate_id": candidate_id,
        "status": {"$in": [status.value for status in ENROLMENTS_IN_PROGRESS]},
    }


class EnrolmentRepository:
    """The tenant's enrolments. Every write that starts or ends one stages its
    `enrolment.started` / `enrolment.ended` in the same transaction (the outbox is a collection
    of the same database), so no path can change an enrolment's lifecycle unannounced."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._enrolments = TenantScopedCollection(database[ENROLMENTS], tenant_id)
        self._sequences = TenantScopedCollection(database[SEQUENCES], tenant_id)
        self._outbox = Outbox(database, SOURCE)

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
            refused = reentry_refusal(sequence, latest, now=utc_now())
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
        await to_enrolment_started(self._outbox, enrolment, sequence.name, session=session)
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
        query = _in_progress_of(candidate_id)
        if sequence_ids is not None:
            query["sequence_id"] = {"$in": sequence_ids}
        return await self._exit(query, reason, session=session)

    async def exit_at_send(
        self, enrolment_id: str, reason: ExitReason, step_index: int | None, *, session: Session
    ) -> bool:
        """Ends the enrolment (if still in progress) because the message of its send step
        `step_index` was suppressed for a lasting reason; True if it ended. The engine's claim
        names the active status, so a step it is running meanwhile commits nothing."""
        result = await self._enrolments.update_one(
            {
                "_id": enrolment_id,
                "status": {"$in": [status.value for status in ENROLMENTS_IN_PROGRESS]},
            },
            {
                "$set": {
                    "status": EnrolmentStatus.EXITED.value,
                    "exit_reason": reason.value,
                    "exit_step": step_index,
                    "ended_at": utc_now(),
                    "next_run_at": None,
                    "awaiting_signal": False,
                    "lease_owner": None,
                    "lease_until": None,
                }
            },
            session=session,
        )
        if result.modified_count != 1:
            return False
        await self.announce_ended([enrolment_id], session=session)
        return True

    async def announce_ended(self, enrolment_ids: list[str], *, session: Session) -> None:
        """Stages `enrolment.ended` for enrolments just ended in the caller's transaction (as
        they are now), each naming its sequence, in enrolment id order."""
        # One write however many ended (archiving a sequence ends all of its enrolments).
        await self._outbox.add_many(
            await self._ended(enrolment_ids, session=session), session=session
        )

    async def end_before_erasure(
        self, candidate_id: str, erased_at: datetime, *, session: Session
    ) -> list[EventEnvelope[Any]]:
        """Ends the candidate's enrolments in progress (`erased`, at `erased_at`) that an
        erasure is about to delete, and returns their `enrolment.ended` for the caller to stage
        once the person's documents (their outbox records among them) are gone."""
        ending = await self._end(
            _in_progress_of(candidate_id), ExitReason.ERASED, erased_at, session=session
        )
        return await self._ended(ending, session=session)

    async def _ended(
        self, enrolment_ids: list[str], *, session: Session
    ) -> list[EventEnvelope[Any]]:
        """`enrolment.ended` of each of the enrolments as they are now, naming its sequence,
        in enrolment id order."""
        if not enrolment_ids:
            return []
        documents = await self._enrolments.find(
            {"_id": {"$in": enrolment_ids}}, sort=[("_id", ASCENDING)], session=session
        )
        sequence_ids = sorted({document["sequence_id"] for document in documents})
        names = {
            sequence["_id"]: str(sequence.get("name") or sequence["_id"])
            for sequence in await self._sequences.find(
                {"_id": {"$in": sequence_ids}}, projection={"name": 1}, session=session
            )
        }
        envelopes = []
        for document in documents:
            ended = from_document(Enrolment, document)
            name = names.get(ended.sequence_id, ended.sequence_id)
            envelopes.append(enrolment_ended_envelope(self._outbox, ended, name))
        return envelopes

    async def _exit(self, query: dict[str, Any], reason: ExitReason, *, session: Session) -> int:
        ending = await self._end(query, reason, utc_now(), session=session)
        await self.announce_ended(ending, session=session)
        return len(ending)

    async def _end(
        self, query: dict[str, Any], reason: ExitReason, ended_at: datetime, *, session: Session
    ) -> list[str]:
        """Ends the enrolments `query` finds (early, for `reason`); their ids."""
        ending = [
            str(document["_id"])
            for document in await self._enrolments.find(
                query, projection={"_id": 1}, session=session
            )
        ]
        if ending:
            await self._enrolments.update_many(
                {"_id": {"$in": ending}, **query},
                {
                    "$set": {
                        "status": EnrolmentStatus.EXITED.value,
                        "exit_reason": reason.value,
                        "ended_at": ended_at,
                        "next_run_at": None,
                        "awaiting_signal": False,
                    }
                },
                session=session,
            )
        return ending

    async def move_all(
        self,
        sequence_id: str,
        source: EnrolmentStatus,
        target: EnrolmentStatus,
        *,
        session: Session,
    ) -> int:
        """Pauses or resumes the sequence's enrolments in `source` (timers are kept: one that
        passed meanwhile runs at once on resume). An enrolment a person paused on its own stays
        paused when its sequence resumes."""
        result = await self._enrolments.update_many(
            {"sequence_id": sequence_id, "status": source.value, "paused_by": None},
            {"$set": {"status": target.value}},
            session=session,
        )
        return result.modified_count

    async def exit_sequence(self, sequence_id: str, reason: ExitReason, *, session: Session) -> int:
        """Ends every enrolment of the sequence still in progress, with `reason`."""
        in_progress = [status.value for status in ENROLMENTS_IN_PROGRESS]
        query = {"sequence_id": sequence_id, "status": {"$in": in_progress}}
        return await self._exit(query, reason, session=session)

    async def follow_edited_steps(
        self, sequence_id: str, remap: StepRemap, *, session: Session
    ) -> int:
        """Moves the sequence's enrolments in progress to where their positions went in its
        edited steps (`step_remap`), and their sent messages to the steps now in place; how
        many changed. In the edit's transaction: an engine holding one of them finds its
        claimed position gone and leaves it for its next turn."""
        if not remap.moves_anything:
            return 0
        in_progress = [status.value for status in ENROLMENTS_IN_PROGRESS]
        documents = await self._enrolments.find(
            {"sequence_id": sequence_id, "status": {"$in": in_progress}},
            projection={"step_index": 1, "sent_messages": 1},
            session=session,
        )
        past_the_end = max(remap.positions)
        updates: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for document in documents:
            position = int(document.get("step_index", 0))
            moved_to = remap.positions[min(position, past_the_end)]
            sent = dict(document.get("sent_messages") or {})
            still_sent = {
                str(remap.places[int(index)]): message
                for index, message in sent.items()
                if int(index) in remap.places
            }
            if moved_to != position or still_sent != sent:
                updates.append(
                    (
                        {"_id": document["_id"], "step_index": position},
                        {"$set": {"step_index": moved_to, "sent_messages": still_sent}},
                    )
                )
        await self._enrolments.update_each(updates, session=session)
        return len(updates)

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

        A person goes through a sequence once, so where both records are in the same sequence
        one enrolment goes on and the other ends (`merged`):

        - both in progress: the one further along (more steps executed; the older one on a tie)
          goes on, so nobody gets a step again that one of the records got already. The
          survivor's fresh enrolment (its segment entry caused by the merge itself) ends.
        - only the survivor's in progress, or the survivor's ended: the merged one ends.
        - only the merged one's in progress and the survivor has none: it moves over.

        A moved enrolment becomes the survivor's latest entry (its number after theirs), so
        re-entry and the one-enrolment-per-entry index go on working.
        """
        in_progress = {status.value for status in ENROLMENTS_IN_PROGRESS}
        for document in await self._enrolments.find({"candidate_id": merged_id}, session=session):
            if merge_id in {m.get("merge_id") for m in document.get("merges", [])}:
                continue  # moved or ended by this merge already (a redelivery)
            theirs = await self._enrolments.find(
                {"sequence_id": document["sequence_id"], "candidate_id": survivor_id},
                sort=[("entry", DESCENDING)],
                session=session,
            )
            latest = theirs[0] if theirs else None
            mine_running = document.get("status") in in_progress
            if latest is None or (
                mine_running
                and latest.get("status") in in_progress
                and _further_along(document, latest)
            ):
                if latest is not None:
                    await self._end_merged(latest, merge_id, session=session)
                change: dict[str, Any] = {
                    "candidate_id": survivor_id,
                    "entry": (latest["entry"] + 1) if latest is not None else document["entry"],
                }
            elif mine_running:
                await self._end_merged(document, merge_id, session=session)
                continue
            else:
                continue
            await self._enrolments.update_one(
                {"_id": document["_id"]},
                {"$set": change, "$push": moved_by(merge_id, document, change)},
                session=session,
            )

    async def _end_merged(
        self, document: dict[str, Any], merge_id: str, *, session: Session
    ) -> None:
        change: dict[str, Any] = {
            "status": EnrolmentStatus.EXITED.value,
            "exit_reason": ExitReason.MERGED.value,
            "ended_at": utc_now(),
            "next_run_at": None,
            "awaiting_signal": False,
        }
        await self._enrolments.update_one(
            {"_id": document["_id"]},
            {"$set": change, "$push": moved_by(merge_id, document, change)},
            session=session,
        )
        await self.announce_ended([str(document["_id"])], session=session)

    async def in_progress_of(self, candidate_id: str, *, session: Session) -> list[Enrolment]:
        """The candidate's enrolments not done with (active, paused or failed at a step)."""
        documents = await self._enrolments.find(
            {
                "candidate_id": candidate_id,
                "status": {"$in": [status.value for status in ENROLMENTS_IN_PROGRESS]},
            },
            session=session,
        )
        return [from_document(Enrolment, d) for d in documents]

    async def unfold(self, merge_id: str, *, session: Session) -> None:
        """An undone merge: the enrolments a merge moved go back to their own candidate."""
        await give_back(self._enrolments, merge_id, session=session)

    async def of_sequence(
        self,
        sequence_id: str,
        state: EnrolmentState | None = None,
        *,
        after: str | None = None,
        limit: int,
    ) -> list[Enrolment]:
        """One page of the sequence's enrolments (of one state) in the order they were made."""
        query: dict[str, Any] = {"sequence_id": sequence_id}
        if state:
            query |= _state_query(state)
        if after:
            query["_id"] = {"$gt": after}
        documents = await self._enrolments.find(query, sort=[("_id", ASCENDING)], limit=limit)
        return [from_document(Enrolment, d) for d in documents]

    async def page_of_candidate(
        self, candidate_id: str, *, after: str | None = None, limit: int
    ) -> list[Enrolment]:
        """One page of the candidate's enrolments in every sequence, by enrolment id."""
        query: dict[str, Any] = {"candidate_id": candidate_id}
        if after:
            query["_id"] = {"$gt": after}
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

    async def hold(self, enrolment: Enrolment, by: str, *, session: Session) -> bool:
        """Pauses one enrolment on its own, as it was read (the engine claims only active ones,
        and a step running meanwhile loses its claim and commits nothing); False if it changed
        since it was read."""
        result = await self._enrolments.update_one(
            {"_id": enrolment.id, "status": enrolment.status.value, "paused_by": None},
            {
                "$set": {
                    "status": EnrolmentStatus.PAUSED.value,
                    "paused_by": by,
                    "paused_at": utc_now(),
                }
            },
            session=session,
        )
        return result.modified_count == 1

    async def release(
        self, enrolment: Enrolment, status: EnrolmentStatus, *, session: Session
    ) -> bool:
        """Ends a person's pause of one enrolment: it goes on from the step it stopped at (a
        timer that passed meanwhile runs at once; a branch waiting for a reaction looks again
        now), or waits with its paused sequence. False if it changed since it was read."""
        changes: dict[str, Any] = {
            "status": status.value,
            "paused_by": None,
            "paused_at": None,
            "lease_owner": None,
            "lease_until": None,
        }
        if enrolment.awaiting_signal:
            changes["next_run_at"] = utc_now()
        result = await self._enrolments.update_one(
            {
                "_id": enrolment.id,
                "status": EnrolmentStatus.PAUSED.value,
                "paused_by": enrolment.paused_by,
            },
            {"$set": changes},
            session=session,
        )
        return result.modified_count == 1

    async def note_step_problem(
        self, enrolment_id: str, problem: StepProblem, *, session: Session
    ) -> bool:
        """Records a step of the enrolment that did nothing (once per refused request);
        False if the enrolment is gone (merged, erased) or has it already."""
        result = await self._enrolments.update_one(
            {"_id": enrolment_id, "step_problems.request_id": {"$ne": problem.request_id}},
            {
                "$push": {
                    "step_problems": {
                        "$each": [problem.model_dump()],
                        "$slice": -MAX_STEP_PROBLEMS,
                    }
                }
            },
            session=session,
        )
        return result.modified_count == 1

    async def of_candidate(self, candidate_id: str) -> list[Enrolment]:
        documents = await self._enrolments.find(
            {"candidate_id": candidate_id}, sort=[("_id", ASCENDING)]
        )
        return [from_document(Enrolment, d) for d in documents]


def _state_query(state: EnrolmentState) -> dict[str, Any]:
    """The stored enrolments in `state`: `active` ones are due now, `waiting` ones later."""
    if state is EnrolmentState.ACTIVE:
        return {"status": EnrolmentStatus.ACTIVE.value, "next_run_at": {"$lte": utc_now()}}
    if state is EnrolmentState.WAITING:
        return {"status": EnrolmentStatus.ACTIVE.value, "next_run_at": {"$gt": utc_now()}}
    return {"status": state.value}


def _further_along(mine: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Whether enrolment `mine` got further than `theirs`: more steps executed, or as many and
    enrolled earlier."""
    mine_steps = int(mine.get("step_count", mine.get("step_index", 0)))
    their_steps = int(theirs.get("step_count", theirs.get("step_index", 0)))
    if mine_steps != their_steps:
        return mine_steps > their_steps
    return bool(mine["enrolled_at"] <= theirs["enrolled_at"])
