"""An invitation and its announcement (`user.invited`, which campaigns mails) are written in
one transaction of the gateway's database: both or neither, and nothing for a refused one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient

from crm_devstack.infra import free_ports
from crm_gateway.application.users import (
    AlreadyMember,
    MemberChange,
    MemberSignIn,
    NotInvited,
    UserAdministration,
)
from crm_gateway.domain.tenants import Tenant
from crm_gateway.domain.users import GrantRefused, Membership, MembershipStatus
from crm_gateway.publishers import OutboxInvitationNotices
from crm_gateway.repositories.tenants import MongoTenants
from crm_gateway.repositories.users import MongoMemberships, MongoUsers
from crm_shared import (
    Database,
    Outbox,
    Principal,
    RawEnvelope,
    Session,
    UserInvited,
)
from crm_shared import (
    MongoClient as AsyncClient,
)
from helpers import unique
from integration.gateway.tenancy_support import ADMIN, OPERATOR, Gateway, running_gateway

pytestmark = pytest.mark.integration


def announced(mongodb_uri: str, database: str) -> list[tuple[RawEnvelope, UserInvited]]:
    """The `user.invited` events in the gateway's outbox, oldest first."""
    with MongoClient[dict[str, Any]](mongodb_uri) as client:
        records = list(client[database]["outbox"].find({}, sort=[("_id", 1)]))
    events: list[tuple[RawEnvelope, UserInvited]] = []
    for record in records:
        assert record["topic"] == "user.invited"
        envelope = RawEnvelope.model_validate_json(record["value"])
        assert record["key"] == envelope.subject
        events.append((envelope, UserInvited.model_validate(envelope.data)))
    return events


@pytest.fixture
def gateway(mongodb_uri: str) -> Iterator[Gateway]:
    """A gateway whose Kafka is away (nothing listens at its address): it starts all the same,
    and its invitations wait in the outbox."""
    [nothing_listens] = free_ports(1)
    with running_gateway(
        mongodb_uri,
        public_url="https://crm.example.com",
        console_url="http://console.internal",
        kafka_bootstrap_servers=f"127.0.0.1:{nothing_listens}",
    ) as running:
        yield running


def test_the_gateway_is_ready_without_kafka_and_reports_its_relay(gateway: Gateway) -> None:
    ready = gateway.client.get("/readyz")

    assert ready.status_code == 200, ready.text
    assert "kafka" not in ready.json()["checks"]
    assert ready.json()["outbox_relay"]["state"] == "starting"


def test_an_invitation_is_announced_with_whom_to_what_and_where_to_sign_in(
    gateway: Gateway, mongodb_uri: str
) -> None:
    invited = gateway.client.post(
        "/api/v1/users", headers=ADMIN, json={"email": "Nina@Example.com", "roles": ["recruiter"]}
    )

    assert invited.status_code == 201, invited.text
    [(envelope, notice)] = announced(mongodb_uri, gateway.database)
    user_id = invited.json()["user_id"]
    assert (envelope.type, envelope.source, envelope.tenant_id, envelope.subject) == (
        "user.invited",
        "gateway",
        "acme",
        user_id,
    )
    assert (notice.user_id, notice.email, notice.roles) == (
        user_id,
        "nina@example.com",
        ["recruiter"],
    )
    assert (notice.invited_by_user_id, notice.tenant_name) == ("alice", "Acme")
    assert notice.sign_in_url == "https://crm.example.com/console/sign-in?tenant=acme"
    assert notice.invitation_id.startswith("inv_")


def test_a_refused_invitation_announces_nothing(gateway: Gateway, mongodb_uri: str) -> None:
    body = {"email": "nina@example.com", "roles": ["recruiter"]}
    assert gateway.client.post("/api/v1/users", headers=ADMIN, json=body).status_code == 201

    again = gateway.client.post("/api/v1/users", headers=ADMIN, json=body)
    refused_grant = gateway.client.post(
        "/api/v1/users",
        headers={"Authorization": "Bearer tok-recruiter"},
        json={"email": "otto@example.com", "roles": ["admin"]},
    )

    assert again.status_code == 409, again.text
    assert refused_grant.status_code == 403, refused_grant.text
    assert [notice.email for _, notice in announced(mongodb_uri, gateway.database)] == [
        "nina@example.com"
    ]


def test_the_operators_invitation_of_a_first_admin_is_announced(
    gateway: Gateway, mongodb_uri: str
) -> None:
    invited = gateway.client.post(
        "/api/v1/platform/tenants/globex/admins",
        headers=OPERATOR,
        json={"email": "gia@globex.example"},
    )

    assert invited.status_code == 201, invited.text
    [(envelope, notice)] = announced(mongodb_uri, gateway.database)
    assert (envelope.tenant_id, notice.tenant_name, notice.roles) == ("globex", "Globex", ["admin"])
    assert (notice.invited_by_user_id, notice.invited_by_name) == (None, "")
    assert notice.sign_in_url == "https://crm.example.com/console/sign-in?tenant=globex"


class FailingAfterStaging(OutboxInvitationNotices):
    """Stages the announcement, then fails, as a crash before the commit would."""

    async def to_user_invited(
        self, tenant_id: str, invitation: UserInvited, *, session: Session
    ) -> None:
        await super().to_user_invited(tenant_id, invitation, session=session)
        raise RuntimeError("the transaction never commits")


@pytest.fixture
async def client(mongodb_uri: str) -> AsyncIterator[AsyncClient]:
    mongo: AsyncClient = AsyncMongoClient[dict[str, Any]](mongodb_uri, tz_aware=True)
    try:
        yield mongo
    finally:
        await mongo.close()


def administration(
    mongo: AsyncClient, database: Database, notices: OutboxInvitationNotices
) -> UserAdministration:
    users, memberships = MongoUsers(database), MongoMemberships(database)
    return UserAdministration(
        users,
        memberships,
        MemberSignIn(users, memberships),
        tenants=MongoTenants(database),
        notices=notices,
    )


async def acme_database(client: AsyncClient) -> tuple[str, Database, Outbox]:
    """A gateway database of its own holding the tenant Acme, and its outbox."""
    name = unique("gateway_invitations")
    database: Database = client[name]
    outbox = Outbox(database, source="gateway")
    await outbox.ensure_indexes()
    await MongoTenants(database).insert(Tenant("acme", "Acme Corp"))
    return name, database, outbox


async def test_the_membership_and_its_announcement_commit_together_or_not_at_all(
    client: AsyncClient, mongodb_uri: str
) -> None:
    name, database, outbox = await acme_database(client)
    failing = administration(client, database, FailingAfterStaging(client, outbox))

    with pytest.raises(RuntimeError):
        await failing.invite("acme", "nina@example.com", frozenset({"recruiter"}))

    assert await MongoMemberships(database).list("acme") == []
    assert announced(mongodb_uri, name) == []
    working = administration(client, database, OutboxInvitationNotices(client, outbox))
    member = await working.invite("acme", "nina@example.com", frozenset({"recruiter"}))
    assert member.membership.status is MembershipStatus.INVITED
    assert [n.email for _, n in announced(mongodb_uri, name)] == ["nina@example.com"]


async def test_inviting_a_removed_member_again_is_a_new_invitation_named_by_its_inviter(
    client: AsyncClient, mongodb_uri: str
) -> None:
    name, database, outbox = await acme_database(client)
    admin = administration(client, database, OutboxInvitationNotices(client, outbox))
    ada = await admin.invite("acme", "ada@example.com", frozenset({"admin"}))
    memberships = MongoMemberships(database)
    await memberships.update(replace(ada.membership, status=MembershipStatus.ACTIVE))
    await admin.change("acme", ada.user.user_id, MemberChange(name="Ada Lovelace"))
    by_ada = Principal(tenant_id="acme", user_id=ada.user.user_id, roles=frozenset({"admin"}))
    nina = await admin.invite("acme", "nina@example.com", frozenset({"recruiter"}), by=by_ada)
    await admin.remove("acme", nina.user.user_id)

    await admin.invite("acme", "nina@example.com", frozenset({"viewer"}), by=by_ada)

    notices = [notice for _, notice in announced(mongodb_uri, name)]
    assert [(n.email, n.roles) for n in notices] == [
        ("ada@example.com", ["admin"]),
        ("nina@example.com", ["recruiter"]),
        ("nina@example.com", ["viewer"]),
    ]
    assert {n.invited_by_name for n in notices[1:]} == {"Ada Lovelace"}
    assert notices[1].tenant_name == "Acme Corp"
    assert len({n.invitation_id for n in notices}) == 3
    with pytest.raises(AlreadyMember):
        await admin.invite("acme", "nina@example.com", frozenset({"viewer"}), by=by_ada)
    assert len(announced(mongodb_uri, name)) == 3
    assert isinstance(await memberships.get("acme", nina.user.user_id), Membership)


def test_a_pending_invitation_is_announced_again_with_a_new_id(
    gateway: Gateway, mongodb_uri: str
) -> None:
    invited = gateway.client.post(
        "/api/v1/users", headers=ADMIN, json={"email": "nina@example.com", "roles": ["viewer"]}
    )
    assert invited.status_code == 201, invited.text
    user_id = invited.json()["user_id"]

    resent = gateway.client.post(f"/api/v1/users/{user_id}/invitation", headers=ADMIN)
    not_allowed = gateway.client.post(
        f"/api/v1/users/{user_id}/invitation", headers={"Authorization": "Bearer tok-recruiter"}
    )
    nobody = gateway.client.post("/api/v1/users/usr_nobody/invitation", headers=ADMIN)

    assert resent.status_code == 202, resent.text
    assert not_allowed.status_code == 403, not_allowed.text
    assert nobody.status_code == 404, nobody.text
    [(_, first), (envelope, again)] = announced(mongodb_uri, gateway.database)
    assert (envelope.subject, again.user_id, again.email) == (user_id, user_id, first.email)
    assert again.invitation_id == resent.json()["invitation_id"] != first.invitation_id
    assert (again.roles, again.invited_by_user_id, again.sign_in_url) == (
        ["viewer"],
        "alice",
        "https://crm.example.com/console/sign-in?tenant=acme",
    )


async def test_a_member_who_signed_in_has_no_invitation_to_resend(
    client: AsyncClient, mongodb_uri: str
) -> None:
    name, database, outbox = await acme_database(client)
    admin = administration(client, database, OutboxInvitationNotices(client, outbox))
    nina = await admin.invite("acme", "nina@example.com", frozenset({"admin"}))
    by_a_recruiter = Principal(tenant_id="acme", user_id="rita", roles=frozenset({"recruiter"}))

    with pytest.raises(GrantRefused):
        await admin.resend_invitation("acme", nina.user.user_id, by=by_a_recruiter)
    await MongoMemberships(database).update(
        replace(nina.membership, status=MembershipStatus.ACTIVE)
    )
    with pytest.raises(NotInvited):
        await admin.resend_invitation("acme", nina.user.user_id)

    assert len(announced(mongodb_uri, name)) == 1
