"""Settings and administration pages: the settings index, users and roles, API keys, and the
audit log (filter, page, export)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from crm_console.adapters.gateway_api import ApiProblem
from crm_console.api.deps import (
    Container,
    CurrentViewer,
    Viewer,
    done,
    form_lists,
    form_of,
    is_htmx,
    render,
)
from crm_console.application.settings import AuditTrail, TenantAdministration
from crm_console.domain.problems import Problem
from crm_console.domain.settings import (
    API_KEY_DAYS,
    COMMON_ACTIONS,
    OUTCOMES,
    ROLE_ABOUT,
    SETTINGS,
    ApiKeyForm,
    AuditFilters,
    api_key_form,
    chosen_roles,
    scope_rows,
    settings_pages,
)
from crm_shared.permissions import ROLES

router = APIRouter(prefix=SETTINGS, include_in_schema=False)


@router.get("")
async def settings_index(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """The settings pages this person may open."""
    return render(
        request,
        state.templates,
        "settings/index.html",
        {"pages": settings_pages(viewer.permissions)},
        viewer=viewer,
    )


# Users and roles


@router.get("/users")
async def users_page(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """Members and invitations, each with its roles and a remove button; the invite form."""
    members = await TenantAdministration(state.gateway).members(viewer.caller)
    return render(
        request,
        state.templates,
        "settings/users.html",
        {
            "members": members,
            "roles": ROLES,
            "role_about": ROLE_ABOUT,
            "invited": request.query_params.get("invited", ""),
            "values": {"roles": ["recruiter"]},
            "errors": {},
            "problem": None,
        },
        viewer=viewer,
    )


@router.post("/users")
async def invite_user(request: Request, viewer: CurrentViewer, state: Container) -> Response:
    """Invites a person with roles; the form again with the API's refusal next to its field."""
    fields = await form_of(request)
    email = fields.get("email", "").strip()
    roles = chosen_roles(await form_lists(request, "roles"))
    try:
        await TenantAdministration(state.gateway).invite(viewer.caller, email, roles)
    except ApiProblem as refused:
        return render(
            request,
            state.templates,
            "settings/invite_form.html",
            {
                "roles": ROLES,
                "role_about": ROLE_ABOUT,
                "values": {"email": email, "roles": roles},
                "errors": refused.problem.field_errors,
                "problem": refused.problem,
            },
            viewer=viewer,
            status_code=refused.problem.status,
        )
    return done(request, f"{SETTINGS}/users?invited={email}")


def _member_row(
    request: Request,
    viewer: Viewer,
    state: Any,
    member: dict[str, Any],
    *,
    problem: Problem | None = None,
    saved: bool = False,
) -> HTMLResponse:
    return render(
        request,
        state.templates,
        "settings/member_row.html",
        {"member": member, "roles": ROLES, "problem": problem, "saved": saved},
        viewer=viewer,
        # The row is swapped in either way: a refusal shows next to the control it concerns.
        status_code=200,
    )


@router.post("/users/{user_id}/roles")
async def change_roles(
    user_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """New roles for a member; the last-admin refusal (409) shows in the member's row."""
    roles = chosen_roles(await form_lists(request, "roles"))
    admin = TenantAdministration(state.gateway)
    try:
        member = await admin.change_roles(viewer.caller, user_id, roles)
    except ApiProblem as refused:
        unchanged = await admin.member(viewer.caller, user_id)
        return _member_row(request, viewer, state, unchanged, problem=refused.problem)
    return _member_row(request, viewer, state, member, saved=True)


@router.post("/users/{user_id}/remove")
async def remove_user(
    user_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Removes a member; the row goes, or shows why it cannot (the last admin)."""
    admin = TenantAdministration(state.gateway)
    try:
        await admin.remove(viewer.caller, user_id)
    except ApiProblem as refused:
        member = await admin.member(viewer.caller, user_id)
        return _member_row(request, viewer, state, member, problem=refused.problem)
    if is_htmx(request):
        return HTMLResponse("")
    return done(request, f"{SETTINGS}/users")


# API keys


async def _keys_panel(
    request: Request,
    viewer: Viewer,
    state: Any,
    *,
    form: ApiKeyForm | None = None,
    created: dict[str, Any] | None = None,
    problem: Problem | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    keys = await TenantAdministration(state.gateway).api_keys(viewer.caller)
    blank = ApiKeyForm(values={"name": "", "scopes": [], "expires_in_days": "90"})
    template = "settings/api_keys_panel.html" if is_htmx(request) else "settings/api_keys.html"
    return render(
        request,
        state.templates,
        template,
        {
            "keys": keys,
            "form": form or blank,
            "created": created,
            "problem": problem,
            "scope_rows": scope_rows(),
            "days": API_KEY_DAYS,
        },
        viewer=viewer,
        status_code=status_code,
    )


@router.get("/api-keys")
async def api_keys_page(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """The tenant's keys (when each was last used) and the form for a new one."""
    return await _keys_panel(request, viewer, state)


@router.post("/api-keys")
async def create_api_key(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """Creates a key and shows its secret this once (the page is not cached)."""
    form = api_key_form(await form_of(request), await form_lists(request, "scopes"))
    if not form.valid:
        return await _keys_panel(request, viewer, state, form=form, status_code=422)
    try:
        created = await TenantAdministration(state.gateway).create_api_key(viewer.caller, form.body)
    except ApiProblem as refused:
        errors = {**form.errors, **refused.problem.field_errors}
        return await _keys_panel(
            request,
            viewer,
            state,
            form=ApiKeyForm(form.values, errors, form.body),
            problem=refused.problem,
            status_code=refused.problem.status,
        )
    answer = await _keys_panel(request, viewer, state, created=created)
    answer.headers["Cache-Control"] = "no-store"
    return answer


@router.post("/api-keys/{key_id}/revoke")
async def revoke_api_key(
    key_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Revokes a key; the list shows when."""
    try:
        await TenantAdministration(state.gateway).revoke_api_key(viewer.caller, key_id)
    except ApiProblem as refused:
        return await _keys_panel(request, viewer, state, problem=refused.problem)
    return await _keys_panel(request, viewer, state)


# Audit log


@router.get("/audit")
async def audit_page(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """The audit log, newest first, filtered; htmx asks for the results alone."""
    filters = AuditFilters.from_query(request.query_params)
    page = await AuditTrail(state.gateway).search(viewer.caller, filters)
    template = "settings/audit_results.html" if is_htmx(request) else "settings/audit.html"
    return render(
        request,
        state.templates,
        template,
        {
            "filters": filters,
            "page": page,
            "outcomes": OUTCOMES,
            "actions": COMMON_ACTIONS,
        },
        viewer=viewer,
    )


@router.get("/audit/export")
async def audit_export(request: Request, viewer: CurrentViewer, state: Container) -> Response:
    """The filtered audit log as a CSV file (the API's own export, itself audited)."""
    filters = AuditFilters.from_query(request.query_params)
    download = await AuditTrail(state.gateway).export(viewer.caller, filters)
    return Response(
        download.content,
        media_type=download.media_type,
        headers={**download.headers, "Cache-Control": "no-store"},
    )
