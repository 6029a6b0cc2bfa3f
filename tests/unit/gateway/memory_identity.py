"""The gateway's identity stores in memory, for unit tests that need no database (the MongoDB
ones are tested in tests/integration/gateway)."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from datetime import datetime

import httpx
from fastapi import FastAPI

from crm_gateway.config import GatewaySettings
from crm_gateway.container import IdentityStores
from crm_gateway.domain.api_keys import ApiKey, Revocation
from crm_gateway.domain.tenants import Tenant
from crm_gateway.domain.users import AddressTaken, Identity, Membership, User
from crm_gateway.main import build_identity, create_app
from crm_shared import Session


class MemoryTenants:
    def __init__(self) -> None:
        self.stored: dict[str, Tenant] = {}

    async def all(self) -> list[Tenant]:
        return [self.stored[key] for key in sorted(self.stored)]

    async def get(self, tenant_id: str) -> Tenant | None:
        return self.stored.get(tenant_id)

    async def insert(self, tenant: Tenant) -> bool:
        if tenant.tenant_id in self.stored:
            return False
        self.stored[tenant.tenant_id] = tenant
        return True

    async def replace(self, tenant: Tenant) -> bool:
        if tenant.tenant_id not in self.stored:
            return False
        self.stored[tenant.tenant_id] = tenant
        return True


class MemoryUsers:
    def __init__(self) -> None:
        self.stored: dict[str, User] = {}

    async def get(self, user_id: str) -> User | None:
        return self.stored.get(user_id)

    async def by_identity(self, identity: Identity) -> User | None:
        return next((u for u in self.stored.values() if identity in u.identities), None)

    async def by_email(self, email: str) -> User | None:
        return next((u for u in self.stored.values() if u.email == email.lower()), None)

    async def insert(self, user: User) -> bool:
        if await self.by_email(user.email) is not None:
            return False
        self.stored[user.user_id] = user
        return True

    async def add_identity(self, user_id: str, identity: Identity, name: str) -> None:
        user = self.stored[user_id]
        identities = user.identities + (() if identity in user.identities else (identity,))
        self.stored[user_id] = replace(user, identities=identities, name=name or user.name)


class MemoryMemberships:
    def __init__(self) -> None:
        self.stored: dict[tuple[str, str], Membership] = {}

    async def get(self, tenant_id: str, user_id: str) -> Membership | None:
        return self.stored.get((tenant_id, user_id))

    async def by_email(self, tenant_id: str, email: str) -> Membership | None:
        return next(
            (m for m in self.stored.values() if m.tenant_id == tenant_id and m.email == email),
            None,
        )

    async def list(self, tenant_id: str) -> list[Membership]:
        return [m for m in self.stored.values() if m.tenant_id == tenant_id]

    async def insert(self, membership: Membership, *, session: Session | None = None) -> bool:
        key = (membership.tenant_id, membership.user_id)
        if key in self.stored or await self.by_email(membership.tenant_id, membership.email):
            return False
        self.stored[key] = membership
        return True

    async def update(self, membership: Membership, *, session: Session | None = None) -> bool:
        key = (membership.tenant_id, membership.user_id)
        if key not in self.stored:
            return False
        holder = await self.by_email(membership.tenant_id, membership.email)
        if holder is not None and holder.user_id != membership.user_id:
            raise AddressTaken(membership.email)
        self.stored[key] = membership
        return True


class MemoryApiKeys:
    def __init__(self) -> None:
        self.stored: dict[str, ApiKey] = {}

    async def insert(self, key: ApiKey) -> None:
        self.stored[key.key_id] = key

    async def by_prefix(self, prefix: str) -> ApiKey | None:
        return self.stored.get(prefix)

    async def get(self, tenant_id: str, key_id: str) -> ApiKey | None:
        key = self.stored.get(key_id)
        return key if key is not None and key.tenant_id == tenant_id else None

    async def list(self, tenant_id: str) -> list[ApiKey]:
        return [key for key in self.stored.values() if key.tenant_id == tenant_id]

    async def revoke(
        self, tenant_id: str, key_id: str, at: datetime, reason: Revocation = Revocation.BY_ADMIN
    ) -> bool:
        key = await self.get(tenant_id, key_id)
        if key is None:
            return False
        if key.revoked_at is None:
            self.stored[key_id] = replace(key, revoked_at=at, revoked_reason=reason)
        return True

    async def touch(self, key: ApiKey, at: datetime) -> None:
        self.stored[key.key_id] = replace(self.stored[key.key_id], last_used_at=at)


def memory_stores() -> IdentityStores:
    return IdentityStores(
        tenants=MemoryTenants(),
        users=MemoryUsers(),
        memberships=MemoryMemberships(),
        api_keys=MemoryApiKeys(),
    )


def create_gateway(settings: GatewaySettings) -> FastAPI:
    """The gateway `create_app` builds, with its tenants, users and keys in memory (bootstrapped
    from the settings' `TENANTS`, as the database would be)."""
    app = create_app(settings)
    identity = build_identity(
        settings,
        memory_stores(),
        httpx.AsyncClient(timeout=settings.oidc.http_timeout_seconds),
    )
    # No migrations: the stores they would change are these, in memory.
    app.state.container = dataclasses.replace(
        app.state.container, identity=identity, migrations=None
    )
    return app
