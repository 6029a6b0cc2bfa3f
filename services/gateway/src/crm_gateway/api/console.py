"""The console, served at `/console/` to signed-in browsers.

The gateway checks the session cookie (and the CSRF token of a write) as for the API, then
hands the request to the console service with an internal token for it, the session's secret
and CSRF token (so the console calls the public API as this browser, no more) and the person's
display name. The sign-in page and static files need no session."""

from __future__ import annotations

from html import escape
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from crm_gateway.api.deps import (
    Container,
    browser_sign_in,
    check_csrf,
    limit_public_caller,
    session_of,
)
from crm_gateway.api.proxy import forward
from crm_gateway.container import GatewayContainer
from crm_gateway.domain.routing import HTTP_METHODS
from crm_gateway.domain.sessions import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE
from crm_shared import Principal, ProblemError, public_operation

CONSOLE_PREFIX = "/console"
# What the console serves to anyone: its sign-in page, its scripts and styles, and the public
# pages (an event's registration page) that call only the public, unauthenticated API.
_OPEN_PATHS = ("sign-in",)
_OPEN_PREFIXES = ("static/", "public/")
# Headers only the gateway may set on a console request.
SESSION_HEADER = "x-console-session"
USER_NAME_HEADER = "x-console-user-name"

UNANSWERED_PAGE_CSP = (
    "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)

router = APIRouter()


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _to_sign_in(request: Request, *, expired: bool) -> Response:
    """Sends the browser to the console's sign-in page, which brings it back here after."""
    query = {"return_to": request.url.path + (f"?{request.url.query}" if request.url.query else "")}
    if expired:
        query["reason"] = "expired"
    target = f"{CONSOLE_PREFIX}/sign-in?{urlencode(query)}"
    if _is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return Response(status_code=303, headers={"Location": target, "Cache-Control": "no-store"})


def _unanswered(request: Request, failed: ProblemError) -> HTMLResponse:
    """The console's own kind of error, in HTML, when the console did not answer (down, or
    slower than the gateway waits): a browser would show the problem document's JSON as it is,
    and htmx would put it into the page."""
    title = (
        "The console did not answer in time"
        if failed.status == 504
        else "The console is not available"
    )
    reading = request.method.upper() in SAFE_METHODS
    # "It may have taken effect" is said of a write; a page read changed nothing.
    detail = escape(failed.detail.split(";")[0] if reading else failed.detail)
    if failed.status == 504 and not reading:
        detail += ". Look at the page again before you repeat what you did."
    problem = (
        f'<div class="problem" role="alert"><p><strong>{failed.status} · {title}</strong>: '
        f"{detail}</p></div>"
    )
    if _is_htmx(request):
        body = problem
    else:
        again = escape(
            str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
        )
        body = (
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title} · RecruitCRM</title>"
            f'<link rel="stylesheet" href="{CONSOLE_PREFIX}/static/console.css"></head>'
            f'<body><main id="main"><section class="card"><h1>{title}</h1>{problem}'
            f'<p><a href="{again}">Try again</a> · <a href="{CONSOLE_PREFIX}/">Home</a></p>'
            "</section></main></body></html>"
        )
    return HTMLResponse(
        body,
        status_code=failed.status,
        headers={
            **failed.headers,
            "Cache-Control": "no-store",
            # The console's stylesheet, and nothing else, may load.
            "Content-Security-Policy": UNANSWERED_PAGE_CSP,
        },
    )


@router.api_route(
    CONSOLE_PREFIX,
    methods=["GET"],
    include_in_schema=False,
    dependencies=[public_operation()],
)
async def console_root() -> Response:
    """`/console` without its slash: the home page."""
    return Response(status_code=308, headers={"Location": f"{CONSOLE_PREFIX}/"})


@router.api_route(
    CONSOLE_PREFIX + "/{path:path}",
    methods=list(HTTP_METHODS),
    include_in_schema=False,
    # The console's pages check the session cookie themselves, below.
    dependencies=[public_operation()],
)
async def console_page(path: str, request: Request, state: Container) -> Response:
    """A console page or file, for the signed-in browser (the sign-in page and files for all)."""
    if state.console_url is None:
        raise ProblemError(404, "this gateway serves no console")
    segments = [CONSOLE_PREFIX.strip("/"), *path.split("/")]
    if path in _OPEN_PATHS or path.startswith(_OPEN_PREFIXES):
        if path.startswith("public/"):
            # Anyone may send these forms: the public endpoints' per-address limit applies.
            limit_public_caller(request, state)
        return await _forward_to_console(
            request,
            state,
            segments,
            principal=None,
            max_bytes=state.max_request_bytes,
            extra_headers={SESSION_HEADER: "", CSRF_HEADER.lower(): "", USER_NAME_HEADER: ""},
        )
    if SESSION_COOKIE not in request.cookies:
        return _to_sign_in(request, expired=False)
    try:
        current = await session_of(request, browser_sign_in(state))
    except ProblemError as refused:
        if refused.status == 401:
            return _to_sign_in(request, expired=True)
        raise
    writes = request.method.upper() not in SAFE_METHODS
    if writes:
        check_csrf(request, state, current.session.csrf_token, own_pages_post=True)
    return await _forward_to_console(
        request,
        state,
        segments,
        principal=current.principal,
        # A console form may carry a file (an import's CSV) on to the API. A read has no body
        # and is sent buffered, so a connection the console closed meanwhile is retried.
        max_bytes=state.max_upload_bytes,
        stream=writes,
        extra_headers={
            SESSION_HEADER: request.cookies[SESSION_COOKIE],
            CSRF_HEADER.lower(): current.session.csrf_token,
            USER_NAME_HEADER: quote(current.session.name or ""),
        },
    )


async def _forward_to_console(
    request: Request,
    state: GatewayContainer,
    segments: list[str],
    *,
    principal: Principal | None,
    max_bytes: int,
    extra_headers: dict[str, str],
    stream: bool = False,
) -> Response:
    """`forward` to the console, its failures to answer shown as HTML (`_unanswered`)."""
    assert state.console_url is not None
    try:
        return await forward(
            request,
            state,
            state.console_url,
            segments,
            principal=principal,
            service="console" if principal is not None else "",
            max_bytes=max_bytes,
            stream=stream,
            extra_headers=extra_headers,
            # A form posted without script is sent on to a console page (303).
            public_paths=(f"{CONSOLE_PREFIX}/",),
        )
    except ProblemError as failed:
        if failed.status < 500:
            raise
        return _unanswered(request, failed)
