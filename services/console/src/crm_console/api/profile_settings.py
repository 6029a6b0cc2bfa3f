"""Settings pages of candidate profiles: the default phone region, the skill vocabulary (with
the progress of re-spelling stored skills after a change) and the custom fields."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from crm_console.adapters.gateway_api import ApiProblem
from crm_console.api.deps import (
    Container,
    CurrentViewer,
    Viewer,
    asked_first_about,
    done,
    form_lists,
    form_of,
    is_htmx,
    refused,
    render,
)
from crm_console.application.profile_settings import CustomFields, ProfileShape
from crm_console.container import ConsoleContainer
from crm_console.domain.problems import Problem
from crm_console.domain.profile_settings import (
    CHOICE_TYPES,
    CUSTOM_FIELD_TYPES,
    Respelling,
    SettingsForm,
    SkillRow,
    custom_field_edit,
    custom_field_form,
    custom_field_values,
    edit_errors,
    phone_region_form,
    reshaped_rows,
    vocabulary_form,
    vocabulary_rows,
    with_refusals,
)
from crm_console.domain.questions import Question
from crm_console.domain.settings import SETTINGS, settings_question

router = APIRouter(prefix=SETTINGS, include_in_schema=False)


# Profile settings


def _profile_page(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    form: SettingsForm,
    *,
    problem: Problem | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    template = "settings/profile_form.html" if is_htmx(request) else "settings/profile.html"
    return render(
        request,
        state.templates,
        template,
        {"form": form, "problem": problem, "saved": saved},
        viewer=viewer,
        status_code=status_code,
    )


@router.get("/profile")
async def profile_settings_page(
    request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """The region national phone numbers are read in."""
    found = await ProfileShape(state.gateway).profile_settings(viewer.caller)
    form = SettingsForm({"default_phone_region": found.get("default_phone_region", "")})
    return _profile_page(request, viewer, state, form)


@router.post("/profile")
async def save_profile_settings(
    request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Saves the phone region; the API's refusal shows next to the field."""
    form = phone_region_form(await form_of(request))
    if not form.valid:
        return _profile_page(request, viewer, state, form, status_code=422)
    try:
        saved = await ProfileShape(state.gateway).set_profile_settings(viewer.caller, form.body)
    except ApiProblem as refused:
        errors = {**form.errors, **refused.problem.field_errors}
        return _profile_page(
            request,
            viewer,
            state,
            SettingsForm(form.values, errors, form.body),
            problem=refused.problem,
            status_code=refused.problem.status,
        )
    form = SettingsForm({"default_phone_region": saved.get("default_phone_region", "")})
    return _profile_page(request, viewer, state, form, saved=True)


# Skill vocabulary


def _skills_panel(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    rows: list[SkillRow],
    respelling: dict[str, Any] | None,
    *,
    problem: Problem | None = None,
    saved: bool = False,
    added: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The editor (a page of its own, or the panel htmx swaps); `added` names a row just
    added, which takes the focus."""
    template = "settings/skills_panel.html" if is_htmx(request) else "settings/skills.html"
    return render(
        request,
        state.templates,
        template,
        {
            "rows": rows,
            "progress": Respelling.of(respelling) if respelling else None,
            "problem": problem,
            "saved": saved,
            "added": added,
        },
        viewer=viewer,
        status_code=status_code,
    )


@router.get("/skills")
async def skills_page(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """The vocabulary, a row per canonical skill, and how re-spelling after its last change is
    going."""
    shape = ProfileShape(state.gateway)
    vocabulary, respelling = await asyncio.gather(
        shape.vocabulary(viewer.caller), shape.respelling(viewer.caller)
    )
    return _skills_panel(request, viewer, state, vocabulary_rows(vocabulary), respelling)


@router.get("/skills/row")
async def new_skill_row(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """An empty row for the editor, named so it can be removed on its own."""
    return render(
        request,
        state.templates,
        "settings/skill_row.html",
        {"row": SkillRow(f"n{secrets.token_hex(4)}", "", ""), "focus": True},
        viewer=viewer,
    )


@router.post("/skills")
async def save_skills(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """Replaces the vocabulary; a clash shows at its row, success starts the progress panel.
    Remove or Add skill posted without script changes the rows shown, saving nothing."""
    keys, canonicals, synonyms = (
        await form_lists(request, "row"),
        await form_lists(request, "canonical"),
        await form_lists(request, "synonyms"),
    )
    fields = await form_of(request)
    if fields.get("remove") or fields.get("add"):
        add_key = f"n{secrets.token_hex(4)}" if fields.get("add") else None
        rows = reshaped_rows(
            keys, canonicals, synonyms, remove=fields.get("remove", ""), add_key=add_key
        )
        return _skills_panel(request, viewer, state, rows, None, added=add_key)
    form = vocabulary_form(keys, canonicals, synonyms)
    if not form.valid:
        return _skills_panel(request, viewer, state, form.rows, None, status_code=422)
    shape = ProfileShape(state.gateway)
    try:
        saved = await shape.replace_vocabulary(viewer.caller, form.body)
    except ApiProblem as refused:
        return _skills_panel(
            request,
            viewer,
            state,
            with_refusals(form.rows, refused.problem.located),
            None,
            problem=refused.problem,
            status_code=refused.problem.status,
        )
    respelling = await shape.respelling(viewer.caller)
    return _skills_panel(request, viewer, state, vocabulary_rows(saved), respelling, saved=True)


@router.get("/skills/progress")
async def skills_progress(
    request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """The progress panel alone (htmx polls it every 2 s while re-spelling runs)."""
    respelling = await ProfileShape(state.gateway).respelling(viewer.caller)
    return render(
        request,
        state.templates,
        "settings/skills_progress.html",
        {"progress": Respelling.of(respelling) if respelling else None},
        viewer=viewer,
    )


# Custom fields


def _wants_deleted(request: Request) -> bool:
    return request.query_params.get("deleted") == "1"


def _fields_page(request: Request) -> str:
    """The custom fields' page a field's button was on (deleted ones shown, or not)."""
    return f"{SETTINGS}/custom-fields" + ("?deleted=1" if _wants_deleted(request) else "")


async def _fields_panel(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    *,
    full_page: bool,
    form: SettingsForm | None = None,
    problem: Problem | None = None,
    problem_key: str = "",
    notice: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    deleted = _wants_deleted(request)
    fields = await CustomFields(state.gateway).listed(viewer.caller, include_deleted=deleted)
    return render(
        request,
        state.templates,
        "settings/custom_fields.html" if full_page else "settings/custom_fields_panel.html",
        {
            "fields": fields,
            "show_deleted": deleted,
            "form": form or SettingsForm({"type": "string", "required": False}),
            "types": CUSTOM_FIELD_TYPES,
            "choice_types": CHOICE_TYPES,
            "problem": problem,
            "problem_key": problem_key,
            "notice": notice or _notice(request),
        },
        viewer=viewer,
        status_code=status_code,
    )


def _notice(request: Request) -> str:
    if created := request.query_params.get("created"):
        return f"Custom field {created} created."
    if saved := request.query_params.get("saved"):
        return f"Custom field {saved} saved."
    return ""


@router.get("/custom-fields")
async def custom_fields_page(
    request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """The custom fields (deleted ones too with `?deleted=1`) and the form for a new one."""
    return await _fields_panel(request, viewer, state, full_page=not is_htmx(request))


@router.post("/custom-fields")
async def create_custom_field(
    request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Defines a field; the form again with the API's refusal next to its field."""
    form = custom_field_form(await form_of(request))
    problem: Problem | None = None
    status = 422
    if form.valid:
        try:
            await CustomFields(state.gateway).create(viewer.caller, form.body)
        except ApiProblem as refused:
            problem, status = refused.problem, refused.problem.status
            # A 409 is the key in use: said by the key.
            said = {"key": problem.message} if status == 409 else problem.field_errors
            form = SettingsForm(form.values, {**form.errors, **said}, form.body)
        else:
            return done(
                request, f"{SETTINGS}/custom-fields?{urlencode({'created': form.body['key']})}"
            )
    return render(
        request,
        state.templates,
        "settings/custom_field_form.html",
        {"form": form, "types": CUSTOM_FIELD_TYPES, "problem": problem},
        viewer=viewer,
        status_code=status,
    )


def _edit_page(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    definition: dict[str, Any],
    form: SettingsForm,
    *,
    problem: Problem | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    htmx = is_htmx(request)
    return render(
        request,
        state.templates,
        "settings/custom_field_edit_form.html" if htmx else "settings/custom_field_edit.html",
        {
            "definition": definition,
            "form": form,
            "types": CUSTOM_FIELD_TYPES,
            "choice_types": CHOICE_TYPES,
            "problem": problem,
        },
        viewer=viewer,
        status_code=status_code,
    )


@router.get("/custom-fields/{key}")
async def custom_field_page(
    key: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """One field: its label, whether it is required, its choices and more of them."""
    definition = await CustomFields(state.gateway).one(viewer.caller, key)
    return _edit_page(
        request, viewer, state, definition, SettingsForm(custom_field_values(definition))
    )


@router.post("/custom-fields/{key}")
async def edit_custom_field(
    key: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Saves the field's label, required and added choices, then back to the list."""
    fields = CustomFields(state.gateway)
    definition = await fields.one(viewer.caller, key)
    form = custom_field_edit(definition, await form_of(request))
    if not form.valid:
        return _edit_page(request, viewer, state, definition, form, status_code=422)
    try:
        await fields.edit(viewer.caller, key, form.body)
    except ApiProblem as refused:
        errors = {**form.errors, **edit_errors(refused.problem.field_errors)}
        return _edit_page(
            request,
            viewer,
            state,
            definition,
            SettingsForm(form.values, errors, form.body),
            problem=refused.problem,
            status_code=refused.problem.status,
        )
    return done(request, f"{SETTINGS}/custom-fields?{urlencode({'saved': key})}")


@router.post("/custom-fields/{key}/delete")
async def delete_custom_field(
    key: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Deletes a field (values held stay); a segment using it is shown in the field's row.
    Without script it asks first (naming the field as the API has it), then goes back to the
    list, or to a page saying why not."""
    fields = CustomFields(state.gateway)
    back = _fields_page(request)
    form = await form_of(request)

    async def question() -> Question:
        return settings_question("delete_custom_field", await fields.one(viewer.caller, key))

    if asked := await asked_first_about(
        request, state.templates, viewer, form, question, back=back
    ):
        return asked
    return await _field_change(
        request,
        viewer,
        state,
        key,
        fields.delete(viewer.caller, key),
        notice=f"Custom field {key} deleted: the values candidates hold stay; restore it "
        "from the deleted fields.",
        back=back,
    )


@router.post("/custom-fields/{key}/restore")
async def restore_custom_field(
    key: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Brings a deleted field back with the values candidates still hold. Without script:
    back to the list, or a page saying why not."""
    return await _field_change(
        request,
        viewer,
        state,
        key,
        CustomFields(state.gateway).restore(viewer.caller, key),
        notice=f"Custom field {key} restored.",
        back=_fields_page(request),
    )


async def _field_change(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    key: str,
    change: Awaitable[object],
    *,
    notice: str,
    back: str,
) -> Response:
    """A field's delete or restore: the list panel again saying `notice`, or the API's
    refusal in the field's row; without script, back to the list or a page saying why not."""
    try:
        await change
    except ApiProblem as refused_by_api:
        if not is_htmx(request):
            return refused(request, state.templates, viewer, refused_by_api.problem, back=back)
        return await _fields_panel(
            request,
            viewer,
            state,
            full_page=False,
            problem=refused_by_api.problem,
            problem_key=key,
        )
    if not is_htmx(request):
        return done(request, back)
    return await _fields_panel(request, viewer, state, full_page=False, notice=notice)
