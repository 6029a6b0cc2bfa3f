"""Everything `create_app` builds for the candidates service, typed, in one place: routes reach
it through `api/deps.py`, handlers and workers are given their parts."""

from __future__ import annotations

from dataclasses import dataclass

from crm_candidates.application.ats_applications import AtsApplications
from crm_candidates.application.change_requests import ChangeRequests
from crm_candidates.application.consents import ConfirmationPolicy
from crm_candidates.application.erasure import CandidateEraser
from crm_candidates.application.expiry import ConsentExpiryWorker
from crm_candidates.application.facts import CandidateFacts
from crm_candidates.application.imports import ImportJobs
from crm_candidates.application.segments import SegmentJobs, SegmentRechecks
from crm_candidates.application.skills import SkillRenormalisations
from crm_shared import (
    Database,
    KeyedLocks,
    MongoClient,
    Outbox,
    Quotas,
    SignedLinks,
    UploadStore,
)
from crm_shared.windows import KeyEnds


@dataclass(frozen=True)
class CandidatesContainer:
    """The clients, use cases and background jobs of one candidates service process."""

    mongo: MongoClient
    database: Database
    outbox: Outbox
    quotas: Quotas
    upload_store: UploadStore
    consent_links: SignedLinks
    confirmation_policy: ConfirmationPolicy
    segment_jobs: SegmentJobs
    segment_rechecks: SegmentRechecks
    skill_jobs: SkillRenormalisations
    import_jobs: ImportJobs
    consent_expiry: ConsentExpiryWorker
    candidate_eraser: CandidateEraser
    candidate_facts: CandidateFacts
    ats_applications: AtsApplications
    change_requests: ChangeRequests
    signup_locks: KeyedLocks
    # Where the candidate list's ascending first pages begin (`crm_shared.windows`).
    list_key_ends: KeyEnds
