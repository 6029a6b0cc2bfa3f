"""Settings of OIDC sign-in: the issuers tenants trust and the tolerances tokens are held to."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator

from crm_gateway.domain.oidc import TenantIssuer, VerificationPolicy
from crm_shared import Role

_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def https_outside_loopback(issuer: str) -> str:
    """An issuer URL, if it is HTTPS (plain HTTP on loopback only); a ValueError otherwise."""
    parts = urlsplit(issuer)
    if parts.scheme == "https" and parts.hostname:
        return issuer
    if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
        return issuer
    raise ValueError("the issuer must be an https URL (http only on loopback)")


def _is_origin(url: str) -> bool:
    parts = urlsplit(url)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and parts.path in ("", "/")
        and not parts.query
        and not parts.fragment
    )


def _plain_http_off_loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS


class OidcTenantSettings(BaseModel):
    """One tenant's identity provider."""

    tenant_id: str = Field(min_length=1)
    issuer: str = Field(
        description="The issuer URL exactly as the provider's tokens name it (`iss`), e.g. "
        "`https://sso.example.com/realms/acme`; its discovery document is read from "
        "`<issuer>/.well-known/openid-configuration`. HTTPS, except on loopback."
    )
    audience: str = Field(
        min_length=1, description="The `aud` the tokens must carry (the gateway's client id)."
    )
    roles_claim: str = Field(
        default="realm_access.roles",
        description="Dotted path of the claim listing the user's roles (Keycloak realm roles: "
        "`realm_access.roles`; Entra ID app roles: `roles`).",
    )
    role_mapping: dict[str, Role] = Field(
        default_factory=dict,
        description="The provider's role names -> ours; names equal to one of ours need no entry.",
    )
    user_claim: str = "sub"
    tenant_claim: str | None = Field(
        default=None,
        description="When set, a token must carry the tenant id in this claim (needed when "
        "several tenants trust one issuer).",
    )

    @field_validator("issuer")
    @classmethod
    def _https_outside_loopback(cls, issuer: str) -> str:
        return https_outside_loopback(issuer)

    def tenant_issuer(self) -> TenantIssuer:
        """The domain's view of this configuration."""
        return TenantIssuer(
            tenant_id=self.tenant_id,
            issuer=self.issuer,
            audience=self.audience,
            roles_claim=self.roles_claim,
            role_mapping=dict(self.role_mapping),
            user_claim=self.user_claim,
            tenant_claim=self.tenant_claim,
        )


class OidcSettings(BaseModel):
    """OIDC bearer-token verification (JSON in the gateway's `OIDC` setting)."""

    tenants: list[OidcTenantSettings] = Field(default_factory=list)
    leeway_seconds: float = Field(
        default=30.0,
        ge=0,
        le=300,
        description="Clock skew tolerated on `exp`, `nbf` and `iat`.",
    )
    max_token_lifetime_seconds: float = Field(
        default=86_400.0,
        gt=0,
        description="A token valid longer than this (`exp` - `iat`) is refused.",
    )
    jwks_cache_seconds: float = Field(
        default=600.0, gt=0, description="How long an issuer's key set is used before refetching."
    )
    jwks_min_refetch_seconds: float = Field(
        default=30.0,
        gt=0,
        description="An unknown key id refetches the key set at most this often per issuer.",
    )
    http_timeout_seconds: float = Field(default=5.0, gt=0)
    backchannel_urls: dict[str, str] = Field(
        default_factory=dict,
        description="Where the gateway itself reaches an issuer's host when it cannot use the "
        'issuer\'s URL (origin -> origin, e.g. `{"http://localhost:8180": '
        '"http://keycloak:8080"}` in compose): discovery, keys and the token endpoint go '
        "there; browsers and the tokens' `iss` keep the issuer's URL.",
    )

    @field_validator("backchannel_urls")
    @classmethod
    def _origins_only(cls, urls: dict[str, str]) -> dict[str, str]:
        for source, target in urls.items():
            if not (_is_origin(source) and _is_origin(target)):
                raise ValueError(
                    "backchannel_urls maps origins (scheme://host[:port]) to origins: "
                    f"{source!r} -> {target!r}"
                )
        return urls

    def backchannel_downgrades(self) -> list[str]:
        """Each back-channel route that takes an issuer's calls off TLS: a target on plain
        HTTP to a host other than loopback, for an issuer that is not itself plain HTTP on
        loopback (a local provider, which a container reaches over its host's network)."""
        return [
            f"{source} -> {target}"
            for source, target in self.backchannel_urls.items()
            if _plain_http_off_loopback(target)
            and not (
                urlsplit(source).scheme == "http" and urlsplit(source).hostname in _LOOPBACK_HOSTS
            )
        ]

    def tenant_issuers(self) -> list[TenantIssuer]:
        """Every tenant's issuer, as the verifier takes them."""
        return [tenant.tenant_issuer() for tenant in self.tenants]

    def policy(self) -> VerificationPolicy:
        """The tolerances, as the verifier takes them."""
        return VerificationPolicy(
            leeway_seconds=self.leeway_seconds,
            max_lifetime_seconds=self.max_token_lifetime_seconds,
        )
