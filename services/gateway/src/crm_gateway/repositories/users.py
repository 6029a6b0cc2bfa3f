"""People (platform-wide: one person may belong to several tenants) and their memberships
(tenant-scoped, one per tenant and person)."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from crm_gateway.domain.users import AddressTaken, Identity, Membership, MembershipStatus, User
from crm_shared import Database, Session, TenantScopedCollection
from crm_shared.mongo import Document

USERS = "users"
MEMBERSHIPS = "memberships"


class MongoUsers:
    """People in the gateway's database, found by id, e-mail or identity (issuer, subject)."""

    def __init__(self, database: Database) -> None:
        self._collection = database[USERS]
        self._indexed = False

    async def _ensure_indexes(self) -> None:
        if not self._indexed:
            await self._collection.create_index([("email", ASCENDING)], unique=True)
            await self._collection.create_index(
                [("identities.issuer", ASCENDING), ("identities.subject", ASCENDING)]
            )
            self._indexed = True

    async def get(self, user_id: str) -> User | None:
        document = await self._collection.find_one({"_id": user_id})
        return None if document is None else _user(document)

    async def by_identity(self, identity: Identity) -> User | None:
        document = await self._collection.find_one(
            {"identities": {"$elemMatch": {"issuer": identity.issuer, "subject": identity.subject}}}
        )
        return None if document is None else _user(document)

    async def by_email(self, email: str) -> User | None:
        document = await self._collection.find_one({"email": email.lower()})
        return None if document is None else _user(document)

    async def insert(self, user: User) -> bool:
        """Stores a new person; False when one with the e-mail address exists already."""
        await self._ensure_indexes()
        try:
            await self._collection.insert_one(
                {
                    "_id": user.user_id,
                    "email": user.email.lower(),
                    "name": user.name,
                    "identities": [_identity(identity) for identity in user.identities],
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def add_identity(self, user_id: str, identity: Identity, name: str) -> None:
        update: dict[str, Any] = {"$addToSet": {"identities": _identity(identity)}}
        if name:
            update["$set"] = {"name": name}
        await self._collection.update_one({"_id": user_id}, update)


class MongoMemberships:
    """Memberships in the gateway's database, every access confined to one tenant."""

    def __init__(self, database: Database) -> None:
        self._collection = database[MEMBERSHIPS]
        self._indexed = False

    async def _ensure_indexes(self) -> None:
        if not self._indexed:
            await self._collection.create_index(
                [("tenant_id", ASCENDING), ("email", ASCENDING)], unique=True
            )
            self._indexed = True

    def _scoped(self, tenant_id: str) -> TenantScopedCollection:
        return TenantScopedCollection(self._collection, tenant_id)

    async def get(self, tenant_id: str, user_id: str) -> Membership | None:
        document = await self._scoped(tenant_id).find_one({"user_id": user_id})
        return None if document is None else _membership(document)

    async def by_email(self, tenant_id: str, email: str) -> Membership | None:
        document = await self._scoped(tenant_id).find_one({"email": email.lower()})
        return None if document is None else _membership(document)

    async def list(self, tenant_id: str) -> list[Membership]:
        documents = await self._scoped(tenant_id).find({}, sort=[("email", 1)])
        return [_membership(document) for document in documents]

    async def tenants_with_removed_members(self) -> tuple[str, ...]:
        """Every tenant that has a removed member (for a migration; deliberately unscoped,
        each tenant's members are then read through its own scope)."""
        documents = await self._collection.find(
            {"status": MembershipStatus.REMOVED.value}, {"tenant_id": 1}
        ).to_list()
        return tuple(sorted({str(document["tenant_id"]) for document in documents}))

    async def insert(self, membership: Membership, *, session: Session | None = None) -> bool:
        """Stores a new membership (in `session`'s transaction, if any); False when the tenant
        has one for the person or address."""
        await self._ensure_indexes()
        try:
            await self._scoped(membership.tenant_id).insert_one(
                {
                    "_id": f"{membership.tenant_id}:{membership.user_id}",
                    "user_id": membership.user_id,
                    "email": membership.email.lower(),
                    "roles": sorted(membership.roles),
                    "status": membership.status.value,
                    "name": membership.name,
                },
                session=session,
            )
        except DuplicateKeyError:
            return False
        return True

    async def update(self, membership: Membership, *, session: Session | None = None) -> bool:
        """Stores a membership's roles, status, address and name (in `session`'s transaction,
        if any); False when it does not exist; raises `AddressTaken` when another membership of
        the tenant holds the address."""
        await self._ensure_indexes()
        try:
            result = await self._scoped(membership.tenant_id).update_one(
                {"user_id": membership.user_id},
                {
                    "$set": {
                        "roles": sorted(membership.roles),
                        "status": membership.status.value,
                        "email": membership.email.lower(),
                        "name": membership.name,
                    }
                },
                session=session,
            )
        except DuplicateKeyError:
            raise AddressTaken(membership.email) from None
        return result.matched_count == 1


def _identity(identity: Identity) -> Document:
    return {"issuer": identity.issuer, "subject": identity.subject}


def _user(document: dict[str, Any]) -> User:
    return User(
        user_id=document["_id"],
        email=document["email"],
        name=document.get("name", ""),
        identities=tuple(
            Identity(item["issuer"], item["subject"]) for item in document.get("identities", [])
        ),
    )


def _membership(document: dict[str, Any]) -> Membership:
    return Membership(
        tenant_id=document["tenant_id"],
        user_id=document["user_id"],
        email=document["email"],
        roles=frozenset(document.get("roles", [])),
        status=MembershipStatus(document["status"]),
        name=document.get("name", ""),
    )
