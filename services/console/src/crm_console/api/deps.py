"""What every console page needs: who is looking (from the gateway's internal token and the
session it forwarded), the gateway API client, and the template renderer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.templating import Jinja2Templates

from crm_console.adapters.gateway_api import ApiProblem, Caller, GatewayApi
from crm_console.application.people import read_people
from crm_console.container import ConsoleContainer
from crm_console.domain.navigation import NavItem, navigation
from crm_console.domain.people import NOBODY, People
from crm_console.domain.problems import Problem
from crm_console.domain.questions import Question
from crm_shared import (
    CurrentPrincipal,
    Principal,
    ProblemError,
    framed_by,
    unauthorized,
    verified_principal,
)
from crm_shared.permissions import Permission, permissions_of

# Headers only the gateway sets (it drops whatever the browser sent under these names): the
# browser session's secret, its CSRF token and the signed-in person's display name.
SESSION_HEADER = "x-console-session"
CSRF_HEADER = "x-csrf-token"
USER_NAME_HEADER = "x-console-user-name"
REQUEST_ID_HEADER = "x-request-id"
# Scripts and styles from the console's own origin only; nothing inline.
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# The sign-in page's form goes on, through redirects, to the tenant's identity provider, which
# may be on any origin: browsers apply `form-action` to every hop, so this page omits it (its
# one form's target is fixed and the page shows nothing a person typed but the escaped tenant).
SIGN_IN_CSP = CONSOLE_CSP.replace(" form-action 'self';", "")


def embed_policy(site_origins: list[str]) -> str:
    """The console's policy for a page a careers site frames: framed by `site_origins` alone
    (an origin that is not one is dropped; none: no site may frame it)."""
    return framed_by(CONSOLE_CSP, site_origins)


def container(request: Request) -> ConsoleContainer:
    built: ConsoleContainer = request.app.state.container
    return built


Container = Annotated[ConsoleContainer, Depends(container)]


@dataclass(frozen=True)
class Viewer:
    """The signed-in person looking at a page, and how the console calls the API for them."""

    principal: Principal
    caller: Caller
    name: str
    permissions: frozenset[Permission]

    def may(self, permission: str) -> bool:
        """Whether a link or button for `permission` belongs on the page (the API decides)."""
        return permission in self.permissions


def viewer(request: Request, principal: CurrentPrincipal) -> Viewer:
    """The page's viewer; a 401 problem when the gateway forwarded no session."""
    session = request.headers.get(SESSION_HEADER)
    csrf_token = request.headers.get(CSRF_HEADER)
    if not session or not csrf_token:
        raise unauthorized("the console is reached through the gateway with a browser session")
    return Viewer(
        principal=principal,
        caller=Caller(session, csrf_token, request.headers.get(REQUEST_ID_HEADER)),
        name=unquote(request.headers.get(USER_NAME_HEADER, "")) or principal.user_id,
        permissions=permissions_of(principal.roles),
    )


CurrentViewer = Annotated[Viewer, Depends(viewer)]


async def page_people(viewer: CurrentViewer, state: Container) -> People:
    """Who's who for a page that names people: FastAPI resolves a dependency once per request,
    so the members are read once however many rows name someone, and the session's read of
    the last 30 s is reused (`read_people`)."""
    return await read_people(
        state.gateway,
        viewer.caller,
        may_list=viewer.may("settings:read"),
        viewer_id=viewer.principal.user_id,
        viewer_name=viewer.name,
        # The team this session read a moment ago (the profile and each of its panels that
        # names people would read it again otherwise).
        memo=state.memo.of(viewer.caller, viewer.principal.tenant_id),
    )


PagePeople = Annotated[People, Depends(page_people)]


def require(viewer: Viewer, permission: str) -> None:
    """Refuses a page for a person whose role lacks `permission` with the usual 403 page (a
    form that would only be refused when sent is not offered)."""
    if not viewer.may(permission):
        raise ApiProblem(
            Problem(
                status=403,
                title="Forbidden",
                detail=f"your role may not do this here (it needs {permission})",
            )
        )


def viewer_if_any(request: Request) -> Viewer | None:
    """The viewer of a request that may have none (an error page keeps its navigation)."""
    try:
        return viewer(request, verified_principal(request))
    except ProblemError:
        return None


def api(state: Container) -> GatewayApi:
    return state.gateway


Api = Annotated[GatewayApi, Depends(api)]


def is_htmx(request: Request) -> bool:
    """Whether htmx asked for a fragment (the page itself is already in the browser)."""
    return request.headers.get("hx-request") == "true"


def render(
    request: Request,
    templates: Jinja2Templates,
    template: str,
    context: dict[str, Any],
    *,
    viewer: Viewer | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A page or fragment, with the viewer's navigation and the console's security policy."""
    nav: list[NavItem] = navigation(viewer.permissions) if viewer else []
    response = templates.TemplateResponse(
        request,
        template,
        {
            "viewer": viewer,
            "nav": nav,
            "current_path": request.url.path,
            "csrf_token": viewer.caller.csrf_token if viewer else "",
            # A fragment that names people without its route reading them shows the ids.
            "people": NOBODY,
            **context,
        },
        status_code=status_code,
        headers={"Content-Security-Policy": CONSOLE_CSP, **(headers or {})},
    )
    return response


def fragment_or_page(
    request: Request,
    templates: Jinja2Templates,
    template: str,
    context: dict[str, Any],
    *,
    title: str,
    back: str,
    viewer: Viewer,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A form's answer: the fragment htmx swaps in, or, for the same form posted by a browser
    without script, that fragment in a page of its own (never a bare fragment), linking back."""
    if is_htmx(request):
        return render(
            request,
            templates,
            template,
            context,
            viewer=viewer,
            status_code=status_code,
            headers=headers,
        )
    return render(
        request,
        templates,
        "fragment_page.html",
        {**context, "fragment": template, "page_title": title, "back": back},
        viewer=viewer,
        status_code=status_code,
    )


def refused(
    request: Request,
    templates: Jinja2Templates,
    viewer: Viewer,
    problem: Problem,
    *,
    back: str,
) -> HTMLResponse:
    """The API's refusal of a button's post: the problem fragment htmx shows in place, or for
    a form posted without script, a page of its own linking back to `back`."""
    return fragment_or_page(
        request,
        templates,
        "fragments/problem.html",
        {"problem": problem},
        title="Not done",
        back=back,
        viewer=viewer,
        status_code=problem.status,
    )


def asked_first(
    request: Request,
    templates: Jinja2Templates,
    viewer: Viewer,
    form: dict[str, str],
    question: Question,
    *,
    back: str,
) -> HTMLResponse | None:
    """The question a button asks in the browser with script (`hx-confirm`), as a page for
    a form posted without: a form that posts the same fields again, `confirmed`. None when
    htmx asked already or this is the confirmed post."""
    if is_htmx(request) or form.get("confirmed"):
        return None
    return render(
        request,
        templates,
        "confirm.html",
        {
            "page_title": question.confirm_label + "?",
            "question": question.text,
            "action": request.url.path,
            "fields": {name: value for name, value in form.items() if name != "confirmed"},
            "confirm_label": question.confirm_label,
            "confirm_class": question.confirm_class,
            "back": back,
        },
        viewer=viewer,
    )


async def asked_first_about(
    request: Request,
    templates: Jinja2Templates,
    viewer: Viewer,
    form: dict[str, str],
    question: Callable[[], Awaitable[Question | None]],
    *,
    back: str,
) -> HTMLResponse | None:
    """`asked_first` for a question that names what the button acts on: that is read from the
    API (a posted name could say anything), and only when the question is asked, so an htmx
    post (asked in the browser) or a confirmed one costs no read. `question` may find that
    nothing needs asking (None)."""
    if is_htmx(request) or form.get("confirmed"):
        return None
    asked = await question()
    if asked is None:
        return None
    return asked_first(request, templates, viewer, form, asked, back=back)


async def form_of(request: Request) -> dict[str, str]:
    """A submitted form's text fields (the last value of a repeated name); see `form_lists`."""
    form = await request.form()
    return {name: value for name, value in form.items() if isinstance(value, str)}


async def form_lists(request: Request, name: str) -> list[str]:
    """Every value of a repeated form field (checkboxes)."""
    form = await request.form()
    return [value for value in form.getlist(name) if isinstance(value, str)]


def done(request: Request, location: str) -> Response:
    """After a write: htmx goes to `location`; a plain form post is redirected there."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": location})
    return Response(status_code=303, headers={"Location": location})
