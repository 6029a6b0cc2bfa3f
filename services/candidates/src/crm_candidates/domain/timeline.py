"""The activity timeline: what each event about a candidate adds to it."""

from __future__ import annotations

from typing import Any

from crm_candidates.domain.models import TimelineEntry
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
