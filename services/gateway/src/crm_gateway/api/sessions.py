"""Browser sign-in for the console: `/auth/login` sends the browser to its tenant's identity
provider, `/auth/callback` opens a session (an HttpOnly cookie), `/auth/session` says who is
signed in, `/auth/logout` ends it. These routes check their own credential (the flow's state,
the session cookie), so they are public to the permission machinery."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from opentelemetry import trace
from pydantic import BaseModel

from crm_gateway.api.console import CONSOLE_PREFIX
from crm_gateway.api.deps import (
    Container,
    browser_sign_in,
    check_csrf,
    client_address,
    container,
    own_url,
    session_of,
)
from crm_gateway.application.browser_sessions import SignInFailed
from crm_gateway.container import GatewayContainer
from crm_gateway.domain.audit import Actor, ActorKind, AuditEntry, entry_id, outcome_of
from crm_gateway.domain.sessions import SESSION_COOKIE, cookie_is_secure, prefers_html
from crm_shared import ProblemError, Role, problem_responses, public_operation, utc_now
from crm_shared.errors import validation_errors
from crm_shared.pages import PAGE_HEADERS
from crm_shared.permissions import permissions_of

router = APIRouter(prefix="/auth", tags=["sign-in"])

CALLBACK_PATH = "/auth/callback"
CONSOLE_SIGN_IN_PATH = f"{CONSOLE_PREFIX}/sign-in"


class SessionPublic(BaseModel):
    """Who is signed in in this browser, and the CSRF token its writes must carry."""

    tenant_id: str
    user_id: str
    name: str
    email: str | None
    roles: list[Role]
    permissions: list[str]
    expires_at: datetime
    csrf_token: str


class SignedOut(BaseModel):
    """Where to send the browser to sign out at the identity provider too (None: nowhere)."""

    end_session_url: str | None


def set_session_cookie(
    request: Request, state: GatewayContainer, response: Response, secret: str, max_age: int
) -> None:
    """The session cookie: HttpOnly, SameSite=Lax, Path=/, Secure but on plain-HTTP loopback."""
    site = urlsplit(own_url(request, state))
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=max_age,
        path="/",
        httponly=True,
        secure=cookie_is_secure(site.scheme, site.hostname),
        samesite="lax",
    )


def record(
    request: Request,
    state: GatewayContainer,
    action: str,
    status: int,
    *,
    actor: Actor | None = None,
    tenant_id: str | None = None,
    reason: str | None = None,
) -> None:
    """An audit entry for a sign-in or sign-out (these routes are outside `/api/v1`, which
    the `AuditRecorder` covers)."""
    if state.audit_trail is None:
        return
    span = trace.get_current_span().get_span_context()
    at = utc_now()
    actor = actor or Actor(ActorKind.ANONYMOUS, tenant_id=tenant_id)
    state.audit_trail.record(
        AuditEntry(
            id=entry_id(at),
            at=at,
            tenant_id=actor.tenant_id or tenant_id,
            actor=actor,
            action=action,
            status=status,
            outcome=outcome_of(status),
            request_id=uuid.uuid4().hex,
            trace_id=format(span.trace_id, "032x") if span.is_valid else None,
            client_address=client_address(request),
            reason=reason,
        )
    )


def _failure(failed: SignInFailed) -> ProblemError:
    return ProblemError(
        failed.status,
        failed.detail,
        problem_type="sign-in-failed",
        extensions={"reason": failed.reason},
    )


def _failure_page(failed: SignInFailed, console: bool) -> HTMLResponse:
    """A refused sign-in as a page for the browser the provider sent back: a browser shows a
    problem document as raw JSON."""
    return _sign_in_page(_failure(failed), failed.tenant_id, console)


def _sign_in_page(problem: ProblemError, tenant_id: str | None, console: bool) -> HTMLResponse:
    """A sign-in that did not succeed, as a page: the problem's title and detail (the detail
    may quote the person's e-mail address or the provider's error code: escaped), with its
    status, and the way to sign in again (to the tenant, when it is known)."""
    title = escape(problem.title)
    # A 5xx is the gateway's or the provider's failure, not a refusal of the person.
    heading = f"Sign-in {'failed' if problem.status >= 500 else 'refused'}: {title}"
    if console:
        query = urlencode({"tenant": tenant_id} if tenant_id else {})
        target = escape(CONSOLE_SIGN_IN_PATH + (f"?{query}" if query else ""))
        again = f'<p><a href="{target}">Back to sign-in</a></p>'
    else:
        # No console at this gateway: no page to link to.
        again = "<p>Start the sign-in again from where you began it.</p>"
    # The callback's URL carries the code and state: `PAGE_HEADERS` send no referrer, and the
    # page loads nothing and runs nothing.
    return HTMLResponse(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{heading}</title></head><body><h1>{heading}</h1>"
        f"<p>{escape(problem.detail)}</p>{again}</body></html>",
        status_code=problem.status,
        headers=PAGE_HEADERS,
    )


def _query_problem(error: RequestValidationError) -> ProblemError:
    """A sign-in address whose query was refused (a part missing, or too long), said for a
    person rather than as the API's `invalid request: tenant`."""
    said = validation_errors(error.errors())
    fields = ", ".join(entry.field for entry in said)
    return ProblemError(
        422,
        f"this sign-in address is missing a part or has one that is not valid ({fields}): "
        "start the sign-in again",
        problem_type="validation-error",
        title="Request validation failed",
    )


class BrowserPageRoute(APIRoute):
    """A sign-in route a browser navigates to (`/auth/login`, `/auth/callback`): what would
    be answered as a problem document (a refused query, 422; a problem the route raised; an
    unexpected error, 500) is a page for a browser navigation (`Accept` prefers `text/html`),
    as a refused sign-in is at the callback. API clients keep the problem document."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as error:
                if not prefers_html(request.headers.get("accept")):
                    raise
                problem = await _problem_for_page(request, error)
                return _sign_in_page(problem, None, _serves_console(request))

        return answer


async def _problem_for_page(request: Request, error: Exception) -> ProblemError:
    """The problem the app's own handlers make of `error` (which also log an unexpected one),
    to be said in a page; a refused query in words for a person."""
    if isinstance(error, RequestValidationError):
        return _query_problem(error)
    handlers = request.app.exception_handlers
    handle = next((handlers[kind] for kind in type(error).__mro__ if kind in handlers), None)
    if handle is None:
        raise error
    answered = await handle(request, error)
    said = json.loads(bytes(answered.body)) if isinstance(answered, JSONResponse) else {}
    return ProblemError(
        answered.status_code,
        str(said.get("detail") or "an unexpected error occurred"),
        title=said.get("title"),
    )


def _serves_console(request: Request) -> bool:
    return container(request).console_url is not None


# The routes a browser navigates to, joined to `router` at the end of the module.
pages = APIRouter(route_class=BrowserPageRoute)


@pages.get(
    "/login",
    status_code=302,
    response_class=RedirectResponse,
    dependencies=[public_operation()],
    responses={
        302: {"description": "To the tenant's identity provider"},
        **problem_responses(404, 409, 503),
    },
)
async def login(
    request: Request,
    state: Container,
    tenant: str = Query(min_length=1, max_length=64, description="The tenant to sign in to"),
    return_to: str | None = Query(
        default=None, max_length=2048, description="A path of this site to come back to"
    ),
) -> Response:
    """Starts a browser sign-in: redirects to the tenant's identity provider (authorization
    code flow with PKCE). A refusal (an unknown tenant, 404) is a problem document, or for a
    browser navigation a page with the same status and a link back to sign-in."""
    try:
        url = await browser_sign_in(state).begin(
            tenant, return_to, own_url(request, state) + CALLBACK_PATH
        )
    except SignInFailed as failed:
        if prefers_html(request.headers.get("accept")):
            return _failure_page(failed, console=state.console_url is not None)
        raise _failure(failed) from None
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


@pages.get(
    "/callback",
    status_code=302,
    response_class=RedirectResponse,
    dependencies=[public_operation()],
    responses={
        302: {"description": "Signed in: to the page the sign-in started from"},
        **problem_responses(400, 401, 403, 503),
    },
)
async def callback(
    request: Request,
    state: Container,
    code: str | None = Query(default=None, max_length=4096),
    sign_in_state: str | None = Query(default=None, alias="state", max_length=256),
    error: str | None = Query(default=None, max_length=256),
) -> Response:
    """The identity provider sends the browser back here: the code is exchanged, the person
    mapped to a member of the tenant, and a session cookie set. A refusal is a problem
    document, or for a browser navigation (`Accept` prefers `text/html`) a page with the
    same status."""
    action = "GET " + CALLBACK_PATH
    sign_in = browser_sign_in(state)
    try:
        signed_in = await sign_in.complete(sign_in_state, code, error)
    except SignInFailed as failed:
        known = (
            Actor(ActorKind.USER, failed.user_id, failed.tenant_id)
            if failed.user_id and failed.tenant_id
            else None
        )
        record(
            request,
            state,
            action,
            failed.status,
            tenant_id=failed.tenant_id,
            reason=failed.reason,
            actor=known,
        )
        if prefers_html(request.headers.get("accept")):
            return _failure_page(failed, console=state.console_url is not None)
        raise _failure(failed) from None
    principal = signed_in.principal
    record(
        request,
        state,
        action,
        302,
        actor=Actor(ActorKind.USER, principal.user_id, principal.tenant_id),
        reason="signed_in",
    )
    response = RedirectResponse(
        signed_in.return_to, status_code=302, headers={"Cache-Control": "no-store"}
    )
    max_age = int(sign_in.policy.absolute.total_seconds())
    set_session_cookie(request, state, response, signed_in.secret, max_age)
    return response


@router.get(
    "/session", dependencies=[public_operation()], responses=problem_responses(401, 403, 503)
)
async def current_session(request: Request, state: Container, response: Response) -> SessionPublic:
    """Who is signed in with this browser's session cookie (401 when nobody is)."""
    # It carries the CSRF token: no cache may keep it.
    response.headers["Cache-Control"] = "no-store"
    sign_in = browser_sign_in(state)
    current = await session_of(request, sign_in)
    session, principal = current.session, current.principal
    return SessionPublic(
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        name=session.name,
        email=session.email,
        roles=sorted(principal.roles),
        permissions=sorted(permissions_of(principal.roles)),
        expires_at=session.expires_at(sign_in.policy),
        csrf_token=session.csrf_token,
    )


@router.post(
    "/logout",
    dependencies=[public_operation()],
    response_model=SignedOut,
    responses=problem_responses(401, 403, 503),
)
async def logout(request: Request, state: Container) -> JSONResponse:
    """Signs out: the session is deleted and its cookie cleared; the answer names the
    provider's end-session URL to send the browser to (RP-initiated logout)."""
    sign_in = browser_sign_in(state)
    current = await session_of(request, sign_in)
    check_csrf(request, state, current.session.csrf_token)
    secret = request.cookies.get(SESSION_COOKIE, "")
    _, url = await sign_in.end(secret, own_url(request, state) + "/")
    principal = current.principal
    record(
        request,
        state,
        "POST /auth/logout",
        200,
        actor=Actor(ActorKind.USER, principal.user_id, principal.tenant_id),
        reason="signed_out",
    )
    response = JSONResponse(SignedOut(end_session_url=url).model_dump())
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


# After the page routes are defined: including copies them (each keeps its route class).
router.include_router(pages)
