"""Creating and editing a candidate, recording consent and a merged-away record's profile,
rendered in-process against a stand-in API; and the pure rules of the form."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from crm_console.domain.candidate_form import (
    changed_meanwhile,
    changes,
    consent_body,
    create_body,
    custom_inputs,
    custom_value,
    split_list,
)
from crm_console.domain.candidates import (
    skills_cell,
)
from crm_shared import Principal
from unit.console.test_candidates import answer_profile, candidate
from unit.console.test_pages import Api, console, gateway_headers, htmx_headers, with_lazy_parts

pytestmark = pytest.mark.unit

__all__ = ["console"]

Console = tuple[httpx.AsyncClient, Api]
VIEWER = Principal(tenant_id="acme", user_id="vic", roles=frozenset({"viewer"}))
DEFINITIONS: list[dict[str, Any]] = [
    {"key": "notice_period", "label": "Notice period (days)", "type": "number", "required": False},
    {"key": "remote", "label": "Works remotely", "type": "boolean", "required": False},
    {
        "key": "level",
        "label": "Level",
        "type": "enum",
        "required": False,
        "allowed_values": ["junior", "senior"],
    },
    {
        "key": "langs",
        "label": "Languages",
        "type": "multi_enum",
        "required": False,
        "allowed_values": ["de", "en", "fr"],
    },
    {"key": "old", "label": "Old", "type": "string", "archived_at": "2026-01-01T00:00:00Z"},
]
STORED = "2026-12-01T10:00:00+00:00"


def sent(api: Api, method: str, path: str) -> list[Any]:
    return [
        json.loads(call.content)
        for call in api.calls
        if call.method == method and call.url.path == path
    ]


# The pure rules.


def test_lists_are_split_on_commas_and_lines_without_repeats() -> None:
    assert split_list(" a@x.org, b@x.org\nb@x.org ,, ") == ["a@x.org", "b@x.org"]


def test_custom_values_are_sent_in_their_type() -> None:
    assert custom_value("number", ["30"]) == 30
    assert custom_value("number", ["2.5"]) == 2.5
    assert custom_value("number", ["thirty"]) == "thirty"  # the API names it at its field
    assert custom_value("boolean", ["no"]) is False
    assert custom_value("multi_enum", ["de", "fr"]) == ["de", "fr"]
    assert custom_value("multi_enum", []) is None
    assert custom_value("string", ["  "]) is None


def test_the_custom_inputs_follow_the_live_definitions_with_the_values() -> None:
    inputs = custom_inputs(
        DEFINITIONS,
        {"notice_period": 30.0, "remote": True, "langs": ["en"]},
        {"custom_fields.level": "not allowed"},
    )
    assert [i.key for i in inputs] == ["notice_period", "remote", "level", "langs"]
    assert inputs[0].value == "30"
    assert inputs[0].input_type == "number"
    assert inputs[1].value == "yes"
    assert inputs[2].choices == ("junior", "senior")
    assert inputs[2].error == "not allowed"
    assert inputs[3].value == ["en"]


def test_a_new_candidate_sends_what_was_filled_in() -> None:
    body = create_body(
        {
            "first_name": ["Ada"],
            "last_name": ["Lovelace"],
            "emails": ["ada@example.org"],
            "skills": ["python, sql"],
            "location": [""],
            "cf-notice_period": ["30"],
            "cf-remote": [""],
            "source": ["referral"],
        },
        DEFINITIONS,
    )
    assert body == {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "emails": ["ada@example.org"],
        "skills": ["python", "sql"],
        "custom_fields": {"notice_period": 30},
        "source": "referral",
    }


def test_an_edit_sends_only_what_changed() -> None:
    current = candidate(
        tags=["a"], custom_fields={"notice_period": 30, "remote": True}, updated_at=STORED
    )
    form = {
        "first_name": ["Zoë"],
        "last_name": ["Ångström"],
        "emails": ["zoe@example.org"],
        "phones": [""],
        "current_title": ["Staff Engineer"],
        "current_company": ["Globex"],
        "location": [""],
        "skills": ["python"],
        "tags": ["a, b"],
        "cf-notice_period": ["30"],
        "cf-remote": [""],
        "cf-level": ["senior"],
    }
    assert changes(current, form, DEFINITIONS) == {
        "current_title": "Staff Engineer",
        "location": None,
        "tags": ["a", "b"],
        "custom_fields": {"remote": None, "level": "senior"},
    }


def test_a_record_changed_since_the_form_opened_is_noticed() -> None:
    assert changed_meanwhile({"updated_at": "2026-12-02T00:00:00Z"}, STORED)
    assert not changed_meanwhile({"updated_at": STORED}, STORED)


def test_consent_is_sent_as_the_api_documents_it() -> None:
    assert consent_body(
        {
            "purpose": ["marketing"],
            "action": ["grant"],
            "lawful_basis": ["consent"],
            "expires_at": ["2027-06-30"],
            "evidence": ["phone call"],
        }
    ) == {
        "purpose": "marketing",
        "action": "grant",
        "lawful_basis": "consent",
        "source": "recruiter",
        "expires_at": "2027-06-30T23:59:59Z",
        "evidence": "phone call",
    }


# The pages.


async def test_the_list_offers_new_candidate_to_whoever_may_write(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/candidates", body={"items": [], "next_cursor": None})
    page = await client.get("/console/candidates", headers=gateway_headers())
    assert 'href="/console/candidates/new"' in page.text
    viewer_page = await client.get("/console/candidates", headers=gateway_headers(VIEWER))
    assert "/console/candidates/new" not in viewer_page.text


async def test_the_new_form_reads_the_definitions_once_with_typed_inputs(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", "/api/v1/custom-fields", body=DEFINITIONS)
    page = await client.get("/console/candidates/new", headers=gateway_headers())
    assert page.status_code == 200, page.text
    assert [c.url.path for c in api.calls] == ["/api/v1/custom-fields"]
    assert 'name="cf-notice_period" type="number"' in page.text
    assert '<select id="f-cf-level" name="cf-level"' in page.text
    assert 'name="cf-langs" multiple' in page.text
    assert "cf-old" not in page.text


async def test_creating_opens_the_new_profile(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/custom-fields", body=DEFINITIONS)
    api.answer("POST", "/api/v1/candidates", 201, {**candidate("c9"), "created": True})
    answer = await client.post(
        "/console/candidates",
        data={"first_name": "Ada", "last_name": "L", "emails": "ada@example.org"},
        headers=htmx_headers(),
    )
    assert answer.status_code == 204
    assert answer.headers["hx-redirect"] == "/console/candidates/c9"
    [body] = sent(api, "POST", "/api/v1/candidates")
    assert body["emails"] == ["ada@example.org"]


async def test_a_refused_field_is_shown_at_it_with_what_was_typed(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/custom-fields", body=DEFINITIONS)
    api.answer(
        "POST",
        "/api/v1/candidates",
        422,
        {
            "title": "Request validation failed",
            "status": 422,
            "errors": [
                {"field": "body.emails.0", "detail": "not a valid email address"},
                {"field": "custom_fields.notice_period", "detail": "must be a number"},
            ],
        },
    )
    answer = await client.post(
        "/console/candidates",
        data={"first_name": "Ada", "emails": "nope", "cf-notice_period": "thirty"},
        headers=htmx_headers(),
    )
    assert answer.status_code == 422
    text = answer.text
    assert 'id="e-emails">not a valid email address' in text
    assert 'id="e-cf-notice_period">must be a number' in text
    assert 'value="nope"' in text
    assert 'value="thirty"' in text


async def test_a_duplicate_links_the_record_that_holds_the_address(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/custom-fields", body=[])
    api.answer(
        "POST",
        "/api/v1/candidates",
        409,
        {
            "type": "duplicate-candidate",
            "title": "Conflict",
            "status": 409,
            "detail": "another candidate already holds one of these identifiers",
            "existing_candidate_id": "c7",
        },
    )
    answer = await client.post(
        "/console/candidates",
        data={"first_name": "A", "last_name": "B", "emails": "a@x.org"},
        headers=htmx_headers(),
    )
    assert answer.status_code == 409
    assert 'href="/console/candidates/c7"' in answer.text
    # The person on file already (the API's 200): linked, nothing silently opened.
    api.answer(
        "POST",
        "/api/v1/candidates",
        200,
        {**candidate("c3"), "created": False, "matched_on": ["email"]},
    )
    again = await client.post(
        "/console/candidates",
        data={"first_name": "A", "last_name": "B", "emails": "zoe@example.org"},
        headers=htmx_headers(),
    )
    assert 'data-testid="on-file"' in again.text
    assert 'href="/console/candidates/c3"' in again.text


async def test_a_create_that_left_a_shared_number_out_names_its_holder_on_the_profile(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", "/api/v1/custom-fields", body=DEFINITIONS)
    api.answer(
        "POST",
        "/api/v1/candidates",
        201,
        {**candidate("c1"), "created": True, "identifiers_left_out": ["+49301234567"]},
    )
    answer = await client.post(
        "/console/candidates",
        data={"first_name": "Jürgen", "last_name": "Groß", "phones": "030 1234567"},
        headers=gateway_headers(),
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/candidates/c1?left_out=%2B49301234567"

    answer_profile(api)
    jose = candidate("c9", first_name="José", last_name="Müller")
    api.answer_with("/api/v1/candidates", {"phone": "+49301234567"}, {"items": [jose]})
    page = await client.get(answer.headers["location"], headers=gateway_headers())
    assert page.status_code == 200, page.text
    assert 'data-testid="left-out"' in page.text
    assert "+49301234567" in page.text
    assert 'href="/console/candidates/c1/merge/c9"' in page.text
    # An address naming a number nobody else holds (or this record's own) says nothing.
    api.answer_with("/api/v1/candidates", {"phone": "+4930999"}, {"items": [candidate("c1")]})
    crafted = await client.get(
        "/console/candidates/c1?left_out=%2B4930999", headers=gateway_headers()
    )
    assert 'data-testid="left-out"' not in crafted.text


async def test_the_edit_form_holds_the_record_and_sends_only_the_change(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/custom-fields", body=DEFINITIONS)
    stored = candidate(custom_fields={"notice_period": 30}, updated_at=STORED)
    api.answer("GET", "/api/v1/candidates/c1", body=stored)
    page = await client.get("/console/candidates/c1/edit", headers=gateway_headers())
    assert page.status_code == 200, page.text
    assert f'name="updated_at" value="{STORED}"' in page.text
    assert 'value="Globex"' in page.text
    api.answer("PATCH", "/api/v1/candidates/c1", body=stored)
    answer = await client.post(
        "/console/candidates/c1",
        data={
            "updated_at": STORED,
            "first_name": "Zoë",
            "last_name": "Ångström",
            "emails": "zoe@example.org",
            "current_title": "Engineer",
            "current_company": "Initech",
            "location": "Berlin",
            "skills": "python",
            "cf-notice_period": "30",
        },
        headers=htmx_headers(),
    )
    assert answer.status_code == 204, answer.text
    assert answer.headers["hx-redirect"] == "/console/candidates/c1"
    assert sent(api, "PATCH", "/api/v1/candidates/c1") == [{"current_company": "Initech"}]


async def test_the_edit_is_sent_with_if_match_of_the_revision_the_form_was_filled_from(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", "/api/v1/custom-fields", body=[])
    stored = candidate(updated_at=STORED)
    api.routes[("GET", "/api/v1/candidates/c1")] = httpx.Response(
        200, json=stored, headers={"ETag": '"1764583200000"'}
    )
    page = await client.get("/console/candidates/c1/edit", headers=gateway_headers())
    assert 'name="revision" value="&#34;1764583200000&#34;"' in page.text
    # Someone else's change lands between the console's read and its write: the API refuses.
    api.answer(
        "PATCH",
        "/api/v1/candidates/c1",
        412,
        {"type": "urn:recruitcrm:problem:precondition-failed", "title": "Precondition Failed"},
    )
    refused = await client.post(
        "/console/candidates/c1",
        data={
            "updated_at": STORED,
            "revision": '"1764583200000"',
            "first_name": "Other",
            "last_name": "Ångström",
            "emails": "zoe@example.org",
            "current_title": "Engineer",
            "current_company": "Globex",
            "location": "Berlin",
            "skills": "python",
        },
        headers=htmx_headers(),
    )
    assert refused.status_code == 412
    assert "changed by someone else meanwhile" in refused.text
    # The revision is kept, so sending the form again cannot overwrite either.
    assert 'name="revision" value="&#34;1764583200000&#34;"' in refused.text
    [patch] = [c for c in api.calls if c.method == "PATCH"]
    assert patch.headers["if-match"] == '"1764583200000"'
    assert json.loads(patch.content) == {"first_name": "Other"}


async def test_an_edit_of_a_record_changed_meanwhile_asks_for_a_reload(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/custom-fields", body=[])
    api.answer("GET", "/api/v1/candidates/c1", body=candidate(updated_at="2026-12-02T00:00:00Z"))
    answer = await client.post(
        "/console/candidates/c1",
        data={"updated_at": STORED, "first_name": "Other", "emails": "zoe@example.org"},
        headers=htmx_headers(),
    )
    assert answer.status_code == 412
    assert "changed by someone else meanwhile" in answer.text
    assert 'href="/console/candidates/c1/edit">Reload' in answer.text
    assert sent(api, "PATCH", "/api/v1/candidates/c1") == []
    # The API's own 412 reads the same.
    api.answer("GET", "/api/v1/candidates/c1", body=candidate(updated_at=STORED))
    api.answer("PATCH", "/api/v1/candidates/c1", 412, {"title": "Precondition Failed"})
    refused = await client.post(
        "/console/candidates/c1",
        data={"updated_at": STORED, "first_name": "Other", "emails": "zoe@example.org"},
        headers=htmx_headers(),
    )
    assert refused.status_code == 412
    assert "changed by someone else meanwhile" in refused.text


async def test_recording_consent_sends_the_documented_body(console: Console) -> None:
    client, api = console
    answer_profile(api)
    page = await with_lazy_parts(client, "/console/candidates/c1")
    assert 'hx-post="/console/candidates/c1/consents"' in page.text
    assert 'href="/console/candidates/c1/edit"' in page.text
    api.answer("POST", "/api/v1/candidates/c1/consents", 201, {"id": "l2"})
    answer = await client.post(
        "/console/candidates/c1/consents",
        data={"purpose": "talent_community", "action": "withdraw", "lawful_basis": "consent"},
        headers=htmx_headers(),
    )
    assert answer.status_code == 204
    # The profile again, saying so where the focus lands.
    assert answer.headers["hx-redirect"] == "/console/candidates/c1?done=consent"
    again = await client.get(answer.headers["hx-redirect"], headers=gateway_headers())
    assert 'role="status" data-focus-on-load data-testid="consent-said">Consent recorded.' in (
        again.text
    )
    assert sent(api, "POST", "/api/v1/candidates/c1/consents") == [
        {
            "purpose": "talent_community",
            "action": "withdraw",
            "lawful_basis": "consent",
            "source": "recruiter",
        }
    ]
    api.answer(
        "POST",
        "/api/v1/candidates/c1/consents",
        422,
        {"status": 422, "errors": [{"field": "expires_at", "detail": "must be in the future"}]},
    )
    refused = await client.post(
        "/console/candidates/c1/consents",
        data={"purpose": "marketing", "action": "grant", "expires_at": "2020-01-01"},
        headers=htmx_headers(),
    )
    assert refused.status_code == 422
    assert 'id="e-consent-expires_at">must be in the future' in refused.text
    # Announced above the form, where the focus goes (an alert takes it: console.js).
    assert 'role="alert" data-testid="consent-not-recorded"' in refused.text


async def test_a_merged_away_record_says_so_and_offers_no_change(console: Console) -> None:
    client, api = console
    answer_profile(
        api,
        **{"/api/v1/candidates/c1": candidate(status="merged", merged_into="c5")},
    )
    page = await with_lazy_parts(client, "/console/candidates/c1")
    assert page.status_code == 200, page.text
    text = page.text
    assert 'data-testid="merged-notice"' in text
    assert 'href="/console/candidates/c5"' in text
    for action in ("/edit", "/duplicates", "/merge/", "/erase", "/consents", "/notes"):
        assert f"/console/candidates/c1{action}" not in text, action
    edit = await client.get("/console/candidates/c1/edit", headers=gateway_headers())
    assert edit.status_code == 303
    assert edit.headers["location"] == "/console/candidates/c1"


# The list's skills column.


def test_the_skills_cell_shows_how_many_more_and_the_filtered_skill_first() -> None:
    cell = skills_cell(["go", "rust", "sql", "java", "python", "c"], ["Python"])
    assert cell.shown == ["python", "go", "rust", "sql"]
    assert cell.more_text == "+2 more"
    assert skills_cell(["go"], []).more_text == ""


async def test_the_list_says_how_many_skills_it_does_not_show(console: Console) -> None:
    client, api = console
    many = candidate(skills=["go", "rust", "sql", "java", "python", "kotlin"])
    api.answer("GET", "/api/v1/candidates", body={"items": [many], "next_cursor": None})
    page = await client.get(
        "/console/candidates", params={"skills": "python"}, headers=htmx_headers()
    )
    assert page.status_code == 200, page.text
    assert "<td>python, go, rust, sql <span" in page.text
    assert "+2 more</span>" in page.text
