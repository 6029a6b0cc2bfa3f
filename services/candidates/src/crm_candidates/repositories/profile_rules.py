"""One tenant's profile settings, skill vocabulary and custom field schema."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from crm_candidates.domain.custom_fields import CustomFieldDefinition
from crm_candidates.domain.models import DuplicateKeyInTenantError
from crm_candidates.domain.profile import DEFAULT_PHONE_REGION, ProfileRules, SkillVocabulary
from crm_candidates.repositories.collections import (
    CUSTOM_FIELDS_COLLECTION,
    PROFILE_SETTINGS_COLLECTION,
    SKILL_VOCABULARIES_COLLECTION,
)
from crm_shared import Database, Session, TenantScopedCollection, from_document, new_id, to_document

VOCABULARY_CACHE_SIZE = 256


class ProfileRulesRepository:
    """One tenant's profile settings, skill vocabulary and custom field schema."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._settings = TenantScopedCollection(database[PROFILE_SETTINGS_COLLECTION], tenant_id)
        self._vocabularies = TenantScopedCollection(
            database[SKILL_VOCABULARIES_COLLECTION], tenant_id
        )
        self._fields = TenantScopedCollection(database[CUSTOM_FIELDS_COLLECTION], tenant_id)

    async def _settings_document(self, session: Session | None) -> dict[str, Any]:
        return await self._settings.find_one({"_id": self.tenant_id}, session=session) or {}

    async def rules(
        self, *, default_region: str | None = None, session: Session | None = None
    ) -> ProfileRules:
        """What the tenant's profile fields are normalised with; `default_region` overrides."""
        settings = await self._settings_document(session)
        definitions = await self.custom_fields(session=session)
        return ProfileRules(
            phone_region=default_region
            or settings.get("default_phone_region")
            or DEFAULT_PHONE_REGION,
            named_region=default_region or settings.get("default_phone_region"),
            vocabulary=await self._vocabulary_version(settings.get("skill_vocabulary_version")),
            custom_fields={d.key: d for d in definitions if d.archived_at is None},
            archived_custom_fields=frozenset(
                d.key for d in definitions if d.archived_at is not None
            ),
        )

    async def current_vocabulary(self) -> SkillVocabulary:
        """The tenant's vocabulary as writes use it: one read of the small settings document,
        the vocabulary itself indexed once per version and process (a search's `skill` and
        `q` both go through it)."""
        settings = await self._settings_document(None)
        return await self._vocabulary_version(settings.get("skill_vocabulary_version"))

    async def _vocabulary_version(self, version: str | None) -> SkillVocabulary:
        # Every candidate write needs the vocabulary; the small settings document names its
        # current version, so the (possibly large) vocabulary is read and indexed once per
        # version and process. A new version is a new key: no cache is ever stale.
        if version is None:
            return SkillVocabulary()
        cached = _VOCABULARIES.get((self.tenant_id, version))
        if cached is not None:
            return cached
        document = await self._vocabularies.find_one({"_id": self.tenant_id}) or {}
        vocabulary = _vocabulary(document)
        if document.get("version") == version:
            while len(_VOCABULARIES) >= VOCABULARY_CACHE_SIZE:
                del _VOCABULARIES[next(iter(_VOCABULARIES))]
            _VOCABULARIES[(self.tenant_id, version)] = vocabulary
        return vocabulary

    async def default_phone_region(self) -> str:
        """The region national phone numbers are read in."""
        region = (await self._settings_document(None)).get("default_phone_region")
        return str(region or DEFAULT_PHONE_REGION)

    async def set_default_phone_region(self, region: str) -> None:
        """Sets the region national phone numbers are read in."""
        await self._settings.update_one(
            {"_id": self.tenant_id}, {"$set": {"default_phone_region": region}}, upsert=True
        )

    async def vocabulary(self) -> SkillVocabulary:
        """The tenant's canonical skills and their synonyms."""
        return _vocabulary(await self._vocabularies.find_one({"_id": self.tenant_id}) or {})

    async def set_vocabulary(
        self, vocabulary: SkillVocabulary, *, session: Session | None = None
    ) -> str:
        """Replaces the tenant's skill vocabulary; returns the new version's id."""
        # A list, not a mapping: skill names like `node.js` cannot be MongoDB field names.
        entries = [
            {"canonical": name, "synonyms": list(synonyms)}
            for name, synonyms in vocabulary.synonyms.items()
        ]
        version = new_id()
        await self._vocabularies.update_one(
            {"_id": self.tenant_id},
            {"$set": {"skill_vocabulary": entries, "version": version}},
            upsert=True,
            session=session,
        )
        await self._settings.update_one(
            {"_id": self.tenant_id},
            {"$set": {"skill_vocabulary_version": version}},
            upsert=True,
            session=session,
        )
        return version

    async def add_custom_field(
        self, definition: CustomFieldDefinition, *, session: Session | None = None
    ) -> None:
        """Stores a new custom field; raises `DuplicateKeyInTenantError` if the key is taken."""
        try:
            await self._fields.insert_one(
                {**to_document(definition), "announced": True}, session=session
            )
        except DuplicateKeyError:
            raise DuplicateKeyInTenantError(definition.key) from None

    async def custom_fields(self, *, session: Session | None = None) -> list[CustomFieldDefinition]:
        """The tenant's custom fields in creation order."""
        documents = await self._fields.find({}, sort=[("_id", ASCENDING)], session=session)
        return [from_document(CustomFieldDefinition, document) for document in documents]

    async def replace_custom_field(
        self, definition: CustomFieldDefinition, *, session: Session | None = None
    ) -> None:
        """Stores an edited custom field (label, required, choices)."""
        await self._fields.update_one(
            {"_id": definition.id},
            {
                "$set": {
                    "label": definition.label,
                    "required": definition.required,
                    "allowed_values": definition.allowed_values,
                    "archived_at": definition.archived_at,
                    "announced": True,
                }
            },
            session=session,
        )

    async def unannounced_custom_fields(
        self, *, session: Session | None = None
    ) -> list[CustomFieldDefinition]:
        """The fields defined before `profile.custom_field_changed` existed, never announced."""
        documents = await self._fields.find(
            {"announced": {"$ne": True}}, sort=[("_id", ASCENDING)], session=session
        )
        return [from_document(CustomFieldDefinition, document) for document in documents]

    async def mark_custom_field_announced(self, field_id: str, *, session: Session) -> None:
        await self._fields.update_one(
            {"_id": field_id}, {"$set": {"announced": True}}, session=session
        )

    async def custom_field(self, key: str) -> CustomFieldDefinition | None:
        """The custom field with this key, if the tenant defined it."""
        document = await self._fields.find_one({"key": key})
        return from_document(CustomFieldDefinition, document) if document else None


_VOCABULARIES: dict[tuple[str, str], SkillVocabulary] = {}


def _vocabulary(document: dict[str, Any]) -> SkillVocabulary:
    return SkillVocabulary(
        {
            entry["canonical"]: tuple(entry["synonyms"])
            for entry in document.get("skill_vocabulary", [])
        }
    )
