"""The use cases of one tenant, built per request from what `create_app` built.

The HTTP edge asks this one place for a tenant's use cases, so it never builds (or sees) a
repository: `api/deps.py` turns the caller's verified identity into a `TenantUseCases`.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm_campaigns.application.broadcast_book import BroadcastBook
from crm_campaigns.application.enrolments import SequenceEnrolments
from crm_campaigns.application.governance import ContactPolicies, SuppressionList
from crm_campaigns.application.inbox import MessageLog, Notifications
from crm_campaigns.application.library import BlockLibrary, TemplateLibrary
from crm_campaigns.container import CampaignsContainer
from crm_campaigns.repositories.blocks import BlockRepository
from crm_campaigns.repositories.broadcasts import BroadcastRepository
from crm_campaigns.repositories.contact_policies import ContactPolicyRepository
from crm_campaigns.repositories.custom_fields import CustomFieldRepository
from crm_campaigns.repositories.enrolments import EnrolmentRepository
from crm_campaigns.repositories.jobs import JobRepository
from crm_campaigns.repositories.lists import StoredListRepository
from crm_campaigns.repositories.messages import MessageRepository
from crm_campaigns.repositories.notifications import NotificationRepository
from crm_campaigns.repositories.policy_releases import PolicyReleaseRepository
from crm_campaigns.repositories.pools import KnownPoolRepository
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_campaigns.repositories.sequences import SequenceRepository
from crm_campaigns.repositories.suppressions import SuppressionRepository
from crm_campaigns.repositories.templates import TemplateRepository


@dataclass(frozen=True)
class TenantUseCases:
    """Every use case one tenant's routes call, each built on demand."""

    container: CampaignsContainer
    tenant_id: str

    def _templates(self) -> TemplateRepository:
        return TemplateRepository(self.container.database, self.tenant_id)

    def _custom_fields(self) -> CustomFieldRepository:
        return CustomFieldRepository(self.container.database, self.tenant_id)

    def _blocks(self) -> BlockRepository:
        return BlockRepository(self.container.database, self.tenant_id)

    def template_library(self) -> TemplateLibrary:
        return TemplateLibrary(
            self._templates(),
            self._blocks(),
            RecipientRepository(self.container.database, self.tenant_id),
            JobRepository(self.container.database, self.tenant_id),
            self._custom_fields(),
            BroadcastRepository(self.container.database, self.tenant_id),
            SequenceRepository(self.container.database, self.tenant_id),
        )

    def block_library(self) -> BlockLibrary:
        return BlockLibrary(self._blocks(), self._templates(), self._custom_fields())

    def sequence_enrolments(self) -> SequenceEnrolments:
        return SequenceEnrolments(
            self.container.mongo,
            SequenceRepository(self.container.database, self.tenant_id),
            EnrolmentRepository(self.container.database, self.tenant_id),
            RecipientRepository(self.container.database, self.tenant_id),
        )

    def broadcast_book(self) -> BroadcastBook:
        return BroadcastBook(
            self.container.mongo,
            BroadcastRepository(self.container.database, self.tenant_id),
            self._templates(),
            StoredListRepository(self.container.database, self.tenant_id),
            self._custom_fields(),
            KnownPoolRepository(self.container.database, self.tenant_id),
        )

    def message_log(self) -> MessageLog:
        return MessageLog(
            MessageRepository(self.container.database, self.tenant_id),
            RecipientRepository(self.container.database, self.tenant_id),
        )

    def notifications(self) -> Notifications:
        return Notifications(NotificationRepository(self.container.database, self.tenant_id))

    def suppression_list(self) -> SuppressionList:
        return SuppressionList(
            SuppressionRepository(self.container.database, self.tenant_id),
            RecipientRepository(self.container.database, self.tenant_id),
        )

    def contact_policies(self) -> ContactPolicies:
        database = self.container.database
        return ContactPolicies(
            ContactPolicyRepository(database, self.tenant_id),
            PolicyReleaseRepository(database, self.tenant_id),
            self.container.policy_changed,
        )
