"""Telling machine fetches of the open pixel and tracked links from people.

Opens and clicks by machines are still recorded (flagged `automated`) but are not engagement:

- Apple Mail Privacy Protection fetches every image through Apple's proxies as soon as mail
  arrives, from Apple's network (17.0.0.0/8) with the bare user agent `Mozilla/5.0`.
- Security gateways (Barracuda, Proofpoint, Mimecast, Microsoft Safe Links, ...) fetch the
  pixel and follow every link within seconds of delivery, often with a browser's user agent,
  so the time since sending and a burst of clicks on different links give them away.
- Image proxies of web mail (Gmail's GoogleImageProxy, Yahoo) fetch when the reader opens the
  mail, so they count as a person, except within the first seconds, when only a prefetch can
  explain the fetch.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

APPLE_NETWORK = ipaddress.ip_network("17.0.0.0/8")
# A bare `Mozilla/5.0` is what Apple's privacy proxy sends; browsers and mail apps add details.
APPLE_PROXY_USER_AGENT = "mozilla/5.0"
BOT_USER_AGENT_MARKERS = (
    "bot",
    "crawler",
    "spider",
    "barracuda",
    "proofpoint",
    "mimecast",
    "messagelabs",
    "symantec",
    "trendmicro",
    "forcepoint",
    "fortiguard",
    "ironport",
    "zscaler",
    "safelinks",
    "headlesschrome",
    "phantomjs",
    "python-requests",
    "python-httpx",
    "go-http-client",
    "okhttp",
    "java/",
    "libwww",
    "curl/",
    "wget/",
)


class AutomationReason(StrEnum):
    NO_USER_AGENT = "no_user_agent"
    KNOWN_BOT = "known_bot"
    APPLE_PRIVACY_PROXY = "apple_privacy_proxy"
    TOO_SOON_AFTER_SENDING = "too_soon_after_sending"
    LINK_SCANNER_BURST = "link_scanner_burst"


@dataclass(frozen=True)
class Fetch:
    """One request for a pixel or a tracked link."""

    user_agent: str
    client_ip: str | None
    at: datetime


@dataclass(frozen=True)
class PreviousClick:
    """The last click recorded on the same message."""

    link_index: int
    at: datetime


def _apple_address(client_ip: str | None) -> bool:
    if not client_ip:
        return False
    try:
        return ipaddress.ip_address(client_ip.strip()) in APPLE_NETWORK
    except ValueError:
        return False


def _machine_by_identity(fetch: Fetch) -> AutomationReason | None:
    agent = fetch.user_agent.strip().lower()
    if not agent:
        return AutomationReason.NO_USER_AGENT
    if any(marker in agent for marker in BOT_USER_AGENT_MARKERS):
        return AutomationReason.KNOWN_BOT
    if agent == APPLE_PROXY_USER_AGENT or _apple_address(fetch.client_ip):
        return AutomationReason.APPLE_PRIVACY_PROXY
    return None


def _too_soon(fetch: Fetch, sent_at: datetime | None, window: timedelta) -> bool:
    return sent_at is not None and window > timedelta(0) and fetch.at - sent_at < window


def classify_open(
    fetch: Fetch, *, sent_at: datetime | None, window: timedelta
) -> AutomationReason | None:
    """Why a pixel fetch was made by a machine, or None when a person opened the mail."""
    reason = _machine_by_identity(fetch)
    if reason is not None:
        return reason
    # Image proxies (GoogleImageProxy) included: fetching within seconds of sending is a prefetch.
    if _too_soon(fetch, sent_at, window):
        return AutomationReason.TOO_SOON_AFTER_SENDING
    return None


def classify_click(
    fetch: Fetch,
    link_index: int,
    *,
    sent_at: datetime | None,
    previous: PreviousClick | None,
    window: timedelta,
    burst: timedelta,
) -> AutomationReason | None:
    """Why a click was made by a machine, or None when a person followed the link."""
    reason = _machine_by_identity(fetch)
    if reason is not None:
        return reason
    if _too_soon(fetch, sent_at, window):
        return AutomationReason.TOO_SOON_AFTER_SENDING
    # A scanner follows every link of a message at once; a person clicks one, then reads.
    if (
        previous is not None
        and previous.link_index != link_index
        and abs(fetch.at - previous.at) < burst
    ):
        return AutomationReason.LINK_SCANNER_BURST
    return None
