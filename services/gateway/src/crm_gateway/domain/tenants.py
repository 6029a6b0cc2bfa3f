"""Tenants as the gateway stores them: status, community key and sign-in settings, and the
rules of who may join a tenant by signing in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from crm_gateway.domain.oidc import TenantIssuer
from crm_shared import ROLE_PERMISSIONS, Role, permissions_of


class TenantStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


@dataclass(frozen=True)
class SignInSettings:
    """How a tenant's people sign in: their identity provider and who may join on first sign-in.

    Without an issuer the tenant has no OIDC sign-in (development tokens and API keys only)."""

    issuer: str | None = None
    audience: str | None = None
    # Dotted claim paths; Keycloak's defaults. Entra ID: roles_claim `roles`.
    roles_claim: str = "realm_access.roles"
    role_mapping: Mapping[str, Role] = field(default_factory=dict)
    user_claim: str = "sub"
    email_claim: str = "email"
    name_claim: str = "name"
    # Needed when several tenants trust one issuer: the token names its tenant in this claim.
    tenant_claim: str | None = None
    # Lower-case domains whose verified e-mail addresses may be provisioned on first sign-in;
    # empty: any domain (only with JIT provisioning on).
    email_domains: tuple[str, ...] = ()
    jit_provisioning: bool = False
    default_role: Role = "viewer"
    # Whether a member's roles come from the token's role claim instead of the membership.
    roles_from_token: bool = False

    def tenant_issuer(self, tenant_id: str) -> TenantIssuer | None:
        """The OIDC verifier's view of these settings; None without an issuer."""
        if not self.issuer or not self.audience:
            return None
        return TenantIssuer(
            tenant_id=tenant_id,
            issuer=self.issuer,
            audience=self.audience,
            roles_claim=self.roles_claim,
            role_mapping=dict(self.role_mapping),
            user_claim=self.user_claim,
            tenant_claim=self.tenant_claim,
        )


@dataclass(frozen=True)
class Tenant:
    """A customer organisation using the CRM."""

    tenant_id: str
    name: str
    status: TenantStatus = TenantStatus.ACTIVE
    community_key: str | None = None
    sign_in: SignInSettings = field(default_factory=SignInSettings)

    @property
    def active(self) -> bool:
        return self.status is TenantStatus.ACTIVE


def email_domain(email: str) -> str:
    """The lower-case domain of an e-mail address ('' when it has none)."""
    local, at, domain = email.strip().rpartition("@")
    return domain.lower() if at and local and domain else ""


def domain_allowed(email: str, domains: tuple[str, ...]) -> bool:
    """Whether an address's domain is exactly one of `domains` (a subdomain is not: each is
    listed); any address with a domain when `domains` is empty."""
    found = email_domain(email)
    if not found:
        return False
    if not domains:
        return True
    return found in domains


# Permissions no role but `admin` holds (the tenant's users, audit log, GDPR requests, ...).
ADMIN_LEVEL_PERMISSIONS = ROLE_PERMISSIONS["admin"] - permissions_of(
    role for role in ROLE_PERMISSIONS if role != "admin"
)


@dataclass(frozen=True)
class AdmissionWarning:
    """A risk in admission settings that are allowed, but seldom meant."""

    code: str
    detail: str
    # The settings that make it so, to change one of them.
    fields: tuple[str, ...]


# Webmail providers anyone can get an address at: listing one admits the public, not an
# organisation. A short list of the largest, not a registry (docs/security.md, Tenant
# administration).
PUBLIC_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "yahoo.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "proton.me",
        "protonmail.com",
        "yandex.ru",
        "mail.ru",
        "qq.com",
        "163.com",
    }
)


def admission_warnings(settings: SignInSettings) -> tuple[AdmissionWarning, ...]:
    """What the admission settings risk: with just-in-time provisioning on and no e-mail
    domain listed, or a public webmail domain such as gmail.com among them, anyone the provider
    vouches for joins on first sign-in, and with a default role holding admin-level
    permissions they join able to administer the tenant (its members, API keys, audit log):
    `anyone-joins-as-admin`. A webmail domain with a less privileged default role still lets
    anyone with such an address in, with that role's access to candidates' personal data:
    `anyone-joins-from-webmail`. (No domain with such a role is the usual setting for a
    tenant's own provider, whose accounts are its people: not warned about.) Neither while
    roles come from the token: newcomers then hold the token's roles, not the default role."""
    if not settings.jit_provisioning or settings.roles_from_token:
        return ()
    granted = permissions_of({settings.default_role}) & ADMIN_LEVEL_PERMISSIONS
    public = [domain for domain in settings.email_domains if domain in PUBLIC_MAIL_DOMAINS]
    webmail = (
        f"Anyone with an address at {', '.join(public)} (a public webmail provider anyone can "
        "sign up at)"
    )
    if not granted:
        if not public:
            return ()
        access = (
            "can read candidates and their personal data"
            if "candidates:read" in permissions_of({settings.default_role})
            else "holds that role's permissions"
        )
        return (
            AdmissionWarning(
                code="anyone-joins-from-webmail",
                detail=f"{webmail} joins on first sign-in as {settings.default_role} and "
                f"{access}. List only your organisation's e-mail domains, or turn just-in-time "
                "provisioning off and invite people instead.",
                fields=("email_domains", "jit_provisioning"),
            ),
        )
    if settings.email_domains and not public:
        return ()
    who = (
        webmail
        if public
        else "Anyone with a verified address at the identity provider, from any e-mail domain,"
    )
    return (
        AdmissionWarning(
            # One code for both: either way anyone at all can join as an admin.
            code="anyone-joins-as-admin",
            detail=f"{who} joins on first sign-in as {settings.default_role}, with admin-level "
            f"permissions ({', '.join(sorted(granted))}): they could manage members, API keys "
            "and the audit log. List only your organisation's e-mail domains, choose a less "
            "privileged default role, or turn just-in-time provisioning off.",
            fields=("email_domains", "default_role", "jit_provisioning"),
        ),
    )
