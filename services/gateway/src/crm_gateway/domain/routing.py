"""Which service serves which public API path."""

from __future__ import annotations

from dataclasses import dataclass

from crm_gateway.config import GatewaySettings

PUBLIC_API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class Route:
    """Public paths under `/api/v1/<resource>` are served by `base_url` at `/<resource>`."""

    resource: str
    base_url: str


def routes(settings: GatewaySettings) -> dict[str, Route]:
    """The routing table, keyed by the first path segment after `/api/v1`."""
    table = (
        Route("candidates", settings.candidates_url),
        Route("segments", settings.candidates_url),
        Route("analytics", settings.analytics_url),
    )
    return {route.resource: route for route in table}
