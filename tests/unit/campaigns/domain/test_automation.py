"""Opens and clicks by proxies and scanners are told apart from people's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_campaigns.domain.automation import (
    AutomationReason,
    Fetch,
    PreviousClick,
    classify_click,
    classify_open,
)

pytestmark = pytest.mark.unit

SENT = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
LATER = SENT + timedelta(hours=2)
WINDOW = timedelta(seconds=2)
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko)"
GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


def opened(agent: str, ip: str | None = "203.0.113.9", at: datetime = LATER) -> object:
    return classify_open(Fetch(agent, ip, at), sent_at=SENT, window=WINDOW)


def test_a_person_opening_later_is_engagement() -> None:
    assert opened(BROWSER) is None
    assert opened(GMAIL) is None  # Gmail's proxy fetches when the reader opens the mail


def test_apple_privacy_proxy_by_agent_or_network() -> None:
    assert opened("Mozilla/5.0") is AutomationReason.APPLE_PRIVACY_PROXY
    assert opened(BROWSER, ip="17.58.101.3") is AutomationReason.APPLE_PRIVACY_PROXY
    assert opened(BROWSER, ip="not-an-ip") is None


def test_known_scanners_and_missing_agents() -> None:
    assert opened("Barracuda Sentinel (EE)") is AutomationReason.KNOWN_BOT
    assert opened("python-requests/2.31") is AutomationReason.KNOWN_BOT
    assert opened("") is AutomationReason.NO_USER_AGENT


def test_fetches_within_seconds_of_sending_are_prefetches_unless_the_rule_is_off() -> None:
    soon = SENT + timedelta(milliseconds=800)
    assert opened(GMAIL, at=soon) is AutomationReason.TOO_SOON_AFTER_SENDING
    fetch = Fetch(BROWSER, None, soon)
    assert classify_open(fetch, sent_at=SENT, window=timedelta(0)) is None
    assert classify_open(fetch, sent_at=None, window=WINDOW) is None


def test_a_scanner_clicking_every_link_at_once() -> None:
    first = PreviousClick(link_index=0, at=LATER)

    def click(index: int, at: datetime, previous: PreviousClick | None) -> object:
        return classify_click(
            Fetch(BROWSER, None, at),
            index,
            sent_at=SENT,
            previous=previous,
            window=WINDOW,
            burst=timedelta(seconds=2),
        )

    assert click(0, LATER, None) is None
    assert click(1, LATER + timedelta(milliseconds=300), first) is (
        AutomationReason.LINK_SCANNER_BURST
    )
    # The same link twice, or another link a while later, is a person.
    assert click(0, LATER + timedelta(milliseconds=300), first) is None
    assert click(1, LATER + timedelta(seconds=30), first) is None
    assert click(0, SENT + timedelta(seconds=1), None) is AutomationReason.TOO_SOON_AFTER_SENDING
