"""Custom fields: campaigns' projection of the tenant's custom field definitions."""

from __future__ import annotations

from pymongo import ASCENDING

from crm_campaigns.domain.models import CustomField
from crm_campaigns.repositories.collections import CUSTOM_FIELDS
from crm_shared import Database, Session, TenantScopedCollection, as_utc


class CustomFieldRepository:
    """One tenant's custom fields as the candidates service last announced them."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._fields = TenantScopedCollection(database[CUSTOM_FIELDS], tenant_id)

    async def learn(self, field: CustomField, *, session: Session) -> None:
        """Stores a field's definition unless a newer one is held (a redelivered older change
        must not bring back an old state). Read, then write: in the consumer's transaction."""
        held = await self._fields.find_one({"key": field.key}, session=session)
        if held is not None and as_utc(held["changed_at"]) > as_utc(field.changed_at):
            return
        await self._fields.update_one(
            {"key": field.key},
            {"$set": field.model_dump(exclude={"tenant_id"})},
            upsert=True,
            session=session,
        )

    async def all(self) -> list[CustomField]:
        """Every field, deleted ones too, by key."""
        documents = await self._fields.find({}, sort=[("key", ASCENDING)])
        return [CustomField.model_validate(document) for document in documents]
