"""API keys: created, listed and revoked by tenant admins; presented by internal systems."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from crm_gateway.application.cache import TtlCache
from crm_gateway.domain.api_keys import (
    LAST_USED_RESOLUTION,
    ApiKey,
    MalformedKey,
    Revocation,
    created_by_any,
    digest_matches,
    invalid_scopes,
    key_id_of_principal,
    key_lookup_prefix,
    new_key_secret,
)
from crm_shared import utc_now


class ApiKeys(Protocol):
    """Where API keys are stored."""

    async def insert(self, key: ApiKey) -> None: ...

    async def by_prefix(self, prefix: str) -> ApiKey | None: ...

    async def get(self, tenant_id: str, key_id: str) -> ApiKey | None: ...

    async def list(self, tenant_id: str) -> list[ApiKey]: ...

    async def revoke(
        self, tenant_id: str, key_id: str, at: datetime, reason: Revocation = ...
    ) -> bool: ...

    async def touch(self, key: ApiKey, at: datetime) -> None: ...


class InvalidKeyRequest(ValueError):
    """A key asked for with scopes outside the permission vocabulary (or none), too long a
    life, or both: every fault at once, so the caller fixes its request in one go."""

    def __init__(self, unknown_scopes: list[str], no_scopes: bool, longest: timedelta | None):
        faults = [*unknown_scopes, *(["no scopes"] if no_scopes else [])]
        if longest is not None:
            faults.append(f"a life over {longest.days} days")
        super().__init__(", ".join(faults))
        self.unknown_scopes = unknown_scopes
        self.no_scopes = no_scopes
        # The longest life allowed, when the one asked for is longer; None otherwise.
        self.longest = longest


class ScopeEscalation(Exception):
    """A key asked to create a key with scopes it does not hold itself."""


class KeyNotFound(Exception):
    """The tenant has no key with the id."""


class KeyRefused(Exception):
    """A presented key that is unknown, revoked or expired (the reason never shows the key)."""

    def __init__(
        self,
        detail: str,
        reason: str = "invalid_key",
        tenant_id: str | None = None,
        key_id: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        # For the audit entry: why, and the key (its id and tenant) when it is a real one.
        self.reason = reason
        self.tenant_id = tenant_id
        self.key_id = key_id


@dataclass(frozen=True)
class CreatedKey:
    """A new key and its text, which is shown this once and stored nowhere."""

    key: ApiKey
    plaintext: str


class ApiKeyAdministration:
    """A tenant admin's use cases for API keys."""

    def __init__(
        self,
        keys: ApiKeys,
        authenticator: KeyAuthenticator,
        clock: Callable[[], datetime] = utc_now,
        max_lifetime: timedelta = timedelta(days=366),
    ) -> None:
        self._keys = keys
        self._authenticator = authenticator
        self._clock = clock
        self._max_lifetime = max_lifetime

    async def create(
        self,
        tenant_id: str,
        created_by: str,
        name: str,
        scopes: list[str],
        lifetime: timedelta,
    ) -> CreatedKey:
        unknown = invalid_scopes(scopes)
        too_long = lifetime > self._max_lifetime
        if unknown or not scopes or too_long:
            raise InvalidKeyRequest(unknown, not scopes, self._max_lifetime if too_long else None)
        creator_key = key_id_of_principal(created_by)
        if creator_key is not None:
            # A key (with `users:write`) may make keys, but none with more than its own scopes.
            creator = await self._keys.get(tenant_id, creator_key)
            if creator is None or not all(creator.allows(scope) for scope in scopes):
                raise ScopeEscalation(created_by)
        secret = new_key_secret()
        now = self._clock()
        key = ApiKey(
            key_id=secret.prefix,
            tenant_id=tenant_id,
            name=name,
            scopes=frozenset(scopes),
            digest=secret.digest,
            created_by=created_by,
            created_at=now,
            expires_at=now + lifetime,
        )
        await self._keys.insert(key)
        # Its prefix may have been looked up (and cached as unknown) before.
        self._authenticator.forget(key.key_id)
        return CreatedKey(key, secret.plaintext)

    async def list(self, tenant_id: str) -> list[ApiKey]:
        return await self._keys.list(tenant_id)

    async def get(self, tenant_id: str, key_id: str) -> ApiKey:
        key = await self._keys.get(tenant_id, key_id)
        if key is None:
            raise KeyNotFound(key_id)
        return key

    async def revoke(self, tenant_id: str, key_id: str) -> ApiKey:
        """Revokes a key: refused from now on (on other gateway replicas within the key
        cache's lifetime)."""
        if not await self._keys.revoke(tenant_id, key_id, self._clock()):
            raise KeyNotFound(key_id)
        self._authenticator.forget(key_id)
        return await self.get(tenant_id, key_id)

    async def revoke_created_by(self, tenant_id: str, user_id: str) -> tuple[ApiKey, ...]:
        """Revokes every key a removed member created (and the keys those keys created), with
        the reason `creator_removed`; returns them. A re-invited member does not get them back:
        a revocation is final."""
        revoked: tuple[ApiKey, ...] = ()
        now = self._clock()
        for key in created_by_any(await self._keys.list(tenant_id), {user_id}):
            await self._keys.revoke(tenant_id, key.key_id, now, Revocation.CREATOR_REMOVED)
            self._authenticator.forget(key.key_id)
            revoked += (key,)
        return revoked


class KeyAuthenticator:
    """Finds the stored key a bearer token presents, by its lookup prefix, and checks its
    digest, revocation and expiry. Keys are cached `cache_seconds` per process; the last-used
    time is written at most once a minute per key and process."""

    def __init__(
        self,
        keys: ApiKeys,
        cache_seconds: float = 5.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._keys = keys
        self._cache: TtlCache[str, ApiKey | None] = TtlCache(cache_seconds)
        self._clock = clock
        self._last_written: dict[str, datetime] = {}

    def forget(self, key_id: str) -> None:
        self._cache.forget(key_id)

    async def authenticate(self, token: str) -> ApiKey:
        """The usable key a token is; raises `KeyRefused` otherwise."""
        try:
            prefix = key_lookup_prefix(token)
        except MalformedKey:
            raise KeyRefused("the API key is not valid") from None
        fresh, key = self._cache.get(prefix)
        if not fresh:
            key = await self._keys.by_prefix(prefix)
            # Unknown prefixes are cached too, so made-up keys cost one read per interval.
            self._cache.put(prefix, key)
        # One answer for unknown and wrong keys: a caller learns nothing about which prefixes
        # exist.
        if key is None or not digest_matches(token, key.digest):
            raise KeyRefused("the API key is not valid")
        now = self._clock()
        if key.revoked_at is not None and key.revoked_reason is Revocation.CREATOR_REMOVED:
            raise KeyRefused(
                f"the API key {key.key_id} was revoked: the member who created it was removed "
                "from the tenant (an admin creates a new key for the system that used it)",
                "key_creator_removed",
                key.tenant_id,
                key.key_id,
            )
        if key.revoked_at is not None:
            raise KeyRefused(
                f"the API key {key.key_id} was revoked", "key_revoked", key.tenant_id, key.key_id
            )
        if now >= key.expires_at:
            raise KeyRefused(
                f"the API key {key.key_id} has expired", "key_expired", key.tenant_id, key.key_id
            )
        await self._record_use(key, now)
        return key

    async def _record_use(self, key: ApiKey, now: datetime) -> None:
        last = self._last_written.get(key.key_id)
        if last is not None and now - last < LAST_USED_RESOLUTION:
            return
        self._last_written[key.key_id] = now
        if len(self._last_written) > 10_000:
            self._last_written.clear()
        await self._keys.touch(key, now)
