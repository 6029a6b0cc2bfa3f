"""Who is calling: the client address from the socket peer and trusted proxies' headers."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

Network = IPv4Network | IPv6Network


def _parsed(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: IPv4Address | IPv6Address, proxies: Sequence[Network]) -> bool:
    return any(address in network for network in proxies)


def client_address(peer: str, forwarded_for: Sequence[str], proxies: Sequence[Network]) -> str:
    """The caller's address: the socket peer, unless the peer is a trusted proxy; then the
    right-most `X-Forwarded-For` hop that is not a trusted proxy.

    Every hop left of a proxy's own entry was written by whoever called that proxy, so it can be
    anything: only the hops trusted proxies appended count. A hop that is not an IP address
    (a misconfigured proxy, or a forgery one place right of a trusted hop) ends the walk at the
    last trusted hop, so such requests share one address rather than choosing their own.
    """
    current = _parsed(peer)
    if current is None or not _trusted(current, proxies):
        return peer
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _parsed(hop)
        if address is None:
            return str(current)
        current = address
        if not _trusted(current, proxies):
            return str(current)
    # Every hop is a trusted proxy: the left-most is as close to the client as anyone knows.
    return str(current)
