"""Public tracking endpoints (no login: the signed token is the credential).

Opens and clicks by machines (privacy proxies, security scanners, link checkers; see
`domain.automation`) are recorded as `automated` and not counted as engagement.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from crm_campaigns.domain.automation import Fetch, PreviousClick, classify_click, classify_open
from crm_campaigns.domain.tracking import TRANSPARENT_GIF, TrackingKind, TrackingTokens
from crm_campaigns.publishers import to_message_clicked, to_message_opened
from crm_campaigns.repositories.messages import MessageRepository
from crm_shared import Platform, ProblemError, Session, in_transaction, utc_now

router = APIRouter(prefix="/tracking", tags=["tracking"], include_in_schema=False)


def _forged() -> ProblemError:
    return ProblemError(404, "unknown tracking link", problem_type="not-found")


def _fetch(request: Request) -> Fetch:
    # The gateway, the only public entry, sets X-Forwarded-For to the caller's address.
    forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
    client_ip = forwarded or (request.client.host if request.client else None)
    return Fetch(request.headers.get("user-agent", ""), client_ip, utc_now())


def _window(request: Request, name: str) -> timedelta:
    seconds: float = getattr(request.app.state, name)
    return timedelta(seconds=seconds)


@router.get("/open/{token}")
async def track_open(token: str, request: Request) -> Response:
    """Records an open and answers with a transparent pixel."""
    platform: Platform = request.app.state.platform
    tokens: TrackingTokens = request.app.state.tracking_tokens
    claim = tokens.verify(token, TrackingKind.OPEN)
    if claim is None:
        raise _forged()
    messages = MessageRepository(platform.require_database(), claim.tenant_id)
    message = await messages.get(claim.message_id)
    if message is None:
        raise _forged()
    automated = (
        classify_open(
            _fetch(request),
            sent_at=message.sent_at,
            window=_window(request, "machine_fetch_window_seconds"),
        )
        is not None
    )
    outbox = platform.require_outbox()

    async def record(session: Session) -> None:
        field = "automated_opens" if automated else "opens"
        await messages.count_engagement(message.id, field, session=session)
        await to_message_opened(outbox, message, automated=automated, session=session)

    await in_transaction(platform.require_mongo(), record)
    outbox.notify_committed()
    return Response(
        TRANSPARENT_GIF, media_type="image/gif", headers={"Cache-Control": "no-store, max-age=0"}
    )


@router.get("/click/{token}")
async def track_click(token: str, request: Request) -> Response:
    """Records a click and redirects to the URL stored for that link of the message."""
    platform: Platform = request.app.state.platform
    tokens: TrackingTokens = request.app.state.tracking_tokens
    claim = tokens.verify(token, TrackingKind.CLICK)
    if claim is None or claim.link_index is None:
        raise _forged()
    messages = MessageRepository(platform.require_database(), claim.tenant_id)
    message = await messages.get(claim.message_id)
    if message is None or not 0 <= claim.link_index < len(message.links):
        raise _forged()
    outbox = platform.require_outbox()
    link_index = claim.link_index
    fetch = _fetch(request)
    previous = (
        PreviousClick(message.last_click_index, message.last_click_at)
        if message.last_click_index is not None and message.last_click_at is not None
        else None
    )
    automated = (
        classify_click(
            fetch,
            link_index,
            sent_at=message.sent_at,
            previous=previous,
            window=_window(request, "machine_fetch_window_seconds"),
            burst=_window(request, "link_scan_burst_seconds"),
        )
        is not None
    )

    async def record(session: Session) -> None:
        await messages.record_click(message.id, link_index, fetch.at, automated, session=session)
        await to_message_clicked(outbox, message, link_index, automated=automated, session=session)

    await in_transaction(platform.require_mongo(), record)
    outbox.notify_committed()
    return RedirectResponse(message.links[link_index], status_code=302)
