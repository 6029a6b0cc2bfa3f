"""Tenants: the platform operator's use cases, the bootstrap from settings, and the directory
every authenticated request consults (cached briefly per process)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

from crm_gateway.domain.oidc import TenantIssuer
from crm_gateway.domain.tenants import SignInSettings, Tenant, TenantStatus
from crm_gateway.domain.users import check_may_grant
from crm_shared import ROLES, Principal, Role

logger = logging.getLogger(__name__)


class Tenants(Protocol):
    """Where tenants are stored."""

    async def all(self) -> list[Tenant]: ...

    async def get(self, tenant_id: str) -> Tenant | None: ...

    async def insert(self, tenant: Tenant) -> bool:
        """Stores a new tenant; False when one with its id exists already."""
        ...

    async def replace(self, tenant: Tenant) -> bool:
        """Stores a tenant's new state; False when it does not exist."""
        ...


class TenantExists(Exception):
    """A tenant with the id exists already."""


class TenantNotFound(Exception):
    """No tenant has the id."""


class IssuerConflict(Exception):
    """Another tenant trusts the issuer, and the two cannot tell their tokens apart."""


def _check_issuer(tenant: Tenant, others: list[Tenant]) -> None:
    """Two tenants may trust one issuer only if both name a tenant claim; otherwise a token
    could not be told whose it is (and one tenant's settings could lock the other out)."""
    issuer = tenant.sign_in.issuer
    if not issuer:
        return
    for other in others:
        if other.tenant_id == tenant.tenant_id or other.sign_in.issuer != issuer:
            continue
        if tenant.sign_in.tenant_claim is None or other.sign_in.tenant_claim is None:
            raise IssuerConflict(
                f"tenant {other.tenant_id} trusts {issuer} too: both need a tenant claim"
            )


class CommunityKeyTaken(Exception):
    """Another tenant's community key is the same: a sign-up form could not name its tenant."""


def _check_community_key(tenant: Tenant, others: list[Tenant]) -> None:
    if tenant.community_key is None:
        return
    for other in others:
        if other.tenant_id != tenant.tenant_id and other.community_key == tenant.community_key:
            raise CommunityKeyTaken(f"tenant {other.tenant_id} has this community key")


class DirectoryUnavailable(Exception):
    """The tenants could not be read, and none were read before."""


async def bootstrap_tenants(tenants: Tenants, configured: Sequence[Tenant]) -> int:
    """Inserts the tenants of the `TENANTS` setting that the database lacks (their sign-in
    from the `OIDC` setting), and gives a stored tenant without an issuer the setting's one.
    The database wins otherwise: a tenant suspended by the operator stays suspended. Returns how
    many tenants were inserted."""
    inserted = 0
    for tenant in configured:
        if await tenants.insert(tenant):
            inserted += 1
            continue
        stored = await tenants.get(tenant.tenant_id)
        if stored is not None and not stored.sign_in.issuer and tenant.sign_in.issuer:
            await tenants.replace(replace(stored, sign_in=tenant.sign_in))
    return inserted


class TenantDirectory:
    """Every tenant, read from the database at most once per `cache_seconds` per process.

    A suspension or a changed sign-in setting therefore takes effect within that time on every
    gateway replica (at once on the replica that made it). If the database cannot be read, the
    last tenants read are used (logged) until it can; before any read, requests get a 503. The
    first read inserts the bootstrap tenants (`bootstrap_tenants`)."""

    def __init__(
        self,
        tenants: Tenants,
        bootstrap: Sequence[Tenant] = (),
        *,
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tenants = tenants
        self._bootstrap = list(bootstrap)
        self._bootstrapped = False
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._snapshot: dict[str, Tenant] | None = None
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _current(self) -> dict[str, Tenant]:
        if self._snapshot is not None and self._clock() - self._read_at < self._cache_seconds:
            return self._snapshot
        async with self._lock:
            # Another request may have read them while this one waited.
            if self._snapshot is not None and self._clock() - self._read_at < self._cache_seconds:
                return self._snapshot
            try:
                if not self._bootstrapped:
                    await bootstrap_tenants(self._tenants, self._bootstrap)
                    self._bootstrapped = True
                self._snapshot = {tenant.tenant_id: tenant for tenant in await self._tenants.all()}
            except Exception as error:
                if self._snapshot is None:
                    raise DirectoryUnavailable("the tenants cannot be read") from error
                logger.warning("tenants unreadable, using those read before: %r", error)
            # A failed read is retried after the same interval, not on every request.
            self._read_at = self._clock()
            return self._snapshot

    async def bootstrapped(self) -> None:
        """Makes sure the bootstrap tenants were inserted (the first read does it)."""
        if not self._bootstrapped:
            self.invalidate()
            await self._current()

    def invalidate(self) -> None:
        """Makes the next lookup read the database (after this process changed a tenant)."""
        self._read_at = float("-inf")

    async def tenant(self, tenant_id: str) -> Tenant | None:
        return (await self._current()).get(tenant_id)

    async def all(self) -> list[Tenant]:
        return list((await self._current()).values())

    async def issuers(self) -> list[TenantIssuer]:
        """The identity provider of every tenant that has one (a suspended tenant's too, so
        its members' tokens are refused as the suspended tenant's, with a 403)."""
        found: list[TenantIssuer] = []
        for tenant in (await self._current()).values():
            issuer = tenant.sign_in.tenant_issuer(tenant.tenant_id)
            if issuer is not None:
                found.append(issuer)
        return found


class TenantAdministration:
    """The platform operator's use cases."""

    def __init__(self, tenants: Tenants, directory: TenantDirectory) -> None:
        self._tenants = tenants
        self._directory = directory

    async def create(self, tenant: Tenant) -> Tenant:
        await self._directory.bootstrapped()
        others = await self._tenants.all()
        _check_issuer(tenant, others)
        _check_community_key(tenant, others)
        if not await self._tenants.insert(tenant):
            raise TenantExists(tenant.tenant_id)
        self._directory.invalidate()
        return tenant

    async def list(self) -> list[Tenant]:
        await self._directory.bootstrapped()
        return await self._tenants.all()

    async def get(self, tenant_id: str) -> Tenant:
        await self._directory.bootstrapped()
        tenant = await self._tenants.get(tenant_id)
        if tenant is None:
            raise TenantNotFound(tenant_id)
        return tenant

    async def set_status(self, tenant_id: str, status: TenantStatus) -> Tenant:
        """Suspends or reactivates a tenant (a suspended tenant's every caller is refused)."""
        return await self._store(replace(await self.get(tenant_id), status=status))

    async def edit(
        self, tenant_id: str, *, name: str | None = None, community_key: str | None = None
    ) -> Tenant:
        tenant = await self.get(tenant_id)
        edited = replace(
            tenant,
            name=name if name is not None else tenant.name,
            community_key=community_key if community_key is not None else tenant.community_key,
        )
        _check_community_key(edited, await self._tenants.all())
        return await self._store(edited)

    async def set_sign_in(self, tenant_id: str, sign_in: SignInSettings) -> Tenant:
        tenant = replace(await self.get(tenant_id), sign_in=sign_in)
        _check_issuer(tenant, await self._tenants.all())
        return await self._store(tenant)

    async def set_admission(
        self,
        tenant_id: str,
        *,
        email_domains: tuple[str, ...],
        jit_provisioning: bool,
        default_role: Role,
        roles_from_token: bool,
        by: Principal | None = None,
    ) -> Tenant:
        """A tenant admin's part of the sign-in settings: who joins on first sign-in, with
        which role, and whether roles come from the token (the provider stays the operator's).
        A new default role is granted to every newcomer, so `by` must hold its permissions
        (`GrantRefused`); keeping the current one grants nothing new. Taking roles from the
        token lets the identity provider grant any role, admin too, so turning it on asks the
        same of every role."""
        tenant = await self.get(tenant_id)
        if by is not None and default_role != tenant.sign_in.default_role:
            check_may_grant(by, {default_role})
        if by is not None and roles_from_token and not tenant.sign_in.roles_from_token:
            check_may_grant(by, ROLES)
        sign_in = replace(
            tenant.sign_in,
            email_domains=email_domains,
            jit_provisioning=jit_provisioning,
            default_role=default_role,
            roles_from_token=roles_from_token,
        )
        return await self._store(replace(tenant, sign_in=sign_in))

    async def _store(self, tenant: Tenant) -> Tenant:
        if not await self._tenants.replace(tenant):
            raise TenantNotFound(tenant.tenant_id)
        self._directory.invalidate()
        return tenant
