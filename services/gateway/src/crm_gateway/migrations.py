"""Changes to the gateway's stored data, each run once per database (versions never change;
append new ones).

The gateway starts and serves without its database (docs/reliability.md), so its migrations
run in the background once the database answers (`crm_shared.MigrationsInBackground`), not as a
start-up hook that would hold the start up.
"""

from __future__ import annotations

from datetime import datetime

from crm_gateway.domain.api_keys import ApiKey, Revocation, created_by_any
from crm_gateway.domain.audit import Actor, ActorKind, AuditEntry, Outcome, action_name
from crm_gateway.domain.users import MembershipStatus
from crm_gateway.repositories.api_keys import MongoApiKeys
from crm_gateway.repositories.audit import AuditLog
from crm_gateway.repositories.users import MongoMemberships
from crm_shared import Migration, utc_now
from crm_shared.mongo import Database

# Removing a member revokes their keys since December 2026; this revokes the keys of members
# removed before.
KEYS_OF_REMOVED_MEMBERS = 1


def migrations(audit_log: AuditLog) -> list[Migration]:
    """The gateway's migrations; the key revocations are audited in `audit_log`."""

    async def revoke_keys(database: Database) -> None:
        await revoke_keys_of_removed_members(database, audit_log=audit_log)

    return [Migration(KEYS_OF_REMOVED_MEMBERS, "api-keys-of-removed-members-revoked", revoke_keys)]


async def revoke_keys_of_removed_members(
    database: Database, *, audit_log: AuditLog, now: datetime | None = None
) -> int:
    """Revokes, tenant by tenant, every live key whose creator is a removed member (and the
    keys those keys made), with the reason `creator_removed`, as `DELETE /users/{user_id}` does
    since December 2026; returns how many it revoked.

    Each revocation is audited as the removal audits it (`DELETE /api-keys/{key_id}`, reason
    `creator_removed`, `key_id` and the removed member's `user_id` as resource), with the
    gateway as actor (`system`, `migration:1`): nobody removed anyone now. Safe to run again:
    a revoked key is not revoked twice, and each key this migration revoked is audited under an
    id made of its revocation time and key id, which a rerun writes again only as a duplicate
    the audit log ignores."""
    at = now or utc_now()
    memberships = MongoMemberships(database)
    keys = MongoApiKeys(database)
    revoked = 0
    for tenant_id in await memberships.tenants_with_removed_members():
        removed = [
            membership.user_id
            for membership in await memberships.list(tenant_id)
            if membership.status is MembershipStatus.REMOVED
        ]
        stored = await keys.list(tenant_id)
        for user_id in removed:
            for key in created_by_any(stored, {user_id}):
                await keys.revoke(
                    tenant_id,
                    key.key_id,
                    at,
                    Revocation.CREATOR_REMOVED,
                    migration=KEYS_OF_REMOVED_MEMBERS,
                )
                revoked += 1
            # Keys made by keys of two removed members are revoked (and named) once.
            stored = await keys.list(tenant_id)
        await audit_log.append(
            [
                _revocation_entry(key, _removed_creator(key, stored, removed))
                for key in await keys.revoked_in_migration(tenant_id, KEYS_OF_REMOVED_MEMBERS)
            ]
        )
    return revoked


def _removed_creator(key: ApiKey, keys: list[ApiKey], removed: list[str]) -> str:
    """The removed member whose key (or key of a key) this is."""
    by_principal = {stored.principal_id: stored for stored in keys}
    creator = key.created_by
    while creator in by_principal and creator not in removed:
        creator = by_principal[creator].created_by
    return creator


def _revocation_entry(key: ApiKey, user_id: str) -> AuditEntry:
    assert key.revoked_at is not None  # read back from the keys this migration revoked
    return AuditEntry(
        # The same id on a rerun: the audit log keeps the first.
        id=f"{int(key.revoked_at.timestamp() * 1000):013d}-{key.key_id}",
        at=key.revoked_at,
        tenant_id=key.tenant_id,
        actor=Actor(ActorKind.SYSTEM, f"migration:{KEYS_OF_REMOVED_MEMBERS}", key.tenant_id),
        action=action_name("DELETE", "/api-keys/{key_id}"),
        status=200,
        outcome=Outcome.SUCCEEDED,
        resource={"key_id": key.key_id, "user_id": user_id},
        reason=Revocation.CREATOR_REMOVED.value,
    )
