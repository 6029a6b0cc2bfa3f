"""FastAPI dependencies of the campaigns API: the container and the caller's tenant's use
cases (built by `application/tenant.py`; routes never see a repository)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from crm_campaigns.application.broadcast_book import BroadcastBook
from crm_campaigns.application.enrolments import SequenceEnrolments
from crm_campaigns.application.governance import ContactPolicies, SuppressionList
from crm_campaigns.application.inbox import MessageLog, Notifications
from crm_campaigns.application.library import BlockLibrary, TemplateLibrary
from crm_campaigns.application.tenant import TenantUseCases
from crm_campaigns.container import CampaignsContainer
from crm_shared import CurrentPrincipal


def container(request: Request) -> CampaignsContainer:
    """What `create_app` built for this app."""
    built: CampaignsContainer = request.app.state.container
    return built


Container = Annotated[CampaignsContainer, Depends(container)]


def tenant_use_cases(built: Container, principal: CurrentPrincipal) -> TenantUseCases:
    """FastAPI dependency: the use cases of the caller's tenant (one per request)."""
    return TenantUseCases(built, principal.tenant_id)


Tenant = Annotated[TenantUseCases, Depends(tenant_use_cases)]


def template_library(tenant: Tenant) -> TemplateLibrary:
    """FastAPI dependency: the caller's tenant's templates."""
    return tenant.template_library()


def block_library(tenant: Tenant) -> BlockLibrary:
    """FastAPI dependency: the caller's tenant's reusable blocks."""
    return tenant.block_library()


def sequence_enrolments(tenant: Tenant) -> SequenceEnrolments:
    """FastAPI dependency: the caller's tenant's sequences and their enrolments."""
    return tenant.sequence_enrolments()


def broadcast_book(tenant: Tenant) -> BroadcastBook:
    """FastAPI dependency: the caller's tenant's broadcasts."""
    return tenant.broadcast_book()


def message_log(tenant: Tenant) -> MessageLog:
    """FastAPI dependency: the caller's tenant's messages."""
    return tenant.message_log()


def notifications(tenant: Tenant) -> Notifications:
    """FastAPI dependency: the notifications of the caller's tenant's users."""
    return tenant.notifications()


def suppression_list(tenant: Tenant) -> SuppressionList:
    """FastAPI dependency: the caller's tenant's suppression list."""
    return tenant.suppression_list()


def contact_policies(tenant: Tenant) -> ContactPolicies:
    """FastAPI dependency: the caller's tenant's contact policy."""
    return tenant.contact_policies()


TemplatesDep = Annotated[TemplateLibrary, Depends(template_library)]
BlocksDep = Annotated[BlockLibrary, Depends(block_library)]
SequencesDep = Annotated[SequenceEnrolments, Depends(sequence_enrolments)]
BroadcastsDep = Annotated[BroadcastBook, Depends(broadcast_book)]
MessagesDep = Annotated[MessageLog, Depends(message_log)]
NotificationsDep = Annotated[Notifications, Depends(notifications)]
SuppressionListDep = Annotated[SuppressionList, Depends(suppression_list)]
ContactPoliciesDep = Annotated[ContactPolicies, Depends(contact_policies)]
