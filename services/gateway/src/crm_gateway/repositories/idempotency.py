"""The gateway's MongoDB data: idempotency records, one per (tenant, user, key)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from bson import Binary
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from crm_gateway.domain.idempotency import (
    IdempotencyRecord,
    KeyScope,
    RecordState,
    StoredResponse,
)
from crm_shared import Database, TenantScopedCollection
from crm_shared.mongo import Document

IDEMPOTENCY_KEYS = "idempotency_keys"


class IdempotencyRecords(Protocol):
    """The idempotency records of the gateway's callers."""

    async def find(self, scope: KeyScope) -> IdempotencyRecord | None: ...

    async def insert(self, scope: KeyScope, record: IdempotencyRecord) -> bool:
        """Stores a new record; False when the key has a record already."""
        ...

    async def replace(self, scope: KeyScope, claim: str, record: IdempotencyRecord) -> bool:
        """Replaces the record held by `claim`; False when another attempt got there first."""
        ...

    async def delete(self, scope: KeyScope, claim: str) -> None:
        """Deletes the in-flight record held by `claim`, if it still is."""
        ...

    async def forget_responses_naming(self, tenant_id: str, text: str) -> int:
        """Deletes the tenant's records whose stored response contains `text`; how many."""
        ...


class MongoIdempotencyRecords:
    """Idempotency records in the gateway's database, every access confined to the tenant."""

    def __init__(self, database: Database) -> None:
        self._collection = database[IDEMPOTENCY_KEYS]
        self._indexed = False

    async def _ensure_indexes(self) -> None:
        # On first use, not at start-up: the gateway routes everything else without MongoDB.
        if not self._indexed:
            # A record is deleted once it expires (a lease ran out, or a key's lifetime ended).
            await self._collection.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
            self._indexed = True

    def _scoped(self, scope: KeyScope) -> TenantScopedCollection:
        return TenantScopedCollection(self._collection, scope.tenant_id)

    async def find(self, scope: KeyScope) -> IdempotencyRecord | None:
        document = await self._scoped(scope).find_one({"_id": scope.record_id})
        return None if document is None else _record(document)

    async def insert(self, scope: KeyScope, record: IdempotencyRecord) -> bool:
        await self._ensure_indexes()
        try:
            await self._scoped(scope).insert_one({"_id": scope.record_id, **_fields(scope, record)})
        except DuplicateKeyError:
            return False
        return True

    async def replace(self, scope: KeyScope, claim: str, record: IdempotencyRecord) -> bool:
        result = await self._scoped(scope).update_one(
            {"_id": scope.record_id, "claim": claim}, {"$set": _fields(scope, record)}
        )
        return result.matched_count == 1

    async def delete(self, scope: KeyScope, claim: str) -> None:
        await self._scoped(scope).delete_one(
            {"_id": scope.record_id, "claim": claim, "state": RecordState.IN_FLIGHT.value}
        )

    async def forget_responses_naming(self, tenant_id: str, text: str) -> int:
        # Rare (an erasure) and bounded by the records' lifetime: the tenant's stored responses
        # are read and searched here, as a body is stored as bytes, not as fields to query.
        scoped = TenantScopedCollection(self._collection, tenant_id)
        needle = text.encode()
        stored = await scoped.find(
            {"response": {"$ne": None}}, projection={"_id": 1, "response.body": 1}
        )
        naming = [d["_id"] for d in stored if needle in bytes(d["response"]["body"])]
        if naming:
            await scoped.delete_many({"_id": {"$in": naming}})
        return len(naming)


def _fields(scope: KeyScope, record: IdempotencyRecord) -> Document:
    response: Document | None = None
    if record.response is not None:
        response = {
            "status": record.response.status,
            "headers": record.response.headers,
            "body": Binary(record.response.body),
        }
    return {
        "user_id": scope.user_id,
        "key": scope.key,
        "fingerprint": record.fingerprint,
        "state": record.state.value,
        "claim": record.claim,
        "expires_at": record.expires_at,
        "response": response,
    }


def _record(document: dict[str, Any]) -> IdempotencyRecord:
    stored = document.get("response")
    expires_at: datetime = document["expires_at"]
    return IdempotencyRecord(
        fingerprint=document["fingerprint"],
        state=RecordState(document["state"]),
        claim=document["claim"],
        expires_at=expires_at,
        response=None
        if stored is None
        else StoredResponse(stored["status"], dict(stored["headers"]), bytes(stored["body"])),
    )
