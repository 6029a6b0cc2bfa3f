"""Campaigns' copy of the tenant's custom field definitions, which templates may merge."""

from __future__ import annotations

from crm_campaigns.domain.models import CustomField
from crm_campaigns.repositories.custom_fields import CustomFieldRepository
from crm_shared import CustomFieldChanged, Database, Session


async def learn_custom_field(
    database: Database, tenant_id: str, changed: CustomFieldChanged, session: Session
) -> None:
    """Keeps one field's definition as the candidates service last announced it."""
    field = CustomField(tenant_id=tenant_id, **changed.model_dump())
    await CustomFieldRepository(database, tenant_id).learn(field, session=session)
