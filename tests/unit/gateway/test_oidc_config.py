"""OIDC settings: issuers are HTTPS (loopback aside) and turn into the verifier's rules."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from crm_gateway.oidc_config import OidcSettings

pytestmark = pytest.mark.unit


def _settings(issuer: str) -> OidcSettings:
    return OidcSettings.model_validate(
        {"tenants": [{"tenant_id": "acme", "issuer": issuer, "audience": "crm-gateway"}]}
    )


@pytest.mark.parametrize(
    "issuer",
    ["https://sso.example.com/realms/acme", "http://127.0.0.1:8080/realms/recruitcrm"],
)
def test_https_and_loopback_issuers_are_accepted(issuer: str) -> None:
    assert _settings(issuer).tenant_issuers()[0].issuer == issuer


@pytest.mark.parametrize("issuer", ["http://sso.example.com/realms/acme", "sso.example.com"])
def test_a_plain_http_issuer_outside_loopback_is_refused(issuer: str) -> None:
    with pytest.raises(ValidationError):
        _settings(issuer)


def test_the_settings_become_the_verifiers_rules() -> None:
    settings = OidcSettings.model_validate(
        {
            "tenants": [
                {
                    "tenant_id": "acme",
                    "issuer": "https://login.example.com/acme/v2.0",
                    "audience": "api://crm",
                    "roles_claim": "roles",
                    "role_mapping": {"CRM.Admin": "admin"},
                    "tenant_claim": "tenant_id",
                }
            ],
            "leeway_seconds": 10,
            "max_token_lifetime_seconds": 3600,
        }
    )
    (issuer,) = settings.tenant_issuers()
    assert (issuer.tenant_id, issuer.audience, issuer.roles_claim) == ("acme", "api://crm", "roles")
    assert dict(issuer.role_mapping) == {"CRM.Admin": "admin"}
    assert issuer.tenant_claim == "tenant_id"
    assert settings.policy().leeway_seconds == 10
    assert settings.policy().max_lifetime_seconds == 3600


def test_a_large_leeway_and_an_unknown_role_are_refused() -> None:
    with pytest.raises(ValidationError):
        OidcSettings(leeway_seconds=3600)
    with pytest.raises(ValidationError):
        _settings_with_mapping({"x": "superuser"})


def _settings_with_mapping(mapping: dict[str, str]) -> OidcSettings:
    return OidcSettings.model_validate(
        {
            "tenants": [
                {
                    "tenant_id": "acme",
                    "issuer": "https://sso.example.com",
                    "audience": "crm-gateway",
                    "role_mapping": mapping,
                }
            ]
        }
    )
