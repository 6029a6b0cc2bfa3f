"""One tenant's broadcasts as people define, read and steer them."""

from __future__ import annotations

from dataclasses import dataclass

from crm_campaigns.application import broadcast_controls
from crm_campaigns.application.broadcasts import variant_results
from crm_campaigns.domain.broadcasts import MessageTally, VariantResult
from crm_campaigns.domain.models import Broadcast, CustomField, Template
from crm_campaigns.domain.pool_stages import KnownPool
from crm_campaigns.repositories.broadcasts import BroadcastRepository
from crm_campaigns.repositories.custom_fields import CustomFieldRepository
from crm_campaigns.repositories.lists import StoredListRepository
from crm_campaigns.repositories.pools import KnownPoolRepository
from crm_campaigns.repositories.templates import TemplateRepository
from crm_shared import MongoClient


@dataclass(frozen=True)
class BroadcastBook:
    """Drafts, reads, sends, resumes and cancels one tenant's broadcasts."""

    mongo: MongoClient
    broadcasts: BroadcastRepository
    templates: TemplateRepository
    lists: StoredListRepository
    custom_fields: CustomFieldRepository
    pools: KnownPoolRepository

    async def add(self, broadcast: Broadcast) -> None:
        await self.broadcasts.add(broadcast)

    async def get(self, broadcast_id: str) -> Broadcast | None:
        return await self.broadcasts.get(broadcast_id)

    async def page(self, *, after: str | None, limit: int) -> list[Broadcast]:
        return await self.broadcasts.page(after=after, limit=limit)

    async def replace_draft(self, broadcast: Broadcast, version: int) -> bool:
        """Replaces a draft's definition if it is still a draft at `version`."""
        return await self.broadcasts.replace_draft(broadcast, version)

    async def delete_draft(self, broadcast_id: str) -> bool:
        """Deletes a broadcast that was never sent; False if it is not a draft (any more)."""
        return await self.broadcasts.delete_draft(broadcast_id)

    async def active_count(self) -> int:
        """How many broadcasts have work to do now (`BroadcastRepository.active_count`)."""
        return await self.broadcasts.active_count()

    async def live_template(self, template_id: str) -> Template | None:
        """The template, unless it is unknown or archived (nothing new may use it)."""
        return await self.templates.live(template_id)

    async def custom_field_definitions(self) -> list[CustomField]:
        """The tenant's custom fields (deleted ones too), which A/B subjects may merge."""
        return await self.custom_fields.all()

    async def list_archived(self, list_id: str) -> bool:
        return await self.lists.is_archived(list_id)

    async def known_pool(self, pool_id: str) -> KnownPool | None:
        """The pool as the candidates service last announced it; None before it has."""
        return (await self.pools.among([pool_id])).get(pool_id)

    async def tally(self, broadcast_id: str) -> MessageTally:
        return await self.broadcasts.tally(broadcast_id)

    async def variant_results(self, broadcast: Broadcast) -> list[VariantResult]:
        return await variant_results(self.broadcasts, broadcast)

    async def send(self, broadcast: Broadcast) -> bool:
        """Starts a draft; False if it is not one."""
        return await broadcast_controls.send_broadcast(self.broadcasts, broadcast)

    async def keep_within_concurrency_quota(self, broadcast_id: str, limit: int) -> bool:
        return await broadcast_controls.keep_within_concurrency_quota(
            self.broadcasts, broadcast_id, limit
        )

    async def resume(self, broadcast: Broadcast) -> bool:
        return await broadcast_controls.resume_broadcast(self.mongo, self.broadcasts, broadcast)

    async def cancel(self, broadcast: Broadcast) -> bool:
        return await broadcast_controls.cancel_broadcast(self.broadcasts, broadcast)
