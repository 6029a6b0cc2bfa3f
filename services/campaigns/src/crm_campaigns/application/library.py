"""One tenant's templates and reusable blocks as people edit them, and template previews."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crm_campaigns.application.previews import render_preview
from crm_campaigns.domain.lifecycle import TemplateUser, template_users
from crm_campaigns.domain.models import Block, CustomField, Recipient, Template
from crm_campaigns.domain.templates import RenderedMessage, blocks_used
from crm_campaigns.repositories.blocks import BlockRepository
from crm_campaigns.repositories.broadcasts import BroadcastRepository
from crm_campaigns.repositories.custom_fields import CustomFieldRepository
from crm_campaigns.repositories.jobs import JobRepository
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_campaigns.repositories.sequences import SequenceRepository
from crm_campaigns.repositories.templates import TemplateRepository


@dataclass(frozen=True)
class TemplateLibrary:
    """Creates, reads, replaces and previews one tenant's templates."""

    templates: TemplateRepository
    blocks: BlockRepository
    recipients: RecipientRepository
    jobs: JobRepository
    custom_fields: CustomFieldRepository
    broadcasts: BroadcastRepository
    sequences: SequenceRepository

    async def add(self, template: Template) -> None:
        await self.templates.add(template)

    async def get(self, template_id: str) -> Template | None:
        return await self.templates.get(template_id)

    async def all(self, *, include_archived: bool = False) -> list[Template]:
        return await self.templates.all(include_archived=include_archived)

    async def replace(
        self, template_id: str, version: int, parts: Mapping[str, str | None], *, updated_by: str
    ) -> bool:
        """Replaces the template's parts if it is still at `version`."""
        return await self.templates.replace(template_id, version, parts, updated_by=updated_by)

    async def users(self, template_id: str) -> list[TemplateUser]:
        """The unfinished broadcasts and live sequences that render the template from now on,
        and so send whatever version it has then."""
        return template_users(
            await self.broadcasts.unfinished_using_template(template_id),
            await self.sequences.using_template(template_id),
        )

    async def block_keys(self) -> list[str]:
        """The keys of the tenant's blocks, which templates may include."""
        return await self.blocks.keys()

    async def custom_field_definitions(self) -> list[CustomField]:
        """The tenant's custom fields (deleted ones too), which templates may merge."""
        return await self.custom_fields.all()

    async def recipient(self, candidate_id: str) -> Recipient | None:
        """The recipient data campaigns knows of a candidate."""
        return await self.recipients.get(candidate_id)

    async def preview(
        self, template: Template, recipient: Recipient, *, public_base_url: str, sender_name: str
    ) -> RenderedMessage:
        """The template as the recipient would get it (`RenderError` when it fails)."""
        return await render_preview(
            template,
            recipient,
            self.blocks,
            self.jobs,
            public_base_url=public_base_url,
            sender_name=sender_name,
        )


@dataclass(frozen=True)
class BlockLibrary:
    """Creates, reads, changes and deletes one tenant's reusable template blocks."""

    blocks: BlockRepository
    templates: TemplateRepository
    custom_fields: CustomFieldRepository

    async def custom_field_definitions(self) -> list[CustomField]:
        """The tenant's custom fields (deleted ones too), which blocks may merge."""
        return await self.custom_fields.all()

    async def add(self, block: Block) -> bool:
        """Saves a new block; False if the key is taken."""
        return await self.blocks.add(block)

    async def get(self, key: str) -> Block | None:
        return await self.blocks.get(key)

    async def all(self) -> list[Block]:
        return await self.blocks.all()

    async def replace(self, key: str, changes: dict[str, Any]) -> Block | None:
        return await self.blocks.replace(key, changes)

    async def delete(self, key: str) -> bool:
        return await self.blocks.delete(key)

    async def templates_including(self, key: str) -> list[str]:
        """The names of the templates (not archived) that include the block, sorted."""
        return sorted(
            template.name
            for template in await self.templates.all()
            if key in blocks_used(template.html) | blocks_used(template.text)
        )
