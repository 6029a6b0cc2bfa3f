"""Public tracking endpoints (no login: the signed token is the credential)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from crm_campaigns.domain.tracking import TRANSPARENT_GIF, TrackingKind, TrackingTokens
from crm_campaigns.publishers import to_message_clicked, to_message_opened
from crm_campaigns.repository import MessageRepository
from crm_shared import Platform, ProblemError, Session, in_transaction

router = APIRouter(prefix="/tracking", tags=["tracking"], include_in_schema=False)

# Mail-security scanners and image proxies that fetch every pixel whether or not a person looks.
AUTOMATED_USER_AGENTS = (
    "bot",
    "crawler",
    "spider",
    "barracuda",
    "proofpoint",
    "mimecast",
    "python-requests",
    "curl/",
    "wget/",
)


def _forged() -> ProblemError:
    return ProblemError(404, "unknown tracking link", problem_type="not-found")


def _automated(request: Request) -> bool:
    agent = request.headers.get("user-agent", "").lower()
    return not agent or any(marker in agent for marker in AUTOMATED_USER_AGENTS)


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
    automated = _automated(request)
    outbox = platform.require_outbox()

    async def record(session: Session) -> None:
        if not automated:
            await messages.count_engagement(message.id, "opens", session=session)
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

    async def record(session: Session) -> None:
        await messages.count_engagement(message.id, "clicks", session=session)
        await to_message_clicked(outbox, message, link_index, session=session)

    await in_transaction(platform.require_mongo(), record)
    outbox.notify_committed()
    return RedirectResponse(message.links[link_index], status_code=302)
