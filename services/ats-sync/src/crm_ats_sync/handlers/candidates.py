"""Subscribers to the candidates service's events."""

from __future__ import annotations

from crm_ats_sync.application.candidates import CandidateFacts
from crm_ats_sync.application.storage import AtsStorage
from crm_shared.candidate_subscribers import CandidateSubscribers, CandidateTopicDescriptions


def candidate_subscribers(storage: AtsStorage) -> CandidateSubscribers:
    """The service's copy of candidates, kept current from the candidates topics."""
    return CandidateSubscribers(
        CandidateFacts(storage),
        CandidateTopicDescriptions(
            merged="Moves a merged candidate's applications and addresses to the survivor.",
            unmerged="Moves back the applications a merge moved; relearns both addresses.",
            created="Learns candidates' emails, to match ATS applicants to them; links the "
            "applications stored under them before.",
            updated="Keeps the email-to-candidate directory current; links the applications "
            "stored under a new address.",
        ),
    )
