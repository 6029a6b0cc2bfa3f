"""Public tracking endpoints (no login: the signed token is the credential)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from crm_campaigns.api.deps import Container
from crm_campaigns.application.tracking import UnknownTrackingLink
from crm_campaigns.domain.automation import Fetch
from crm_campaigns.domain.tracking import TRANSPARENT_GIF
from crm_shared import ProblemError, public_operation, utc_now

router = APIRouter(
    prefix="/tracking",
    tags=["tracking"],
    include_in_schema=False,
    dependencies=[public_operation()],
)


def _forged() -> ProblemError:
    return ProblemError(404, "unknown tracking link", problem_type="not-found")


def _fetch(request: Request) -> Fetch:
    # The gateway, the only public entry, sets X-Forwarded-For to the caller's address.
    forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
    client_ip = forwarded or (request.client.host if request.client else None)
    return Fetch(request.headers.get("user-agent", ""), client_ip, utc_now())


@router.get("/open/{token}")
async def track_open(token: str, request: Request, container: Container) -> Response:
    """Records an open and answers with a transparent pixel."""
    try:
        await container.tracker.record_open(token, _fetch(request))
    except UnknownTrackingLink:
        raise _forged() from None
    return Response(
        TRANSPARENT_GIF, media_type="image/gif", headers={"Cache-Control": "no-store, max-age=0"}
    )


@router.get("/click/{token}")
async def track_click(token: str, request: Request, container: Container) -> Response:
    """Records a click and redirects to the URL stored for that link of the message."""
    try:
        url = await container.tracker.record_click(token, _fetch(request))
    except UnknownTrackingLink:
        raise _forged() from None
    return RedirectResponse(url, status_code=302)
