"""How one tenant's profiles are normalised: phone region, skill vocabulary, custom fields."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from crm_candidates.application.skills import SkillRenormalisations, replace_vocabulary
from crm_candidates.domain.custom_fields import CustomFieldDefinition
from crm_candidates.domain.profile import SkillVocabulary
from crm_candidates.domain.segments import CUSTOM_FIELD_PREFIX, Group, referenced_fields
from crm_candidates.publishers import to_custom_field_changed
from crm_candidates.repositories.collections import CUSTOM_FIELDS_COLLECTION
from crm_candidates.repositories.profile_rules import ProfileRulesRepository
from crm_candidates.repositories.segments import SegmentRepository
from crm_candidates.repositories.skill_renormalisations import SkillRenormalisationRepository
from crm_shared import Database, MongoClient, Outbox, Session, in_transaction, utc_now

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProfileConfiguration:
    """Reads and changes one tenant's profile settings, skill vocabulary and custom fields."""

    mongo: MongoClient
    outbox: Outbox
    profile_rules: ProfileRulesRepository
    segments: SegmentRepository
    renormalisations: SkillRenormalisationRepository
    skill_jobs: SkillRenormalisations

    async def default_phone_region(self) -> str:
        """The region national phone numbers are read in."""
        return await self.profile_rules.default_phone_region()

    async def set_default_phone_region(self, region: str) -> None:
        await self.profile_rules.set_default_phone_region(region)

    async def vocabulary(self) -> SkillVocabulary:
        return await self.profile_rules.vocabulary()

    async def replace_vocabulary(self, vocabulary: SkillVocabulary) -> list[str]:
        """Stores the new vocabulary, re-spells segment rules' skills (returning those
        segments' names) and starts re-spelling the skills already stored."""
        return await replace_vocabulary(
            self.mongo, self.profile_rules, self.segments, self.skill_jobs, vocabulary
        )

    async def renormalisation_progress(self) -> dict[str, Any] | None:
        """How far re-spelling after the last vocabulary change got (None before any)."""
        return await self.renormalisations.get()

    async def custom_fields(self) -> list[CustomFieldDefinition]:
        """Every custom field in the order defined, deleted ones too."""
        return await self.profile_rules.custom_fields()

    async def custom_field(self, key: str) -> CustomFieldDefinition | None:
        return await self.profile_rules.custom_field(key)

    async def add_custom_field(self, definition: CustomFieldDefinition) -> None:
        """Stores a new custom field (`DuplicateKeyInTenantError` if the key is taken) and
        stages `profile.custom_field_changed` with it."""

        async def add(session: Session) -> None:
            await self.profile_rules.add_custom_field(definition, session=session)
            await to_custom_field_changed(
                self.outbox, definition, at=definition.created_at, session=session
            )

        await in_transaction(self.mongo, add)
        self.outbox.notify_committed()

    async def replace_custom_field(self, definition: CustomFieldDefinition) -> None:
        """Stores an edit, deletion or restoration and stages `profile.custom_field_changed`."""

        async def replace(session: Session) -> None:
            await self.profile_rules.replace_custom_field(definition, session=session)
            await to_custom_field_changed(self.outbox, definition, at=utc_now(), session=session)

        await in_transaction(self.mongo, replace)
        self.outbox.notify_committed()

    async def segments_using_field(self, key: str) -> list[str]:
        """The names of the segments whose rule uses the custom field, sorted."""
        field = f"{CUSTOM_FIELD_PREFIX}{key}"
        return sorted(
            segment.name
            for segment in await self.segments.all()
            if field in referenced_fields(Group.model_validate(segment.rule))
        )


async def announce_custom_fields(mongo: MongoClient, database: Database, outbox: Outbox) -> None:
    """Stages `profile.custom_field_changed` for every custom field defined before the topic
    existed, so campaigns learns of those too (migration 9, once per database). Safe to run
    again after a stop part-way: each tenant's fields are marked announced in the transaction
    that stages their events."""
    # Deliberately cross-tenant: a migration over every tenant's fields.
    unannounced = (
        await database[CUSTOM_FIELDS_COLLECTION]
        .find({"announced": {"$ne": True}}, {"tenant_id": 1})
        .to_list()
    )
    for tenant_id in dict.fromkeys(str(document["tenant_id"]) for document in unannounced):
        rules = ProfileRulesRepository(database, tenant_id)

        async def announce(session: Session, rules: ProfileRulesRepository = rules) -> None:
            for definition in await rules.unannounced_custom_fields(session=session):
                at = definition.archived_at or definition.created_at
                await to_custom_field_changed(outbox, definition, at=at, session=session)
                await rules.mark_custom_field_announced(definition.id, session=session)

        await in_transaction(mongo, announce)
    if unannounced:
        outbox.notify_committed()
        logger.info(
            "announced %d custom fields defined before profile.custom_field_changed",
            len(unannounced),
        )
