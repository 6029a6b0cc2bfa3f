"""Which service serves which public path."""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from crm_gateway.config import GatewaySettings
from crm_gateway.domain.tenants import Tenant
from crm_shared import OPENAPI_KEY as PERMISSION_KEY

PUBLIC_API_PREFIX = "/api/v1"
PUBLIC_UNAUTHENTICATED_PREFIX = "/public/v1"
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# The only operations whose body is streamed under the upload cap instead of the request cap.
UPLOAD_OPERATIONS = frozenset({("PUT", "/imports/{import_id}/file")})


@dataclass(frozen=True)
class Route:
    """Authenticated paths `/api/v1/<resource>...` are served by `base_url` at `/<resource>...`.

    A resource is one path segment, or two (`settings/retention`) where services share the first.
    """

    resource: str
    service: str
    base_url: str


def routes(settings: GatewaySettings) -> dict[str, Route]:
    """The routing table of the authenticated API, keyed by its first path segment."""
    table = (
        Route("candidates", "candidates", settings.candidates_url),
        Route("segments", "candidates", settings.candidates_url),
        Route("imports", "candidates", settings.candidates_url),
        Route("pools", "candidates", settings.candidates_url),
        Route("lists", "candidates", settings.candidates_url),
        Route("custom-fields", "candidates", settings.candidates_url),
        Route("skills", "candidates", settings.candidates_url),
        Route("profile-settings", "candidates", settings.candidates_url),
        Route("settings/retention", "candidates", settings.candidates_url),
        Route("settings/event-embedding", "events", settings.events_url),
        Route("templates", "campaigns", settings.campaigns_url),
        Route("sequences", "campaigns", settings.campaigns_url),
        Route("messages", "campaigns", settings.campaigns_url),
        Route("event-mails", "campaigns", settings.campaigns_url),
        Route("report-mails", "campaigns", settings.campaigns_url),
        Route("invitation-mails", "campaigns", settings.campaigns_url),
        Route("notifications", "campaigns", settings.campaigns_url),
        Route("broadcasts", "campaigns", settings.campaigns_url),
        Route("blocks", "campaigns", settings.campaigns_url),
        Route("suppressions", "campaigns", settings.campaigns_url),
        # The list's CSV export: a resource of its own name, as a path segment is one resource.
        Route("suppressions.csv", "campaigns", settings.campaigns_url),
        # Tenant settings live with the service they govern: the retention policy with the
        # candidates service, the sites that may frame event forms with events, every other
        # setting (contact policy, inbound mail) with campaigns.
        Route("settings", "campaigns", settings.campaigns_url),
        Route("events", "events", settings.events_url),
        Route("ats", "ats-sync", settings.ats_sync_url),
        Route("analytics", "analytics", settings.analytics_url),
    )
    return {route.resource: route for route in table}


def route_for(table: dict[str, Route], path: str) -> Route | None:
    """The most specific route of an API path such as `settings/retention` or `candidates/42`."""
    segments = path.strip("/").split("/")
    return table.get("/".join(segments[:2])) or table.get(segments[0])


@dataclass(frozen=True)
class PathTemplate:
    """An OpenAPI path template such as `/candidates/{candidate_id}/notes`."""

    text: str
    # One entry per segment: the literal text, or None for a parameter.
    parts: tuple[str | None, ...]

    @classmethod
    def parse(cls, text: str) -> PathTemplate:
        parts = tuple(
            None if part.startswith("{") and part.endswith("}") else part
            for part in text.strip("/").split("/")
        )
        return cls(text, parts)

    def matches(self, segments: tuple[str, ...]) -> bool:
        """Whether the decoded segments fill the template; a parameter takes one non-empty
        segment, never a slash (which a segment cannot hold)."""
        return len(segments) == len(self.parts) and all(
            segment == part if part is not None else segment != ""
            for segment, part in zip(segments, self.parts, strict=True)
        )

    @property
    def literals(self) -> int:
        return sum(part is not None for part in self.parts)


@dataclass(frozen=True)
class Operation:
    """A path template and a method the service behind it serves."""

    template: str
    method: str
    # The permission the service declares for it (OpenAPI `x-permission`), if any.
    permission: str | None = None

    @property
    def streams_uploads(self) -> bool:
        """File uploads (CSV imports) are streamed to the service, up to `max_upload_bytes`."""
        return (self.method, self.template) in UPLOAD_OPERATIONS


@dataclass(frozen=True)
class MethodNotAllowed:
    """The path is published, but not for this method."""

    allowed: tuple[str, ...]


class ServiceOperations:
    """The operations one service publishes under the gateway's routed resources: the paths of
    its OpenAPI document (the one the gateway's `/docs` shows), and nothing else."""

    def __init__(
        self,
        operations: Iterable[tuple[str, str]],
        permissions: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        # (template, METHOD) -> the permission the service declares for the operation.
        self._permissions = dict(permissions or {})
        methods: dict[str, set[str]] = {}
        for template, method in operations:
            methods.setdefault(template, set()).add(method.upper())
        # Most literal segments first: `/candidates/merges` before `/candidates/{id}`.
        self._templates = sorted(
            ((PathTemplate.parse(text), frozenset(found)) for text, found in methods.items()),
            key=lambda entry: -entry[0].literals,
        )

    @classmethod
    def published(
        cls, document: Mapping[str, Any], service: str, routes: dict[str, Route]
    ) -> ServiceOperations:
        """The operations of `service`'s OpenAPI document whose paths the gateway routes to it."""
        operations: list[tuple[str, str]] = []
        permissions: dict[tuple[str, str], str] = {}
        for path, item in document.get("paths", {}).items():
            route = route_for(routes, path)
            if route is None or route.service != service or not isinstance(item, dict):
                continue
            for method, operation in item.items():
                if method.upper() not in HTTP_METHODS:
                    continue
                operations.append((path, method.upper()))
                permission = operation.get(PERMISSION_KEY) if isinstance(operation, dict) else None
                if isinstance(permission, str):
                    permissions[(path, method.upper())] = permission
        return cls(operations, permissions)

    def match(self, method: str, segments: tuple[str, ...]) -> Operation | MethodNotAllowed | None:
        """The operation serving `method` on the decoded path `segments`; MethodNotAllowed when
        the path is published for other methods only; None when it is not published."""
        allowed: set[str] = set()
        for template, methods in self._templates:
            if template.matches(segments):
                if method in methods:
                    permission = self._permissions.get((template.text, method))
                    return Operation(template.text, method, permission)
                allowed |= methods
        if allowed:
            return MethodNotAllowed(tuple(m for m in HTTP_METHODS if m in allowed))
        return None


def public_location(
    location: str,
    internal_hosts: frozenset[str],
    routes: dict[str, Route] | None,
    public_paths: tuple[str, ...] = (),
) -> str | None:
    """What a service's `Location` header becomes for the caller, or None to drop it.

    A location on a service (a path, or a URL whose `host[:port]` is a service's) becomes the
    public API path when `routes` route it, and is dropped otherwise: an internal address never
    reaches the caller. A path under one of `public_paths` (the console's pages, which the
    gateway serves at the console's own paths) is kept as it is. A web address elsewhere (a
    tracked link's destination) is kept.
    """
    try:
        parts = urlsplit(location)
    except ValueError:
        return None
    if parts.netloc and parts.netloc.lower() not in internal_hosts:
        return location if parts.scheme.lower() in ("http", "https") else None
    if parts.scheme and not parts.netloc:
        return None  # `mailto:`, `javascript:` and the like: no redirect of ours
    path = parts.path
    if not parts.netloc and path.startswith(public_paths):
        return location
    if routes is None or not path.startswith("/") or route_for(routes, path) is None:
        return None
    return PUBLIC_API_PREFIX + path + (f"?{parts.query}" if parts.query else "")


def service_urls(settings: GatewaySettings) -> dict[str, str]:
    """Base URL of each service behind the gateway."""
    return {
        "candidates": settings.candidates_url,
        "campaigns": settings.campaigns_url,
        "events": settings.events_url,
        "ats-sync": settings.ats_sync_url,
        "analytics": settings.analytics_url,
    }


def internal_hosts(settings: GatewaySettings) -> frozenset[str]:
    """The `host[:port]` of every service, as their own URLs (and redirects) name them."""
    return frozenset(urlsplit(url).netloc.lower() for url in service_urls(settings).values())


def tenant_for_community_key(tenants: Iterable[Tenant], key: str) -> str | None:
    """The active tenant whose public community key is `key`, if any."""
    for tenant in tenants:
        if (
            tenant.community_key
            and tenant.active
            and hmac.compare_digest(tenant.community_key.encode(), key.encode())
        ):
            return tenant.tenant_id
    return None
