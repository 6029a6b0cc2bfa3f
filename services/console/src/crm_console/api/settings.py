"""Settings and administration pages: the settings index, users and roles, API keys, the
audit log (filter, page, export), the contact policy, the retention of consent, the
suppression list and the ATS connections."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from crm_console.adapters.gateway_api import ApiProblem
from crm_console.api.deps import (
    Container,
    CurrentViewer,
    PagePeople,
    Viewer,
    asked_first,
    asked_first_about,
    done,
    form_lists,
    form_of,
    fragment_or_page,
    is_htmx,
    page_people,
    refused,
    render,
)
from crm_console.application.settings import (
    AtsConnections,
    AuditTrail,
    EmbeddingSites,
    SignInSettings,
    SuppressionList,
    TenantAdministration,
    TenantPolicies,
)
from crm_console.container import ConsoleContainer
from crm_console.domain.csv_files import csv_params
from crm_console.domain.embedding import (
    EmbeddingForm,
    embedding_form,
    embedding_text,
    origin_errors,
)
from crm_console.domain.people import People
from crm_console.domain.policies import (
    ON_LAPSE,
    ON_LIMIT,
    PolicyForm,
    policy_errors,
    policy_form,
    policy_values,
    retention_form,
    retention_values,
)
from crm_console.domain.problems import Problem
from crm_console.domain.questions import Question
from crm_console.domain.settings import (
    API_KEY_DAYS,
    ATS_APPLICATION_STATUSES,
    ATS_BREAKER,
    ATS_ERRORS_SHOWN,
    ATS_PAYLOAD_SOURCES,
    ATS_PROVIDERS,
    ATS_REFUSALS,
    ATS_SYNC_COUNTS,
    ATS_SYNC_KINDS,
    ATS_SYNC_STATES,
    COMMON_ACTIONS,
    INBOUND_URLS,
    MANUAL_REASONS,
    OUTCOMES,
    ROLE_ABOUT,
    SETTINGS,
    SUPPRESSION_REASONS,
    AdmissionForm,
    ApiKeyForm,
    AskingButton,
    AuditFilters,
    SuppressionFilters,
    admission_form,
    admission_values,
    api_key_form,
    ats_api_status,
    ats_issued_secrets_from_form,
    ats_sync_running,
    chosen_roles,
    scope_rows,
    settings_pages,
    settings_question,
    suppression_source,
)
from crm_shared.permissions import ROLES

router = APIRouter(prefix=SETTINGS, include_in_schema=False)

USERS = f"{SETTINGS}/users"
API_KEYS = f"{SETTINGS}/api-keys"
ATS = f"{SETTINGS}/ats"
SUPPRESSIONS = f"{SETTINGS}/suppressions"


async def _asked_first_about(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    form: dict[str, str],
    button: AskingButton,
    subject: Callable[[], Awaitable[Mapping[str, Any]]],
    *,
    back: str,
) -> HTMLResponse | None:
    """`asked_first_about` for a settings button, naming what `subject` reads."""

    async def question() -> Question:
        return settings_question(button, await subject())

    return await asked_first_about(request, state.templates, viewer, form, question, back=back)


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
    """Members and invitations, each with its roles and a remove button; the invite form. Where
    the identity provider's tokens carry the roles, they are shown, not offered for change."""
    admin = TenantAdministration(state.gateway)
    members, idp_roles = await asyncio.gather(
        admin.members(viewer.caller),
        SignInSettings(state.gateway).roles_from_token(viewer.caller),
    )
    invitation_mails = await admin.latest_invitation_mails(viewer.caller, members)
    return render(
        request,
        state.templates,
        "settings/users.html",
        {
            "members": members,
            "invitation_mails": invitation_mails,
            "idp_roles": idp_roles,
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
        return fragment_or_page(
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
            title="Invite a person",
            back=f"{SETTINGS}/users",
            viewer=viewer,
            status_code=refused.problem.status,
        )
    return done(request, f"{SETTINGS}/users?invited={email}")


async def _member_row(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    member: dict[str, Any],
    *,
    problem: Problem | None = None,
    saved: str = "",
) -> HTMLResponse:
    admin = TenantAdministration(state.gateway)
    idp_roles, invitation_mails = await asyncio.gather(
        SignInSettings(state.gateway).roles_from_token(viewer.caller),
        admin.latest_invitation_mails(viewer.caller, [member]),
    )
    return render(
        request,
        state.templates,
        "settings/member_row.html",
        {
            "member": member,
            "invitation_mails": invitation_mails,
            "roles": ROLES,
            "problem": problem,
            "saved": saved,
            "idp_roles": idp_roles,
        },
        viewer=viewer,
        # The row is swapped in either way: a refusal shows next to the control it concerns.
        status_code=200,
    )


@router.post("/users/{user_id}/roles")
async def change_roles(
    user_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """New roles for a member; the last-admin refusal (409) shows in the member's row.
    Without script: back to the members, or a page saying why not."""
    roles = chosen_roles(await form_lists(request, "roles"))
    admin = TenantAdministration(state.gateway)
    try:
        member = await admin.change_roles(viewer.caller, user_id, roles)
    except ApiProblem as refused_by_api:
        if not is_htmx(request):
            return refused(request, state.templates, viewer, refused_by_api.problem, back=USERS)
        unchanged = await admin.member(viewer.caller, user_id)
        return await _member_row(request, viewer, state, unchanged, problem=refused_by_api.problem)
    if not is_htmx(request):
        return done(request, USERS)
    return await _member_row(request, viewer, state, member, saved="Roles saved.")


@router.post("/users/{user_id}/invitation")
async def resend_invitation(
    user_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Mails a pending invitation again; the row says so, or why not (signed in meanwhile).
    Without script: back to the members, or a page saying why not."""
    admin = TenantAdministration(state.gateway)
    try:
        await admin.resend_invitation(viewer.caller, user_id)
    except ApiProblem as refused_by_api:
        if not is_htmx(request):
            return refused(request, state.templates, viewer, refused_by_api.problem, back=USERS)
        member = await admin.member(viewer.caller, user_id)
        return await _member_row(request, viewer, state, member, problem=refused_by_api.problem)
    if not is_htmx(request):
        return done(request, USERS)
    member = await admin.member(viewer.caller, user_id)
    return await _member_row(
        request, viewer, state, member, saved="Invitation mailed again: it arrives in a minute."
    )


@router.post("/users/{user_id}/remove")
async def remove_user(
    user_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Removes a member; the row goes, or shows why it cannot (the last admin). Without
    script it asks first, then goes back to the members, or to a page saying why not."""
    admin = TenantAdministration(state.gateway)
    form = await form_of(request)
    if asked := await _asked_first_about(
        request,
        viewer,
        state,
        form,
        "remove_member",
        lambda: admin.member(viewer.caller, user_id),
        back=USERS,
    ):
        return asked
    try:
        await admin.remove(viewer.caller, user_id)
    except ApiProblem as refused_by_api:
        if not is_htmx(request):
            return refused(request, state.templates, viewer, refused_by_api.problem, back=USERS)
        member = await admin.member(viewer.caller, user_id)
        return await _member_row(request, viewer, state, member, problem=refused_by_api.problem)
    if is_htmx(request):
        return HTMLResponse("")
    return done(request, USERS)


# API keys


async def _keys_panel(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    *,
    form: ApiKeyForm | None = None,
    created: dict[str, Any] | None = None,
    problem: Problem | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    keys, people = await asyncio.gather(
        TenantAdministration(state.gateway).api_keys(viewer.caller),
        page_people(viewer, state),
    )
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
            "people": people,
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


async def _api_key(admin: TenantAdministration, viewer: Viewer, key_id: str) -> dict[str, Any]:
    """The key `key_id` as the tenant's list holds it (none found: the question names no key,
    and the API answers the revoke)."""
    keys = await admin.api_keys(viewer.caller)
    return next((key for key in keys if key.get("key_id") == key_id), {})


@router.post("/api-keys/{key_id}/revoke")
async def revoke_api_key(
    key_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Revokes a key; the list shows when (without script, after asking first, on the keys'
    page)."""
    admin = TenantAdministration(state.gateway)
    form = await form_of(request)
    if asked := await _asked_first_about(
        request,
        viewer,
        state,
        form,
        "revoke_api_key",
        lambda: _api_key(admin, viewer, key_id),
        back=API_KEYS,
    ):
        return asked
    try:
        await admin.revoke_api_key(viewer.caller, key_id)
    except ApiProblem as refused:
        return await _keys_panel(request, viewer, state, problem=refused.problem)
    return await _keys_panel(request, viewer, state)


# Audit log


@router.get("/audit")
async def audit_page(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """The audit log, newest first, filtered; htmx asks for the results alone."""
    filters = AuditFilters.from_query(request.query_params)
    people = await page_people(viewer, state)
    page: dict[str, Any] = {"items": [], "next_cursor": None}
    if not filters.range_problem:
        page = await AuditTrail(state.gateway).search(viewer.caller, filters.naming(people))
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
            "people": people,
        },
        viewer=viewer,
    )


@router.get("/audit/export")
async def audit_export(request: Request, viewer: CurrentViewer, state: Container) -> Response:
    """The filtered audit log as a CSV file (the API's own export, itself audited)."""
    filters = AuditFilters.from_query(request.query_params).naming(await page_people(viewer, state))
    download = await AuditTrail(state.gateway).export(viewer.caller, filters)
    return Response(
        download.content,
        media_type=download.media_type,
        headers={**download.headers, "Cache-Control": "no-store"},
    )


# Policies


def _policy_page(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    name: str,
    form: PolicyForm,
    *,
    outcomes: dict[str, int] | None = None,
    release: dict[str, object] | None = None,
    problem: Problem | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    template = f"settings/{name}_form.html" if is_htmx(request) else f"settings/{name}.html"
    return render(
        request,
        state.templates,
        template,
        {
            "form": form,
            "outcomes": outcomes or {},
            "release": release,
            "problem": problem,
            "saved": saved,
            "on_limit": ON_LIMIT,
            "on_lapse": ON_LAPSE,
        },
        viewer=viewer,
        status_code=status_code,
    )


@router.get("/contact-policy")
async def contact_policy_page(
    request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """The frequency cap, quiet hours and what they held back so far."""
    policy = await TenantPolicies(state.gateway).contact_policy(viewer.caller)
    form = PolicyForm(values=policy_values(policy))
    return _policy_page(
        request,
        viewer,
        state,
        "contact_policy",
        form,
        outcomes=policy.get("outcomes"),
        release=policy.get("release"),
    )


@router.post("/contact-policy")
async def save_contact_policy(
    request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Saves the policy; it applies from the next send, and mail the old one held is
    re-evaluated (the page shows how many)."""
    form = policy_form(await form_of(request))
    if not form.valid:
        return _policy_page(request, viewer, state, "contact_policy", form, status_code=422)
    try:
        policy = await TenantPolicies(state.gateway).set_contact_policy(viewer.caller, form.body)
    except ApiProblem as refused:
        return _policy_page(
            request,
            viewer,
            state,
            "contact_policy",
            PolicyForm(form.values, {**form.errors, **policy_errors(refused.problem.paths)}),
            problem=refused.problem,
            status_code=refused.problem.status,
        )
    saved = PolicyForm(values=policy_values(policy))
    return _policy_page(
        request,
        viewer,
        state,
        "contact_policy",
        saved,
        outcomes=policy.get("outcomes"),
        release=policy.get("release"),
        saved=True,
    )


@router.get("/inbound-mail")
async def inbound_mail_page(
    request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """The URLs the tenant's mail provider reports bounces, complaints and replies to."""
    urls = await TenantPolicies(state.gateway).inbound_mail(viewer.caller)
    return render(
        request,
        state.templates,
        "settings/inbound_mail.html",
        {"urls": urls, "kinds": INBOUND_URLS},
        viewer=viewer,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/retention")
async def retention_page(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """How long consent lasts, when re-permission mail goes and what a lapse does."""
    policy = await TenantPolicies(state.gateway).retention(viewer.caller)
    return _policy_page(request, viewer, state, "retention", PolicyForm(retention_values(policy)))


@router.post("/retention")
async def save_retention(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """Replaces the retention policy; due consents follow it at their next check."""
    form = retention_form(await form_of(request))
    if not form.valid:
        return _policy_page(request, viewer, state, "retention", form, status_code=422)
    try:
        policy = await TenantPolicies(state.gateway).set_retention(viewer.caller, form.body)
    except ApiProblem as refused:
        return _policy_page(
            request,
            viewer,
            state,
            "retention",
            PolicyForm(form.values, {**form.errors, **policy_errors(refused.problem.paths)}),
            problem=refused.problem,
            status_code=refused.problem.status,
        )
    return _policy_page(
        request, viewer, state, "retention", PolicyForm(retention_values(policy)), saved=True
    )


# Embedding: the sites that may frame the event registration forms


def _embedding_page(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    form: EmbeddingForm,
    *,
    problem: Problem | None = None,
    saved: bool = False,
) -> HTMLResponse:
    template = "settings/embedding_form.html" if is_htmx(request) else "settings/embedding.html"
    return render(
        request,
        state.templates,
        template,
        {
            "form": form,
            "problem": problem,
            "refused": origin_errors(form, problem.paths) if problem else [],
            "saved": saved,
        },
        viewer=viewer,
        status_code=problem.status if problem else 200,
    )


@router.get("/embedding")
async def embedding_page(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """The careers sites that may frame the event registration forms."""
    settings = await EmbeddingSites(state.gateway).settings(viewer.caller)
    return _embedding_page(request, viewer, state, EmbeddingForm(embedding_text(settings)))


@router.post("/embedding")
async def save_embedding(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """Replaces the list; the forms' frames follow it from their next load."""
    form = embedding_form(await form_of(request))
    try:
        stored = await EmbeddingSites(state.gateway).replace(viewer.caller, form.origins)
    except ApiProblem as refused:
        return _embedding_page(request, viewer, state, form, problem=refused.problem)
    return _embedding_page(
        request, viewer, state, EmbeddingForm(embedding_text(stored)), saved=True
    )


# ATS connections


async def _sync_of(
    gateway_connections: AtsConnections, viewer: Viewer, connection_id: str
) -> tuple[dict[str, Any] | None, Problem | None]:
    """A connection's last runs, or why they could not be read (shown in its card)."""
    try:
        return await gateway_connections.sync_status(viewer.caller, connection_id), None
    except ApiProblem as refused:
        return None, refused.problem


def _ats_labels() -> dict[str, Any]:
    return {
        "providers": ATS_PROVIDERS,
        "sync_kinds": ATS_SYNC_KINDS,
        "sync_states": ATS_SYNC_STATES,
        "sync_counts": ATS_SYNC_COUNTS,
        "refusals": ATS_REFUSALS,
        "breaker": ATS_BREAKER,
        "api_status": ats_api_status,
        "errors_shown": ATS_ERRORS_SHOWN,
        "sync_running": ats_sync_running,
    }


async def _ats_panel(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    *,
    shown: dict[str, Any] | None = None,
    values: dict[str, str] | None = None,
    problem: Problem | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    gateway_connections = AtsConnections(state.gateway)
    found = await gateway_connections.connections(viewer.caller)
    runs = await asyncio.gather(*(_sync_of(gateway_connections, viewer, c["id"]) for c in found))
    template = "settings/ats_panel.html" if is_htmx(request) else "settings/ats.html"
    answer = render(
        request,
        state.templates,
        template,
        {
            "connections": found,
            "cards": [
                {"c": connection, "sync": sync, "sync_problem": sync_problem}
                for connection, (sync, sync_problem) in zip(found, runs, strict=True)
            ],
            "shown": shown,
            "values": values or {"provider": "greenhouse", "name": "", "api_base_url": ""},
            "errors": problem.field_errors if problem else {},
            "problem": problem,
        }
        | _ats_labels(),
        viewer=viewer,
        status_code=status_code,
    )
    if shown:
        answer.headers["Cache-Control"] = "no-store"
    return answer


@router.get("/ats")
async def ats_page(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """The tenant's ATS connections and their webhook URLs; connecting another."""
    return await _ats_panel(request, viewer, state)


@router.post("/ats")
async def connect_ats(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """Connects an ATS account and shows the webhook secret this once."""
    fields = await form_of(request)
    values = {
        "provider": fields.get("provider", ""),
        "name": fields.get("name", "").strip(),
        "api_base_url": fields.get("api_base_url", "").strip(),
    }
    try:
        created = await AtsConnections(state.gateway).connect(
            viewer.caller,
            values["provider"],
            values["name"],
            api_key=fields.get("api_key", "").strip(),
            api_base_url=values["api_base_url"],
        )
    except ApiProblem as refused:
        return await _ats_panel(
            request,
            viewer,
            state,
            values=values,
            problem=refused.problem,
            status_code=refused.problem.status,
        )
    return await _ats_panel(request, viewer, state, shown=created)


@router.post("/ats/{connection_id}/rotate")
async def rotate_ats_secret(
    connection_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """A new webhook secret, shown this once (the old one works for another day); without
    script, after asking first, on the connections' page."""
    connections = AtsConnections(state.gateway)
    return await _ats_change(
        request,
        viewer,
        state,
        connection_id,
        "new_ats_secret",
        lambda: connections.rotate_secret(viewer.caller, connection_id),
    )


@router.post("/ats/{connection_id}/disconnect")
async def disconnect_ats(
    connection_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Deletes the connection: its webhooks are refused from now on. Without script it asks
    first, then answers with the connections' page."""
    connections = AtsConnections(state.gateway)

    async def disconnect() -> None:
        await connections.disconnect(viewer.caller, connection_id)

    return await _ats_change(request, viewer, state, connection_id, "disconnect_ats", disconnect)


async def _ats_change(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    connection_id: str,
    button: AskingButton,
    change: Callable[[], Awaitable[dict[str, Any] | None]],
) -> HTMLResponse:
    """A connection's new secret or disconnection, asked first without script (naming the
    connection); the connections' page or panel then shows what `change` answered (a secret,
    shown this once) or the API's refusal."""
    connections = AtsConnections(state.gateway)
    if asked := await _asked_first_about(
        request,
        viewer,
        state,
        await form_of(request),
        button,
        lambda: connections.connection(viewer.caller, connection_id),
        back=ATS,
    ):
        return asked
    try:
        shown = await change()
    except ApiProblem as refused:
        return await _ats_panel(request, viewer, state, problem=refused.problem)
    return await _ats_panel(request, viewer, state, shown=shown)


async def _ats_fragment(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    template: str,
    connection_id: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """One connection's card (`ats_connection.html`) or its runs (`ats_sync.html`), read
    afresh."""
    gateway_connections = AtsConnections(state.gateway)
    connection, (sync, sync_problem) = await asyncio.gather(
        gateway_connections.connection(viewer.caller, connection_id),
        _sync_of(gateway_connections, viewer, connection_id),
    )
    return render(
        request,
        state.templates,
        template,
        {"c": connection, "sync": sync, "sync_problem": sync_problem}
        | _ats_labels()
        | (context or {}),
        viewer=viewer,
        status_code=status_code,
    )


@router.get("/ats/{connection_id}/sync")
async def ats_sync(
    connection_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """A connection's last backfill and reconciliation (htmx asks every 2 s while one runs)."""
    return await _ats_fragment(request, viewer, state, "settings/ats_sync.html", connection_id)


async def _start_sync(
    request: Request, viewer: Viewer, state: ConsoleContainer, connection_id: str, kind: str
) -> Response:
    """Starts a run and shows the runs; a refusal (one runs already, no API key) is shown
    above them. Without script: back to the connections, or a page saying why not."""
    refusal: Problem | None = None
    try:
        await AtsConnections(state.gateway).start_sync(viewer.caller, connection_id, kind)
    except ApiProblem as refused_by_api:
        refusal = refused_by_api.problem
    if not is_htmx(request):
        if refusal is not None:
            return refused(request, state.templates, viewer, refusal, back=ATS)
        return done(request, ATS)
    return await _ats_fragment(
        request, viewer, state, "settings/ats_sync.html", connection_id, {"refusal": refusal}
    )


@router.post("/ats/{connection_id}/backfill")
async def start_ats_backfill(
    connection_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Starts importing the ATS's whole history (or resumes a failed backfill)."""
    return await _start_sync(request, viewer, state, connection_id, "backfill")


@router.post("/ats/{connection_id}/reconcile")
async def start_ats_reconcile(
    connection_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Starts reading what the ATS changed since the last good run."""
    return await _start_sync(request, viewer, state, connection_id, "reconcile")


@router.post("/ats/{connection_id}/api-key")
async def replace_ats_api_key(
    connection_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Sets the connection's API key and address; the key is never shown again. Without
    script: back to the connections, or a page saying why not."""
    fields = await form_of(request)
    api_base_url = fields.get("api_base_url", "").strip()
    try:
        await AtsConnections(state.gateway).replace_api_key(
            viewer.caller, connection_id, fields.get("api_key", "").strip(), api_base_url
        )
    except ApiProblem as refused_by_api:
        if not is_htmx(request):
            return refused(request, state.templates, viewer, refused_by_api.problem, back=ATS)
        return await _ats_fragment(
            request,
            viewer,
            state,
            "settings/ats_connection.html",
            connection_id,
            {"key_problem": refused_by_api.problem, "key_base_url": api_base_url},
            status_code=refused_by_api.problem.status,
        )
    if not is_htmx(request):
        return done(request, ATS)
    return await _ats_fragment(
        request, viewer, state, "settings/ats_connection.html", connection_id, {"key_saved": True}
    )


@router.get("/ats/{connection_id}/rejected")
async def ats_rejected_payloads(
    connection_id: str,
    request: Request,
    viewer: CurrentViewer,
    state: Container,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    """What the connection's ATS sent that could not be mapped or stored, with its body (admins
    only, as the API has it: the bodies hold personal data)."""
    page = await AtsConnections(state.gateway).rejected_payloads(
        viewer.caller, connection_id, cursor
    )
    # Without script the connection's link opens them as a page of its own.
    return fragment_or_page(
        request,
        state.templates,
        "settings/ats_rejected.html",
        {"connection_id": connection_id, "page": page, "sources": ATS_PAYLOAD_SOURCES},
        title="Rejected payloads",
        back=ATS,
        viewer=viewer,
    )


@router.get("/ats/{connection_id}/applications")
async def ats_applications(
    connection_id: str,
    request: Request,
    viewer: CurrentViewer,
    state: Container,
    status: Annotated[Literal["active", "rejected", "hired"] | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    """The applications the connection's ATS reported, 50 at a time, all or in one status:
    who (linked to their profile), the job, the stage, the status, when they applied. Its
    links opened without script (a new tab) give the list in a page of its own."""
    page = await AtsConnections(state.gateway).applications(
        viewer.caller, connection_id, status, cursor
    )
    return fragment_or_page(
        request,
        state.templates,
        "settings/ats_applications.html",
        {
            "connection_id": connection_id,
            "page": page,
            "status": status,
            "statuses": ATS_APPLICATION_STATUSES,
        },
        title="ATS applications",
        back=f"{SETTINGS}/ats",
        viewer=viewer,
    )


@router.post("/ats/{connection_id}/webhook-secrets")
async def set_ats_issued_secrets(
    connection_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Sets the signature tokens Lever issued for the connection's webhooks (one per line), or
    clears them (`clear`, asked first without script); never shown again. Without script:
    back to the connections, or a page saying why not."""
    connections = AtsConnections(state.gateway)
    fields = await form_of(request)
    # The question's page posts the form again: not the tokens typed (a clear ignores them,
    # and a token is never shown again).
    clearing = {name: value for name, value in fields.items() if name != "secrets"}
    if fields.get("clear") and (
        asked := await _asked_first_about(
            request,
            viewer,
            state,
            clearing,
            "remove_ats_tokens",
            lambda: connections.connection(viewer.caller, connection_id),
            back=ATS,
        )
    ):
        return asked
    issued = ats_issued_secrets_from_form(fields)
    if issued.problem is None:
        try:
            await connections.set_ats_issued_secrets(
                viewer.caller, connection_id, list(issued.secrets), issued.grace_hours
            )
        except ApiProblem as refused_by_api:
            issued = issued.refused(refused_by_api.problem)
    if not is_htmx(request):
        if issued.problem is not None:
            return refused(request, state.templates, viewer, issued.problem, back=ATS)
        return done(request, ATS)
    if issued.problem is not None:
        return await _ats_fragment(
            request,
            viewer,
            state,
            "settings/ats_connection.html",
            connection_id,
            {"secrets_problem": issued.problem, "secrets_grace": fields.get("grace_hours", "")},
            status_code=issued.problem.status,
        )
    return await _ats_fragment(
        request,
        viewer,
        state,
        "settings/ats_connection.html",
        connection_id,
        {"secrets_saved": "cleared" if not issued.secrets else "set"},
    )


# Suppressions


def _suppressions_page(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    filters: SuppressionFilters,
    page: dict[str, Any],
    people: People,
) -> HTMLResponse:
    return render(
        request,
        state.templates,
        "settings/suppressions.html",
        {
            "filters": filters,
            "page": page,
            "reasons": SUPPRESSION_REASONS,
            "manual_reasons": MANUAL_REASONS,
            "values": {"reason": "manual"},
            "errors": {},
            "problem": None,
            "added": request.query_params.get("added") == "1",
            # Who added an entry by hand (`user:<id>`) is named, as elsewhere on the console.
            "people": people,
            "suppression_source": suppression_source,
        },
        viewer=viewer,
    )


@router.get("/suppressions")
async def suppressions_page(
    request: Request, viewer: CurrentViewer, state: Container, people: PagePeople
) -> HTMLResponse:
    """The suppression list, filtered by an address or a reason, page by page."""
    filters = SuppressionFilters.from_query(request.query_params)
    page = await SuppressionList(state.gateway).page(viewer.caller, filters)
    return _suppressions_page(request, viewer, state, filters, page, people)


@router.get("/suppressions.csv")
async def suppressions_csv(request: Request, viewer: CurrentViewer, state: Container) -> Response:
    """The filtered suppression list as the API's CSV file, comma or semicolon separated."""
    filters = SuppressionFilters.from_query(request.query_params)
    download = await SuppressionList(state.gateway).export(
        viewer.caller, filters, csv_params(request.query_params)
    )
    return Response(
        download.content,
        media_type=download.media_type,
        headers={**download.headers, "Cache-Control": "no-store"},
    )


@router.post("/suppressions")
async def add_suppression(request: Request, viewer: CurrentViewer, state: Container) -> Response:
    """Suppresses an address by hand, then shows its entry."""
    fields = await form_of(request)
    values = {name: fields.get(name, "").strip() for name in ("email", "reason", "note")}
    suppressions = SuppressionList(state.gateway)
    try:
        await suppressions.add(viewer.caller, values["email"], values["reason"], values["note"])
    except ApiProblem as refused:
        return fragment_or_page(
            request,
            state.templates,
            "settings/suppress_form.html",
            {
                "values": values,
                "errors": refused.problem.field_errors,
                "problem": refused.problem,
                "reasons": SUPPRESSION_REASONS,
                "manual_reasons": MANUAL_REASONS,
            },
            title="Suppress an address",
            back=SUPPRESSIONS,
            viewer=viewer,
            status_code=refused.problem.status,
        )
    query = urlencode({"email": values["email"], "added": "1"})
    return done(request, f"{SUPPRESSIONS}?{query}")


@router.post("/suppressions/{suppression_id}/lift")
async def lift_suppression(
    suppression_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Lifts a suppression: the address may be mailed again under the rules. Without script
    it asks first, then goes back to the list, or to a page saying why not."""
    question = settings_question("lift_suppression")
    form = await form_of(request)
    if asked := asked_first(request, state.templates, viewer, form, question, back=SUPPRESSIONS):
        return asked
    try:
        await SuppressionList(state.gateway).lift(viewer.caller, suppression_id)
    except ApiProblem as refused_by_api:
        return refused(request, state.templates, viewer, refused_by_api.problem, back=SUPPRESSIONS)
    if is_htmx(request):
        return HTMLResponse("")
    return done(request, SUPPRESSIONS)


# Sign-in


def _sign_in_page(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    settings: dict[str, Any] | None,
    form: AdmissionForm,
    *,
    problem: Problem | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    htmx = is_htmx(request)
    return render(
        request,
        state.templates,
        "settings/admission_form.html" if htmx else "settings/sign_in.html",
        {"settings": settings, "form": form, "roles": ROLES, "problem": problem, "saved": saved},
        viewer=viewer,
        status_code=status_code,
    )


@router.get("/sign-in")
async def sign_in_settings_page(
    request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """The identity provider as the operator set it up, and the admission rules."""
    settings = await SignInSettings(state.gateway).read(viewer.caller)
    return _sign_in_page(
        request, viewer, state, settings, AdmissionForm(admission_values(settings))
    )


@router.post("/sign-in/admission")
async def save_admission(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """Saves who joins on first sign-in."""
    form = admission_form(await form_of(request))
    if form.errors:
        return _sign_in_page(request, viewer, state, None, form, status_code=422)
    try:
        saved = await SignInSettings(state.gateway).set_admission(viewer.caller, form.body)
    except ApiProblem as refused:
        errors = {**form.errors, **refused.problem.field_errors}
        return _sign_in_page(
            request,
            viewer,
            state,
            None,
            AdmissionForm(form.values, errors, form.body),
            problem=refused.problem,
            status_code=refused.problem.status,
        )
    return _sign_in_page(
        request, viewer, state, saved, AdmissionForm(admission_values(saved)), saved=True
    )
