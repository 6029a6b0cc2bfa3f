"""The use cases of one tenant, built per request from what `create_app` built.

The HTTP edge asks this one place for a tenant's use cases, so it never builds (or sees) a
repository: `api/deps.py` turns the caller's verified identity into a `TenantUseCases` and each
route receives the named use case it calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from crm_candidates.application.candidates import (
    CandidateProfiles,
    CandidateQueries,
    CandidateWriter,
)
from crm_candidates.application.consent_flags import ConsentFlags
from crm_candidates.application.consents import ConsentService
from crm_candidates.application.imports import ImportRecords, ImportUploads
from crm_candidates.application.lists import ListCommands, ListQueries
from crm_candidates.application.merges import IdentityQueries, MergeWriter
from crm_candidates.application.notes import CandidateNotes
from crm_candidates.application.pools import PoolCommands, PoolDefinitions
from crm_candidates.application.profile_settings import ProfileConfiguration
from crm_candidates.application.segments import SegmentDefinitions, SegmentQueries
from crm_candidates.container import CandidatesContainer
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.consents import ConsentRepository, SettingsRepository
from crm_candidates.repositories.imports import ImportRepository
from crm_candidates.repositories.lists import ListRepository
from crm_candidates.repositories.merges import MergeRepository
from crm_candidates.repositories.notes import NoteRepository
from crm_candidates.repositories.pools import PoolRepository
from crm_candidates.repositories.profile_rules import ProfileRulesRepository
from crm_candidates.repositories.segments import SegmentRepository
from crm_candidates.repositories.sequence_references import SequenceReferenceRepository
from crm_candidates.repositories.skill_renormalisations import SkillRenormalisationRepository
from crm_candidates.repositories.timeline import TimelineRepository


@dataclass(frozen=True)
class TenantUseCases:
    """Every use case of one tenant's candidates, each built on first use; the repositories
    they share are built once per instance (one request)."""

    container: CandidatesContainer
    tenant_id: str
    # The person calling, who records a consent they set on a profile (`ConsentFlags`).
    user_id: str | None = None

    @cached_property
    def _candidates(self) -> CandidateRepository:
        return CandidateRepository(
            self.container.database, self.tenant_id, key_ends=self.container.list_key_ends
        )

    @cached_property
    def _segments(self) -> SegmentRepository:
        return SegmentRepository(self.container.database, self.tenant_id)

    @cached_property
    def _profile_rules(self) -> ProfileRulesRepository:
        return ProfileRulesRepository(self.container.database, self.tenant_id)

    @cached_property
    def _pools(self) -> PoolRepository:
        return PoolRepository(self.container.database, self.tenant_id)

    @cached_property
    def _lists(self) -> ListRepository:
        return ListRepository(self.container.database, self.tenant_id)

    @cached_property
    def _merges(self) -> MergeRepository:
        return MergeRepository(self.container.database, self.tenant_id)

    @cached_property
    def _imports(self) -> ImportRepository:
        return ImportRepository(self.container.database, self.tenant_id)

    @cached_property
    def writer(self) -> CandidateWriter:
        return CandidateWriter(
            self.container.mongo,
            self.container.outbox,
            self._candidates,
            self._segments,
            ConsentFlags(
                self.container.database,
                self.container.outbox,
                self.tenant_id,
                recorded_by=self.user_id,
            ),
        )

    def candidate_profiles(self) -> CandidateProfiles:
        return CandidateProfiles(self.writer, self._profile_rules)

    def candidate_queries(self) -> CandidateQueries:
        return CandidateQueries(
            self._candidates,
            self._profile_rules,
            TimelineRepository(self.container.database, self.tenant_id),
            self._pools,
        )

    def segment_definitions(self) -> SegmentDefinitions:
        return SegmentDefinitions(
            self._segments,
            SequenceReferenceRepository(self.container.database, self.tenant_id),
            self.container.segment_jobs,
            self._profile_rules,
            self._pools,
        )

    def segment_queries(self) -> SegmentQueries:
        return SegmentQueries(self._segments, self._candidates)

    def merge_writer(self) -> MergeWriter:
        return MergeWriter(
            self.writer,
            self._merges,
            ConsentRepository(self.container.database, self.tenant_id),
            SettingsRepository(self.container.database, self.tenant_id),
        )

    def identity_queries(self) -> IdentityQueries:
        return IdentityQueries(self._candidates, self._merges)

    def import_uploads(self) -> ImportUploads:
        return ImportUploads(self._imports, self.container.upload_store, self.container.import_jobs)

    def import_records(self) -> ImportRecords:
        return ImportRecords(self._imports, self._candidates)

    def list_commands(self) -> ListCommands:
        return ListCommands(
            self.container.mongo, self.container.outbox, self._lists, self._candidates
        )

    def list_queries(self) -> ListQueries:
        return ListQueries(self._lists, self._candidates)

    def pool_commands(self) -> PoolCommands:
        return PoolCommands(
            self.container.mongo,
            self.container.outbox,
            self._pools,
            self.writer,
            SequenceReferenceRepository(self.container.database, self.tenant_id),
        )

    def pool_definitions(self) -> PoolDefinitions:
        return PoolDefinitions(
            self.container.mongo,
            self.container.outbox,
            self._pools,
            self._candidates,
            self._segments,
            SequenceReferenceRepository(self.container.database, self.tenant_id),
        )

    def candidate_notes(self) -> CandidateNotes:
        return CandidateNotes(
            self.container.mongo,
            self._candidates,
            NoteRepository(self.container.database, self.tenant_id),
            TimelineRepository(self.container.database, self.tenant_id),
        )

    def profile_configuration(self) -> ProfileConfiguration:
        return ProfileConfiguration(
            self.container.mongo,
            self.container.outbox,
            self._profile_rules,
            self._segments,
            SkillRenormalisationRepository(self.container.database, self.tenant_id),
            self.container.skill_jobs,
        )

    def consent_service(self) -> ConsentService:
        return ConsentService(
            self.container.mongo,
            self.container.database,
            self.container.outbox,
            self.tenant_id,
            self.container.consent_links,
            self.container.confirmation_policy,
            self.container.signup_locks,
        )
