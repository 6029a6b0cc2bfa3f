"""Subscribers to the candidates service's events."""

from __future__ import annotations

from crm_events.application.candidates import CandidateFacts
from crm_events.application.storage import EventsStorage
from crm_shared.candidate_subscribers import CandidateSubscribers, CandidateTopicDescriptions


def candidate_subscribers(storage: EventsStorage) -> CandidateSubscribers:
    """The service's copy of candidates, kept current from the candidates topics."""
    return CandidateSubscribers(
        CandidateFacts(storage),
        CandidateTopicDescriptions(
            merged="Moves a merged candidate's registrations and addresses to the survivor.",
            unmerged="Moves back the registrations a merge moved; relearns both addresses.",
            created="Learns which email belongs to which candidate, to match registrants; "
            "announces the attendance of walk-ins nobody knew before.",
            updated="Keeps the email-to-candidate directory current.",
        ),
    )
