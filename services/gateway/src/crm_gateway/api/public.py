"""Public endpoints (no login): tracking, event registration, ATS webhooks.

Each is rate-limited per IP address and accepts only small bodies; the service behind it checks
its own credential (a signed token, an existing event, a webhook signature).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from crm_gateway.api.proxy import State, forward, limit_public_caller
from crm_gateway.domain.routing import PUBLIC_UNAUTHENTICATED_PREFIX

router = APIRouter(dependencies=[Depends(limit_public_caller)], tags=["public"])

# Service path -> (service, public path): how the services' public routes are published.
PUBLIC_PATHS: dict[str, tuple[str, str]] = {
    "/public/events/{event_id}/registrations": (
        "events",
        f"{PUBLIC_UNAUTHENTICATED_PREFIX}/events/{{event_id}}/registrations",
    ),
    "/public/ats/greenhouse/{connection_id}/webhooks": (
        "ats-sync",
        f"{PUBLIC_UNAUTHENTICATED_PREFIX}/ats/greenhouse/{{connection_id}}/webhooks",
    ),
}


@router.get("/t/o/{token}", summary="Open-tracking pixel")
async def open_pixel(token: str, request: Request, state: State) -> Response:
    """The 1x1 pixel of a message; loading it records an open."""
    base = request.app.state.service_urls["campaigns"]
    return await forward(
        request, state, f"{base}/tracking/open/{token}", principal=None, max_bytes=0
    )


@router.get("/t/c/{token}", summary="Tracked link")
async def tracked_link(token: str, request: Request, state: State) -> Response:
    """Redirects to the URL stored for this link of the message and records the click."""
    base = request.app.state.service_urls["campaigns"]
    return await forward(
        request, state, f"{base}/tracking/click/{token}", principal=None, max_bytes=0
    )


@router.post(
    f"{PUBLIC_UNAUTHENTICATED_PREFIX}/events/{{event_id}}/registrations", include_in_schema=False
)
async def register_for_event(event_id: str, request: Request, state: State) -> Response:
    """Public registration for a recruiting event."""
    base = request.app.state.service_urls["events"]
    return await forward(
        request,
        state,
        f"{base}/public/events/{event_id}/registrations",
        principal=None,
        max_bytes=request.app.state.max_public_request_bytes,
    )


@router.post(
    f"{PUBLIC_UNAUTHENTICATED_PREFIX}/ats/greenhouse/{{connection_id}}/webhooks",
    include_in_schema=False,
)
async def greenhouse_webhook(connection_id: str, request: Request, state: State) -> Response:
    """A Greenhouse webhook delivery for one ATS connection."""
    base = request.app.state.service_urls["ats-sync"]
    return await forward(
        request,
        state,
        f"{base}/public/ats/greenhouse/{connection_id}/webhooks",
        principal=None,
        max_bytes=request.app.state.max_webhook_bytes,
    )
