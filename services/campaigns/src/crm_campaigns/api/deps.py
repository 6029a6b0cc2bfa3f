"""FastAPI dependencies of the campaigns API: the container and tenant-scoped repositories."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from crm_campaigns.container import CampaignsContainer
from crm_campaigns.repositories.blocks import BlockRepository
from crm_campaigns.repositories.broadcasts import BroadcastRepository
from crm_campaigns.repositories.contact_policies import ContactPolicyRepository
from crm_campaigns.repositories.enrolments import EnrolmentRepository
from crm_campaigns.repositories.lists import StoredListRepository
from crm_campaigns.repositories.messages import MessageRepository
from crm_campaigns.repositories.notifications import NotificationRepository
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_campaigns.repositories.sequences import SequenceRepository
from crm_campaigns.repositories.suppressions import SuppressionRepository
from crm_campaigns.repositories.templates import TemplateRepository
from crm_shared import CurrentPrincipal


def container(request: Request) -> CampaignsContainer:
    """What `create_app` built for this app."""
    built: CampaignsContainer = request.app.state.container
    return built


Container = Annotated[CampaignsContainer, Depends(container)]


def _scoped(factory: Any) -> Any:
    def dependency(built: Container, principal: CurrentPrincipal) -> Any:
        return factory(built.database, principal.tenant_id)

    return Depends(dependency)


TemplatesRepo = Annotated[TemplateRepository, _scoped(TemplateRepository)]
StoredListsRepo = Annotated[StoredListRepository, _scoped(StoredListRepository)]
SequencesRepo = Annotated[SequenceRepository, _scoped(SequenceRepository)]
EnrolmentsRepo = Annotated[EnrolmentRepository, _scoped(EnrolmentRepository)]
MessagesRepo = Annotated[MessageRepository, _scoped(MessageRepository)]
RecipientsRepo = Annotated[RecipientRepository, _scoped(RecipientRepository)]
BlocksRepo = Annotated[BlockRepository, _scoped(BlockRepository)]
BroadcastsRepo = Annotated[BroadcastRepository, _scoped(BroadcastRepository)]
NotificationsRepo = Annotated[NotificationRepository, _scoped(NotificationRepository)]
SuppressionsRepo = Annotated[SuppressionRepository, _scoped(SuppressionRepository)]
ContactPoliciesRepo = Annotated[ContactPolicyRepository, _scoped(ContactPolicyRepository)]
