"""API keys: one document per key, keyed by its lookup prefix. Listing and revoking are
tenant-scoped; finding a presented key by its prefix is not, since the key names its tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_gateway.domain.api_keys import ApiKey, Revocation
from crm_shared import Database, TenantScopedCollection

API_KEYS = "api_keys"
# The migration that revoked a key, on keys a migration revoked.
REVOKED_IN_MIGRATION = "revoked_in_migration"


class MongoApiKeys:
    """API keys in the gateway's database (digests only)."""

    def __init__(self, database: Database) -> None:
        self._collection = database[API_KEYS]

    def _scoped(self, tenant_id: str) -> TenantScopedCollection:
        return TenantScopedCollection(self._collection, tenant_id)

    async def insert(self, key: ApiKey) -> None:
        await self._scoped(key.tenant_id).insert_one(
            {
                "_id": key.key_id,
                "name": key.name,
                "scopes": sorted(key.scopes),
                "digest": key.digest,
                "created_by": key.created_by,
                "created_at": key.created_at,
                "expires_at": key.expires_at,
                "revoked_at": key.revoked_at,
                "last_used_at": key.last_used_at,
                "revoked_reason": None,
            }
        )

    async def by_prefix(self, prefix: str) -> ApiKey | None:
        """The key with this lookup prefix, in whichever tenant (authentication only)."""
        document = await self._collection.find_one({"_id": prefix})
        return None if document is None else _key(document)

    async def get(self, tenant_id: str, key_id: str) -> ApiKey | None:
        document = await self._scoped(tenant_id).find_one({"_id": key_id})
        return None if document is None else _key(document)

    async def list(self, tenant_id: str) -> list[ApiKey]:
        documents = await self._scoped(tenant_id).find({}, sort=[("created_at", 1)])
        return [_key(document) for document in documents]

    async def revoke(
        self,
        tenant_id: str,
        key_id: str,
        at: datetime,
        reason: Revocation = Revocation.BY_ADMIN,
        *,
        migration: int | None = None,
    ) -> bool:
        """Marks a key revoked (first revocation time and reason kept); False when the tenant
        has none. `migration` records the migration that revoked it, so a rerun after a crash
        finds the keys it revoked (and audits each once)."""
        scoped = self._scoped(tenant_id)
        revocation: dict[str, Any] = {"revoked_at": at, "revoked_reason": reason.value}
        if migration is not None:
            revocation[REVOKED_IN_MIGRATION] = migration
        await scoped.update_one({"_id": key_id, "revoked_at": None}, {"$set": revocation})
        return await scoped.count({"_id": key_id}) == 1

    async def revoked_in_migration(self, tenant_id: str, version: int) -> tuple[ApiKey, ...]:
        """The tenant's keys that migration `version` revoked."""
        documents = await self._scoped(tenant_id).find(
            {REVOKED_IN_MIGRATION: version}, sort=[("created_at", 1)]
        )
        return tuple(_key(document) for document in documents)

    async def touch(self, key: ApiKey, at: datetime) -> None:
        """Records a use of the key (callers throttle this to once a minute)."""
        await self._scoped(key.tenant_id).update_one(
            {"_id": key.key_id}, {"$set": {"last_used_at": at}}
        )


def _key(document: dict[str, Any]) -> ApiKey:
    return ApiKey(
        key_id=document["_id"],
        tenant_id=document["tenant_id"],
        name=document["name"],
        scopes=frozenset(document["scopes"]),
        digest=document["digest"],
        created_by=document["created_by"],
        created_at=document["created_at"],
        expires_at=document["expires_at"],
        revoked_at=document.get("revoked_at"),
        last_used_at=document.get("last_used_at"),
        revoked_reason=_reason(document),
    )


def _reason(document: dict[str, Any]) -> Revocation | None:
    if document.get("revoked_at") is None:
        return None
    # Keys revoked before reasons were stored were revoked by an admin.
    return Revocation(document.get("revoked_reason") or Revocation.BY_ADMIN)
