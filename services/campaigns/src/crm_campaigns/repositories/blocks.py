"""Reusable content blocks that templates include."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING

from crm_campaigns.domain.models import (
    Block,
)
from crm_campaigns.domain.templates import BlockSource
from crm_campaigns.repositories.collections import (
    BLOCKS,
)
from crm_shared import (
    Database,
    Session,
    TenantScopedCollection,
    from_document,
    to_document,
)


class BlockRepository:
    """The tenant's reusable template blocks, addressed by key."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._blocks = TenantScopedCollection(database[BLOCKS], tenant_id)

    async def add(self, block: Block) -> bool:
        """Saves a new block; False if the key is taken."""
        result = await self._blocks.update_one(
            {"key": block.key},
            {
                "$setOnInsert": {
                    k: v for k, v in to_document(block).items() if k not in ("key", "tenant_id")
                }
            },
            upsert=True,
        )
        return result.upserted_id is not None

    async def replace(self, key: str, changes: dict[str, Any]) -> Block | None:
        await self._blocks.update_one({"key": key}, {"$set": changes})
        return await self.get(key)

    async def get(self, key: str) -> Block | None:
        document = await self._blocks.find_one({"key": key})
        return from_document(Block, document) if document else None

    async def delete(self, key: str) -> bool:
        result = await self._blocks.delete_one({"key": key})
        return result.deleted_count == 1

    async def all(self, *, session: Session | None = None) -> list[Block]:
        documents = await self._blocks.find({}, sort=[("key", ASCENDING)], session=session)
        return [from_document(Block, d) for d in documents]

    async def keys(self) -> list[str]:
        return [block.key for block in await self.all()]

    async def sources(self, *, session: Session | None = None) -> dict[str, BlockSource]:
        """Every block's parts by key, for rendering."""
        return {b.key: BlockSource(b.html, b.text) for b in await self.all(session=session)}
