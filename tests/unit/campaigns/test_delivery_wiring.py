"""How `create_app` wires delivery: the process's dispatchers share one set of rate limits and
one delivery journal, and the SMTP connections' security comes from the settings."""

from __future__ import annotations

import pytest

from crm_campaigns.adapters.smtp import SmtpSecurity, SmtpTls
from crm_campaigns.application.delivery import MailDispatcher
from crm_campaigns.config import CampaignsSettings
from crm_campaigns.main import create_app, smtp_security
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY

pytestmark = pytest.mark.unit

SECRETS = {
    "internal_token_public_key": INTERNAL_TOKEN_PUBLIC_KEY,
    "link_signing_secret": "unit-tests-link-signing-secret-0123456789",
    "tracking_secret": "unit-tests-tracking-secret-0123456789",
}


def settings(**overrides: object) -> CampaignsSettings:
    return CampaignsSettings.model_validate(SECRETS | overrides)


def test_every_dispatcher_of_a_process_draws_from_the_same_buckets() -> None:
    app = create_app(settings(delivery_workers=4, provider_rate_per_second=10))
    dispatchers: list[MailDispatcher] = app.state.container.mail_dispatchers
    assert len(dispatchers) == 4
    assert len({id(dispatcher.rates) for dispatcher in dispatchers}) == 1
    # Four dispatchers taking turns get the provider's burst once between them, not four times.
    burst = int(dispatchers[0].rates.provider.capacity)
    waits = [dispatchers[n % 4].rates.reserve_provider() for n in range(burst + 4)]
    assert waits[:burst] == [0.0] * burst
    assert all(wait > 0 for wait in waits[burst:])


def test_every_dispatcher_of_a_process_records_through_one_journal() -> None:
    # One journal, so one group commit records the progress of all the process's connections
    # (and renews the leases of all the batches being sent).
    app = create_app(settings(delivery_workers=3))
    dispatchers: list[MailDispatcher] = app.state.container.mail_dispatchers
    assert len({id(dispatcher._journal) for dispatcher in dispatchers}) == 1


def test_smtp_security_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "SMTP_SECURITY": "starttls",
        "SMTP_USERNAME": "relay-user",
        "SMTP_PASSWORD": "s3cret-password",
        "SMTP_CA_FILE": "/etc/crm/smtp-ca.pem",
    }.items():
        monkeypatch.setenv(name, value)
    security = smtp_security(settings())
    assert security == SmtpSecurity(
        tls=SmtpTls.STARTTLS,
        username="relay-user",
        password="s3cret-password",
        ca_file="/etc/crm/smtp-ca.pem",
    )
    assert "s3cret-password" not in repr(settings())


def test_smtp_credentials_without_tls_stop_the_service_starting() -> None:
    with pytest.raises(ValueError, match="SMTP_SECURITY=starttls or tls"):
        settings(smtp_username="relay-user", smtp_password="s3cret-password")
    assert settings(smtp_security="tls", smtp_username="u").smtp_security is SmtpTls.IMPLICIT
