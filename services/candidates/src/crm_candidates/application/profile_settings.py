"""How one tenant's profiles are normalised: phone region, skill vocabulary, custom fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm_candidates.application.skills import SkillRenormalisations, replace_vocabulary
from crm_candidates.domain.custom_fields import CustomFieldDefinition
from crm_candidates.domain.profile import SkillVocabulary
from crm_candidates.domain.segments import CUSTOM_FIELD_PREFIX, Group, referenced_fields
from crm_candidates.repositories.profile_rules import ProfileRulesRepository
from crm_candidates.repositories.segments import SegmentRepository
from crm_candidates.repositories.skill_renormalisations import SkillRenormalisationRepository
from crm_shared import MongoClient


@dataclass(frozen=True)
class ProfileConfiguration:
    """Reads and changes one tenant's profile settings, skill vocabulary and custom fields."""

    mongo: MongoClient
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
        """Stores a new custom field (`DuplicateKeyInTenantError` if the key is taken)."""
        await self.profile_rules.add_custom_field(definition)

    async def replace_custom_field(self, definition: CustomFieldDefinition) -> None:
        await self.profile_rules.replace_custom_field(definition)

    async def segments_using_field(self, key: str) -> list[str]:
        """The names of the segments whose rule uses the custom field, sorted."""
        field = f"{CUSTOM_FIELD_PREFIX}{key}"
        return sorted(
            segment.name
            for segment in await self.segments.all()
            if field in referenced_fields(Group.model_validate(segment.rule))
        )
