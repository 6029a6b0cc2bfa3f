"""The tenants collection: one document per tenant, keyed by its id (platform-wide, so not
tenant-scoped: the operator API and the gateway's tenant directory read across tenants)."""

from __future__ import annotations

from typing import Any

from pymongo.errors import DuplicateKeyError

from crm_gateway.domain.tenants import SignInSettings, Tenant, TenantStatus
from crm_shared import Database
from crm_shared.mongo import Document

TENANTS = "tenants"


class MongoTenants:
    """Tenants in the gateway's database."""

    def __init__(self, database: Database) -> None:
        self._collection = database[TENANTS]

    async def all(self) -> list[Tenant]:
        return [_tenant(document) async for document in self._collection.find({}).sort("_id", 1)]

    async def get(self, tenant_id: str) -> Tenant | None:
        document = await self._collection.find_one({"_id": tenant_id})
        return None if document is None else _tenant(document)

    async def insert(self, tenant: Tenant) -> bool:
        """Stores a new tenant; False when one with its id exists already."""
        try:
            await self._collection.insert_one(_document(tenant))
        except DuplicateKeyError:
            return False
        return True

    async def replace(self, tenant: Tenant) -> bool:
        """Stores a tenant's new state; False when it does not exist."""
        result = await self._collection.replace_one({"_id": tenant.tenant_id}, _document(tenant))
        return result.matched_count == 1


def _document(tenant: Tenant) -> Document:
    sign_in = tenant.sign_in
    return {
        "_id": tenant.tenant_id,
        "name": tenant.name,
        "status": tenant.status.value,
        "community_key": tenant.community_key,
        "sign_in": {
            "issuer": sign_in.issuer,
            "audience": sign_in.audience,
            "roles_claim": sign_in.roles_claim,
            # Pairs, not a subdocument: a provider's role name may hold `.` or start with `$`.
            "role_mapping": [[name, role] for name, role in sign_in.role_mapping.items()],
            "user_claim": sign_in.user_claim,
            "email_claim": sign_in.email_claim,
            "name_claim": sign_in.name_claim,
            "tenant_claim": sign_in.tenant_claim,
            "email_domains": list(sign_in.email_domains),
            "jit_provisioning": sign_in.jit_provisioning,
            "default_role": sign_in.default_role,
            "roles_from_token": sign_in.roles_from_token,
        },
    }


def _tenant(document: dict[str, Any]) -> Tenant:
    stored = document.get("sign_in") or {}
    defaults = SignInSettings()
    sign_in = SignInSettings(
        issuer=stored.get("issuer"),
        audience=stored.get("audience"),
        roles_claim=stored.get("roles_claim", defaults.roles_claim),
        role_mapping={name: role for name, role in stored.get("role_mapping") or []},
        user_claim=stored.get("user_claim", defaults.user_claim),
        email_claim=stored.get("email_claim", defaults.email_claim),
        name_claim=stored.get("name_claim", defaults.name_claim),
        tenant_claim=stored.get("tenant_claim"),
        email_domains=tuple(stored.get("email_domains") or ()),
        jit_provisioning=bool(stored.get("jit_provisioning", False)),
        default_role=stored.get("default_role", defaults.default_role),
        roles_from_token=bool(stored.get("roles_from_token", False)),
    )
    return Tenant(
        tenant_id=document["_id"],
        name=document["name"],
        status=TenantStatus(document["status"]),
        community_key=document.get("community_key"),
        sign_in=sign_in,
    )
