"""People and their memberships of tenants, and the rule that turns a verified sign-in into a
member (or a refusal)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from crm_gateway.domain.oidc import claim_at
from crm_gateway.domain.tenants import Tenant, domain_allowed
from crm_shared import Permission, Principal, Role, permissions_of, principal_may


@dataclass(frozen=True)
class Identity:
    """An account at an identity provider: the token's issuer and subject."""

    issuer: str
    subject: str


@dataclass(frozen=True)
class User:
    """A person; one person may belong to several tenants."""

    user_id: str
    email: str
    name: str = ""
    identities: tuple[Identity, ...] = ()


class MembershipStatus(StrEnum):
    # Invited by an admin; becomes active when the person first signs in with the address.
    INVITED = "invited"
    ACTIVE = "active"
    # Kept (not deleted), so the person's still-valid tokens are refused and not re-provisioned.
    REMOVED = "removed"


@dataclass(frozen=True)
class Membership:
    """A person's place in one tenant: their roles there, and the address and display name the
    tenant knows them by (`name` empty: the name their identity provider gave)."""

    tenant_id: str
    user_id: str
    email: str
    roles: frozenset[Role]
    status: MembershipStatus
    name: str = ""


class AddressTaken(Exception):
    """Another membership of the tenant (a member, an invitation or a removed member) holds the
    e-mail address."""


class LastAdminError(Exception):
    """The change would leave the tenant without an active admin: `email`, the address the
    tenant knows that admin by."""

    def __init__(self, email: str) -> None:
        super().__init__(email)
        self.email = email


def is_active_admin(membership: Membership) -> bool:
    """Whether the membership is an admin who can sign in now."""
    return membership.status is MembershipStatus.ACTIVE and "admin" in membership.roles


def check_an_admin_remains(members: list[Membership], changed: Membership) -> None:
    """Raises `LastAdminError` when `changed` (a removal, or new roles) takes away the tenant's
    last active admin. A change to anyone who is not an active admin now is always allowed, so
    a tenant that has lost its admins (or never had one) can still be administered."""
    before = next((m for m in members if m.user_id == changed.user_id), None)
    if before is None or not is_active_admin(before) or is_active_admin(changed):
        return
    if not any(is_active_admin(m) for m in members if m.user_id != changed.user_id):
        raise LastAdminError(changed.email)


class GrantRefused(Exception):
    """The caller asked to grant a role with permissions it does not hold itself."""

    def __init__(self, roles: frozenset[Role], missing: list[Permission]) -> None:
        super().__init__(", ".join(missing))
        self.roles = roles
        self.missing = missing


def check_may_grant(granter: Principal, roles: Iterable[Role]) -> None:
    """Raises `GrantRefused` unless the caller holds every permission `roles` grant (an API
    key: within its scopes). `users:write` lets a caller manage members, not hand out more
    than it may do itself: the rule of key scopes (a key creates keys only with its own
    scopes), applied to roles."""
    wanted = frozenset(roles)
    missing = sorted(p for p in permissions_of(wanted) if not principal_may(granter, p))
    if missing:
        raise GrantRefused(wanted, missing)


class RolesFromToken(Exception):
    """The tenant takes members' roles from its identity provider's tokens: a role set in the
    CRM would be overwritten at the member's next request."""


@dataclass(frozen=True)
class SignInClaims:
    """What a verified OIDC token says about the person."""

    identity: Identity
    email: str | None
    email_verified: bool
    name: str
    # The provider's roles mapped to ours (used only when the tenant says so).
    token_roles: frozenset[Role] = field(default_factory=frozenset)


def sign_in_claims(
    claims: Mapping[str, Any],
    issuer: str,
    subject: str,
    email_claim: str,
    name_claim: str,
    token_roles: frozenset[Role],
) -> SignInClaims:
    """The person a verified token describes; an e-mail counts as verified only when the token
    says `email_verified: true` (Entra ID omits it: such addresses are not matched)."""
    email = claim_at(claims, email_claim)
    name = claim_at(claims, name_claim)
    return SignInClaims(
        identity=Identity(issuer, subject),
        email=email.strip().lower() if isinstance(email, str) and email.strip() else None,
        email_verified=claim_at(claims, "email_verified") is True,
        name=name if isinstance(name, str) else "",
        token_roles=token_roles,
    )


class SignInRefused(Exception):
    """A verified person who may not use the tenant, with the reason."""

    def __init__(self, problem_type: str, detail: str, user_id: str | None = None) -> None:
        super().__init__(detail)
        self.problem_type = problem_type
        self.detail = detail
        # The person the verified identity is, when they are known (a removed member).
        self.user_id = user_id


class Admission(StrEnum):
    """How an unknown subject joins a tenant."""

    ACCEPT_INVITATION = "accept_invitation"
    PROVISION = "provision"


def admit_newcomer(
    tenant: Tenant, claims: SignInClaims, invitation: Membership | None
) -> Admission:
    """Whether a person the tenant does not know yet by this identity may join it, and how:
    their pending invitation (matched by verified e-mail), else just-in-time provisioning when the
    tenant allows it and the address's domain is one of its; raises `SignInRefused` otherwise."""
    if invitation is not None and invitation.status is MembershipStatus.REMOVED:
        raise SignInRefused("membership-removed", "you were removed from this tenant")
    if claims.email is None or not claims.email_verified:
        raise SignInRefused(
            "not-a-member",
            "you are not a member of this tenant, and your token carries no verified e-mail "
            "address to match an invitation",
        )
    if invitation is not None and invitation.status is MembershipStatus.INVITED:
        return Admission.ACCEPT_INVITATION
    if invitation is not None:
        # Never link a second account to a member by e-mail alone: the admin removes and
        # re-invites the address instead.
        raise SignInRefused(
            "identity-conflict",
            f"another account with {claims.email} is already a member of this tenant",
        )
    if not tenant.sign_in.jit_provisioning:
        raise SignInRefused(
            "not-a-member",
            f"{claims.email} is not a member of this tenant; ask its administrator for an "
            "invitation",
        )
    if not domain_allowed(claims.email, tenant.sign_in.email_domains):
        raise SignInRefused(
            "email-domain-not-allowed",
            f"{claims.email} is not in an e-mail domain this tenant admits; ask its "
            "administrator for an invitation",
        )
    return Admission.PROVISION


def member_roles(tenant: Tenant, membership: Membership, claims: SignInClaims) -> frozenset[Role]:
    """A member's roles: the membership's, or the token's when the tenant takes roles from it."""
    if tenant.sign_in.roles_from_token:
        return claims.token_roles
    return membership.roles
