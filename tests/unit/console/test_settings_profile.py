"""The profile settings pages (phone region, skill vocabulary, custom fields) rendered
in-process against a stand-in API, and their pure rules (the real API:
tests/e2e/test_console_settings_profile.py)."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from crm_console.domain.problems import LocatedError
from crm_console.domain.profile_settings import (
    Respelling,
    SkillRow,
    custom_field_edit,
    custom_field_form,
    phone_region_form,
    vocabulary_form,
    vocabulary_rows,
    with_refusals,
)
from crm_shared import Principal
from unit.console.test_pages import Api, gateway_headers

pytestmark = pytest.mark.unit

Console = tuple[httpx.AsyncClient, Api]
HTMX = {"hx-request": "true"}
ALICE = Principal(tenant_id="acme", user_id="alice", roles=frozenset({"admin"}))
VERA = Principal(tenant_id="acme", user_id="vera", roles=frozenset({"viewer"}))
VOCABULARY = {
    "skills": [
        {"canonical": "JavaScript", "synonyms": ["JS", "ECMAScript"]},
        {"canonical": "PostgreSQL", "synonyms": ["Postgres"]},
    ]
}
RUNNING = {
    "status": "running",
    "processed": 120,
    "changed": 7,
    "started_at": "2026-12-03T12:00:00Z",
    "finished_at": None,
}
CONTACT = {
    "id": "f1",
    "key": "contact_preference",
    "label": "Préférence de contact",
    "type": "enum",
    "required": False,
    "allowed_values": ["E-mail", "Téléphone"],
    "created_by": "alice",
    "created_at": "2026-12-01T10:00:00Z",
    "archived_at": None,
}
NOTICE = CONTACT | {
    "id": "f2",
    "key": "notice_period",
    "label": "Notice period",
    "type": "number",
    "allowed_values": [],
    "archived_at": "2026-12-02T10:00:00Z",
}


def headers(principal: Principal = ALICE, *, htmx: bool = False) -> dict[str, str]:
    # Minted per request: the internal token expires in 60 s.
    return {**gateway_headers(principal), **(HTMX if htmx else {})}


def validation_problem(*errors: tuple[str, str]) -> dict[str, object]:
    return {
        "type": "validation-error",
        "title": "Request validation failed",
        "status": 422,
        "detail": "invalid " + ", ".join(f"{name} ({detail})" for name, detail in errors),
        "errors": [{"field": name, "detail": detail} for name, detail in errors],
    }


# Pure rules


def test_a_phone_region_is_two_letters_upper_cased() -> None:
    form = phone_region_form({"default_phone_region": " se "})
    assert form.valid
    assert form.body == {"default_phone_region": "SE"}
    assert set(phone_region_form({"default_phone_region": "Sweden"}).errors) == {
        "default_phone_region"
    }
    assert not phone_region_form({}).valid


def test_vocabulary_rows_drop_blank_rows_and_split_synonyms_at_commas() -> None:
    form = vocabulary_form(
        ["r0", "n1", "n2", "n3"],
        [" Java  Script ", "", "", "Go"],
        ["JS, , ecmascript ", "", "golang", ""],
    )
    assert form.body == {
        "skills": [
            {"canonical": "Java Script", "synonyms": ["JS", "ecmascript"]},
            {"canonical": "", "synonyms": ["golang"]},
            {"canonical": "Go", "synonyms": []},
        ]
    }
    assert [row.key for row in form.rows] == ["r0", "n2", "n3"]
    assert not form.valid
    assert form.rows[1].error == "a skill needs a name before its synonyms"
    assert vocabulary_rows(VOCABULARY) == [
        SkillRow("r0", "JavaScript", "JS, ECMAScript"),
        SkillRow("r1", "PostgreSQL", "Postgres"),
    ]


def test_a_clash_is_put_at_its_row_and_names_the_other_skill() -> None:
    rows = [SkillRow("a", "JavaScript", "JS"), SkillRow("b", "Java", "JDK, js")]
    placed = with_refusals(
        rows,
        [
            LocatedError("skills.1.synonyms.1", "'js' already maps to skill 0 of the list"),
            LocatedError("skills.7.canonical", "beyond the rows: ignored"),
            LocatedError("name", "not a row"),
        ],
    )
    assert placed[0].error == ""
    assert placed[1].error == "'js' already maps to the skill “JavaScript”"
    [row] = with_refusals(
        [SkillRow("a", "Go", "x" * 101)],
        [LocatedError("skills.0.synonyms.0", "String should have at most 100 characters")],
    )
    assert row.error.startswith("“xxx")
    assert row.error.endswith(": String should have at most 100 characters")


def test_respelling_progress_reads_the_apis_job() -> None:
    running = Respelling.of(RUNNING)
    assert (running.running, running.processed, running.changed) == (True, 120, 7)
    done = Respelling.of(RUNNING | {"status": "completed", "finished_at": "2026-12-03T12:01:00Z"})
    assert not done.running
    assert done.label == "Done"


def test_a_custom_field_form_checks_what_the_api_would() -> None:
    form = custom_field_form(
        {
            "key": "contact_preference",
            "label": " Préférence  de contact ",
            "type": "enum",
            "required": "on",
            "allowed_values": "E-mail\n\n Téléphone, le soir \n",
        }
    )
    assert form.valid
    assert form.body == {
        "key": "contact_preference",
        "label": "Préférence de contact",
        "type": "enum",
        "required": True,
        "allowed_values": ["E-mail", "Téléphone, le soir"],
    }
    assert set(custom_field_form({"key": "Contact Pref", "type": "enum"}).errors) == {
        "key",
        "label",
        "allowed_values",
    }
    assert custom_field_form(
        {"key": "notice", "label": "Notice", "type": "number", "allowed_values": "a"}
    ).errors == {
        "allowed_values": "choices are for the types “One of a list” and “Several of a list”"
    }
    repeated = custom_field_form(
        {"key": "k", "label": "L", "type": "multi_enum", "allowed_values": "Oui\noui"}
    )
    assert repeated.errors == {"allowed_values": "each choice once (ignoring case): “oui”"}
    assert custom_field_form({"key": "k", "label": "L", "type": "text"}).errors == {
        "type": "choose a type"
    }


def test_an_edit_only_adds_choices() -> None:
    edit = custom_field_edit(CONTACT, {"label": "Contact", "new_values": "SMS\n"})
    assert edit.valid
    assert edit.body == {
        "label": "Contact",
        "required": False,
        "allowed_values": ["E-mail", "Téléphone", "SMS"],
    }
    assert custom_field_edit(CONTACT, {"label": "Contact"}).body == {
        "label": "Contact",
        "required": False,
    }
    assert custom_field_edit(CONTACT, {"label": "C", "new_values": "e-mail"}).errors == {
        "new_values": "already a choice: “e-mail”"
    }
    assert set(custom_field_edit(NOTICE, {"label": "", "new_values": "x"}).errors) == {
        "label",
        "new_values",
    }


# Pages


async def test_the_settings_index_links_the_three_pages(console: Console) -> None:
    client, _ = console
    index = await client.get("/console/settings", headers=headers(VERA))
    for path in ("profile", "skills", "custom-fields"):
        assert f'href="/console/settings/{path}"' in index.text


async def test_the_phone_region_is_shown_saved_and_refused_by_its_field(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/profile-settings", body={"default_phone_region": "SE"})
    page = await client.get("/console/settings/profile", headers=headers())
    assert page.status_code == 200
    assert 'name="default_phone_region" type="text" value="SE"' in page.text
    assert "Save profile settings" in page.text

    api.answer(
        "PUT",
        "/api/v1/profile-settings",
        422,
        validation_problem(("default_phone_region", "'XX' is not a known region")),
    )
    refused = await client.post(
        "/console/settings/profile",
        data={"default_phone_region": "xx"},
        headers=headers(htmx=True),
    )
    assert refused.status_code == 422
    assert "<html" not in refused.text
    assert 'id="e-default_phone_region">&#39;XX&#39; is not a known region<' in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert json.loads(api.calls[-1].content) == {"default_phone_region": "XX"}

    calls = len(api.calls)
    shape = await client.post(
        "/console/settings/profile",
        data={"default_phone_region": "Deutschland"},
        headers=headers(htmx=True),
    )
    assert shape.status_code == 422
    assert "such as SE, DE or GB" in shape.text
    assert len(api.calls) == calls  # not asked: it cannot be a region

    api.answer("PUT", "/api/v1/profile-settings", body={"default_phone_region": "DE"})
    saved = await client.post(
        "/console/settings/profile",
        data={"default_phone_region": "de"},
        headers=headers(htmx=True),
    )
    assert saved.status_code == 200
    assert "read in DE" in saved.text
    assert 'value="DE"' in saved.text


async def test_a_viewer_reads_the_phone_region_without_changing_it(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/profile-settings", body={"default_phone_region": "GB"})
    page = await client.get("/console/settings/profile", headers=headers(VERA))
    assert page.status_code == 200
    assert 'value="GB"' in page.text
    assert "<fieldset disabled" in page.text
    assert "Save profile settings" not in page.text


async def test_the_vocabulary_lists_skills_with_their_synonyms_and_progress(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", "/api/v1/skills/vocabulary", body=VOCABULARY)
    api.answer("GET", "/api/v1/skills/vocabulary/progress", body=RUNNING)
    page = await client.get("/console/settings/skills", headers=headers())
    assert page.status_code == 200
    assert 'name="canonical" value="JavaScript"' in page.text
    assert 'name="synonyms" value="JS, ECMAScript"' in page.text
    assert "Add skill" in page.text
    assert 'id="skill-r1"' in page.text
    assert 'data-remove="tr"' in page.text  # removes the row it sits in
    # Running: the panel asks again every 2 s.
    assert 'hx-get="/console/settings/skills/progress" hx-trigger="every 2s"' in page.text
    assert "120 candidates with skills looked at, 7 re-spelled" in page.text

    row = await client.get("/console/settings/skills/row", headers=headers(htmx=True))
    assert row.text.lstrip().startswith('<tr id="skill-n')
    assert "autofocus" in row.text

    api.answer(
        "GET",
        "/api/v1/skills/vocabulary/progress",
        body=RUNNING | {"status": "completed", "finished_at": "2026-12-03T12:02:00Z"},
    )
    finished = await client.get("/console/settings/skills/progress", headers=headers(htmx=True))
    assert 'data-status="completed"' in finished.text
    assert "hx-trigger" not in finished.text  # polling stops


async def test_without_script_rows_are_added_and_removed_by_posting_them_back(
    console: Console,
) -> None:
    """Remove and Add skill are submit buttons: without script they post the rows back
    changed, and nothing is saved; Enter in a field saves (the form's default button)."""
    client, api = console
    api.answer("GET", "/api/v1/skills/vocabulary", body=VOCABULARY)
    api.answer("GET", "/api/v1/skills/vocabulary/progress", body=RUNNING)
    page = await client.get("/console/settings/skills", headers=headers())
    form = page.text.split('<form id="skills-form"', 1)[1]
    first_button = form[form.index("<button") :].split(">", 1)[0]
    assert 'type="submit" class="visually-hidden"' in first_button
    assert "name=" not in first_button  # Enter saves, rather than removing the first row
    assert 'name="remove" value="r0"' in form

    typed = {
        "row": ["r0", "r1"],
        "canonical": ["JavaScript", "Ærø"],
        "synonyms": ["JS", "aero, ærø"],
    }
    removed = await client.post(
        "/console/settings/skills", data={**typed, "remove": "r0"}, headers=headers()
    )
    assert removed.status_code == 200
    assert "<!doctype html>" in removed.text
    assert 'value="JavaScript"' not in removed.text
    assert 'name="synonyms" value="aero, ærø"' in removed.text
    added = await client.post(
        "/console/settings/skills", data={**typed, "add": "1"}, headers=headers()
    )
    assert added.text.count('name="canonical"') == 3
    assert re.search(r'name="canonical" value=""[^>]* autofocus', added.text)
    assert not [call for call in api.calls if call.method != "GET"]


async def test_a_vocabulary_never_changed_says_so(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/skills/vocabulary", body={"skills": []})
    api.answer(
        "GET",
        "/api/v1/skills/vocabulary/progress",
        404,
        {"title": "Not Found", "status": 404, "detail": "no vocabulary change yet"},
    )
    page = await client.get("/console/settings/skills", headers=headers())
    assert page.status_code == 200
    assert "has not been changed yet" in page.text
    assert "hx-trigger" not in page.text


async def test_saving_the_vocabulary_replaces_it_and_shows_a_clash_at_its_row(
    console: Console,
) -> None:
    client, api = console
    api.answer(
        "PUT",
        "/api/v1/skills/vocabulary",
        422,
        validation_problem(
            ("skills.1.synonyms.1", "'js' already maps to skill 0 of the list"),
        ),
    )
    form = {
        "row": ["r0", "r1", "n9"],
        "canonical": ["JavaScript", "Java", ""],
        "synonyms": ["JS", "JDK, js", ""],
    }
    refused = await client.post("/console/settings/skills", data=form, headers=headers(htmx=True))
    assert refused.status_code == 422
    assert json.loads(api.calls[-1].content) == {
        "skills": [
            {"canonical": "JavaScript", "synonyms": ["JS"]},
            {"canonical": "Java", "synonyms": ["JDK", "js"]},
        ]
    }
    assert (
        '<p class="field-error" id="e-skill-r1" data-testid="skill-error">'
        "&#39;js&#39; already maps to the skill “JavaScript”</p>"
    ) in refused.text
    assert 'id="e-skill-r0"' not in refused.text
    assert "Not saved: the marked row says why." in refused.text
    assert 'value="JDK, js"' in refused.text  # what was typed stays

    calls = len(api.calls)
    nameless = await client.post(
        "/console/settings/skills",
        data={"row": ["n1"], "canonical": [""], "synonyms": ["golang"]},
        headers=headers(htmx=True),
    )
    assert nameless.status_code == 422
    assert "a skill needs a name before its synonyms" in nameless.text
    assert len(api.calls) == calls  # not asked

    api.answer("PUT", "/api/v1/skills/vocabulary", body=VOCABULARY)
    api.answer("GET", "/api/v1/skills/vocabulary/progress", body=RUNNING | {"processed": 0})
    saved = await client.post(
        "/console/settings/skills",
        data={"row": ["r0"], "canonical": ["JavaScript"], "synonyms": ["JS, ECMAScript"]},
        headers=headers(htmx=True),
    )
    assert saved.status_code == 200
    assert "Saved." in saved.text
    assert 'value="PostgreSQL"' in saved.text  # the API's vocabulary, as saved
    assert 'hx-trigger="every 2s"' in saved.text


async def test_a_viewer_reads_the_vocabulary_without_editing_it(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/skills/vocabulary", body=VOCABULARY)
    api.answer("GET", "/api/v1/skills/vocabulary/progress", body=RUNNING)
    page = await client.get("/console/settings/skills", headers=headers(VERA))
    assert page.status_code == 200
    assert 'value="JavaScript"' in page.text
    assert "<fieldset disabled" in page.text
    for control in ("Add skill", "Save vocabulary", "data-remove"):
        assert control not in page.text


async def test_custom_fields_are_listed_with_deleted_ones_on_request(console: Console) -> None:
    client, api = console
    api.answer(
        "GET",
        "/api/v1/custom-fields",
        body=[CONTACT | {"allowed_values": ["E-mail", "Téléphone, le soir"]}],
    )
    page = await client.get("/console/settings/custom-fields", headers=headers())
    assert page.status_code == 200
    assert "Préférence de contact" in page.text
    assert "<code>contact_preference</code>" in page.text
    assert "One of a list" in page.text
    # One choice an item: a choice may itself hold a comma.
    [choices] = re.findall(r'<ul class="choices" data-testid="choices">(.*?)</ul>', page.text)
    assert choices == "<li>E-mail</li><li>Téléphone, le soir</li>"
    assert "E-mail, Téléphone" not in page.text
    assert "Create field" in page.text
    assert "include_archived" not in str(api.calls[-1].url)

    api.answer("GET", "/api/v1/custom-fields", body=[CONTACT, NOTICE])
    with_deleted = await client.get(
        "/console/settings/custom-fields", params={"deleted": "1"}, headers=headers(htmx=True)
    )
    assert api.calls[-1].url.params["include_archived"] == "true"
    assert "<html" not in with_deleted.text
    assert 'hx-post="/console/settings/custom-fields/notice_period/restore?deleted=1"' in (
        with_deleted.text
    )
    assert "2026-12-02" in with_deleted.text


async def test_a_custom_field_is_created_or_its_refusal_shown_by_the_field(
    console: Console,
) -> None:
    client, api = console
    form = {
        "key": "contact_preference",
        "label": "Préférence de contact",
        "type": "enum",
        "allowed_values": "E-mail\nTéléphone",
    }
    api.answer(
        "POST",
        "/api/v1/custom-fields",
        409,
        {
            "type": "conflict",
            "title": "Conflict",
            "status": 409,
            "detail": "a custom field with key 'contact_preference' exists",
        },
    )
    taken = await client.post(
        "/console/settings/custom-fields", data=form, headers=headers(htmx=True)
    )
    assert taken.status_code == 409
    assert 'id="e-key">a custom field with key &#39;contact_preference&#39; exists<' in taken.text
    assert "Préférence de contact" in taken.text  # what was typed stays

    api.answer(
        "POST",
        "/api/v1/custom-fields",
        422,
        validation_problem(("allowed_values", "allowed_values must differ (ignoring case)")),
    )
    refused = await client.post(
        "/console/settings/custom-fields", data=form, headers=headers(htmx=True)
    )
    assert refused.status_code == 422
    assert 'id="e-allowed_values">allowed_values must differ (ignoring case)<' in refused.text

    api.answer("POST", "/api/v1/custom-fields", 201, CONTACT)
    created = await client.post(
        "/console/settings/custom-fields",
        data=form | {"required": "on"},
        headers=headers(htmx=True),
    )
    assert created.status_code == 204
    assert created.headers["hx-redirect"] == (
        "/console/settings/custom-fields?created=contact_preference"
    )
    assert json.loads(api.calls[-1].content) == {
        "key": "contact_preference",
        "label": "Préférence de contact",
        "type": "enum",
        "required": True,
        "allowed_values": ["E-mail", "Téléphone"],
    }


async def test_a_custom_field_is_edited_and_its_choices_only_grow(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/custom-fields/contact_preference", body=CONTACT)
    page = await client.get("/console/settings/custom-fields/contact_preference", headers=headers())
    assert page.status_code == 200
    assert "Choices can be added, not removed" in page.text
    assert "<li>Téléphone</li>" in page.text

    api.answer(
        "PATCH",
        "/api/v1/custom-fields/contact_preference",
        422,
        validation_problem(("allowed_values", "choices candidates may hold cannot be removed: x")),
    )
    refused = await client.post(
        "/console/settings/custom-fields/contact_preference",
        data={"label": "Contact", "new_values": "SMS"},
        headers=headers(htmx=True),
    )
    assert refused.status_code == 422
    assert 'id="e-new_values">choices candidates may hold cannot be removed: x<' in refused.text

    api.answer("PATCH", "/api/v1/custom-fields/contact_preference", body=CONTACT)
    saved = await client.post(
        "/console/settings/custom-fields/contact_preference",
        data={"label": "Contact", "required": "on", "new_values": "SMS"},
        headers=headers(htmx=True),
    )
    assert (
        saved.headers["hx-redirect"] == "/console/settings/custom-fields?saved=contact_preference"
    )
    assert json.loads(api.calls[-1].content) == {
        "label": "Contact",
        "required": True,
        "allowed_values": ["E-mail", "Téléphone", "SMS"],
    }


async def test_deleting_a_field_a_segment_uses_shows_why_in_its_row(console: Console) -> None:
    client, api = console
    api.answer(
        "DELETE",
        "/api/v1/custom-fields/contact_preference",
        409,
        {
            "type": "conflict",
            "title": "Conflict",
            "status": 409,
            "detail": "custom field 'contact_preference' is used by segment 'Reachable by phone'; "
            "change those rules first",
        },
    )
    api.answer("GET", "/api/v1/custom-fields", body=[CONTACT])
    refused = await client.post(
        "/console/settings/custom-fields/contact_preference/delete", headers=headers(htmx=True)
    )
    # Swapped in as the panel: the reason sits in the field's row, by its buttons.
    assert refused.status_code == 200
    row = refused.text[refused.text.index('id="field-contact_preference"') :]
    assert 'data-testid="field-problem"' in row
    assert "used by segment &#39;Reachable by phone&#39;" in row

    api.routes[("DELETE", "/api/v1/custom-fields/contact_preference")] = httpx.Response(204)
    api.answer("GET", "/api/v1/custom-fields", body=[])
    deleted = await client.post(
        "/console/settings/custom-fields/contact_preference/delete", headers=headers(htmx=True)
    )
    assert "Custom field contact_preference deleted" in deleted.text
    assert "No custom fields in use." in deleted.text

    api.answer("POST", "/api/v1/custom-fields/contact_preference/restore", body=CONTACT)
    api.answer("GET", "/api/v1/custom-fields", body=[CONTACT])
    restored = await client.post(
        "/console/settings/custom-fields/contact_preference/restore?deleted=1",
        headers=headers(htmx=True),
    )
    assert "Custom field contact_preference restored." in restored.text
    assert api.calls[-1].url.params["include_archived"] == "true"


async def test_a_viewer_reads_custom_fields_without_changing_them(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/custom-fields", body=[CONTACT, NOTICE])
    page = await client.get(
        "/console/settings/custom-fields", params={"deleted": "1"}, headers=headers(VERA)
    )
    assert page.status_code == 200
    assert "Préférence de contact" in page.text
    for control in ("Create field", "/delete", "/restore", "New custom field"):
        assert control not in page.text
    api.answer("GET", "/api/v1/custom-fields/contact_preference", body=CONTACT)
    edit = await client.get(
        "/console/settings/custom-fields/contact_preference", headers=headers(VERA)
    )
    assert "<fieldset disabled" in edit.text
    assert "Save field" not in edit.text
