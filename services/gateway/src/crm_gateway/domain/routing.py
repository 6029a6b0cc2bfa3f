"""Which service serves which public path."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from crm_gateway.config import GatewaySettings, Tenant, TenantStatus

PUBLIC_API_PREFIX = "/api/v1"
PUBLIC_UNAUTHENTICATED_PREFIX = "/public/v1"


@dataclass(frozen=True)
class Route:
    """Authenticated paths `/api/v1/<resource>...` are served by `base_url` at `/<resource>...`.

    A resource is one path segment, or two (`settings/retention`) where services share the first.
    """

    resource: str
    service: str
    base_url: str
    # File uploads (CSV imports) are streamed to the service, up to `max_upload_bytes`.
    streams_uploads: bool = False


def routes(settings: GatewaySettings) -> dict[str, Route]:
    """The routing table of the authenticated API, keyed by its first path segment."""
    table = (
        Route("candidates", "candidates", settings.candidates_url),
        Route("segments", "candidates", settings.candidates_url),
        Route("imports", "candidates", settings.candidates_url, streams_uploads=True),
        Route("pools", "candidates", settings.candidates_url),
        Route("custom-fields", "candidates", settings.candidates_url),
        Route("skills", "candidates", settings.candidates_url),
        Route("profile-settings", "candidates", settings.candidates_url),
        Route("settings/retention", "candidates", settings.candidates_url),
        Route("templates", "campaigns", settings.campaigns_url),
        Route("sequences", "campaigns", settings.campaigns_url),
        Route("messages", "campaigns", settings.campaigns_url),
        Route("notifications", "campaigns", settings.campaigns_url),
        Route("broadcasts", "campaigns", settings.campaigns_url),
        Route("blocks", "campaigns", settings.campaigns_url),
        Route("suppressions", "campaigns", settings.campaigns_url),
        # Tenant settings live with the service they govern: the retention policy with the
        # candidates service, every other setting (contact policy, inbound mail) with campaigns.
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


def service_urls(settings: GatewaySettings) -> dict[str, str]:
    """Base URL of each service behind the gateway."""
    return {
        "candidates": settings.candidates_url,
        "campaigns": settings.campaigns_url,
        "events": settings.events_url,
        "ats-sync": settings.ats_sync_url,
        "analytics": settings.analytics_url,
    }


def tenant_for_community_key(tenants: dict[str, Tenant], key: str) -> str | None:
    """The active tenant whose public community key is `key`, if any."""
    for tenant_id, tenant in tenants.items():
        if (
            tenant.community_key
            and tenant.status is TenantStatus.ACTIVE
            and hmac.compare_digest(tenant.community_key.encode(), key.encode())
        ):
            return tenant_id
    return None
