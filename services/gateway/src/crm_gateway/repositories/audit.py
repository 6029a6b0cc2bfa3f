"""The audit log in the gateway's database: append-only, so inserts and queries only.

There is deliberately no update or delete here: entries leave the store only through the TTL
index on `expires_at` (the configured retention).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import BulkWriteError

from crm_gateway.domain.audit import Actor, ActorKind, AuditEntry, AuditQuery, Outcome
from crm_shared import Database, TenantScopedCollection
from crm_shared.mongo import Document

AUDIT_LOG = "audit_log"
_DUPLICATE_KEY = 11000


class AuditLog(Protocol):
    """Where audit entries are kept: appended in batches, read per tenant."""

    async def append(self, entries: list[AuditEntry]) -> None:
        """Stores the entries; one already stored (a repeated batch) is left as it is."""
        ...

    async def search(self, tenant_id: str, query: AuditQuery, limit: int) -> list[AuditEntry]:
        """The tenant's entries matching `query`, newest first, at most `limit`."""
        ...


class MongoAuditLog:
    """The audit log collection; reads are confined to one tenant."""

    def __init__(self, database: Database, *, retention: timedelta) -> None:
        self._collection = database[AUDIT_LOG]
        self._retention = retention
        self._indexed = False

    async def _ensure_indexes(self) -> None:
        # On first use, not at start-up: the gateway serves requests while MongoDB is down.
        if not self._indexed:
            # Retention: each entry is deleted once its `expires_at` has passed.
            await self._collection.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
            # A tenant's log newest first; the id sorts by time.
            await self._collection.create_index([("tenant_id", ASCENDING), ("_id", DESCENDING)])
            self._indexed = True

    async def append(self, entries: list[AuditEntry]) -> None:
        if not entries:
            return
        await self._ensure_indexes()
        # Deliberately unscoped: one batch holds the entries of many tenants (and of callers
        # whose tenant is unknown). Each document carries the tenant the entry belongs to.
        try:
            await self._collection.insert_many(
                [_document(entry, self._retention) for entry in entries], ordered=False
            )
        except BulkWriteError as error:
            # A batch retried after a partial write: the entries written then stay as they are.
            if any(
                failure.get("code") != _DUPLICATE_KEY for failure in error.details["writeErrors"]
            ):
                raise

    async def search(self, tenant_id: str, query: AuditQuery, limit: int) -> list[AuditEntry]:
        scoped = TenantScopedCollection(self._collection, tenant_id)
        documents = await scoped.find(_filter(query), sort=[("_id", DESCENDING)], limit=limit)
        return [_entry(document) for document in documents]


def _filter(query: AuditQuery) -> Document:
    conditions: Document = {}
    at: dict[str, datetime] = {}
    if query.since is not None:
        at["$gte"] = query.since
    if query.until is not None:
        at["$lt"] = query.until
    if at:
        conditions["at"] = at
    if query.actor_id is not None:
        conditions["actor_id"] = query.actor_id
    if query.action is not None:
        conditions["action"] = query.action
    if query.outcome is not None:
        conditions["outcome"] = query.outcome.value
    if query.before_id is not None:
        conditions["_id"] = {"$lt": query.before_id}
    return conditions


def _document(entry: AuditEntry, retention: timedelta) -> Document:
    return {
        "_id": entry.id,
        "at": entry.at,
        "expires_at": entry.expires_at(retention),
        "tenant_id": entry.tenant_id,
        "actor_kind": entry.actor.kind.value,
        "actor_id": entry.actor.id,
        "action": entry.action,
        "resource": entry.resource,
        "status": entry.status,
        "outcome": entry.outcome.value,
        "request_id": entry.request_id,
        "trace_id": entry.trace_id,
        "client_address": entry.client_address,
        "reason": entry.reason,
        "changes": entry.changes,
    }


def _entry(document: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        id=document["_id"],
        at=document["at"],
        tenant_id=document.get("tenant_id"),
        actor=Actor(ActorKind(document["actor_kind"]), document.get("actor_id")),
        action=document["action"],
        status=document["status"],
        outcome=Outcome(document["outcome"]),
        resource=dict(document.get("resource") or {}),
        request_id=document.get("request_id"),
        trace_id=document.get("trace_id"),
        client_address=document.get("client_address"),
        reason=document.get("reason"),
        changes=document.get("changes"),
    )
