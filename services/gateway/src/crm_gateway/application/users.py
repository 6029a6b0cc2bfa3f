"""Users and memberships: the tenant admin's use cases, and signing a verified OIDC token in
as a member of its tenant."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from crm_gateway.application.api_keys import ApiKeyAdministration
from crm_gateway.application.cache import TtlCache
from crm_gateway.application.tenants import Tenants
from crm_gateway.domain.api_keys import ApiKey
from crm_gateway.domain.tenants import Tenant
from crm_gateway.domain.users import (
    Admission,
    Identity,
    LastAdminError,
    Membership,
    MembershipStatus,
    RolesFromToken,
    SignInClaims,
    SignInRefused,
    User,
    admit_newcomer,
    check_an_admin_remains,
    check_may_grant,
    member_roles,
)
from crm_shared import Principal, Role, Session, UserInvited, new_id, utc_now

ResultT = TypeVar("ResultT")


class Users(Protocol):
    """Where people are stored."""

    async def get(self, user_id: str) -> User | None: ...

    async def by_identity(self, identity: Identity) -> User | None: ...

    async def by_email(self, email: str) -> User | None: ...

    async def insert(self, user: User) -> bool:
        """Stores a new person; False when one with the e-mail address exists already."""
        ...

    async def add_identity(self, user_id: str, identity: Identity, name: str) -> None: ...


class Memberships(Protocol):
    """Where memberships are stored (each call confined to one tenant)."""

    async def get(self, tenant_id: str, user_id: str) -> Membership | None: ...

    async def by_email(self, tenant_id: str, email: str) -> Membership | None: ...

    async def list(self, tenant_id: str) -> list[Membership]: ...

    async def insert(self, membership: Membership, *, session: Session | None = None) -> bool:
        """Stores a new membership (in `session`'s transaction, if any); False when the tenant
        has one for the person or address."""
        ...

    async def update(self, membership: Membership, *, session: Session | None = None) -> bool:
        """Stores a membership's roles, status, address and name (in `session`'s transaction,
        if any); False when it does not exist; raises `AddressTaken` when another membership of
        the tenant holds the address."""
        ...


class InvitationNotices(Protocol):
    """Announces invitations (`user.invited`, which campaigns mails) in the same transaction
    as the membership they invite to."""

    async def in_transaction(self, work: Callable[[Session], Awaitable[ResultT]]) -> ResultT: ...

    async def to_user_invited(
        self, tenant_id: str, invitation: UserInvited, *, session: Session
    ) -> None: ...


class MemberNotFound(Exception):
    """The tenant has no such (present) member."""


class AlreadyMember(Exception):
    """The address belongs to a member or pending invitation of the tenant already."""


class InvitationAddressFixed(Exception):
    """A pending invitation's address is what the invitee signs in with: it is not changed."""


class NotInvited(Exception):
    """The member has signed in already: there is no pending invitation to mail again."""


@dataclass(frozen=True)
class MemberChange:
    """What a tenant admin changes about a member; None leaves it as it is."""

    roles: frozenset[Role] | None = None
    email: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Member:
    """A membership with the person's name, as the admin API shows it."""

    user: User
    membership: Membership


async def _person(users: Users, email: str, name: str = "") -> User:
    """The person with an address, created when there is none (a concurrent creation wins)."""
    email = email.strip().lower()
    found = await users.by_email(email)
    if found is not None:
        return found
    created = User(user_id=f"usr_{new_id()}", email=email, name=name)
    if await users.insert(created):
        return created
    found = await users.by_email(email)
    if found is None:  # pragma: no cover - inserted and gone at once
        raise RuntimeError(f"no user with {email} after a conflicting insert")
    return found


class UserAdministration:
    """A tenant admin's use cases: invite, list, change roles, remove."""

    def __init__(
        self,
        users: Users,
        memberships: Memberships,
        sign_in: MemberSignIn,
        *,
        tenants: Tenants | None = None,
        keys: ApiKeyAdministration | None = None,
        notices: InvitationNotices | None = None,
    ) -> None:
        self._users = users
        self._memberships = memberships
        self._sign_in = sign_in
        # Where invitations are announced, with the membership (None: nobody is told).
        self._notices = notices
        # Where the tenant says whether roles come from the token (None: never).
        self._tenants = tenants
        # Whose keys a removal revokes (None: no keys to revoke).
        self._keys = keys

    async def invite(
        self,
        tenant_id: str,
        email: str,
        roles: frozenset[Role],
        *,
        by: Principal | None = None,
        sign_in_url: str = "",
    ) -> Member:
        """A pending membership for an address, active once the person first signs in with it
        verified; re-inviting a removed member makes them pending again (the keys they had
        stay revoked). `by`, the inviting caller, may grant only roles whose permissions it
        holds (`GrantRefused`); None is the platform operator.

        The membership and its announcement (`user.invited`, naming the inviter, the tenant
        and `sign_in_url`, which campaigns mails to the person) commit in one transaction: an
        invitation refused (`AlreadyMember`) announces nothing."""
        if by is not None:
            check_may_grant(by, roles)
        user = await _person(self._users, email)
        existing = await self._memberships.get(tenant_id, user.user_id)
        if existing is not None and existing.status is not MembershipStatus.REMOVED:
            raise AlreadyMember(user.email)
        membership = Membership(
            tenant_id=tenant_id,
            user_id=user.user_id,
            email=user.email,
            roles=roles,
            status=MembershipStatus.INVITED,
        )

        async def store(session: Session | None) -> None:
            if existing is not None:
                await self._memberships.update(membership, session=session)
            elif not await self._memberships.insert(membership, session=session):
                raise AlreadyMember(user.email)

        notices = self._notices
        if notices is None:
            await store(None)
        else:
            notice = await self._invitation_notice(user, membership, by, sign_in_url)

            async def store_and_announce(session: Session) -> None:
                await store(session)
                await notices.to_user_invited(tenant_id, notice, session=session)

            await notices.in_transaction(store_and_announce)
        self._sign_in.forget(tenant_id, user.user_id)
        return Member(user, membership)

    async def resend_invitation(
        self,
        tenant_id: str,
        user_id: str,
        *,
        by: Principal | None = None,
        sign_in_url: str = "",
    ) -> UserInvited:
        """Mails a pending invitation again (the first mail was lost, suppressed or failed): a
        new `user.invited`, with a new invitation id, so campaigns mails it once more. Raises
        `MemberNotFound`, `NotInvited` for a member who has signed in, and `GrantRefused` when
        `by` could not have granted the invitation's roles. Returns the new invitation (told
        nobody where the administration has no `notices`, as `invite`)."""
        member = await self.get(tenant_id, user_id)
        if member.membership.status is not MembershipStatus.INVITED:
            raise NotInvited(user_id)
        if by is not None:
            check_may_grant(by, member.membership.roles)
        notice = await self._invitation_notice(member.user, member.membership, by, sign_in_url)
        notices = self._notices
        if notices is None:
            return notice

        async def announce(session: Session) -> None:
            await notices.to_user_invited(tenant_id, notice, session=session)

        await notices.in_transaction(announce)
        return notice

    async def _invitation_notice(
        self, user: User, membership: Membership, by: Principal | None, sign_in_url: str
    ) -> UserInvited:
        """What the invited person is told: who invited them to which tenant, as what."""
        tenant = None if self._tenants is None else await self._tenants.get(membership.tenant_id)
        inviter_name = ""
        if by is not None and by.api_key_id is None:
            inviter = await self._memberships.get(membership.tenant_id, by.user_id)
            person = await self._users.get(by.user_id)
            inviter_name = (inviter.name if inviter is not None else "") or (
                person.name if person is not None else ""
            )
        return UserInvited(
            invitation_id=f"inv_{new_id()}",
            user_id=user.user_id,
            email=membership.email,
            name=membership.name or user.name,
            roles=sorted(membership.roles),
            invited_by_user_id=None if by is None else by.user_id,
            invited_by_name=inviter_name,
            tenant_name=tenant.name if tenant is not None else membership.tenant_id,
            sign_in_url=sign_in_url,
            invited_at=utc_now(),
        )

    async def list(self, tenant_id: str) -> list[Member]:
        """The tenant's members and pending invitations (removed ones are left out)."""
        members: list[Member] = []
        for membership in await self._memberships.list(tenant_id):
            if membership.status is MembershipStatus.REMOVED:
                continue
            user = await self._users.get(membership.user_id)
            if user is not None:
                members.append(Member(user, membership))
        return members

    async def display_names(self, tenant_id: str) -> dict[str, str]:
        """Every member's display name in the tenant by user id, removed members included (the
        audit log names who acted, also after they left)."""
        names: dict[str, str] = {}
        for membership in await self._memberships.list(tenant_id):
            user = await self._users.get(membership.user_id)
            name = membership.name or (user.name if user is not None else "")
            if name:
                names[membership.user_id] = name
        return names

    async def get(self, tenant_id: str, user_id: str) -> Member:
        membership = await self._memberships.get(tenant_id, user_id)
        user = await self._users.get(user_id)
        if membership is None or user is None or membership.status is MembershipStatus.REMOVED:
            raise MemberNotFound(user_id)
        return Member(user, membership)

    async def change(
        self,
        tenant_id: str,
        user_id: str,
        change: MemberChange,
        *,
        by: Principal | None = None,
    ) -> Member:
        """Changes a member's roles, the address the tenant knows them by, or their display name
        in the tenant. An active member's address is contact data (they sign in by identity), so
        it may change, unique in the tenant as for invitations (`AddressTaken`); a pending
        invitation's may not (`InvitationAddressFixed`): it is what the invitee signs in with.
        Raises `LastAdminError` for a demotion of the tenant's last active admin,
        `RolesFromToken` for roles where the tenant takes them from its identity provider, and
        `GrantRefused` for roles added that `by` does not hold the permissions of."""
        member = await self.get(tenant_id, user_id)
        membership = member.membership
        if change.roles is not None and change.roles != membership.roles:
            if await self._roles_from_token(tenant_id):
                raise RolesFromToken(tenant_id)
            if by is not None:
                check_may_grant(by, change.roles - membership.roles)
            membership = replace(membership, roles=change.roles)
        if change.email is not None and change.email.strip().lower() != membership.email:
            if membership.status is MembershipStatus.INVITED:
                raise InvitationAddressFixed(membership.email)
            membership = replace(membership, email=change.email.strip().lower())
        if change.name is not None:
            membership = replace(membership, name=change.name.strip())
        await self._store_keeping_an_admin(member.membership, membership)
        return Member(member.user, membership)

    async def remove(self, tenant_id: str, user_id: str) -> tuple[ApiKey, ...]:
        """Removes a member: their tokens are refused from now on (on other gateway replicas
        within the membership cache's lifetime), and they are not provisioned again; the API
        keys they created are revoked (`creator_removed`), returned for the audit log. Raises
        `LastAdminError` for the tenant's last active admin (themselves included)."""
        member = await self.get(tenant_id, user_id)
        await self._store_keeping_an_admin(
            member.membership,
            replace(member.membership, status=MembershipStatus.REMOVED, roles=frozenset()),
        )
        if self._keys is None:
            return ()
        return await self._keys.revoke_created_by(tenant_id, user_id)

    async def _roles_from_token(self, tenant_id: str) -> bool:
        if self._tenants is None:
            return False
        tenant = await self._tenants.get(tenant_id)
        return tenant is not None and tenant.sign_in.roles_from_token

    async def _store_keeping_an_admin(self, before: Membership, after: Membership) -> None:
        """Stores a changed membership unless it takes away the tenant's last active admin.

        The rule is checked before the write and again after it: two admins demoting each other
        at once both pass the first check, and the second sees the tenant without an admin and
        puts its own change back (both may be put back; neither leaves the tenant adminless)."""
        check_an_admin_remains(await self._memberships.list(before.tenant_id), after)
        await self._memberships.update(after)
        self._sign_in.forget(after.tenant_id, after.user_id)
        try:
            stored = await self._memberships.list(before.tenant_id)
            check_an_admin_remains(
                [before if m.user_id == after.user_id else m for m in stored], after
            )
        except LastAdminError:
            await self._memberships.update(before)
            self._sign_in.forget(before.tenant_id, before.user_id)
            raise


class MemberSignIn:
    """Turns a verified OIDC identity into a member of the token's tenant.

    Known identity -> its person's membership. Unknown identity -> the pending invitation of
    its verified e-mail address, else just-in-time provisioning (when the tenant allows it and
    the domain is one of its), else a refusal. Lookups are cached `cache_seconds` per process:
    a removal or role change on another gateway replica takes effect within that time."""

    def __init__(
        self,
        users: Users,
        memberships: Memberships,
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._users = users
        self._memberships = memberships
        self._people: TtlCache[Identity, User] = TtlCache(cache_seconds, clock=clock)
        self._members: TtlCache[tuple[str, str], Membership] = TtlCache(cache_seconds, clock=clock)

    def forget(self, tenant_id: str, user_id: str) -> None:
        self._members.forget((tenant_id, user_id))

    async def principal(self, tenant: Tenant, claims: SignInClaims) -> Principal:
        """The member a verified identity stands for; raises `SignInRefused` otherwise."""
        user = await self._person(claims.identity)
        membership = None if user is None else await self._membership(tenant, user.user_id)
        if user is None or membership is None:
            user, membership = await self._admit(tenant, claims, user)
        if membership.status is MembershipStatus.REMOVED:
            raise SignInRefused(
                "membership-removed", "you were removed from this tenant", user.user_id
            )
        if membership.status is MembershipStatus.INVITED:
            # The identity is known from another tenant; this tenant's invitation is accepted
            # only with the invited address verified.
            user, membership = await self._admit(tenant, claims, user)
        if membership.status is not MembershipStatus.ACTIVE:
            raise SignInRefused(
                "invitation-pending",
                "your invitation to this tenant is for an address your token does not verify",
            )
        roles = member_roles(tenant, membership, claims)
        if roles != membership.roles:
            await self._keep_token_roles(replace(membership, roles=roles))
        return Principal(tenant_id=tenant.tenant_id, user_id=user.user_id, roles=roles)

    async def _keep_token_roles(self, membership: Membership) -> None:
        """Stores the roles a token brought, where the tenant takes roles from its identity
        provider, so the member list shows the roles in force as of the last sign-in (not the
        default role the member was provisioned with). The provider decides these roles, so
        the last-admin rule of administrators' changes does not apply."""
        await self._memberships.update(membership)
        self._members.put((membership.tenant_id, membership.user_id), membership)

    async def _person(self, identity: Identity) -> User | None:
        fresh, user = self._people.get(identity)
        if fresh:
            return user
        user = await self._users.by_identity(identity)
        if user is not None:
            self._people.put(identity, user)
        return user

    async def _membership(self, tenant: Tenant, user_id: str) -> Membership | None:
        fresh, membership = self._members.get((tenant.tenant_id, user_id))
        if fresh:
            return membership
        membership = await self._memberships.get(tenant.tenant_id, user_id)
        if membership is not None:
            self._members.put((tenant.tenant_id, user_id), membership)
        return membership

    async def _admit(
        self, tenant: Tenant, claims: SignInClaims, known: User | None
    ) -> tuple[User, Membership]:
        invitation = (
            None
            if claims.email is None
            else await self._memberships.by_email(tenant.tenant_id, claims.email)
        )
        admission = admit_newcomer(tenant, claims, invitation)
        assert claims.email is not None  # admit_newcomer refuses a token without one
        if admission is Admission.ACCEPT_INVITATION and invitation is not None:
            if known is not None and known.user_id != invitation.user_id:
                # The identity is another person's already: one identity, one person.
                raise SignInRefused(
                    "identity-conflict",
                    f"the invitation for {claims.email} is for another account than yours",
                )
            membership = replace(invitation, status=MembershipStatus.ACTIVE)
            await self._memberships.update(membership)
            user_id = invitation.user_id
        else:
            person = known or await _person(self._users, claims.email, claims.name)
            membership = Membership(
                tenant_id=tenant.tenant_id,
                user_id=person.user_id,
                email=claims.email,
                roles=frozenset({tenant.sign_in.default_role}),
                status=MembershipStatus.ACTIVE,
            )
            if not await self._memberships.insert(membership):
                # A concurrent first request of the same person provisioned them.
                stored = await self._memberships.get(tenant.tenant_id, person.user_id)
                if stored is None:
                    raise SignInRefused(
                        "identity-conflict",
                        f"another account with {claims.email} is already a member of this tenant",
                    )
                membership = stored
            user_id = person.user_id
        await self._users.add_identity(user_id, claims.identity, claims.name)
        user = await self._users.get(user_id)
        if user is None:  # pragma: no cover - the person was just stored
            raise RuntimeError(f"user {user_id} vanished")
        self._people.put(claims.identity, user)
        self._members.put((tenant.tenant_id, user_id), membership)
        return user, membership
