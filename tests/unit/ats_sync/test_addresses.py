"""Where a connection's API key may be sent."""

from __future__ import annotations

import pytest

from crm_ats_sync.domain.addresses import KNOWN_API_HOSTS, api_address_refusal

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "url",
    [
        "https://harvest.greenhouse.io/v1",
        "https://api.eu.lever.co/v1",
        "https://acme.workable.com/spi/v3",
    ],
)
def test_the_atss_own_https_hosts_are_allowed(url: str) -> None:
    assert api_address_refusal(url, KNOWN_API_HOSTS, development=False) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://harvest.greenhouse.io/v1", "https"),
        ("https://169.254.169.254/latest/meta-data", "not a known ATS API host"),
        ("https://mongodb:27017/", "not a known ATS API host"),
        ("https://workable.com.evil.example/spi/v3", "not a known ATS API host"),
        ("https://workable.com/spi/v3", "not a known ATS API host"),
        ("https://user:pw@acme.workable.com/spi/v3", "credentials"),
        ("http://127.0.0.1:8791/v1", "https"),
    ],
)
def test_other_addresses_are_refused_with_the_reason(url: str, reason: str) -> None:
    refusal = api_address_refusal(url, KNOWN_API_HOSTS, development=False)
    assert refusal is not None
    assert reason in refusal


def test_the_local_stack_reaches_its_simulated_accounts_on_loopback_only() -> None:
    assert api_address_refusal("http://127.0.0.1:8791/v1", (), development=True) is None
    assert api_address_refusal("http://10.0.0.5/v1", (), development=True) is not None


def test_an_operator_allows_a_self_hosted_instance() -> None:
    allowed = (*KNOWN_API_HOSTS, "ats.internal.example")
    assert (
        api_address_refusal("https://ats.internal.example/v1", allowed, development=False) is None
    )
