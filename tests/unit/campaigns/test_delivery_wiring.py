"""How `create_app` wires delivery: the process's dispatchers share one set of rate limits."""

from __future__ import annotations

import pytest

from crm_campaigns.config import CampaignsSettings
from crm_campaigns.delivery import MailDispatcher
from crm_campaigns.main import create_app

pytestmark = pytest.mark.unit

SECRETS = {
    "internal_token_secret": "unit-tests-internal-token-secret-0123456789",
    "link_signing_secret": "unit-tests-link-signing-secret-0123456789",
    "tracking_secret": "unit-tests-tracking-secret-0123456789",
}


def settings(**overrides: object) -> CampaignsSettings:
    return CampaignsSettings.model_validate(SECRETS | overrides)


def test_every_dispatcher_of_a_process_draws_from_the_same_buckets() -> None:
    app = create_app(settings(delivery_workers=4, provider_rate_per_second=10))
    dispatchers: list[MailDispatcher] = app.state.mail_dispatchers
    assert len(dispatchers) == 4
    assert len({id(dispatcher.rates) for dispatcher in dispatchers}) == 1
    # Four dispatchers taking turns get the provider's burst once between them, not four times.
    burst = int(dispatchers[0].rates.provider.capacity)
    waits = [dispatchers[n % 4].rates.reserve_provider() for n in range(burst + 4)]
    assert waits[:burst] == [0.0] * burst
    assert all(wait > 0 for wait in waits[burst:])
