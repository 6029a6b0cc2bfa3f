"""Who is calling: a bearer token resolved to a principal of an active tenant, by its shape -
a development token, an API key (`crm_...`), or an OIDC JWT of the tenant's identity provider."""

from __future__ import annotations

from pymongo.errors import PyMongoError

from crm_gateway.application.api_keys import KeyAuthenticator
from crm_gateway.application.oidc_sign_in import OidcAuthenticator, OpaqueTokens, VerifiedToken
from crm_gateway.application.tenants import DirectoryUnavailable, TenantDirectory
from crm_gateway.application.users import MemberSignIn
from crm_gateway.domain.api_keys import granted_scopes, key_roles, looks_like_key
from crm_gateway.domain.oidc import Rejection, TokenRejected
from crm_gateway.domain.tenants import Tenant
from crm_gateway.domain.users import SignInClaims, SignInRefused, sign_in_claims
from crm_shared import Principal


class CallerRefused(Exception):
    """An authenticated caller who may not make this call (a 403), with the problem type."""

    def __init__(
        self,
        problem_type: str,
        detail: str,
        tenant_id: str | None = None,
        user_id: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.problem_type = problem_type
        self.detail = detail
        # The tenant the caller tried to act in, so its admins see the refusal in their log.
        self.tenant_id = tenant_id
        # Who the verified caller is, when known (a removed member): the refusal's actor.
        self.user_id = user_id


class CallerAuthentication:
    """Resolves a bearer token to the principal the services are told about.

    Raises `TokenRejected` or `KeyRefused` (401), `CallerRefused` (403), or
    `DirectoryUnavailable` (503: the tenants were never read, or the members and keys
    cannot be read now)."""

    def __init__(
        self,
        dev_tokens: OpaqueTokens,
        keys: KeyAuthenticator,
        oidc: OidcAuthenticator,
        tenants: TenantDirectory,
        members: MemberSignIn,
    ) -> None:
        self._dev_tokens = dev_tokens
        self._keys = keys
        self._oidc = oidc
        self._tenants = tenants
        self._members = members

    async def authenticate(self, token: str) -> Principal:
        """The principal a bearer token stands for."""
        # Development tokens stand for a fixed identity and bypass memberships: they exist only
        # where the development flag allows them.
        principal = self._dev_tokens.authenticate(token)
        if principal is not None:
            await self._active_tenant(principal.tenant_id)
            return principal
        try:
            if looks_like_key(token):
                return await self._key_principal(token)
            if token.count(".") == 2:
                return await self._member_principal(token)
        except PyMongoError as error:
            raise DirectoryUnavailable("the members and keys cannot be read") from error
        raise TokenRejected(Rejection.UNKNOWN_TOKEN, "the bearer token is not valid")

    async def _active_tenant(self, tenant_id: str) -> Tenant:
        tenant = await self._tenants.tenant(tenant_id)
        if tenant is None or not tenant.active:
            raise CallerRefused(
                "unknown-tenant",
                f"tenant {tenant_id!r} is unknown or not active",
                None if tenant is None else tenant_id,
            )
        return tenant

    async def _key_principal(self, token: str) -> Principal:
        key = await self._keys.authenticate(token)
        await self._active_tenant(key.tenant_id)
        # Confined to its scopes wherever a permission is checked: the gateway's routes, its
        # pass-through (each operation's `x-permission`) and the service behind it.
        return Principal(
            tenant_id=key.tenant_id,
            user_id=key.principal_id,
            roles=key_roles(key.scopes),
            api_key_id=key.key_id,
            scopes=granted_scopes(key.scopes),
        )

    async def _member_principal(self, token: str) -> Principal:
        return (await self.sign_in(await self._oidc.verify(token)))[0]

    async def sign_in(self, verified: VerifiedToken) -> tuple[Principal, SignInClaims]:
        """The member a verified token stands for, and what the token said of the person
        (a browser session keeps it, to map the person again on each request)."""
        tenant = await self._active_tenant(verified.issuer.tenant_id)
        claims = sign_in_claims(
            verified.claims,
            issuer=verified.issuer.issuer,
            subject=verified.principal.user_id,
            email_claim=tenant.sign_in.email_claim,
            name_claim=tenant.sign_in.name_claim,
            token_roles=verified.principal.roles,
        )
        return await self.member(tenant.tenant_id, claims), claims

    async def member(self, tenant_id: str, claims: SignInClaims) -> Principal:
        """The member of an active tenant a person is, exactly as a bearer token maps them;
        raises `CallerRefused` for a removed member or a suspended tenant."""
        tenant = await self._active_tenant(tenant_id)
        try:
            return await self._members.principal(tenant, claims)
        except SignInRefused as refused:
            raise CallerRefused(
                refused.problem_type, refused.detail, tenant_id, refused.user_id
            ) from None
