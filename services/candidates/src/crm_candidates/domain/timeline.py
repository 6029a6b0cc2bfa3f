"""The activity timeline: what each event about a candidate adds to it."""

from __future__ import annotations

from typing import Any

from crm_candidates.domain.models import TimelineEntry
from crm_candidates.domain.notes import Note
from crm_shared import EventEnvelope

# Contact details stay in the profile; the timeline says what happened, not who to reach.
CONTACT_FIELDS = frozenset({"email", "first_name", "last_name"})
# Carried for the mail that follows (a calendar invitation), not something that happened.
ATTACHMENT_FIELDS = frozenset({"invitation_ics"})


def timeline_entry(envelope: EventEnvelope[Any], candidate_id: str) -> TimelineEntry:
    """The timeline entry an event makes for a candidate, keyed by the event's id."""
    data = envelope.data.model_dump(mode="json", exclude=set(CONTACT_FIELDS | ATTACHMENT_FIELDS))
    data.pop("candidate_id", None)
    return TimelineEntry(
        event_id=str(envelope.id),
        candidate_id=candidate_id,
        type=envelope.type,
        source=envelope.source,
        occurred_at=envelope.time,
        data=data,
    )


# Kinds the candidates service writes itself, in the transaction of the change: no other
# service publishes them, and the change and its entry must never disagree.
TAGS_CHANGED = "candidate.tags_changed"
NOTE_ADDED = "note.added"
IMPORTED = "candidate.imported"
MERGED = "candidate.merged"
UNMERGED = "candidate.unmerged"
SOURCE = "candidates"


def tags_changed_entry(
    envelope: EventEnvelope[Any], before: list[str], after: list[str]
) -> TimelineEntry | None:
    """The entry of a `candidate.updated` that added or removed tags; None if the tags did not
    change. Keyed by that event's id: one change, one entry."""
    added = [tag for tag in after if tag not in before]
    removed = [tag for tag in before if tag not in after]
    if not added and not removed:
        return None
    return TimelineEntry(
        event_id=str(envelope.id),
        candidate_id=envelope.subject,
        type=TAGS_CHANGED,
        source=SOURCE,
        occurred_at=envelope.time,
        data={"added": added, "removed": removed},
    )


def note_added_entry(note: Note) -> TimelineEntry:
    """A note on the candidate, keyed by the note's id (a note is never edited). The text stays
    in the notes: the entry says who wrote one and when."""
    return TimelineEntry(
        event_id=f"note-{note.id}",
        candidate_id=note.candidate_id,
        type=NOTE_ADDED,
        source=SOURCE,
        occurred_at=note.created_at,
        data={"note_id": note.id, "author_id": note.author_id},
    )


def imported_entry(envelope: EventEnvelope[Any], import_id: str, *, created: bool) -> TimelineEntry:
    """The entry of a `candidate.created` or `candidate.updated` an import's row made."""
    return TimelineEntry(
        event_id=str(envelope.id),
        candidate_id=envelope.subject,
        type=IMPORTED,
        source=SOURCE,
        occurred_at=envelope.time,
        data={"import_id": import_id, "outcome": "created" if created else "updated"},
    )


def merge_entries(envelope: EventEnvelope[Any]) -> list[TimelineEntry]:
    """The entries of a `candidate.merged` or `candidate.unmerged`: one on each record, each
    naming the other. The survivor's is keyed by the event id, the other's by the event id
    and `/other` (an entry names one candidate)."""
    data = envelope.data
    survivor = data.survivor_candidate_id
    other = data.merged_candidate_id if envelope.type == MERGED else data.restored_candidate_id
    other_role = "merged" if envelope.type == MERGED else "restored"
    return [
        TimelineEntry(
            event_id=event_id,
            candidate_id=candidate_id,
            type=envelope.type,
            source=SOURCE,
            occurred_at=envelope.time,
            data={
                "merge_id": data.merge_id,
                "survivor_candidate_id": survivor,
                "other_candidate_id": named,
                "role": role,
            },
        )
        for event_id, candidate_id, named, role in (
            (str(envelope.id), survivor, other, "survivor"),
            (f"{envelope.id}/other", other, survivor, other_role),
        )
    ]
