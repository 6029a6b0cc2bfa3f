"""The gateway's own problems on the public pages a person opens in a browser.

An unsubscribe, preference or consent-confirmation link, an event's registration pages: the
services behind them answer a browser (`Accept: text/html`) with a page and anyone else with
JSON. The gateway's own refusals on the way (the service did not answer in time or is
unavailable, too many requests, a body too large) are problem documents, which a browser shows
as raw JSON: there, for a browser, they are a short page in the services' plain style saying
what to do. API clients keep the problem document.
"""

from __future__ import annotations

import html
import inspect
import json

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse

from crm_gateway.domain.routing import PUBLIC_UNAUTHENTICATED_PREFIX
from crm_shared import PROBLEM_JSON, ProblemError
from crm_shared.errors import PROBLEM_TYPE_PREFIX

# The public paths a person opens (or whose form a person sends) with a browser, and what
# their button does, to say what may have happened when the answer did not come.
_PAGES: tuple[tuple[str, str], ...] = (
    (f"{PUBLIC_UNAUTHENTICATED_PREFIX}/unsubscribe/", "you may already be unsubscribed"),
    (f"{PUBLIC_UNAUTHENTICATED_PREFIX}/preferences/", "your changes may already be saved"),
    (
        f"{PUBLIC_UNAUTHENTICATED_PREFIX}/community/confirm/",
        "your confirmation may already be recorded",
    ),
    (
        f"{PUBLIC_UNAUTHENTICATED_PREFIX}/event-registrations/",
        "your cancellation may already be recorded",
    ),
    (f"{PUBLIC_UNAUTHENTICATED_PREFIX}/events/", "your registration may already be recorded"),
    ("/console/public/", "what you sent may already be recorded"),
)
_PAGE_HEADERS = {"Cache-Control": "no-store"}
# Headers of a problem that still mean something on its page.
_KEPT_HEADERS = ("retry-after", "allow")


def _effect(request: Request) -> str | None:
    """What the page's button may have done, or None if the path is no browser page."""
    path = request.url.path
    return next((effect for prefix, effect in _PAGES if path.startswith(prefix)), None)


def wants_page(request: Request) -> bool:
    """Whether the request is a browser's, to one of the public pages: `Accept: text/html`, as
    every browser sends for a page and a form, and the services' public pages follow too."""
    return _effect(request) is not None and "text/html" in request.headers.get("accept", "")


def problem_page(
    request: Request, status: int, problem_type: str, headers: dict[str, str] | None = None
) -> HTMLResponse:
    """A short page for a problem on the way to a public page: what happened, what to do."""
    effect = _effect(request) or "what you sent may already be recorded"
    pressed = request.method.upper() not in ("GET", "HEAD")
    if problem_type in ("upstream-timeout", "upstream-no-response") or status == 504:
        title = "This is taking longer than it should"
        body = "<p>We could not finish this in time. Please try again in a minute.</p>"
        if pressed:
            body += f"<p>If you pressed the button, {html.escape(effect)}: open the link again "
            body += "in a minute to see.</p>"
    elif status in (502, 503) or problem_type == "upstream-unavailable":
        title = "This page is not available right now"
        body = "<p>Nothing was changed. Please try again in a minute.</p>"
    elif status == 429:
        title = "Too many requests"
        body = "<p>Too many requests came from your network. Please try again in a minute.</p>"
    elif status == 413:
        title = "Too much was sent"
        body = "<p>Please go back, shorten what you entered and send it again.</p>"
    elif status >= 500:
        title = "Something went wrong"
        body = "<p>Please try again in a minute.</p>"
        if pressed:
            body += f"<p>If you pressed the button, {html.escape(effect)}.</p>"
    else:
        title = "This request could not be handled"
        body = "<p>Please go back and try again, or use the link in our most recent email.</p>"
    kept = {name: value for name, value in (headers or {}).items() if name.lower() in _KEPT_HEADERS}
    # The services' consent pages' plain style (no script, no style, see crm_candidates'
    # consent_pages); the page headers are added by `crm_shared.pages`.
    return HTMLResponse(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>",
        status_code=status,
        headers={**kept, **_PAGE_HEADERS},
    )


def upstream_problem_page(request: Request, response: Response) -> Response:
    """A service's 5xx problem on a public page (its database did not answer, say), shown to a
    browser as the gateway's own would be; any other response unchanged. A service's own 4xx
    answers to a browser are its pages already."""
    if response.status_code < 500 or not wants_page(request):
        return response
    if not response.headers.get("content-type", "").startswith(PROBLEM_JSON):
        return response
    try:
        problem = json.loads(bytes(response.body))
        problem_type = str(problem.get("type", "")).removeprefix(PROBLEM_TYPE_PREFIX)
    except (ValueError, AttributeError):
        problem_type = ""
    return problem_page(request, response.status_code, problem_type, dict(response.headers))


def install_page_problems(app: FastAPI) -> None:
    """Answers a `ProblemError` on a public page with `problem_page` for a browser; everyone
    else keeps the problem document of the handler installed before."""
    previous = app.exception_handlers[ProblemError]

    async def on_problem(request: Request, error: Exception) -> Response:
        assert isinstance(error, ProblemError)
        if wants_page(request):
            return problem_page(request, error.status, error.problem_type or "", error.headers)
        answer = previous(request, error)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(ProblemError, on_problem)
