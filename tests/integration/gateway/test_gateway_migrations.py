"""The gateway's migrations on the real database: the keys of members removed before a removal
revoked keys are revoked once, audited as a removal audits them, and a started gateway applies
it in the background."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient

from crm_gateway.application.api_keys import ApiKeyAdministration, KeyAuthenticator, KeyRefused
from crm_gateway.domain.api_keys import Revocation
from crm_gateway.domain.audit import AuditQuery
from crm_gateway.domain.users import Membership, MembershipStatus
from crm_gateway.migrations import migrations, revoke_keys_of_removed_members
from crm_gateway.repositories.api_keys import MongoApiKeys
from crm_gateway.repositories.audit import MongoAuditLog
from crm_gateway.repositories.users import MongoMemberships
from crm_shared import Database, MigrationsInBackground, applied_migrations
from helpers import unique
from integration.gateway.tenancy_support import running_gateway

pytestmark = pytest.mark.integration

YEAR = timedelta(days=365)


@pytest.fixture
async def database(mongodb_uri: str) -> AsyncIterator[Database]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        yield client[unique("gateway_migrations")]
    finally:
        await client.close()


async def member(
    database: Database, tenant_id: str, user_id: str, status: MembershipStatus
) -> None:
    roles: frozenset[Any] = frozenset(() if status is MembershipStatus.REMOVED else ("admin",))
    await MongoMemberships(database).insert(
        Membership(tenant_id, user_id, f"{user_id}@{tenant_id}.example", roles, status)
    )


async def test_keys_of_members_removed_before_the_rule_are_revoked_once_and_audited(
    database: Database,
) -> None:
    keys = MongoApiKeys(database)
    administration = ApiKeyAdministration(keys, KeyAuthenticator(keys))
    # Bob was removed from acme before removals revoked keys; Alice is still there; in globex
    # Bob is still a member.
    await member(database, "acme", "u-bob", MembershipStatus.REMOVED)
    await member(database, "acme", "u-alice", MembershipStatus.ACTIVE)
    await member(database, "globex", "u-bob", MembershipStatus.ACTIVE)
    bobs = await administration.create("acme", "u-bob", "ci", ["users:write"], timedelta(9))
    made_by_key = await administration.create(
        "acme", bobs.key.principal_id, "sub", ["users:read"], timedelta(days=9)
    )
    alices = await administration.create("acme", "u-alice", "own", ["users:read"], timedelta(9))
    by_admin = await administration.create("acme", "u-bob", "old", ["users:read"], timedelta(9))
    await administration.revoke("acme", by_admin.key.key_id)
    in_globex = await administration.create("globex", "u-bob", "gx", ["users:read"], timedelta(9))
    audit_log = MongoAuditLog(database, retention=YEAR)

    assert await revoke_keys_of_removed_members(database, audit_log=audit_log) == 2

    acme = {key.key_id: key for key in await administration.list("acme")}
    assert acme[bobs.key.key_id].revoked_reason is Revocation.CREATOR_REMOVED
    assert acme[made_by_key.key.key_id].revoked_reason is Revocation.CREATOR_REMOVED
    assert acme[by_admin.key.key_id].revoked_reason is Revocation.BY_ADMIN
    assert acme[alices.key.key_id].revoked_at is None
    assert (await administration.get("globex", in_globex.key.key_id)).revoked_at is None
    with pytest.raises(KeyRefused, match="was removed") as refused:
        await KeyAuthenticator(keys).authenticate(made_by_key.plaintext)
    assert refused.value.reason == "key_creator_removed"

    def audited(entries: list[Any]) -> set[tuple[Any, ...]]:
        return {
            (
                entry.action,
                entry.reason,
                entry.outcome.value,
                entry.actor.kind.value,
                entry.actor.id,
                tuple(sorted(entry.resource.items())),
            )
            for entry in entries
        }

    entries = await audit_log.search("acme", AuditQuery(), limit=10)
    expected = {
        (
            "DELETE /api-keys/{key_id}",
            "creator_removed",
            "succeeded",
            "system",
            "migration:1",
            (("key_id", key_id), ("user_id", "u-bob")),
        )
        for key_id in (bobs.key.key_id, made_by_key.key.key_id)
    }
    assert audited(entries) == expected
    assert await audit_log.search("globex", AuditQuery(), limit=10) == []

    # Run again (as after a crash before it was recorded): nothing more revoked or audited.
    assert await revoke_keys_of_removed_members(database, audit_log=audit_log) == 0
    again = await audit_log.search("acme", AuditQuery(), limit=10)
    assert len(again) == 2
    assert audited(again) == expected


async def test_the_migration_runs_in_the_background_once_and_is_recorded(
    database: Database,
) -> None:
    await member(database, "acme", "u-bob", MembershipStatus.REMOVED)
    keys = MongoApiKeys(database)
    bobs = await ApiKeyAdministration(keys, KeyAuthenticator(keys)).create(
        "acme", "u-bob", "ci", ["users:read"], timedelta(9)
    )
    audit_log = MongoAuditLog(database, retention=YEAR)

    first = MigrationsInBackground(database, migrations(audit_log))
    first.start()
    assert await asyncio.wait_for(first.finished(), 30) == [1]
    second = MigrationsInBackground(database, migrations(audit_log))
    second.start()
    assert await asyncio.wait_for(second.finished(), 30) == []

    assert await applied_migrations(database) == {1: "api-keys-of-removed-members-revoked"}
    assert (await keys.get("acme", bobs.key.key_id)).revoked_reason is (  # type: ignore[union-attr]
        Revocation.CREATOR_REMOVED
    )


def test_a_started_gateway_refuses_the_key_of_a_member_removed_before_the_rule(
    mongodb_uri: str,
) -> None:
    name = unique("gateway_migrated")
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri, tz_aware=True)

    async def stored_before() -> str:
        seeding: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
        try:
            seeded = seeding[name]
            await member(seeded, "acme", "u-bob", MembershipStatus.REMOVED)
            keys = MongoApiKeys(seeded)
            created = await ApiKeyAdministration(keys, KeyAuthenticator(keys)).create(
                "acme", "u-bob", "ci", ["candidates:read"], timedelta(9)
            )
            return created.plaintext
        finally:
            await seeding.close()

    plaintext = asyncio.run(stored_before())
    try:
        with running_gateway(mongodb_uri, mongodb_database=name) as gateway:
            deadline = time.monotonic() + 30
            while client[name]["migrations"].find_one({"_id": 1}) is None:
                assert time.monotonic() < deadline, "the gateway never applied migration 1"
                time.sleep(0.1)
            refused = gateway.client.get(
                "/api/v1/candidates", headers={"Authorization": f"Bearer {plaintext}"}
            )
        assert refused.status_code == 401, refused.text
        assert "was removed" in refused.json()["detail"]
    finally:
        client.close()
