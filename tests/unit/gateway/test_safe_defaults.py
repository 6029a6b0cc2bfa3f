"""Safe defaults: a production gateway (the default environment) refuses to start with
development tokens, with nobody able to sign in, or without its signing key; a service refuses
to start without the gateway's public key, and ats-sync without its secret keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from crm_analytics.config import AnalyticsSettings
from crm_analytics.main import create_app as create_analytics
from crm_ats_sync.config import AtsSyncSettings
from crm_ats_sync.main import create_app as create_ats_sync
from crm_campaigns.config import CampaignsSettings
from crm_campaigns.main import create_app as create_campaigns
from crm_candidates.config import CandidatesSettings
from crm_candidates.main import create_app as create_candidates
from crm_events.config import EventsSettings
from crm_events.main import create_app as create_events
from crm_gateway.config import GatewaySettings
from crm_gateway.main import UnsafeConfiguration, create_app
from crm_gateway.oidc_config import OidcSettings, OidcTenantSettings
from helpers import ats_secret_keys
from internal_keys import INTERNAL_TOKEN_PRIVATE_KEY, INTERNAL_TOKEN_PUBLIC_KEY
from unit.gateway.fakes import settings

pytestmark = pytest.mark.unit

OIDC = OidcSettings(
    tenants=[
        OidcTenantSettings(
            tenant_id="acme", issuer="https://sso.example.com/realms/acme", audience="crm"
        )
    ]
)


def production(**overrides: Any) -> GatewaySettings:
    """A production gateway's settings: OIDC, no development tokens, unless overridden."""
    return settings(**({"environment": "production", "dev_tokens": {}, "oidc": OIDC} | overrides))


def test_production_is_the_default_environment() -> None:
    assert GatewaySettings().environment == "production"
    assert CandidatesSettings().environment == "production"


def test_a_production_gateway_with_oidc_and_no_development_tokens_starts() -> None:
    assert isinstance(create_app(production()), FastAPI)


def test_a_production_gateway_refuses_development_tokens() -> None:
    with pytest.raises(UnsafeConfiguration, match="DEV_TOKENS"):
        create_app(settings(environment="production", oidc=OIDC))


def test_a_production_gateway_refuses_to_start_when_nobody_can_sign_in() -> None:
    with pytest.raises(UnsafeConfiguration, match="no OIDC issuer"):
        create_app(production(oidc=OidcSettings()))


def test_a_production_gateway_for_api_keys_only_says_so_explicitly() -> None:
    app = create_app(production(oidc=OidcSettings(), sign_in_without_oidc=True))
    assert isinstance(app, FastAPI)


def test_every_refusal_is_named_at_once() -> None:
    with pytest.raises(UnsafeConfiguration) as refused:
        create_app(settings(environment="production"))
    assert "DEV_TOKENS" in str(refused.value)
    assert "no OIDC issuer" in str(refused.value)


def test_development_tokens_work_in_development() -> None:
    assert isinstance(create_app(settings(environment="development")), FastAPI)


@pytest.mark.parametrize("environment", ["production", "development"])
def test_a_gateway_without_its_private_key_refuses_to_start(environment: str) -> None:
    with pytest.raises(ValueError, match="private key"):
        create_app(production(environment=environment, internal_token_private_key=""))


def test_a_gateway_refuses_a_public_key_in_place_of_its_private_key() -> None:
    with pytest.raises(ValueError, match="no PEM private key"):
        create_app(production(internal_token_private_key=INTERNAL_TOKEN_PUBLIC_KEY))


SERVICES: dict[str, Callable[[dict[str, Any]], FastAPI]] = {
    "candidates": lambda values: create_candidates(CandidatesSettings(**values)),
    "campaigns": lambda values: create_campaigns(
        CampaignsSettings(tracking_secret="unit-tests-tracking-secret-0123456789", **values)
    ),
    "events": lambda values: create_events(EventsSettings(**values)),
    "ats-sync": lambda values: create_ats_sync(
        AtsSyncSettings(ats_secret_keys=ats_secret_keys(), **values)
    ),
    "analytics": lambda values: create_analytics(AnalyticsSettings(**values)),
}
COMMON = {"link_signing_secret": "unit-tests-link-signing-secret-0123456789", "log_json": False}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_a_service_without_the_public_key_refuses_to_start(service: str) -> None:
    with pytest.raises(ValueError, match="no internal token public key"):
        SERVICES[service](COMMON)
    started = SERVICES[service](COMMON | {"internal_token_public_key": INTERNAL_TOKEN_PUBLIC_KEY})
    assert isinstance(started, FastAPI)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_a_service_refuses_the_private_key_in_place_of_the_public_one(service: str) -> None:
    with pytest.raises(ValueError, match="no PEM public key"):
        SERVICES[service](COMMON | {"internal_token_public_key": INTERNAL_TOKEN_PRIVATE_KEY})


@pytest.mark.parametrize("environment", ["production", "development"])
def test_ats_sync_refuses_to_start_without_its_secret_keys(environment: str) -> None:
    values: dict[str, Any] = COMMON | {
        "internal_token_public_key": INTERNAL_TOKEN_PUBLIC_KEY,
        "environment": environment,
    }
    with pytest.raises(ValueError, match="ATS_SECRET_KEYS is not set"):
        create_ats_sync(AtsSyncSettings(**values))
    with pytest.raises(ValueError, match=r"ATS_SECRET_KEYS: .* must be 32 bytes"):
        create_ats_sync(AtsSyncSettings(ats_secret_keys="k1:dG9vLXNob3J0", **values))
