"""Which ATS API addresses a connection may name.

An admin types the API address, and ats-sync then sends the account's API key there and reads
what comes back: left open, that is a way to make the service call its own network (the
database, a cloud metadata endpoint) with a credential attached. So the address must be HTTPS on
a host of a known ATS, or one the operator allowed; the local stack (development) also allows
plain HTTP to loopback, where its simulated accounts run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

# The public API hosts of the ATSs the CRM speaks (settings may allow others, e.g. an EU or
# self-hosted instance).
KNOWN_API_HOSTS = ("harvest.greenhouse.io", "api.lever.co", "api.eu.lever.co", "*.workable.com")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _host_allowed(host: str, patterns: Sequence[str]) -> bool:
    for pattern in patterns:
        pattern = pattern.lower()
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and host != pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False


def api_address_refusal(url: str, allowed_hosts: Sequence[str], *, development: bool) -> str | None:
    """Why the API address may not be used (None when it may)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    loopback = development and host in LOOPBACK_HOSTS
    if parts.scheme != "https" and not (loopback and parts.scheme == "http"):
        return "the API address must use https"
    if parts.username or parts.password:
        return "the API address may not carry credentials; give the key as api_key"
    if not loopback and not _host_allowed(host, allowed_hosts):
        return f"{host or 'the address'} is not a known ATS API host; an operator can allow it"
    return None


@dataclass(frozen=True)
class ApiAddressPolicy:
    """The hosts allowed, and whether this is the local stack (plain HTTP to loopback)."""

    allowed_hosts: tuple[str, ...] = KNOWN_API_HOSTS
    development: bool = False

    def refusal(self, url: str) -> str | None:
        return api_address_refusal(url, self.allowed_hosts, development=self.development)
