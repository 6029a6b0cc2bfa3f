"""Message templates."""

from __future__ import annotations

from collections.abc import Mapping

from pymongo import ASCENDING

from crm_campaigns.domain.models import (
    Template,
)
from crm_campaigns.repositories.collections import (
    TEMPLATES,
)
from crm_shared import (
    Database,
    Session,
    TenantScopedCollection,
    from_document,
    to_document,
    utc_now,
)


class TemplateRepository:
    """The tenant's templates."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._templates = TenantScopedCollection(database[TEMPLATES], tenant_id)

    async def add(self, template: Template) -> None:
        await self._templates.insert_one(to_document(template))

    async def get(self, template_id: str, *, session: Session | None = None) -> Template | None:
        document = await self._templates.find_one({"_id": template_id}, session=session)
        return from_document(Template, document) if document else None

    async def live(self, template_id: str) -> Template | None:
        """The template, unless it is unknown or archived (nothing new may use it)."""
        template = await self.get(template_id)
        return template if template is not None and template.archived_at is None else None

    async def all(self, *, include_archived: bool = False) -> list[Template]:
        query = {} if include_archived else {"archived_at": None}
        documents = await self._templates.find(query, sort=[("_id", ASCENDING)])
        return [from_document(Template, d) for d in documents]

    async def replace(
        self, template_id: str, version: int, parts: Mapping[str, str | None], *, updated_by: str
    ) -> bool:
        """Replaces a live template's name and parts if it is still at `version`."""
        result = await self._templates.update_one(
            {"_id": template_id, "version": version, "archived_at": None},
            {
                "$set": {**parts, "updated_by": updated_by, "updated_at": utc_now()},
                "$inc": {"version": 1},
            },
        )
        return result.modified_count == 1

    async def hold_live(self, template_id: str, *, session: Session) -> bool:
        """Records, in the caller's transaction, that something new uses the template; False if
        it is unknown or archived.

        The write is the point: archiving writes the same document, so a new use and an archive
        racing each other conflict, and the retried transaction sees the other's outcome (a
        sequence is never created on an archived template, nor a used template archived).
        """
        result = await self._templates.update_one(
            {"_id": template_id, "archived_at": None},
            {"$set": {"last_used_at": utc_now()}},
            session=session,
        )
        return result.matched_count == 1

    async def archive(self, template_id: str, *, session: Session) -> bool:
        result = await self._templates.update_one(
            {"_id": template_id, "archived_at": None},
            {"$set": {"archived_at": utc_now()}, "$inc": {"version": 1}},
            session=session,
        )
        return result.modified_count == 1
