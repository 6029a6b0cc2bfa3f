"""A tenant admin's use cases on memory stores: the tenant keeps an active admin whatever is
removed or demoted (themselves included), and a member's address and display name change with
the uniqueness rule of invitations."""

from __future__ import annotations

import pytest

from crm_gateway.application.users import (
    InvitationAddressFixed,
    MemberChange,
    MemberSignIn,
    UserAdministration,
)
from crm_gateway.domain.users import (
    AddressTaken,
    LastAdminError,
    Membership,
    MembershipStatus,
    User,
    check_an_admin_remains,
)
from crm_shared import Role
from unit.gateway.memory_identity import MemoryMemberships, MemoryUsers

ACTIVE, INVITED, REMOVED = (
    MembershipStatus.ACTIVE,
    MembershipStatus.INVITED,
    MembershipStatus.REMOVED,
)


def member(
    user_id: str, roles: set[Role], status: MembershipStatus = ACTIVE, tenant_id: str = "acme"
) -> Membership:
    return Membership(tenant_id, user_id, f"{user_id}@acme.example", frozenset(roles), status)


@pytest.mark.parametrize(
    ("members", "changed", "refused"),
    [
        # The only active admin: removed, demoted -> refused.
        ([member("ada", {"admin"})], member("ada", set(), REMOVED), True),
        ([member("ada", {"admin"})], member("ada", {"recruiter"}), True),
        # An invited or removed admin does not count as the one that remains.
        (
            [member("ada", {"admin"}), member("ivy", {"admin"}, INVITED)],
            member("ada", {"viewer"}),
            True,
        ),
        # Another active admin remains.
        (
            [member("ada", {"admin"}), member("bob", {"admin", "recruiter"})],
            member("ada", set(), REMOVED),
            False,
        ),
        # Still an admin, with more roles.
        ([member("ada", {"admin"})], member("ada", {"admin", "marketer"}), False),
        # Not an active admin now: a tenant without one can still be administered.
        ([member("ivy", {"admin"}, INVITED)], member("ivy", set(), REMOVED), False),
        ([member("rita", {"recruiter"})], member("rita", set(), REMOVED), False),
    ],
)
def test_the_last_active_admin_is_neither_removed_nor_demoted(
    members: list[Membership], changed: Membership, refused: bool
) -> None:
    if refused:
        with pytest.raises(LastAdminError):
            check_an_admin_remains(members, changed)
    else:
        check_an_admin_remains(members, changed)


class Stores:
    def __init__(self, *members: Membership) -> None:
        self.users, self.memberships = MemoryUsers(), MemoryMemberships()
        for membership in members:
            self.users.stored[membership.user_id] = User(membership.user_id, membership.email)
            self.memberships.stored[(membership.tenant_id, membership.user_id)] = membership
        self.admin = UserAdministration(
            self.users, self.memberships, MemberSignIn(self.users, self.memberships)
        )

    def status(self, user_id: str) -> tuple[MembershipStatus, frozenset[Role]]:
        stored = self.memberships.stored[("acme", user_id)]
        return stored.status, stored.roles


async def test_the_last_admin_cannot_remove_or_demote_themselves_until_another_is_admin() -> None:
    stores = Stores(member("ada", {"admin"}), member("bob", {"recruiter"}))

    with pytest.raises(LastAdminError):
        await stores.admin.remove("acme", "ada")
    with pytest.raises(LastAdminError):
        await stores.admin.change("acme", "ada", MemberChange(roles=frozenset({"recruiter"})))
    assert stores.status("ada") == (ACTIVE, frozenset({"admin"}))

    await stores.admin.change("acme", "bob", MemberChange(roles=frozenset({"admin"})))
    await stores.admin.remove("acme", "ada")
    assert stores.status("ada") == (REMOVED, frozenset())
    # Bob is now the last one.
    with pytest.raises(LastAdminError):
        await stores.admin.remove("acme", "bob")


async def test_an_admin_of_another_tenant_does_not_count() -> None:
    stores = Stores(member("ada", {"admin"}), member("gus", {"admin"}, tenant_id="globex"))

    with pytest.raises(LastAdminError):
        await stores.admin.remove("acme", "ada")


async def test_a_change_that_loses_a_race_is_put_back() -> None:
    """Two admins demoting each other at once: the later write finds no admin left after it
    and restores what it changed."""
    stores = Stores(member("ada", {"admin"}), member("bob", {"admin"}))
    memberships = stores.memberships
    original_list = memberships.list
    raced = False

    async def list_then_race(tenant_id: str) -> list[Membership]:
        nonlocal raced
        seen = await original_list(tenant_id)
        if not raced:  # bob is demoted by another request between ada's check and write
            raced = True
            memberships.stored[("acme", "bob")] = member("bob", {"viewer"})
        return seen

    memberships.list = list_then_race  # type: ignore[method-assign]

    with pytest.raises(LastAdminError):
        await stores.admin.remove("acme", "ada")

    assert stores.status("ada") == (ACTIVE, frozenset({"admin"}))


async def test_an_active_members_address_and_name_change_and_stay_unique() -> None:
    stores = Stores(
        member("ada", {"admin"}), member("rita", {"recruiter"}), member("ivy", {"viewer"}, INVITED)
    )

    changed = await stores.admin.change(
        "acme", "rita", MemberChange(email=" Rita.New@Acme.example ", name="Rita N.")
    )

    assert (changed.membership.email, changed.membership.name) == (
        "rita.new@acme.example",
        "Rita N.",
    )
    assert changed.membership.roles == frozenset({"recruiter"})
    with pytest.raises(AddressTaken):
        await stores.admin.change("acme", "rita", MemberChange(email="ivy@acme.example"))
    with pytest.raises(InvitationAddressFixed):
        await stores.admin.change("acme", "ivy", MemberChange(email="ivy.new@acme.example"))
    # The invitation's own address again, or only its name: allowed.
    renamed = await stores.admin.change(
        "acme", "ivy", MemberChange(email="IVY@acme.example", name="Ivy")
    )
    assert (renamed.membership.email, renamed.membership.name) == ("ivy@acme.example", "Ivy")
