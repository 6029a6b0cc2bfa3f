"""Which sites may frame a page: the site origins a tenant lets embed its forms, checked before
they are stored and again before they go into a `Content-Security-Policy: frame-ancestors`.

An origin is a scheme, a host and an optional port, nothing else: `https://careers.example.com`
or `https://careers.example.com:8443`. `https://*.example.com` allows every subdomain of
`example.com` (not `example.com` itself, as CSP reads it). Plain `http` is accepted only for
the loopback host (`http://localhost:8080`, `http://127.0.0.1:8080`), where a careers page is
tried out on one's own computer; a site served over the internet without TLS could have the
form replaced on its way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# At most this many sites per tenant: each is on every embed response's header.
MAX_SITE_ORIGINS = 20
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})*$")
_HOST_CHARACTERS = re.compile(r"^[a-z0-9.*-]+$")
_PORT = re.compile(r"^[0-9]{1,5}$")
_NO_FRAMING = "frame-ancestors 'none'"
_FRAME_ANCESTORS = re.compile(r"(?:^|;)\s*frame-ancestors\s+([^;]*)", re.IGNORECASE)


def site_origin(text: str) -> str:
    """`text` as a site origin in its one spelling (lower case, no trailing slash); a
    `ValueError` saying what is wrong with it otherwise."""
    written = text.strip()
    scheme, separator, rest = written.partition("://")
    if not separator:
        raise ValueError(f"{written!r} is not an origin: write it as https://careers.example.com")
    scheme = scheme.lower()
    if scheme not in ("https", "http"):
        raise ValueError(f"{written!r} is not a web site's origin: it must start with https://")
    # A pasted address often ends with a slash; anything after it is a path, not the site.
    authority = rest[:-1] if rest.endswith("/") else rest
    if any(mark in authority for mark in "/?#"):
        raise ValueError(f"{written!r} has a path: give the site alone, e.g. {scheme}://host")
    if "@" in authority:
        raise ValueError(f"{written!r} names a user: give the site alone")
    host, port = _host_and_port(authority.lower(), written)
    if scheme == "http" and host not in _LOOPBACK_HOSTS:
        raise ValueError(f"{written!r} is not https: only https sites may embed the form")
    if host not in _LOOPBACK_HOSTS:
        _check_host(host, written)
    return f"{scheme}://{host}{f':{port}' if port else ''}"


def _host_and_port(authority: str, written: str) -> tuple[str, str]:
    if authority.startswith("[::1]"):
        host, port_part = "[::1]", authority[len("[::1]") :]
    elif authority.startswith("["):
        raise ValueError(f"{written!r} is an IP address: name the site by its host name")
    else:
        host, _, port = authority.partition(":")
        port_part = f":{port}" if ":" in authority else ""
    port = port_part.removeprefix(":")
    if port_part and not (_PORT.match(port) and 0 < int(port) <= 65535):
        raise ValueError(f"{written!r} has no valid port")
    return host, port


def _check_host(host: str, written: str) -> None:
    try:
        # An international domain name is stored as browsers send it (xn--).
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise ValueError(f"{written!r} has no valid host name") from None
    if ascii_host != host:
        raise ValueError(f"{written!r}: write the host as {ascii_host}")
    if not _HOST_CHARACTERS.match(host):
        raise ValueError(f"{written!r} has no valid host name")
    if "*" in host and not host.startswith("*."):
        raise ValueError(f"{written!r}: a wildcard is only allowed as https://*.example.com")
    if not _HOST.match(host) or len(host) > 253:
        raise ValueError(f"{written!r} has no valid host name")
    if host.startswith("*.") and host.count(".") < 2:
        raise ValueError(f"{written!r} allows a whole top-level domain: name the site's own")


def site_origins(texts: Iterable[str]) -> list[str]:
    """Each of `texts` as a site origin (`site_origin`), once each, in the order given."""
    origins = list(dict.fromkeys(site_origin(text) for text in texts))
    if len(origins) > MAX_SITE_ORIGINS:
        raise ValueError(f"at most {MAX_SITE_ORIGINS} sites may embed the forms")
    return origins


def frame_ancestors(origins: Iterable[str]) -> str:
    """The CSP directive letting exactly `origins` frame a page; `'none'` without any. An
    origin that is not one (`site_origin`) is left out, so no stored value can add to the
    policy."""
    allowed: list[str] = []
    for origin in origins:
        try:
            allowed.append(site_origin(origin))
        except ValueError:
            continue
    return f"frame-ancestors {' '.join(allowed)}" if allowed else _NO_FRAMING


def framed_by(policy: str, origins: Iterable[str]) -> str:
    """`policy` (which forbids framing with `frame-ancestors 'none'`) with the directive
    letting `origins` frame the page instead."""
    if _NO_FRAMING not in policy:
        raise ValueError("the policy has no frame-ancestors 'none' to replace")
    return policy.replace(_NO_FRAMING, frame_ancestors(origins))


def allows_framing(policy: str | None) -> bool:
    """Whether a response's policy lets some site frame it: then it gets no
    `X-Frame-Options: DENY`, which contradicts it (a browser that knows no `frame-ancestors`
    would refuse the frame the tenant allowed)."""
    if not policy:
        return False
    found = _FRAME_ANCESTORS.search(policy)
    return found is not None and found.group(1).strip().lower() not in ("'none'", "")
