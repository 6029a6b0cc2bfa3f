"""Tenants, people, memberships and API keys in the gateway's MongoDB: the repositories and use
cases on the real database, the bootstrap from settings, and what is cached how long."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crm_gateway.application.api_keys import ApiKeyAdministration, KeyAuthenticator, KeyRefused
from crm_gateway.application.tenants import (
    TenantAdministration,
    TenantDirectory,
    bootstrap_tenants,
)
from crm_gateway.application.users import MemberSignIn, UserAdministration
from crm_gateway.domain.api_keys import Revocation
from crm_gateway.domain.tenants import SignInSettings, Tenant, TenantStatus
from crm_gateway.domain.users import Identity, MembershipStatus, SignInClaims, SignInRefused
from crm_gateway.repositories.api_keys import MongoApiKeys
from crm_gateway.repositories.tenants import MongoTenants
from crm_gateway.repositories.users import MongoMemberships, MongoUsers
from crm_shared import Database
from helpers import unique

pytestmark = pytest.mark.integration


@pytest.fixture
async def database(mongodb_uri: str) -> AsyncIterator[Database]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        yield client[unique("gateway_store")]
    finally:
        await client.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_bootstrap_inserts_missing_tenants_and_never_overrides_stored_ones(
    database: Database,
) -> None:
    tenants = MongoTenants(database)
    await tenants.insert(Tenant("acme", "Acme", TenantStatus.SUSPENDED))
    sso = SignInSettings(
        issuer="https://sso.example",
        audience="crm",
        jit_provisioning=True,
        role_mapping={"crm.admins": "admin", "$recruiters": "recruiter"},
    )

    inserted = await bootstrap_tenants(
        tenants,
        [Tenant("acme", "Acme from settings", sign_in=sso), Tenant("globex", "Globex")],
    )

    assert inserted == 1
    acme = await tenants.get("acme")
    assert acme is not None
    # The operator's suspension stands; the provider the OIDC setting names is filled in.
    assert (acme.name, acme.status, acme.sign_in) == ("Acme", TenantStatus.SUSPENDED, sso)
    assert [t.tenant_id for t in await tenants.all()] == ["acme", "globex"]
    assert await bootstrap_tenants(tenants, [Tenant("globex", "Globex")]) == 0


async def test_a_change_through_another_replica_is_seen_within_the_cache_time(
    database: Database,
) -> None:
    clock = Clock()
    here = TenantDirectory(MongoTenants(database), [Tenant("acme", "Acme")], clock=clock)
    there = TenantDirectory(MongoTenants(database), clock=clock)
    assert (await here.tenant("acme")) is not None
    assert (await there.tenant("acme")) is not None

    await TenantAdministration(MongoTenants(database), here).set_status(
        "acme", TenantStatus.SUSPENDED
    )

    stale = await there.tenant("acme")
    assert stale is not None
    assert stale.active
    clock.now += 5
    fresh = await there.tenant("acme")
    assert fresh is not None
    assert not fresh.active
    # The replica that made the change sees it at once.
    mine = await here.tenant("acme")
    assert mine is not None
    assert not mine.active


async def test_memberships_are_per_tenant_and_a_person_may_belong_to_several(
    database: Database,
) -> None:
    users, memberships = MongoUsers(database), MongoMemberships(database)
    sign_in = MemberSignIn(users, memberships)
    admin = UserAdministration(users, memberships, sign_in)

    at_acme = await admin.invite("acme", "Nina@Example.com", frozenset({"viewer"}))
    at_globex = await admin.invite("globex", "nina@example.com", frozenset({"admin"}))

    assert at_acme.user.user_id == at_globex.user.user_id
    assert [m.membership.roles for m in await admin.list("acme")] == [frozenset({"viewer"})]
    assert [m.membership.roles for m in await admin.list("globex")] == [frozenset({"admin"})]
    assert await admin.list("initech") == []
    await admin.remove("acme", at_acme.user.user_id)
    assert await admin.list("acme") == []
    removed = await memberships.get("acme", at_acme.user.user_id)
    assert removed is not None
    assert removed.status is MembershipStatus.REMOVED
    # Re-inviting a removed person makes them pending again.
    again = await admin.invite("acme", "nina@example.com", frozenset({"recruiter"}))
    assert again.membership.status is MembershipStatus.INVITED


async def test_signing_in_links_the_identity_and_activates_the_invitation(
    database: Database,
) -> None:
    users, memberships = MongoUsers(database), MongoMemberships(database)
    sign_in = MemberSignIn(users, memberships)
    invited = await UserAdministration(users, memberships, sign_in).invite(
        "acme", "nina@example.com", frozenset({"recruiter"})
    )
    acme = Tenant("acme", "Acme", sign_in=SignInSettings(issuer="https://sso", audience="crm"))
    identity = Identity("https://sso", "sub-nina")
    claims = SignInClaims(identity, "nina@example.com", True, "Nina")

    principal = await sign_in.principal(acme, claims)

    assert (principal.user_id, principal.roles) == (invited.user.user_id, frozenset({"recruiter"}))
    person = await users.by_identity(identity)
    assert person is not None
    assert person.name == "Nina"
    active = await memberships.get("acme", invited.user.user_id)
    assert active is not None
    assert active.status is MembershipStatus.ACTIVE
    # Known by identity from now on, whatever address the token carries.
    later = replace(claims, email=None, email_verified=False)
    assert (await MemberSignIn(users, memberships).principal(acme, later)).user_id == (
        invited.user.user_id
    )
    # Not a member of another tenant for all that.
    with pytest.raises(SignInRefused):
        await sign_in.principal(replace(acme, tenant_id="globex"), later)


async def test_a_key_is_found_by_prefix_refused_once_revoked_and_its_use_recorded_once_a_minute(
    database: Database,
) -> None:
    keys = MongoApiKeys(database)
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def clock() -> datetime:
        return now

    authenticator = KeyAuthenticator(keys, clock=clock)
    administration = ApiKeyAdministration(keys, authenticator, clock=clock)
    created = await administration.create(
        "acme", "alice", "ci", ["pools:write"], timedelta(days=30)
    )

    assert (await authenticator.authenticate(created.plaintext)).key_id == created.key.key_id
    first_use = (await administration.get("acme", created.key.key_id)).last_used_at
    assert first_use == now
    now += timedelta(seconds=30)
    await authenticator.authenticate(created.plaintext)
    assert (await administration.get("acme", created.key.key_id)).last_used_at == first_use
    now += timedelta(seconds=31)
    await authenticator.authenticate(created.plaintext)
    assert (await administration.get("acme", created.key.key_id)).last_used_at == now
    # Other tenants neither see nor revoke it.
    assert await administration.list("globex") == []
    assert not await keys.revoke("globex", created.key.key_id, now)

    await administration.revoke("acme", created.key.key_id)

    with pytest.raises(KeyRefused, match="revoked"):
        await authenticator.authenticate(created.plaintext)
    now += timedelta(days=31)
    with pytest.raises(KeyRefused):
        await KeyAuthenticator(keys, clock=clock).authenticate(created.plaintext)


async def test_a_removed_members_keys_are_stored_revoked_with_the_reason(
    database: Database,
) -> None:
    keys = MongoApiKeys(database)
    authenticator = KeyAuthenticator(keys)
    administration = ApiKeyAdministration(keys, authenticator)
    bobs = await administration.create("acme", "u-bob", "ci", ["users:write"], timedelta(days=9))
    made_by_key = await administration.create(
        "acme", bobs.key.principal_id, "sub", ["users:read"], timedelta(days=9)
    )
    alices = await administration.create("acme", "u-alice", "own", ["users:read"], timedelta(9))
    by_admin = await administration.create("acme", "u-bob", "old", ["users:read"], timedelta(9))
    await administration.revoke("acme", by_admin.key.key_id)

    revoked = await administration.revoke_created_by("acme", "u-bob")

    assert {key.key_id for key in revoked} == {bobs.key.key_id, made_by_key.key.key_id}
    stored = {key.key_id: key for key in await administration.list("acme")}
    assert stored[bobs.key.key_id].revoked_reason is Revocation.CREATOR_REMOVED
    assert stored[made_by_key.key.key_id].revoked_reason is Revocation.CREATOR_REMOVED
    # Revoked before by an admin: its reason is kept.
    assert stored[by_admin.key.key_id].revoked_reason is Revocation.BY_ADMIN
    assert stored[alices.key.key_id].revoked_at is None
    with pytest.raises(KeyRefused, match="was removed") as refused:
        await KeyAuthenticator(keys).authenticate(bobs.plaintext)
    assert refused.value.reason == "key_creator_removed"


async def test_a_removal_through_another_replica_is_in_force_within_the_cache_time(
    database: Database,
) -> None:
    users, memberships = MongoUsers(database), MongoMemberships(database)
    clock = Clock()
    here = MemberSignIn(users, memberships, clock=clock)
    there = MemberSignIn(users, memberships, clock=clock)
    acme = Tenant("acme", "Acme", sign_in=SignInSettings(jit_provisioning=True))
    claims = SignInClaims(Identity("https://sso", "sub-tom"), "tom@example.com", True, "Tom")
    tom = await here.principal(acme, claims)
    assert (await there.principal(acme, claims)).user_id == tom.user_id

    await UserAdministration(users, memberships, here).remove("acme", tom.user_id)

    with pytest.raises(SignInRefused):
        await here.principal(acme, claims)
    assert (await there.principal(acme, claims)).user_id == tom.user_id  # within the 5 s
    clock.now += 5
    with pytest.raises(SignInRefused) as refused:
        await there.principal(acme, claims)
    assert refused.value.problem_type == "membership-removed"
