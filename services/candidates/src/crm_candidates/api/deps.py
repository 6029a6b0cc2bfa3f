"""FastAPI dependencies of the candidates API: the caller's tenant's repositories."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from crm_candidates.application.candidates import (
    CandidateProfiles,
    CandidateQueries,
    CandidateWriter,
)
from crm_candidates.application.consents import ConsentService
from crm_candidates.application.imports import ImportUploads
from crm_candidates.application.lists import ListCommands, ListQueries
from crm_candidates.application.merges import IdentityQueries, MergeWriter
from crm_candidates.application.notes import CandidateNotes
from crm_candidates.application.pools import PoolCommands, PoolDefinitions
from crm_candidates.application.profile_settings import ProfileConfiguration
from crm_candidates.application.segments import SegmentDefinitions, SegmentQueries
from crm_candidates.container import CandidatesContainer
from crm_candidates.repositories.candidates import CandidateRepository
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
from crm_shared import CurrentPrincipal, Database


def container_of(request: Request) -> CandidatesContainer:
    """What create_app built, typed: the one place the app's state is read."""
    container: CandidatesContainer = request.app.state.container
    return container


Container = Annotated[CandidatesContainer, Depends(container_of)]


def _database(request: Request) -> Database:
    return container_of(request).database


def candidate_repository(request: Request, principal: CurrentPrincipal) -> CandidateRepository:
    """FastAPI dependency: the candidates of the caller's tenant."""
    return CandidateRepository(_database(request), principal.tenant_id)


def segment_repository(request: Request, principal: CurrentPrincipal) -> SegmentRepository:
    """FastAPI dependency: the segments of the caller's tenant."""
    return SegmentRepository(_database(request), principal.tenant_id)


def profile_rules_repository(
    request: Request, principal: CurrentPrincipal
) -> ProfileRulesRepository:
    """FastAPI dependency: the profile settings and custom fields of the caller's tenant."""
    return ProfileRulesRepository(_database(request), principal.tenant_id)


def note_repository(request: Request, principal: CurrentPrincipal) -> NoteRepository:
    """FastAPI dependency: the notes of the caller's tenant."""
    return NoteRepository(_database(request), principal.tenant_id)


def pool_repository(request: Request, principal: CurrentPrincipal) -> PoolRepository:
    """FastAPI dependency: the talent pools of the caller's tenant."""
    return PoolRepository(_database(request), principal.tenant_id)


ProfileRulesRepo = Annotated[ProfileRulesRepository, Depends(profile_rules_repository)]
NotesRepo = Annotated[NoteRepository, Depends(note_repository)]
PoolsRepo = Annotated[PoolRepository, Depends(pool_repository)]


def merge_repository(request: Request, principal: CurrentPrincipal) -> MergeRepository:
    """FastAPI dependency: the merges of the caller's tenant."""
    return MergeRepository(_database(request), principal.tenant_id)


CandidatesRepo = Annotated[CandidateRepository, Depends(candidate_repository)]
MergesRepo = Annotated[MergeRepository, Depends(merge_repository)]
SegmentsRepo = Annotated[SegmentRepository, Depends(segment_repository)]


def segment_definitions(
    request: Request, principal: CurrentPrincipal, segments: SegmentsRepo
) -> SegmentDefinitions:
    """FastAPI dependency: the segment definitions of the caller's tenant."""
    container = container_of(request)
    return SegmentDefinitions(
        segments,
        SequenceReferenceRepository(container.database, principal.tenant_id),
        container.segment_jobs,
    )


SegmentDefinitionsDep = Annotated[SegmentDefinitions, Depends(segment_definitions)]


def timeline_repository(request: Request, principal: CurrentPrincipal) -> TimelineRepository:
    """FastAPI dependency: the timelines of the caller's tenant."""
    return TimelineRepository(_database(request), principal.tenant_id)


TimelineRepo = Annotated[TimelineRepository, Depends(timeline_repository)]


def candidate_queries(
    candidates: CandidatesRepo, profile_rules: ProfileRulesRepo, timeline: TimelineRepo
) -> CandidateQueries:
    """FastAPI dependency: the reads of the caller's tenant's candidates."""
    return CandidateQueries(candidates, profile_rules, timeline)


CandidateQueriesDep = Annotated[CandidateQueries, Depends(candidate_queries)]


def segment_queries(segments: SegmentsRepo, candidates: CandidatesRepo) -> SegmentQueries:
    """FastAPI dependency: the reads of the caller's tenant's segments."""
    return SegmentQueries(segments, candidates)


SegmentQueriesDep = Annotated[SegmentQueries, Depends(segment_queries)]


def import_repository(request: Request, principal: CurrentPrincipal) -> ImportRepository:
    """FastAPI dependency: the imports of the caller's tenant."""
    return ImportRepository(_database(request), principal.tenant_id)


ImportsRepo = Annotated[ImportRepository, Depends(import_repository)]


def import_uploads(request: Request, imports: ImportsRepo) -> ImportUploads:
    """FastAPI dependency: receiving the files of the caller's tenant's imports."""
    container = container_of(request)
    return ImportUploads(imports, container.upload_store, container.import_jobs)


ImportUploadsDep = Annotated[ImportUploads, Depends(import_uploads)]


def list_repository(request: Request, principal: CurrentPrincipal) -> ListRepository:
    """FastAPI dependency: the caller's tenant's stored lists."""
    return ListRepository(_database(request), principal.tenant_id)


ListsRepo = Annotated[ListRepository, Depends(list_repository)]


def candidate_writer(
    request: Request, candidates: CandidatesRepo, segments: SegmentsRepo
) -> CandidateWriter:
    """FastAPI dependency: the writer of the caller's tenant's candidates."""
    container = container_of(request)
    return CandidateWriter(container.mongo, container.outbox, candidates, segments)


Writer = Annotated[CandidateWriter, Depends(candidate_writer)]


def candidate_profiles(writer: Writer, profile_rules: ProfileRulesRepo) -> CandidateProfiles:
    """FastAPI dependency: the profile use cases of the caller's tenant's candidates."""
    return CandidateProfiles(writer, profile_rules)


CandidateProfilesDep = Annotated[CandidateProfiles, Depends(candidate_profiles)]


def merge_writer(writer: Writer, merges: MergesRepo) -> MergeWriter:
    """FastAPI dependency: merging the caller's tenant's records and undoing merges."""
    return MergeWriter(writer, merges)


MergeWriterDep = Annotated[MergeWriter, Depends(merge_writer)]


def identity_queries(candidates: CandidatesRepo, merges: MergesRepo) -> IdentityQueries:
    """FastAPI dependency: the caller's tenant's duplicate suspects and merges."""
    return IdentityQueries(candidates, merges)


IdentityQueriesDep = Annotated[IdentityQueries, Depends(identity_queries)]


def pool_commands(request: Request, pools: PoolsRepo, writer: Writer) -> PoolCommands:
    """FastAPI dependency: the commands of the caller's tenant's talent pools."""
    container = container_of(request)
    return PoolCommands(container.mongo, container.outbox, pools, writer)


PoolCommandsDep = Annotated[PoolCommands, Depends(pool_commands)]


def list_commands(request: Request, lists: ListsRepo, candidates: CandidatesRepo) -> ListCommands:
    """FastAPI dependency: the use cases of the caller's tenant's stored lists."""
    container = container_of(request)
    return ListCommands(container.mongo, container.outbox, lists, candidates)


ListCommandsDep = Annotated[ListCommands, Depends(list_commands)]


def list_queries(lists: ListsRepo, candidates: CandidatesRepo) -> ListQueries:
    """FastAPI dependency: the reads of the caller's tenant's stored lists."""
    return ListQueries(lists, candidates)


ListQueriesDep = Annotated[ListQueries, Depends(list_queries)]


def consent_service(request: Request, tenant_id: str) -> ConsentService:
    """The consent operations of one tenant."""
    container = container_of(request)
    return ConsentService(
        container.mongo,
        container.database,
        container.outbox,
        tenant_id,
        container.consent_links,
        container.confirmation_policy,
    )


def pool_definitions(
    pools: PoolsRepo, candidates: CandidatesRepo, segments: SegmentsRepo
) -> PoolDefinitions:
    """FastAPI dependency: the definitions and reads of the caller's tenant's talent pools."""
    return PoolDefinitions(pools, candidates, segments)


PoolDefinitionsDep = Annotated[PoolDefinitions, Depends(pool_definitions)]


def candidate_notes(candidates: CandidatesRepo, notes: NotesRepo) -> CandidateNotes:
    """FastAPI dependency: the notes on the caller's tenant's candidates."""
    return CandidateNotes(candidates, notes)


CandidateNotesDep = Annotated[CandidateNotes, Depends(candidate_notes)]


def profile_configuration(
    request: Request,
    principal: CurrentPrincipal,
    profile_rules: ProfileRulesRepo,
    segments: SegmentsRepo,
) -> ProfileConfiguration:
    """FastAPI dependency: the caller's tenant's profile settings, vocabulary, custom fields."""
    container = container_of(request)
    return ProfileConfiguration(
        profile_rules,
        segments,
        SkillRenormalisationRepository(container.database, principal.tenant_id),
        container.skill_jobs,
    )


ProfileConfigurationDep = Annotated[ProfileConfiguration, Depends(profile_configuration)]
