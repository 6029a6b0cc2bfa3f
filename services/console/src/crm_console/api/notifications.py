"""The notifications page: what sequences told the signed-in person, marked read one by one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from crm_console.api.deps import Container, CurrentViewer, done, is_htmx, render
from crm_console.application.notifications import Inbox
from crm_console.domain.navigation import CONSOLE_PREFIX

HERE = f"{CONSOLE_PREFIX}/notifications"
router = APIRouter(prefix=HERE, include_in_schema=False)


@router.get("")
async def notification_list(
    request: Request,
    viewer: CurrentViewer,
    state: Container,
    unread: bool = False,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    """The person's notifications, oldest first (only the unread ones when asked)."""
    page = await Inbox(state.gateway).page(viewer.caller, unread=unread, cursor=cursor)
    return render(
        request,
        state.templates,
        "notifications/list.html",
        {"page": page, "unread": unread},
        viewer=viewer,
    )


@router.post("/{notification_id}/read")
async def mark_read(
    notification_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Marks one notification read; its row is shown again, read (without script, the
    notifications page again)."""
    notification = await Inbox(state.gateway).mark_read(viewer.caller, notification_id)
    if not is_htmx(request):
        return done(request, HERE)
    return render(
        request,
        state.templates,
        "notifications/row.html",
        {"n": notification, "just_read": True},
        viewer=viewer,
    )
