"""FastAPI dependencies of the candidates API: the container and the caller's tenant's use
cases (built by `application/tenant.py`; routes never see a repository)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from crm_candidates.application.candidates import (
    CandidateProfiles,
    CandidateQueries,
    CandidateWriter,
)
from crm_candidates.application.consents import ConsentService
from crm_candidates.application.imports import ImportRecords, ImportUploads
from crm_candidates.application.lists import ListCommands, ListQueries
from crm_candidates.application.merges import IdentityQueries, MergeWriter
from crm_candidates.application.notes import CandidateNotes
from crm_candidates.application.pools import PoolCommands, PoolDefinitions
from crm_candidates.application.profile_settings import ProfileConfiguration
from crm_candidates.application.segments import SegmentDefinitions, SegmentQueries
from crm_candidates.application.tenant import TenantUseCases
from crm_candidates.container import CandidatesContainer
from crm_shared import CurrentPrincipal


def container_of(request: Request) -> CandidatesContainer:
    """What create_app built, typed: the one place the app's state is read."""
    container: CandidatesContainer = request.app.state.container
    return container


async def _container(request: Request) -> CandidatesContainer:
    # Asynchronous, as every dependency here: FastAPI runs a plain function in a worker thread.
    return container_of(request)


Container = Annotated[CandidatesContainer, Depends(_container)]


async def tenant_use_cases(container: Container, principal: CurrentPrincipal) -> TenantUseCases:
    """FastAPI dependency: the use cases of the caller's tenant (one per request)."""
    return TenantUseCases(container, principal.tenant_id, principal.user_id)


Tenant = Annotated[TenantUseCases, Depends(tenant_use_cases)]


async def candidate_writer(tenant: Tenant) -> CandidateWriter:
    """FastAPI dependency: the writer of the caller's tenant's candidates."""
    return tenant.writer


async def candidate_profiles(tenant: Tenant) -> CandidateProfiles:
    """FastAPI dependency: the profile use cases of the caller's tenant's candidates."""
    return tenant.candidate_profiles()


async def candidate_queries(tenant: Tenant) -> CandidateQueries:
    """FastAPI dependency: the reads of the caller's tenant's candidates."""
    return tenant.candidate_queries()


async def segment_definitions(tenant: Tenant) -> SegmentDefinitions:
    """FastAPI dependency: the segment definitions of the caller's tenant."""
    return tenant.segment_definitions()


async def segment_queries(tenant: Tenant) -> SegmentQueries:
    """FastAPI dependency: the reads of the caller's tenant's segments."""
    return tenant.segment_queries()


async def merge_writer(tenant: Tenant) -> MergeWriter:
    """FastAPI dependency: merging the caller's tenant's records and undoing merges."""
    return tenant.merge_writer()


async def identity_queries(tenant: Tenant) -> IdentityQueries:
    """FastAPI dependency: the caller's tenant's duplicate suspects and merges."""
    return tenant.identity_queries()


async def import_uploads(tenant: Tenant) -> ImportUploads:
    """FastAPI dependency: receiving the files of the caller's tenant's imports."""
    return tenant.import_uploads()


async def import_records(tenant: Tenant) -> ImportRecords:
    """FastAPI dependency: creating and reading the caller's tenant's imports."""
    return tenant.import_records()


async def list_commands(tenant: Tenant) -> ListCommands:
    """FastAPI dependency: the use cases of the caller's tenant's stored lists."""
    return tenant.list_commands()


async def list_queries(tenant: Tenant) -> ListQueries:
    """FastAPI dependency: the reads of the caller's tenant's stored lists."""
    return tenant.list_queries()


async def pool_commands(tenant: Tenant) -> PoolCommands:
    """FastAPI dependency: the commands of the caller's tenant's talent pools."""
    return tenant.pool_commands()


async def pool_definitions(tenant: Tenant) -> PoolDefinitions:
    """FastAPI dependency: the definitions and reads of the caller's tenant's talent pools."""
    return tenant.pool_definitions()


async def candidate_notes(tenant: Tenant) -> CandidateNotes:
    """FastAPI dependency: the notes on the caller's tenant's candidates."""
    return tenant.candidate_notes()


async def profile_configuration(tenant: Tenant) -> ProfileConfiguration:
    """FastAPI dependency: the caller's tenant's profile settings, vocabulary, custom fields."""
    return tenant.profile_configuration()


Writer = Annotated[CandidateWriter, Depends(candidate_writer)]
CandidateProfilesDep = Annotated[CandidateProfiles, Depends(candidate_profiles)]
CandidateQueriesDep = Annotated[CandidateQueries, Depends(candidate_queries)]
SegmentDefinitionsDep = Annotated[SegmentDefinitions, Depends(segment_definitions)]
SegmentQueriesDep = Annotated[SegmentQueries, Depends(segment_queries)]
MergeWriterDep = Annotated[MergeWriter, Depends(merge_writer)]
IdentityQueriesDep = Annotated[IdentityQueries, Depends(identity_queries)]
ImportUploadsDep = Annotated[ImportUploads, Depends(import_uploads)]
ImportRecordsDep = Annotated[ImportRecords, Depends(import_records)]
ListCommandsDep = Annotated[ListCommands, Depends(list_commands)]
ListQueriesDep = Annotated[ListQueries, Depends(list_queries)]
PoolCommandsDep = Annotated[PoolCommands, Depends(pool_commands)]
PoolDefinitionsDep = Annotated[PoolDefinitions, Depends(pool_definitions)]
CandidateNotesDep = Annotated[CandidateNotes, Depends(candidate_notes)]
ProfileConfigurationDep = Annotated[ProfileConfiguration, Depends(profile_configuration)]


def consent_service(request: Request, tenant_id: str) -> ConsentService:
    """The consent operations of one tenant (the public routes' tenant comes from a signed
    link, not from a caller's identity)."""
    return TenantUseCases(container_of(request), tenant_id).consent_service()
