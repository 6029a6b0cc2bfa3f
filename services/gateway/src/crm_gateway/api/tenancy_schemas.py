"""Request and response bodies of the platform-operator and tenant-admin APIs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)

from crm_gateway.application.users import Member
from crm_gateway.domain.api_keys import ApiKey, Revocation
from crm_gateway.domain.tenants import (
    SignInSettings,
    Tenant,
    TenantStatus,
    admission_warnings,
)
from crm_gateway.oidc_config import https_outside_loopback
from crm_shared import EveryFieldRequired, Role

TenantId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]


def _lower(value: object) -> object:
    # Domains are case-insensitive: `Acme.COM` is acme.com (lowered before the pattern, which
    # StringConstraints' own `to_lower` checks first).
    return value.strip().lower() if isinstance(value, str) else value


def _named_domain(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    # Pydantic's "String should match pattern" names neither the entry nor the form meant (and
    # the console shows one message for the whole list): say which entry, and what is wanted.
    try:
        return handler(value)
    except ValidationError as invalid:
        kinds = {error["type"] for error in invalid.errors()}
        if not kinds & {"string_pattern_mismatch", "too_long", "string_too_long"}:
            raise
        shown = str(value).strip()
        shown = shown if len(shown) <= 80 else shown[:79] + "…"
        if "string_pattern_mismatch" not in kinds:
            raise ValueError(f"`{shown}` is longer than a domain can be (253 characters)") from None
        raise ValueError(
            f"`{shown}` is not an e-mail domain: give the part after the `@` alone, like "
            "`acme.com` (no `@`, address, `https://` or path)"
        ) from None


Domain = Annotated[
    str,
    BeforeValidator(_lower),
    StringConstraints(pattern=r"^[a-z0-9.-]+\.[a-z]{2,}$", max_length=253),
    WrapValidator(_named_domain),
]


class AdmissionSettings(BaseModel):
    """Who may join the tenant on first sign-in, and where members' roles come from: what a
    tenant admin may change (the identity provider itself is the operator's)."""

    model_config = ConfigDict(extra="forbid")

    email_domains: list[Domain] = Field(
        default_factory=list,
        max_length=50,
        description="Domains whose verified addresses are provisioned on first sign-in (exact "
        "match; empty: any domain), such as `acme.com` (no `@`); lower-cased and each kept "
        "once.",
    )
    jit_provisioning: bool = Field(
        default=False,
        description="Whether a person the provider vouches for, with a verified address in "
        "`email_domains`, becomes a member on first sign-in (with `default_role`).",
    )
    default_role: Role = "viewer"
    roles_from_token: bool = Field(
        default=False,
        description="Take members' roles from the token's role claim instead of their "
        "membership (for tenants that manage roles in their identity provider).",
    )

    @field_validator("email_domains")
    @classmethod
    def _each_domain_once(cls, domains: list[str]) -> list[str]:
        # `Acme.COM` and `acme.com` are one domain once lowered: store it once, first place kept.
        return list(dict.fromkeys(domains))


class AdmissionSettingsPut(AdmissionSettings, EveryFieldRequired):
    """`PUT /sign-in-settings/admission`'s body: the whole admission, every field given (a
    field left out is a 422, not reset to its default)."""


class SignInSettingsBody(AdmissionSettings):
    """A tenant's identity provider (OIDC) and admission rules."""

    issuer: str | None = Field(
        default=None,
        description="The issuer URL exactly as the provider's tokens name it (`iss`); none: "
        "no OIDC sign-in.",
    )
    audience: str | None = Field(
        default=None, description="The `aud` the tokens must carry (the gateway's client id)."
    )
    roles_claim: str = "realm_access.roles"
    role_mapping: dict[str, Role] = Field(default_factory=dict)
    user_claim: str = "sub"
    email_claim: str = "email"
    name_claim: str = "name"
    tenant_claim: str | None = Field(
        default=None,
        description="Needed when several tenants trust one issuer: the claim naming the tenant.",
    )

    @field_validator("issuer")
    @classmethod
    def _https_issuer(cls, issuer: str | None) -> str | None:
        # The same rule as the `OIDC` setting's.
        return None if issuer is None else https_outside_loopback(issuer)

    @model_validator(mode="after")
    def _issuer_with_audience(self) -> SignInSettingsBody:
        if (self.issuer is None) != (self.audience is None):
            raise ValueError("issuer and audience go together")
        return self

    def settings(self) -> SignInSettings:
        return SignInSettings(
            issuer=self.issuer,
            audience=self.audience,
            roles_claim=self.roles_claim,
            role_mapping=dict(self.role_mapping),
            user_claim=self.user_claim,
            email_claim=self.email_claim,
            name_claim=self.name_claim,
            tenant_claim=self.tenant_claim,
            email_domains=tuple(self.email_domains),
            jit_provisioning=self.jit_provisioning,
            default_role=self.default_role,
            roles_from_token=self.roles_from_token,
        )

    @classmethod
    def of(cls, settings: SignInSettings) -> SignInSettingsBody:
        return cls(
            issuer=settings.issuer,
            audience=settings.audience,
            roles_claim=settings.roles_claim,
            role_mapping=dict(settings.role_mapping),
            user_claim=settings.user_claim,
            email_claim=settings.email_claim,
            name_claim=settings.name_claim,
            tenant_claim=settings.tenant_claim,
            email_domains=list(settings.email_domains),
            jit_provisioning=settings.jit_provisioning,
            default_role=settings.default_role,
            roles_from_token=settings.roles_from_token,
        )


class AdmissionWarningPublic(BaseModel):
    code: str = Field(
        description="`anyone-joins-as-admin`, or `anyone-joins-from-webmail` (a public webmail "
        "domain admits anyone with such an address, with a less privileged default role)."
    )
    detail: str
    fields: list[str] = Field(description="The settings that make it so (change one of them).")


class SignInSettingsRead(SignInSettingsBody):
    """The tenant's sign-in settings as its admins read and save them, with what they risk."""

    warnings: list[AdmissionWarningPublic] = Field(
        default_factory=list,
        description="Risks of admission settings that are allowed but seldom meant, such as "
        "anyone from any e-mail domain joining with admin-level permissions (just-in-time "
        "provisioning on, no `email_domains`, a `default_role` like `admin`); empty when none.",
    )

    @classmethod
    def of_settings(cls, settings: SignInSettings) -> SignInSettingsRead:
        return cls(
            **SignInSettingsBody.of(settings).model_dump(),
            warnings=[
                AdmissionWarningPublic(
                    code=warning.code, detail=warning.detail, fields=list(warning.fields)
                )
                for warning in admission_warnings(settings)
            ],
        )


class SignInSettingsPut(SignInSettingsBody, EveryFieldRequired):
    """`PUT /platform/tenants/{tenant_id}/sign-in`'s body: the whole sign-in settings, every
    field given (null where none is meant: `issuer`, `audience`, `tenant_claim`). A field left
    out is a 422 naming it: until December 2026 it was reset to its default, so an operator
    changing the audience silently turned off the tenant's admission rules."""


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant_id: TenantId
    name: str = Field(min_length=1, max_length=200)
    community_key: str | None = Field(default=None, min_length=4, max_length=200)
    sign_in: SignInSettingsBody = Field(default_factory=SignInSettingsBody)


class TenantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    community_key: str | None = Field(default=None, min_length=4, max_length=200)


class TenantPublic(BaseModel):
    tenant_id: str
    name: str
    status: TenantStatus
    community_key: str | None
    sign_in: SignInSettingsBody

    @classmethod
    def of(cls, tenant: Tenant) -> TenantPublic:
        return cls(
            tenant_id=tenant.tenant_id,
            name=tenant.name,
            status=tenant.status,
            community_key=tenant.community_key,
            sign_in=SignInSettingsBody.of(tenant.sign_in),
        )


class TenantList(BaseModel):
    items: list[TenantPublic]


class Roles(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[Role] = Field(min_length=1)


class Invitation(Roles):
    email: EmailStr


class InvitationResent(BaseModel):
    """A pending invitation announced again: campaigns mails it within seconds."""

    user_id: str
    invitation_id: str = Field(
        description="The new invitation's id; its mail is listed by `GET /invitation-mails`."
    )
    invited_at: datetime


class MemberUpdate(BaseModel):
    """What a tenant admin changes about a member; a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    roles: list[Role] | None = Field(default=None, min_length=1)
    email: EmailStr | None = Field(
        default=None,
        description="The address the tenant knows an active member by (unique in the tenant, "
        "as for invitations). A pending invitation's address cannot change: remove it and "
        "invite the new address.",
    )
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The member's display name in this tenant (else their provider's).",
    )

    @model_validator(mode="after")
    def _something_changes(self) -> MemberUpdate:
        if self.roles is None and self.email is None and self.name is None:
            raise ValueError("give at least one of roles, email and name")
        return self


class AdminInvitation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr


class MemberPublic(BaseModel):
    user_id: str
    email: str
    name: str
    roles: list[Role]
    status: str = Field(description="`invited` until the person first signs in, then `active`.")

    @classmethod
    def of(cls, member: Member) -> MemberPublic:
        return cls(
            user_id=member.user.user_id,
            email=member.membership.email,
            name=member.membership.name or member.user.name,
            roles=sorted(member.membership.roles),
            status=member.membership.status.value,
        )


class MemberList(BaseModel):
    items: list[MemberPublic]


class TeamMember(BaseModel):
    """A member as colleagues see them: who, not how to reach them or what they may do."""

    user_id: str
    name: str = Field(description="Empty until the person has a name (an invitation).")

    @classmethod
    def of(cls, member: Member) -> TeamMember:
        return cls(user_id=member.user.user_id, name=member.membership.name or member.user.name)


class TeamList(BaseModel):
    items: list[TeamMember]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(
        min_length=1,
        description="Permissions `<family>:<read|write>` (docs/security.md); a write includes "
        "the family's read.",
    )
    expires_in_days: int = Field(default=90, gt=0)


class ApiKeyPublic(BaseModel):
    key_id: str
    name: str
    scopes: list[str]
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_reason: Revocation | None = Field(
        default=None,
        description="Why the key was revoked: `revoked_by_admin`, or `creator_removed` (the "
        "member who created it was removed from the tenant); null while it is not.",
    )
    last_used_at: datetime | None = Field(
        description="When the key was last used (to within a minute)."
    )

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyPublic:
        return cls(
            key_id=key.key_id,
            name=key.name,
            scopes=sorted(key.scopes),
            created_by=key.created_by,
            created_at=key.created_at,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
            revoked_reason=key.revoked_reason,
            last_used_at=key.last_used_at,
        )


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(
        description="The key, `crm_<key id>_<secret>`: shown this once, stored only as a hash."
    )


class ApiKeyList(BaseModel):
    items: list[ApiKeyPublic]
