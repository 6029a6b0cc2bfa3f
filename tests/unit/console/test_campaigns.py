"""The console's campaign pages (templates and blocks, sequences, broadcasts, notifications)
rendered in-process against a stand-in API: what each page shows for what the API says, what
it asks the API, and the pure rules behind the forms (the real API: test_console_campaigns)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from crm_console.adapters.gateway_api import GatewayApi
from crm_console.config import ConsoleSettings
from crm_console.domain import broadcasts as broadcast_rules
from crm_console.domain import message_reports as message_rules
from crm_console.domain import sequences as sequence_rules
from crm_console.domain.problems import LocatedError, Problem, problem_from
from crm_console.domain.templates import TemplateDraft, excerpt, part_problems, previewable_html
from crm_console.main import create_app
from crm_shared import Principal
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY
from unit.console.test_pages import Api, gateway_headers, htmx_headers

pytestmark = pytest.mark.unit

Console = tuple[httpx.AsyncClient, Api]
MARK = Principal(tenant_id="acme", user_id="mark", roles=frozenset({"marketer"}))
NOW = "2026-12-03T08:00:00Z"


@pytest.fixture
async def site() -> AsyncIterator[Console]:
    """The console in-process, its API the test's stand-in (as test_pages builds it)."""
    api = Api()
    app = create_app(ConsoleSettings(internal_token_public_key=INTERNAL_TOKEN_PUBLIC_KEY))
    stand_in = httpx.AsyncClient(base_url="http://gateway", transport=httpx.MockTransport(api))
    object.__setattr__(app.state.container, "gateway", GatewayApi(stand_in))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        yield client, api


def validation(*errors: dict[str, Any], detail: str = "not valid") -> dict[str, Any]:
    return {
        "type": "validation-error",
        "title": "Request validation failed",
        "status": 422,
        "detail": detail,
        "errors": list(errors),
    }


def sent_json(api: Api, method: str, path: str) -> Any:
    [call] = [c for c in api.calls if c.method == method and c.url.path == path]
    return json.loads(call.content)


def template(**fields: Any) -> dict[str, Any]:
    return {
        "id": "t1",
        "name": "Welcome",
        "subject": "Hi {{ candidate.first_name }}",
        "html": "<p>Hi</p>",
        "text": "Hi",
        "version": 3,
        "created_at": NOW,
        "updated_at": None,
        **fields,
    }


# Templates and blocks


async def test_the_template_list_shows_templates_and_blocks(site: Console) -> None:
    client, api = site
    api.answer("GET", "/api/v1/templates", body=[template()])
    api.answer("GET", "/api/v1/blocks", 403, {"status": 403, "detail": "no templates:read"})
    page = await client.get("/console/templates", headers=gateway_headers(MARK))
    assert page.status_code == 200, page.text
    assert 'href="/console/templates/t1">Welcome</a>' in page.text
    assert "Not available: no templates:read" in page.text
    assert 'href="/console/templates/new"' in page.text  # a marketer may write


async def test_the_editor_offers_the_merge_fields_and_candidates_to_preview_for(
    site: Console,
) -> None:
    client, api = site
    api.answer("GET", "/api/v1/templates/t1", body=template())
    api.answer(
        "GET",
        "/api/v1/templates/merge-fields",
        body={
            "fields": [
                {
                    "name": "candidate.first_name",
                    "description": "The candidate's first name",
                    "insert": "{{ candidate.first_name }}",
                }
            ],
            "filters": ["default", "upper"],
        },
    )
    api.answer(
        "GET",
        "/api/v1/candidates",
        body={"items": [{"id": "c1", "first_name": "Zoë", "last_name": "Ek", "emails": []}]},
    )
    page = await client.get("/console/templates/t1", headers=gateway_headers(MARK))
    assert page.status_code == 200, page.text
    assert 'data-insert="{{ candidate.first_name }}"' in page.text
    assert '<option value="c1">Zoë Ek</option>' in page.text
    assert 'name="version" value="3"' in page.text
    assert 'hx-post="/console/templates/preview"' in page.text
    assert "data-insert-target" in page.text


async def test_the_preview_follows_the_candidate_a_search_puts_in_the_picker(
    site: Console,
) -> None:
    """A select the search swaps in fires no `change`, and `from:` binds to the element there
    when the page was wired: the preview asks again when the results' container (kept, its
    inside replaced) has settled, for whoever the new select shows as chosen."""
    client, api = site
    api.answer("GET", "/api/v1/templates/t1", body=template())
    api.answer("GET", "/api/v1/templates/merge-fields", body={"fields": [], "filters": []})
    api.answer(
        "GET",
        "/api/v1/candidates",
        body={"items": [{"id": "c1", "first_name": "Zoë", "last_name": "Ek", "emails": []}]},
    )
    page = await client.get("/console/templates/t1", headers=gateway_headers(MARK))
    assert page.status_code == 200, page.text
    preview = re.search(r'<div id="preview"[^>]*>', page.text)
    search = re.search(r'<input id="candidate-q"[^>]*>', page.text)
    assert preview, page.text
    assert search, page.text
    trigger = re.search(r'hx-trigger="([^"]*)"', preview.group(0))
    assert trigger
    triggers = [t.strip() for t in trigger.group(1).split(",")]
    assert "htmx:afterSettle from:#candidate-choice" in triggers
    # A choice in a swapped-in select bubbles to the kept container, where the preview listens.
    assert "change from:#candidate-choice" in triggers
    # The search fills the container the preview listens on; it never replaces it.
    assert 'hx-target="#candidate-choice"' in search.group(0)
    assert "hx-swap" not in search.group(0)  # htmx's default: the inside (innerHTML)
    assert 'hx-include="#editor, #candidate-choice"' in preview.group(0)
    # The latest request wins: an older answer never lands over a newer one.
    assert 'hx-sync="this:replace"' in preview.group(0)
    assert 'hx-sync="this:replace"' in search.group(0)
    assert page.text.count('id="candidate-choice"') == 1

    # What the search puts there: a select showing its only match as chosen.
    api.answer(
        "GET",
        "/api/v1/candidates",
        body={
            "items": [
                {
                    "id": "c2",
                    "first_name": "José",
                    "last_name": "Núñez",
                    "emails": ["josé.núñez@example.es"],
                }
            ]
        },
    )
    found = await client.get(
        "/console/templates/candidates",
        params={"candidate_q": "josé.núñez@example.es"},
        headers=htmx_headers(MARK),
    )
    assert found.status_code == 200, found.text
    assert '<option value="c2">José Núñez · josé.núñez@example.es</option>' in found.text
    assert 'id="candidate-choice"' not in found.text  # the inside only


async def test_the_editor_offers_the_open_jobs_loop_with_its_help(site: Console) -> None:
    client, api = site
    api.answer("GET", "/api/v1/templates/t1", body=template())
    loop = "{% for job in open_jobs %}{{ job.name }}\n{% else %}None yet.{% endfor %}"
    api.answer(
        "GET",
        "/api/v1/templates/merge-fields",
        body={
            "fields": [
                {
                    "name": "open_jobs",
                    "description": "Up to 5 open ATS jobs matching the recipient",
                    "insert": loop,
                }
            ],
            "filters": ["default"],
        },
    )
    api.answer("GET", "/api/v1/candidates", body={"items": []})
    page = await client.get("/console/templates/t1", headers=gateway_headers(MARK))
    assert page.status_code == 200, page.text
    assert f'data-insert="{loop}"' in page.text
    assert "Up to 5 open ATS jobs matching the recipient" in page.text
    assert "a list (<code>open_jobs</code>) comes as a loop" in page.text


async def test_the_preview_renders_the_draft_for_the_candidate(site: Console) -> None:
    client, api = site
    api.answer(
        "POST",
        "/api/v1/templates/preview",
        body={"subject": "Hi Zoë", "html": "<p>Hi <b>Zoë</b></p>", "text": "Hi Zoë"},
    )
    form = {
        "subject": "Hi {{ x }}",
        "html": "<p>Hi</p>\r\n<p>2</p>",
        "text": "Hi",
        "candidate_id": "c1",
    }
    shown = await client.post("/console/templates/preview", data=form, headers=htmx_headers(MARK))
    assert shown.status_code == 200, shown.text
    assert 'data-testid="preview-subject">Hi Zoë<' in shown.text
    # The mail's HTML is shown in a sandboxed frame, escaped into its srcdoc.
    assert 'sandbox srcdoc="&lt;p&gt;Hi &lt;b&gt;Zoë&lt;/b&gt;&lt;/p&gt;"' in shown.text
    assert sent_json(api, "POST", "/api/v1/templates/preview") == {
        "candidate_id": "c1",
        "subject": "Hi {{ x }}",
        "html": "<p>Hi</p>\n<p>2</p>",
        "text": "Hi",
        "language": None,
    }


async def test_a_preview_problem_is_shown_at_its_line(site: Console) -> None:
    client, api = site
    api.answer(
        "POST",
        "/api/v1/templates/preview",
        422,
        validation(
            {"field": "html", "detail": "unknown merge field candidate.salary", "line": 2},
            detail="the template is not valid",
        ),
    )
    form = {
        "subject": "Hi",
        "html": "<p>one</p>\n<p>{{ candidate.salary }}</p>\n<p>three</p>",
        "text": "Hi",
        "candidate_id": "c1",
    }
    shown = await client.post("/console/templates/preview", data=form, headers=htmx_headers(MARK))
    assert shown.status_code == 200
    assert "HTML body, line 2:</strong> unknown merge field candidate.salary" in shown.text
    assert re.search(r'<ol class="source-lines" start="1"', shown.text)
    assert re.search(
        r'<li class="at-fault"><code>&lt;p&gt;{{ candidate.salary }}&lt;/p&gt;</code>', shown.text
    )


async def test_no_preview_is_asked_for_before_a_candidate_and_every_part(
    site: Console,
) -> None:
    client, api = site
    shown = await client.post(
        "/console/templates/preview",
        data={"subject": "Hi", "html": "", "text": "x"},
        headers=htmx_headers(MARK),
    )
    assert "Choose a candidate" in shown.text
    assert api.calls == []


async def test_saving_a_template_names_each_problem_at_its_field_and_line(
    site: Console,
) -> None:
    client, api = site
    api.answer(
        "PUT",
        "/api/v1/templates/t1",
        422,
        validation(
            {"field": "text", "detail": "unexpected '}'", "line": 2},
            detail="the template is not valid",
        ),
    )
    form = {"version": "3", "name": "W", "subject": "S", "html": "<p>x</p>", "text": "a\n{{ }"}
    refused = await client.post("/console/templates/t1", data=form, headers=htmx_headers(MARK))
    assert refused.status_code == 422
    assert 'id="f-text"' in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert "Plain-text body, line 2:</strong> unexpected" in refused.text
    [put] = [c for c in api.calls if c.method == "PUT"]
    assert put.headers["If-Match"] == '"3"'


async def test_a_template_saved_from_a_stale_tab_says_so_and_links_a_reload(
    site: Console,
) -> None:
    client, api = site
    api.answer(
        "PUT",
        "/api/v1/templates/t1",
        412,
        {
            "title": "Precondition Failed",
            "status": 412,
            "detail": "template t1 changed since version 1: it is at version 2",
        },
    )
    form = {"version": "1", "name": "W", "subject": "Hej", "html": "<p>x</p>", "text": "Hej då"}
    stale = await client.post("/console/templates/t1", data=form, headers=htmx_headers(MARK))
    assert stale.status_code == 412
    plain = await client.post("/console/templates/t1", data=form, headers=gateway_headers(MARK))
    assert plain.status_code == 412
    assert '<main id="main"' in plain.text
    assert 'data-testid="changed-meanwhile"' in plain.text
    assert 'data-testid="changed-meanwhile"' in stale.text
    assert '<a href="/console/templates/t1">reload</a>' in stale.text
    assert "changed since version 1" not in stale.text
    assert "Hej då" in stale.text  # what was typed is kept


async def test_a_saved_template_opens_in_its_editor(site: Console) -> None:
    client, api = site
    api.answer("POST", "/api/v1/templates", 201, template(id="t9"))
    form = {"name": "W", "subject": "S", "html": "<p>x</p>", "text": "x"}
    saved = await client.post("/console/templates", data=form, headers=htmx_headers(MARK))
    assert saved.status_code == 204
    assert saved.headers["HX-Redirect"] == "/console/templates/t9?saved=1"


def in_use_editor(api: Api) -> None:
    users = [
        {
            "kind": "broadcast",
            "id": "b1",
            "name": "Spring fair",
            "status": "sending",
            "detail": "A/B test running: the rest, mailed with the winner",
        },
        {
            "kind": "sequence",
            "id": "s1",
            "name": "Nurture",
            "status": "active",
            "detail": "every step sending it from now on",
        },
    ]
    api.answer("GET", "/api/v1/templates/t1", body=template(sends_this_version=users))
    api.answer("GET", "/api/v1/templates/merge-fields", body={"fields": [], "filters": []})
    api.answer("GET", "/api/v1/candidates", body={"items": []})


async def test_the_editor_warns_whose_mail_a_save_changes(site: Console) -> None:
    """Before a save: the broadcasts and sequences that send what is saved; after it, the same
    with the version, not just "Saved"."""
    client, api = site
    in_use_editor(api)
    page = await client.get("/console/templates/t1", headers=gateway_headers(MARK))
    assert page.status_code == 200, page.text
    warning = page.text[page.text.index('data-testid="template-in-use"') :]
    assert 'Broadcast <a href="/console/broadcasts/b1">Spring fair</a> (sending): A/B test' in (
        warning
    )
    assert 'Sequence <a href="/console/sequences/s1">Nurture</a> (active)' in warning

    saved = await client.get("/console/templates/t1?saved=1", headers=gateway_headers(MARK))
    assert 'data-testid="template-in-use"' not in saved.text
    notice = saved.text[saved.text.index('data-testid="template-saved"') :]
    assert "Saved (version 3). From now on it is what these send:" in notice
    assert '<a href="/console/broadcasts/b1">Spring fair</a>' in notice
    assert "goes out in two versions" in notice


async def test_a_template_nothing_sends_saves_without_a_list(site: Console) -> None:
    client, api = site
    api.answer("GET", "/api/v1/templates/t1", body=template(sends_this_version=[]))
    api.answer("GET", "/api/v1/templates/merge-fields", body={"fields": [], "filters": []})
    api.answer("GET", "/api/v1/candidates", body={"items": []})
    saved = await client.get("/console/templates/t1?saved=1", headers=gateway_headers(MARK))
    assert "Saved (version 3).</p>" in saved.text
    assert "template-in-use" not in saved.text


async def test_a_templates_language_is_shown_and_saved_with_it(site: Console) -> None:
    client, api = site
    api.answer("GET", "/api/v1/templates/t1", body=template(language="fr"))
    page = await client.get("/console/templates/t1", headers=gateway_headers(MARK))
    assert '<option value="fr" selected>French</option>' in page.text
    api.answer("PUT", "/api/v1/templates/t1", 200, template(language="de"))
    form = {"version": "3", "name": "W", "subject": "S", "html": "<p>x</p>", "text": "x"}
    for language, sent in (("de", "de"), ("", None)):
        await client.post(
            "/console/templates/t1",
            data=form | {"language": language},
            headers=htmx_headers(MARK),
        )
        put = [c for c in api.calls if c.method == "PUT"][-1]
        assert json.loads(put.content)["language"] == sent


def test_a_language_the_editor_does_not_offer_is_kept() -> None:
    draft = TemplateDraft.of(template(language="es"))
    assert ("es", "es") in draft.language_options()
    assert draft.body()["language"] == "es"


async def test_a_block_the_api_refuses_keeps_what_was_typed(site: Console) -> None:
    client, api = site
    api.answer(
        "POST",
        "/api/v1/blocks",
        422,
        validation({"field": "body.key", "detail": "String should match pattern"}),
    )
    form = {"key": "Footer!", "name": "Footer", "html": "<p>Bye</p>", "text": "Bye"}
    refused = await client.post("/console/templates/blocks", data=form, headers=htmx_headers(MARK))
    assert refused.status_code == 422
    assert 'value="Footer!"' in refused.text
    assert 'id="e-f-key">This is not in the expected format.' in refused.text
    assert "Not saved:</strong> Some of what was entered was not accepted" in refused.text
    # Without script: the form in a page of its own, the error still at its field.
    page = await client.post("/console/templates/blocks", data=form, headers=gateway_headers(MARK))
    assert page.status_code == 422
    assert '<main id="main"' in page.text
    assert 'id="e-f-key">This is not in the expected format.' in page.text


# Sequences

BUILDER_FORM: list[tuple[str, str]] = [
    ("name", "Nurture"),
    ("trigger_type", "segment_entered"),
    ("trigger_segment_id", "seg1"),
    ("step", "a"),
    ("s-a-type", "send"),
    ("s-a-label", "intro"),
    ("s-a-template_id", "t1"),
    ("step", "b"),
    ("s-b-type", "wait"),
    ("s-b-days", "2"),
    ("s-b-hours", ""),
    ("step", "c"),
    ("s-c-type", "wait_until"),
    ("s-c-weekdays", "tue"),
    ("s-c-weekdays", "thu"),
    ("s-c-time", "09:30"),
    ("step", "d"),
    ("s-d-type", "branch"),
    ("s-d-condition", "opened"),
    ("s-d-within_days", "3"),
    ("s-d-if_yes", "end"),
    ("s-d-if_no", "0"),
    ("s-d-event_id", ""),
    ("step", "e"),
    ("s-e-type", "add_tag"),
    ("s-e-tags", "warm, nurtured"),
    ("step", "f"),
    ("s-f-type", "move_stage"),
    ("s-f-pool_id", "p1"),
    ("s-f-stage", "Contacted"),
    ("step", "g"),
    ("s-g-type", "notify_owner"),
    ("s-g-title", "{{ candidate.first_name }} opened"),
    ("s-g-body", ""),
    ("step", "h"),
    ("s-h-type", "remove_tag"),
    ("s-h-tags", "cold"),
    ("exit_on", "replied"),
    ("exit_on", "hired"),
    ("reentry_policy", "after_days"),
    ("reentry_days", "30"),
]


def form_of(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        values.setdefault(name, []).append(value)
    return values


def test_the_builder_form_becomes_a_definition_with_every_step_kind() -> None:
    keys, definition = sequence_rules.definition_from_form(form_of(BUILDER_FORM))
    assert keys == list("abcdefgh")
    assert definition["trigger"] == {"type": "segment_entered", "segment_id": "seg1"}
    # The three event kinds each post their list: the chosen kind's event counts (until
    # 2026-12-07 the first list, "Any event", won).
    _, attended = sequence_rules.definition_from_form(
        {
            "name": ["N"],
            "trigger_type": ["event_attended"],
            "trigger_event_id.event_checked_in": [""],
            "trigger_event_id.event_attended": ["ev-tu-berlin"],
            "trigger_event_id.event_no_show": [""],
        }
    )
    assert attended["trigger"] == {"type": "event_attended", "event_id": "ev-tu-berlin"}
    assert definition["steps"] == [
        {"type": "send", "label": "intro", "template_id": "t1"},
        {"type": "wait", "days": 2},
        {"type": "wait_until", "weekdays": ["tue", "thu"], "time": "09:30"},
        {"type": "branch", "condition": "opened", "within_days": 3, "if_yes": "end", "if_no": 0},
        {"type": "add_tag", "tags": ["warm", "nurtured"]},
        {"type": "move_stage", "pool_id": "p1", "stage": "Contacted"},
        {"type": "notify_owner", "title": "{{ candidate.first_name }} opened", "body": ""},
        {"type": "remove_tag", "tags": ["cold"]},
    ]
    assert definition["exit_on"] == ["replied", "hired"]
    assert definition["reentry"] == {"policy": "after_days", "days": 30}
    assert {step["type"] for step in definition["steps"]} == set(sequence_rules.STEP_KINDS)


@pytest.mark.parametrize(
    ("fields", "trigger"),
    [
        ({}, {"type": "manual"}),
        (
            {
                "trigger_type": ["pool_stage_reached"],
                "trigger_pool_id": ["p"],
                "trigger_stage": ["S"],
            },
            {"type": "pool_stage_reached", "pool_id": "p", "stage": "S"},
        ),
        (
            {"trigger_type": ["event_checked_in"], "trigger_event_id": [""]},
            {"type": "event_checked_in"},
        ),
        (
            {"trigger_type": ["ats_rejected"], "trigger_stages": ["Screen, Onsite"]},
            {"type": "ats_rejected", "stages": ["Screen", "Onsite"]},
        ),
    ],
)
def test_each_trigger_kind_reads_its_own_fields(
    fields: dict[str, list[str]], trigger: dict[str, Any]
) -> None:
    assert sequence_rules.trigger_from_form(fields) == trigger


def test_a_number_that_is_not_one_goes_to_the_api_as_typed_to_be_named() -> None:
    _, steps = sequence_rules.steps_from_form(
        {"step": ["k"], "s-k-type": ["wait"], "s-k-days": ["two"]}
    )
    assert steps == [{"type": "wait", "days": "two"}]


def test_the_api_errors_land_on_their_step() -> None:
    problem = problem_from(
        422,
        json.dumps(
            validation(
                {"field": "steps.1.if_yes", "detail": "no step is labelled 'x'"},
                {"field": "steps.0", "detail": "loops back"},
                {"field": "trigger.segment_id", "detail": "Field required"},
            )
        ).encode(),
    )
    forms = sequence_rules.step_forms(
        ["a", "b"], [{"type": "send"}, {"type": "branch", "tags": ["x"]}], problem
    )
    assert [f.key for f in forms] == ["a", "b"]
    assert forms[1].errors == {"if_yes": "no step is labelled 'x'"}
    assert forms[0].errors == {"step": "loops back"}
    assert sequence_rules.other_errors(problem) == {"trigger.segment_id": "This is required."}
    with pytest.raises(ValueError, match="unknown step kind"):
        sequence_rules.step_form("teleport")


def test_a_definition_reads_in_words() -> None:
    names = {"t1": "Welcome", "seg1": "Data people", "p1": "Engineers"}
    describe = sequence_rules.describe_step
    assert describe({"type": "send", "template_id": "t1"}, names) == "Send “Welcome”"
    assert describe({"type": "wait", "days": 2, "hours": 3}) == "Wait 2 days, 3 hours"
    assert describe({"type": "wait_until", "weekdays": ["tue"], "time": "09:30"}).startswith(
        "Wait until Tue at 09:30"
    )
    assert describe(
        {"type": "branch", "condition": "clicked", "within_days": 2, "if_no": "end"}
    ) == ("If clicked a link within 2 d 0 h: go to next, else end")
    assert describe({"type": "move_stage", "pool_id": "p1", "stage": "New"}, names) == (
        "Move to New in Engineers"
    )
    assert describe({"type": "notify_owner", "title": "Hot"}) == "Notify the owner: Hot"
    assert describe({"type": "remove_tag", "tags": ["a", "b"]}) == "Remove tags a, b"
    trigger = sequence_rules.describe_trigger
    assert trigger({"type": "segment_entered", "segment_id": "seg1"}, names) == (
        "Enters the segment Data people"
    )
    assert trigger({"type": "event_checked_in"}) == "Checks in at any event"
    assert (
        trigger({"type": "ats_rejected", "stages": ["Screen"]}) == "Rejected in the ATS at Screen"
    )
    assert sequence_rules.sequence_actions("active") == ["pause"]
    assert sequence_rules.sequence_actions("archived") == []


def answer_sequence(
    api: Api, *, version: int, steps: list[dict[str, Any]], exit_on: list[str]
) -> None:
    """The sequence `s1`, "Nurture", active and started by hand, as the API stores it."""
    api.answer(
        "GET",
        "/api/v1/sequences/s1",
        body={
            "id": "s1",
            "name": "Nurture",
            "status": "active",
            "version": version,
            "trigger": {"type": "manual"},
            "steps": steps,
            "reentry": {"policy": "never", "days": 0},
            "exit_on": exit_on,
        },
    )


def answer_builder_choices(api: Api) -> None:
    api.answer("GET", "/api/v1/templates", body=[template()])
    api.answer("GET", "/api/v1/segments", body={"items": [{"id": "seg1", "name": "Data people"}]})
    api.answer(
        "GET",
        "/api/v1/pools",
        body=[{"id": "p1", "name": "Engineers", "stages": ["New", "Contacted"]}],
    )
    api.answer("GET", "/api/v1/events", body={"items": []})


async def test_the_builder_creates_the_sequence_and_opens_it(site: Console) -> None:
    client, api = site
    api.answer("POST", "/api/v1/sequences", 201, {"id": "s1"})
    saved = await client.post(
        "/console/sequences", data=form_of(BUILDER_FORM), headers=htmx_headers(MARK)
    )
    assert saved.status_code == 204, saved.text
    assert saved.headers["HX-Redirect"] == "/console/sequences/s1"
    body = sent_json(api, "POST", "/api/v1/sequences")
    assert len(body["steps"]) == 8
    assert body["enrol_current_members"] is False  # the box was not ticked


async def test_a_refused_definition_comes_back_with_each_error_on_its_step(
    site: Console,
) -> None:
    client, api = site
    answer_builder_choices(api)
    api.answer(
        "POST",
        "/api/v1/sequences",
        422,
        validation(
            {"field": "steps.0.template_id", "detail": "unknown template"},
            {"field": "reentry.days", "detail": "Input should be greater than 0"},
            detail="the sequence is not valid: steps.0.template_id",
        ),
    )
    refused = await client.post(
        "/console/sequences", data=form_of(BUILDER_FORM), headers=htmx_headers(MARK)
    )
    assert refused.status_code == 422
    assert 'id="e-s-a-template_id">unknown template' in refused.text
    plain = await client.post(
        "/console/sequences", data=form_of(BUILDER_FORM), headers=gateway_headers(MARK)
    )
    assert plain.status_code == 422
    assert '<main id="main"' in plain.text
    assert 'id="e-s-a-template_id">unknown template' in plain.text
    # A refusal not about one step is listed by the field's name in words, not its path.
    assert "<li>Reentry days: " in refused.text
    assert "<code>reentry.days</code>" not in refused.text
    # What the person built is still there, in order, with its keys.
    assert refused.text.index('id="step-a"') < refused.text.index('id="step-h"')
    assert 'value="warm, nurtured"' in refused.text
    assert '<option value="tue" ' not in refused.text  # weekdays are checkboxes
    assert re.search(r'name="s-c-weekdays" value="thu" checked', refused.text)


async def test_without_script_add_step_and_remove_post_the_builder_back_changed(
    site: Console,
) -> None:
    """A form posted without script cannot fetch a step: "Add step" and a step's "Remove" are
    submit buttons, and the answer is the builder with the step added or taken out, every other
    field as typed, and nothing saved."""
    client, api = site
    answer_builder_choices(api)
    added = await client.post(
        "/console/sequences",
        data=form_of([*BUILDER_FORM, ("new_step_kind", "add_tag"), ("add_step", "1")]),
        headers=gateway_headers(MARK),
    )
    assert added.status_code == 200, added.text
    assert '<main id="main"' in added.text
    assert added.text.count('<li class="step card') == 9
    assert added.text.rindex('name="s-h-type"') < added.text.rindex('value="add_tag"')
    assert 'value="warm, nurtured"' in added.text
    assert 'name="enrol_current_members" checked' not in added.text  # as it was posted
    removed = await client.post(
        "/console/sequences",
        data=form_of([*BUILDER_FORM, ("remove_step", "a")]),
        headers=gateway_headers(MARK),
    )
    assert removed.status_code == 200, removed.text
    assert removed.text.count('<li class="step card') == 7
    assert 'id="step-a"' not in removed.text
    assert 'id="step-b"' in removed.text
    up = await client.post(
        "/console/sequences",
        data=form_of([*BUILDER_FORM, ("move_step", "c:up")]),
        headers=gateway_headers(MARK),
    )
    assert (
        up.text.index('id="step-c"') < up.text.index('id="step-b"') < up.text.index('id="step-d"')
    )
    first_stays = await client.post(
        "/console/sequences",
        data=form_of([*BUILDER_FORM, ("move_step", "a:up")]),
        headers=gateway_headers(MARK),
    )
    assert first_stays.text.index('id="step-a"') < first_stays.text.index('id="step-b"')
    assert not [c for c in api.calls if c.method == "POST"]
    # The buttons: submits that skip the browser's checks (a step is added to an unnamed
    # sequence too); with script htmx fetches the step instead, and the click removes it.
    assert re.search(
        r'<button type="submit" name="add_step" value="1" formnovalidate[^>]*hx-get=', added.text
    )
    assert 'name="remove_step" value="b" formnovalidate' in removed.text
    assert 'name="move_step" value="b:down" formnovalidate' in removed.text


async def test_without_script_every_kinds_fields_are_in_the_form(site: Console) -> None:
    """The kind selects of the composer and the builder swap in their fields by htmx; without
    script every other kind's fields are there in `<noscript>`, and the server reads those of
    the kind chosen."""
    client, api = site
    answer_builder_choices(api)
    api.answer("GET", "/api/v1/lists", body={"items": [{"id": "l1", "name": "Alumni"}]})
    composer = await client.get("/console/broadcasts/new", headers=gateway_headers(MARK))
    hidden = "".join(re.findall(r"<noscript>(.*?)</noscript>", composer.text, re.S))
    for field in (
        'name="pool_id"',
        'name="pool_stage"',
        'name="list_id"',
        'name="send_at"',
        'name="local_date"',
        'name="local_time"',
    ):
        assert field in hidden, field
    assert 'name="segment_id"' not in hidden  # the chosen kind's own fields are shown once
    assert composer.text.count('name="segment_id"') == 1
    body = broadcast_rules.broadcast_from_form(
        {
            "name": ["N"],
            "template_id": ["t1"],
            "audience_type": ["pool"],
            "segment_id": ["seg1"],
            "pool_id": ["p1"],
            "pool_stage": [""],
            "list_id": ["l1"],
            "schedule_type": ["now"],
            "send_at": [""],
            "local_date": [""],
            "local_time": [""],
        }
    )
    assert body["audience"] == {"type": "pool", "pool_id": "p1"}

    builder = await client.get("/console/sequences/new", headers=gateway_headers(MARK))
    # Enter in a field creates the sequence: the default button comes before a step's Move up.
    form = builder.text.split('<form id="sequence-form"', 1)[1]
    first_button = form[form.index("<button") :].split(">", 1)[0]
    assert 'type="submit" class="visually-hidden"' in first_button
    assert "name=" not in first_button
    hidden = "".join(re.findall(r"<noscript>(.*?)</noscript>", builder.text, re.S))
    for field in (
        "trigger_segment_id",
        "trigger_pool_id",
        "trigger_stage",
        "trigger_event_id.event_checked_in",
        "trigger_event_id.event_attended",
        "trigger_event_id.event_no_show",
        "trigger_stages",
    ):
        assert f'name="{field}"' in hidden, field
    # Without script fields of several kinds are posted: only the chosen kind's count.
    _, definition = sequence_rules.definition_from_form(
        {
            "name": ["N"],
            "trigger_type": ["segment_entered"],
            "trigger_segment_id": ["seg1"],
            "trigger_pool_id": ["p1"],
            "trigger_stage": [""],
            "trigger_stages": [""],
        }
    )
    assert definition["trigger"] == {"type": "segment_entered", "segment_id": "seg1"}


async def test_a_pool_stage_the_pool_lacks_is_refused_at_its_field_before_the_api(
    site: Console,
) -> None:
    """Campaigns knows no pool's stages: a misspelt one would be a step that does nothing and
    a trigger that never fires. The console knows them and says so at the field; a stage
    spelt in another case is the pool's (the candidates service matches it so)."""
    client, api = site
    answer_builder_choices(api)
    form = [
        (name, "Contaced") if name == "s-f-stage" else (name, value)
        for name, value in BUILDER_FORM
        if not name.startswith("trigger_")
    ]
    form += [
        ("trigger_type", "pool_stage_reached"),
        ("trigger_pool_id", "p1"),
        ("trigger_stage", "Intervew"),
    ]
    refused = await client.post(
        "/console/sequences", data=form_of(form), headers=htmx_headers(MARK)
    )
    assert refused.status_code == 422
    assert 'id="e-s-f-stage">Engineers has no stage “Contaced”: New, Contacted' in refused.text
    assert "Engineers has no stage “Intervew”: New, Contacted" in refused.text
    assert not [c for c in api.calls if c.method == "POST"]
    assert 'value="Contaced"' in refused.text  # what was typed stays

    api.answer("POST", "/api/v1/sequences", 201, {"id": "s1"})
    spelt_otherwise = [
        (name, " contacted ") if name == "s-f-stage" else (name, value)
        for name, value in BUILDER_FORM
    ]
    saved = await client.post(
        "/console/sequences", data=form_of(spelt_otherwise), headers=htmx_headers(MARK)
    )
    assert saved.status_code == 204, saved.text


async def test_a_new_step_of_each_kind_has_its_fields(site: Console) -> None:
    client, api = site
    answer_builder_choices(api)
    for kind, field in [
        ("send", "template_id"),
        ("wait", "minutes"),
        ("wait_until", "time"),
        ("branch", "if_no"),
        ("add_tag", "tags"),
        ("remove_tag", "tags"),
        ("move_stage", "stage"),
        ("notify_owner", "body"),
    ]:
        step = await client.get(
            "/console/sequences/step", params={"new_step_kind": kind}, headers=htmx_headers(MARK)
        )
        assert step.status_code == 200, step.text
        key = re.search(r'name="step" value="([0-9a-f]+)"', step.text)
        assert key, step.text
        assert f'name="s-{key.group(1)}-{field}"' in step.text
        assert 'data-remove="li.step"' in step.text  # removes the step it sits in


async def test_a_sequence_shows_its_enrolments_by_state_with_their_reasons(
    site: Console,
) -> None:
    client, api = site
    answer_builder_choices(api)
    answer_sequence(
        api,
        version=2,
        steps=[{"type": "send", "template_id": "t1", "label": None}],
        exit_on=["replied"],
    )
    api.answer(
        "GET",
        "/api/v1/sequences/s1/enrolment-states",
        body={
            "sequence_id": "s1",
            "states": {"active": 0, "waiting": 1, "failed": 1, "exited": 1},
            "failure_reasons": {"step 0 (send): template cannot be rendered": 1},
        },
    )
    enrolment = {
        "candidate_id": "c1",
        "state": "failed",
        "step_index": 0,
        "step_count": 1,
        "next_run_at": None,
        "failure_reason": "step 0 (send): template cannot be rendered",
        "exit_reason": None,
        "last_error": None,
        "enrolled_at": NOW,
    }
    exited = {
        **enrolment,
        "candidate_id": "c2",
        "state": "exited",
        "failure_reason": None,
        "exit_reason": "replied",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "step_problems": [
            {"step": 0, "reason": "'Ofer' is not a stage of pool 'Ingeniería': Offer", "at": NOW}
        ],
    }
    api.answer(
        "GET",
        "/api/v1/sequences/s1/enrolments",
        body={"items": [enrolment, exited], "next_cursor": "e2"},
    )
    page = await client.get("/console/sequences/s1?state=failed", headers=gateway_headers(MARK))
    assert page.status_code == 200, page.text
    assert "Send “Welcome”" in page.text
    assert 'hx-post="/console/sequences/s1/pause"' in page.text
    assert "<strong>1</strong>: step 0 (send): template cannot be rendered" in page.text
    assert re.search(
        r'aria-current="page" data-state="failed">Failed <span class="count" id="count-failed">1',
        page.text,
    )
    assert 'hx-post="/console/sequences/s1/enrolments/c1/retry"' in page.text
    # A step the candidates service refused is told beside the reason the enrolment ended.
    assert (
        '<td>Replied<span class="step-problem">Step 0 did nothing: '
        "&#39;Ofer&#39; is not a stage of pool &#39;Ingeniería&#39;: Offer</span></td>"
    ) in page.text
    # Names come with the list (one call, none per row); an unknown one shows the id.
    assert '<a href="/console/candidates/c2">Ada Lovelace</a>' in page.text
    assert '<a href="/console/candidates/c1">c1</a>' in page.text
    assert not [c for c in api.calls if c.url.path.startswith("/api/v1/candidates")]
    [call] = [c for c in api.calls if c.url.path == "/api/v1/sequences/s1/enrolments"]
    assert call.url.params["state"] == "failed"
    # More than a page: the next one keeps the state shown.
    assert 'href="/console/sequences/s1?state=failed&amp;cursor=e2"' in page.text
    await client.get("/console/sequences/s1?state=failed&cursor=e2", headers=gateway_headers(MARK))
    last = [c for c in api.calls if c.url.path == "/api/v1/sequences/s1/enrolments"][-1]
    assert (last.url.params["state"], last.url.params["cursor"]) == ("failed", "e2")


async def test_an_enrolment_ended_by_a_mail_not_sent_says_so_in_its_reason(
    site: Console,
) -> None:
    """A send step held back for a lasting reason ends the enrolment; its row must not read
    like a mail that went out and was ignored."""
    client, api = site
    answer_builder_choices(api)
    answer_sequence(
        api,
        version=1,
        steps=[{"type": "send", "template_id": "t1", "label": None}],
        exit_on=["unsubscribed"],
    )
    api.answer(
        "GET",
        "/api/v1/sequences/s1/enrolment-states",
        body={"sequence_id": "s1", "states": {"exited": 2}, "failure_reasons": {}},
    )
    not_sent = {
        "candidate_id": "c1",
        "state": "exited",
        "step_index": 1,
        "step_count": 2,
        "next_run_at": None,
        "failure_reason": None,
        "exit_reason": "no_marketing_consent",
        "exit_step": 0,
        "last_error": None,
        "enrolled_at": NOW,
    }
    # An unsubscribe that arrived as an event (no step named) keeps its old label.
    unsubscribed = {**not_sent, "candidate_id": "c2", "exit_reason": "unsubscribed"}
    unsubscribed["exit_step"] = None
    api.answer(
        "GET",
        "/api/v1/sequences/s1/enrolments",
        body={"items": [not_sent, unsubscribed], "next_cursor": None},
    )
    page = await client.get("/console/sequences/s1", headers=gateway_headers(MARK))
    assert page.status_code == 200, page.text
    assert "<td>Not sent: no marketing consent (step 0)</td>" in page.text
    assert "<td>Unsubscribed</td>" in page.text
    # Finding people to enrol needs script; without, the page says where enrolling works.
    notes = re.findall(r"<noscript>(.*?)</noscript>", page.text.split('id="enrol-h"')[1], re.S)
    assert 'href="/console/candidates">the candidate list</a>' in notes[0]


async def test_enrolling_says_who_was_not_enrolled_and_why(site: Console) -> None:
    client, api = site
    api.answer(
        "POST",
        "/api/v1/sequences/s1/enrolments",
        body={
            "enrolled": [{"candidate_id": "c1"}],
            "refused": [{"candidate_id": "c2", "reason": "already_active"}],
        },
    )
    done = await client.post(
        "/console/sequences/s1/enrolments",
        data={"candidate_id": ["c1", "c2"], "chosen_name": ["Ana Ødegård", "Łukasz Żółć"]},
        headers=htmx_headers(MARK),
    )
    assert "1 enrolled, 1 not." in done.text
    # Named as the chosen list named them, the reason in words.
    assert '<a href="/console/candidates/c2">Łukasz Żółć</a>: enrolled already' in done.text
    assert done.headers["HX-Trigger"] == "enrolments-changed, enrol-chosen-changed"
    # The chosen list empties once they are enrolled.
    assert '<div id="enrol-chosen" aria-live="polite" hx-swap-oob="true">' in done.text
    assert sent_json(api, "POST", "/api/v1/sequences/s1/enrolments") == {
        "candidate_ids": ["c1", "c2"]
    }


def test_the_chosen_list_keeps_people_across_searches() -> None:
    chosen = sequence_rules.chosen_people
    so_far = {"candidate_id": ["c1", "c2"], "chosen_name": ["Ada", "Bo"]}
    added = chosen(so_far, toggled="c3", toggled_name="Cy", ticked=True)
    assert [(p.candidate_id, p.name) for p in added] == [("c1", "Ada"), ("c2", "Bo"), ("c3", "Cy")]
    assert [p.candidate_id for p in chosen(so_far, toggled="c1", ticked=False)] == ["c2"]
    assert [p.candidate_id for p in chosen(so_far, removed="c2")] == ["c1"]
    assert [p.candidate_id for p in chosen(so_far, toggled="c1", ticked=True)] == ["c1", "c2"]


async def test_manual_enrolment_keeps_the_chosen_across_searches(site: Console) -> None:
    client, api = site
    api.answer(
        "GET",
        "/api/v1/candidates",
        body={
            "items": [
                {"id": "c1", "first_name": "Ada", "last_name": "Lovelace", "emails": []},
                {"id": "c3", "first_name": "Cy", "last_name": "Young", "emails": []},
            ]
        },
    )
    # A new search shows who is chosen already as ticked; the results are not what is sent.
    found = await client.get(
        "/console/sequences/s1/candidates",
        params={"candidate_q": "a", "candidate_id": ["c1"], "chosen_name": ["Ada Lovelace"]},
        headers=htmx_headers(MARK),
    )
    assert found.status_code == 200, found.text
    assert re.search(r'name="pick" value="c1" checked', found.text)
    assert not re.search(r'name="pick" value="c3" checked', found.text)
    assert 'name="candidate_id"' not in found.text
    # Ticking Cy adds him under the search, after Ada, each with a Remove button.
    ticked = await client.get(
        "/console/sequences/s1/chosen",
        params={
            "candidate_id": ["c1"],
            "chosen_name": ["Ada Lovelace"],
            "toggle_id": "c3",
            "toggle_name": "Cy Young",
            "pick": "c3",
        },
        headers=htmx_headers(MARK),
    )
    assert ticked.status_code == 200, ticked.text
    assert re.findall(r'name="candidate_id" value="(c\d)"', ticked.text) == ["c1", "c3"]
    assert "2 chosen" in ticked.text
    assert 'Remove<span class="visually-hidden"> Cy Young</span>' in ticked.text
    assert "HX-Trigger" not in ticked.headers
    removed = await client.get(
        "/console/sequences/s1/chosen",
        params={"candidate_id": ["c1", "c3"], "chosen_name": ["Ada", "Cy"], "remove_id": "c1"},
        headers=htmx_headers(MARK),
    )
    assert re.findall(r'name="candidate_id" value="(c\d)"', removed.text) == ["c3"]
    assert removed.headers["HX-Trigger"] == "enrol-chosen-changed"
    # Enrolling sends the chosen, not the ticks of the last search.
    api.answer("POST", "/api/v1/sequences/s1/enrolments", body={"enrolled": [], "refused": []})
    await client.post(
        "/console/sequences/s1/enrolments",
        data={"candidate_id": ["c1", "c3"], "pick": ["c3"]},
        headers=htmx_headers(MARK),
    )
    assert sent_json(api, "POST", "/api/v1/sequences/s1/enrolments") == {
        "candidate_ids": ["c1", "c3"]
    }


async def test_pausing_a_sequence_the_api_refuses_shows_why(site: Console) -> None:
    client, api = site
    api.answer("POST", "/api/v1/sequences/s1/pause", 409, {"status": 409, "detail": "it is paused"})
    refused = await client.post("/console/sequences/s1/pause", headers=htmx_headers(MARK))
    assert refused.status_code == 409
    assert "it is paused" in refused.text


# Broadcasts


def test_the_composer_form_becomes_a_broadcast() -> None:
    form = form_of(
        [
            ("name", "December news"),
            ("template_id", "t1"),
            ("audience_type", "pool"),
            ("pool_id", "p1"),
            ("pool_stage", ""),
            ("schedule_type", "local_time"),
            ("local_date", "2026-12-24"),
            ("local_time", "09:00"),
            ("variant_0_name", "A"),
            ("variant_0_subject", "News"),
            ("variant_1_name", "B"),
            ("variant_1_subject", "Hi {{ candidate.first_name }}"),
            ("variant_2_name", "C"),
            ("variant_2_subject", ""),
            ("ab_percentage", "30"),
            ("ab_metric", "click_rate"),
            ("ab_minutes", "90"),
        ]
    )
    assert broadcast_rules.broadcast_from_form(form) == {
        "name": "December news",
        "template_id": "t1",
        "audience": {"type": "pool", "pool_id": "p1"},
        "schedule": {"type": "local_time", "date": "2026-12-24", "local_time": "09:00"},
        "ab_test": {
            "variants": [
                {"name": "A", "subject": "News"},
                {"name": "B", "subject": "Hi {{ candidate.first_name }}"},
            ],
            "test_percentage": 30,
            "metric": "click_rate",
            "decide_after_minutes": 90,
        },
    }
    at = broadcast_rules.broadcast_from_form(
        {
            "audience_type": ["segment"],
            "segment_id": ["s"],
            "schedule_type": ["at"],
            "send_at": ["2026-12-24T09:00"],
        }
    )
    assert at["schedule"] == {"type": "at", "send_at": "2026-12-24T09:00:00+00:00"}
    assert at["audience"] == {"type": "segment", "segment_id": "s"}
    assert "ab_test" not in at


def test_a_broadcast_report_is_asked_again_until_it_counts_every_mail_sent() -> None:
    """Analytics counts from the topics, a moment after the mail left: the report panel keeps
    asking while the broadcast sends and, after it ended, until every mail sent is counted,
    for ten minutes at most (older mail may never be)."""
    ended = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    done = broadcast("completed", sent=2) | {"completed_at": ended.isoformat()}
    soon = ended + timedelta(seconds=3)
    assert broadcast_rules.report_may_change(broadcast("sending", sent=2), 2, soon)
    assert broadcast_rules.report_may_change(done, 0, soon)
    assert broadcast_rules.report_may_change(done, 1, ended + timedelta(minutes=9))
    assert not broadcast_rules.report_may_change(done, 2, soon)
    assert not broadcast_rules.report_may_change(done, 1, ended + timedelta(minutes=10))
    cancelled_unsent = broadcast("cancelled", sent=0) | {"completed_at": ended.isoformat()}
    assert not broadcast_rules.report_may_change(cancelled_unsent, 0, soon)


def test_what_a_broadcast_shows_while_it_runs() -> None:
    progress = {"audience_size": 8, "sent": 5, "failed": 1, "skipped": 1}
    assert broadcast_rules.done_share(progress) == 88
    assert broadcast_rules.done_share({"audience_size": 0}) == 0
    assert broadcast_rules.is_live("sending")
    assert not broadcast_rules.is_live("completed")
    assert broadcast_rules.actions("draft") == ("send",)
    assert broadcast_rules.actions("paused") == ("resume", "cancel")
    assert broadcast_rules.actions("cancelled") == ()
    assert broadcast_rules.reasons({"no_marketing_consent": 1, "frequency_cap": 3, "x_y": 0}) == [
        ("frequency_cap", "Contact policy: too many mails lately", 3),
        ("no_marketing_consent", "No marketing consent", 1),
    ]
    assert broadcast_rules.describe_schedule({"type": "now"}) == "Now"
    local = {"type": "local_time", "date": "2026-12-24", "local_time": "09:30:00"}
    assert broadcast_rules.describe_schedule(local) == (
        "On 2026-12-24 at 09:30 in each candidate's time zone"
    )
    assert broadcast_rules.describe_audience({"type": "list", "candidate_ids": ["a", "b"]}) == (
        "2 candidates"
    )


def broadcast(status: str, **progress: Any) -> dict[str, Any]:
    return {
        "id": "b1",
        "name": "December news",
        "template_id": "t1",
        "audience": {"type": "segment", "segment_id": "seg1"},
        "schedule": {"type": "now"},
        "status": status,
        "pause_reason": None,
        "created_at": NOW,
        "started_at": NOW,
        "completed_at": None,
        "ab_test": None,
        "progress": {
            "audience_size": 4,
            "queued": 3,
            "pending": 1,
            "sent": 2,
            "failed": 0,
            "failed_reasons": {},
            "skipped": 1,
            "skipped_reasons": {"no_marketing_consent": 1},
            "held": 0,
            **progress,
        },
    }


async def test_a_sending_broadcast_polls_its_progress_and_a_finished_one_stops(
    site: Console,
) -> None:
    client, api = site
    api.answer("GET", "/api/v1/broadcasts/b1", body=broadcast("sending"))
    panel = await client.get("/console/broadcasts/b1/progress", headers=htmx_headers(MARK))
    assert 'hx-trigger="every 2s"' in panel.text
    assert '<dd data-figure="sent">2</dd>' in panel.text
    assert "No marketing consent" in panel.text
    assert 'hx-post="/console/broadcasts/b1/pause"' in panel.text
    api.answer("GET", "/api/v1/broadcasts/b1", body=broadcast("completed", pending=0, sent=3))
    panel = await client.get("/console/broadcasts/b1/progress", headers=htmx_headers(MARK))
    assert "every 2s" not in panel.text
    assert 'data-testid="broadcast-status">Completed' in panel.text
    assert "/pause" not in panel.text


async def test_a_broadcast_with_failed_mail_lists_who_it_was_for_and_why(site: Console) -> None:
    client, api = site
    api.answer("GET", "/api/v1/broadcasts/b1", body=broadcast("completed", failed=2))
    api.answer("GET", "/api/v1/templates", body={"items": [], "next_cursor": None})
    for listed in ("segments", "pools", "lists", "team"):
        api.answer("GET", f"/api/v1/{listed}", body={"items": [], "next_cursor": None})
    page = await client.get("/console/broadcasts/b1", headers=gateway_headers(MARK))
    assert page.status_code == 200, page.text
    assert 'hx-get="/console/broadcasts/b1/failures" hx-trigger="load"' in page.text

    failed = {
        "id": "m1",
        "candidate_id": "c-zoe",
        "to_email": "zoé@example.org",
        "failure_reason": "render_failed",
        "last_error": "'first_name' is undefined",
        "created_at": NOW,
    }
    api.answer(
        "GET",
        "/api/v1/messages",
        body={
            "items": [failed, failed | {"id": "m2", "failure_reason": None}],
            "next_cursor": "m2",
        },
    )
    table = await client.get("/console/broadcasts/b1/failures", headers=htmx_headers(MARK))
    assert table.status_code == 200, table.text
    asked = api.calls[-1].url.params
    assert (asked["broadcast_id"], asked["status"]) == ("b1", "failed")
    assert '<a href="/console/candidates/c-zoe">zoé@example.org</a>' in table.text
    assert "The template cannot be rendered for the candidate" in table.text
    assert "The mail server refused it" in table.text
    assert "&#39;first_name&#39; is undefined" in table.text
    assert "/console/broadcasts/b1/failures?cursor=m2" in table.text
    # Its next page opened without script (a new tab): a page of its own, leading back.
    tab = await client.get(
        "/console/broadcasts/b1/failures?cursor=m2", headers=gateway_headers(MARK)
    )
    assert "<title>Failed mail" in tab.text
    assert '<a href="/console/broadcasts/b1">← Back</a>' in tab.text


async def test_a_broadcast_without_failed_mail_does_not_ask_for_it(site: Console) -> None:
    client, api = site
    api.answer("GET", "/api/v1/broadcasts/b1", body=broadcast("completed"))
    for listed in ("templates", "segments", "pools", "lists", "team"):
        api.answer("GET", f"/api/v1/{listed}", body={"items": [], "next_cursor": None})
    page = await client.get("/console/broadcasts/b1", headers=gateway_headers(MARK))
    assert page.status_code == 200, page.text
    assert "/failures" not in page.text


async def test_a_pause_reason_is_shown_while_paused_and_not_after_a_cancel(site: Console) -> None:
    client, api = site
    paused = broadcast("paused") | {"pause_reason": "paused"}
    api.answer("GET", "/api/v1/broadcasts/b1", body=paused)
    panel = await client.get("/console/broadcasts/b1/progress", headers=htmx_headers(MARK))
    assert "Paused by a user" in panel.text
    throttled = broadcast("paused") | {"pause_reason": "error_threshold"}
    api.answer("GET", "/api/v1/broadcasts/b1", body=throttled)
    panel = await client.get("/console/broadcasts/b1/progress", headers=htmx_headers(MARK))
    assert "Paused: error_threshold" in panel.text
    cancelled = broadcast("cancelled") | {"pause_reason": "paused"}
    api.answer("GET", "/api/v1/broadcasts/b1", body=cancelled)
    panel = await client.get("/console/broadcasts/b1/progress", headers=htmx_headers(MARK))
    assert "Paused" not in panel.text


async def test_a_cancelled_broadcast_accounts_for_the_mail_it_did_not_send(site: Console) -> None:
    client, api = site
    ab_test = {
        "variants": [{"name": "A", "subject": "a"}, {"name": "B", "subject": "b"}],
        "test_ends_at": "2026-12-24T10:00:00+00:00",
        "winner": None,
        "results": [
            {
                "name": "A",
                "subject": "a",
                "sent": 0,
                "opened": 0,
                "clicked": 0,
                "open_rate": 0.0,
                "click_rate": 0.0,
                "messages": 1,
            }
        ],
    }
    cancelled = broadcast("cancelled", pending=0, sent=1, skipped=1, cancelled=2)
    api.answer("GET", "/api/v1/broadcasts/b1", body=cancelled | {"ab_test": ab_test})
    panel = await client.get("/console/broadcasts/b1/progress", headers=htmx_headers(MARK))
    assert '<dd data-figure="cancelled">2</dd>' in panel.text
    assert "100 %" in panel.text
    assert "not decided, the broadcast was cancelled" in panel.text
    assert "decided at" not in panel.text
    # A broadcast nothing was cancelled of shows no such tile.
    api.answer("GET", "/api/v1/broadcasts/b1", body=broadcast("sending"))
    panel = await client.get("/console/broadcasts/b1/progress", headers=htmx_headers(MARK))
    assert 'data-figure="cancelled"' not in panel.text


async def test_a_control_the_api_refuses_shows_why_in_the_panel(site: Console) -> None:
    client, api = site
    api.answer(
        "POST",
        "/api/v1/broadcasts/b1/send",
        429,
        {"status": 429, "title": "Too Many Requests", "detail": "the tenant has 2 broadcasts"},
    )
    api.answer("GET", "/api/v1/broadcasts/b1", body=broadcast("draft"))
    panel = await client.post("/console/broadcasts/b1/send", headers=htmx_headers(MARK))
    assert panel.status_code == 200
    assert "the tenant has 2 broadcasts" in panel.text
    assert 'hx-post="/console/broadcasts/b1/send"' in panel.text


async def test_without_script_the_controls_post_forms_and_ask_first(site: Console) -> None:
    """Send, pause, cancel and delete are forms: without script a control that took goes back
    to the broadcast's page, a refused one is a page saying why, and a cancel or a delete asks
    first on a page of its own (with script htmx asks in the browser)."""
    client, api = site
    api.answer("GET", "/api/v1/broadcasts/b1", body=broadcast("draft"))
    api.answer("GET", "/api/v1/templates", body=[template()])
    api.answer("GET", "/api/v1/segments", body={"items": []})
    api.answer("GET", "/api/v1/pools", body=[])
    api.answer("GET", "/api/v1/lists", body={"items": []})
    page = await client.get("/console/broadcasts/b1", headers=gateway_headers(MARK))
    assert '<form method="post" action="/console/broadcasts/b1/send">' in page.text
    assert '<form method="post" action="/console/broadcasts/b1/delete">' in page.text

    api.answer("POST", "/api/v1/broadcasts/b1/pause", body=broadcast("paused"))
    paused = await client.post("/console/broadcasts/b1/pause", headers=gateway_headers(MARK))
    assert (paused.status_code, paused.headers["location"]) == (303, "/console/broadcasts/b1")

    asked = await client.post("/console/broadcasts/b1/cancel", headers=gateway_headers(MARK))
    assert asked.status_code == 200
    assert "Cancel this broadcast? Nothing not yet sent will be." in asked.text
    assert '<input type="hidden" name="confirmed" value="1">' in asked.text
    assert not [c for c in api.calls if c.url.path == "/api/v1/broadcasts/b1/cancel"]
    api.answer(
        "POST",
        "/api/v1/broadcasts/b1/cancel",
        409,
        {"status": 409, "title": "Conflict", "detail": "the broadcast completed meanwhile"},
    )
    refused = await client.post(
        "/console/broadcasts/b1/cancel", data={"confirmed": "1"}, headers=gateway_headers(MARK)
    )
    assert refused.status_code == 409
    assert '<main id="main"' in refused.text
    assert "the broadcast completed meanwhile" in refused.text

    asked = await client.post("/console/broadcasts/b1/delete", headers=gateway_headers(MARK))
    assert "Delete the draft “December news”?" in asked.text
    api.routes[("DELETE", "/api/v1/broadcasts/b1")] = httpx.Response(204)
    deleted = await client.post(
        "/console/broadcasts/b1/delete", data={"confirmed": "1"}, headers=gateway_headers(MARK)
    )
    assert (deleted.status_code, deleted.headers["location"]) == (303, "/console/broadcasts")


async def test_a_draft_sent_opens_its_page_again_with_every_panel(site: Console) -> None:
    """A draft's page has no panels of who waits, who was skipped and what became of the mail;
    sent, it is loaded again (a sending broadcast's page has them), not only its progress."""
    client, api = site
    api.answer("POST", "/api/v1/broadcasts/b1/send", body=broadcast("sending"))
    sent = await client.post("/console/broadcasts/b1/send", headers=htmx_headers(MARK))
    assert sent.status_code == 204
    assert sent.headers["HX-Redirect"] == "/console/broadcasts/b1"
    # Pausing keeps the page: only the progress panel changes.
    api.answer("POST", "/api/v1/broadcasts/b1/pause", body=broadcast("paused"))
    paused = await client.post("/console/broadcasts/b1/pause", headers=htmx_headers(MARK))
    assert paused.status_code == 200
    assert "HX-Redirect" not in paused.headers
    # Who waits is asked again at once (a cancel leaves nobody waiting).
    assert paused.headers["HX-Trigger"] == "broadcast-people-stale"


async def test_a_refused_broadcast_keeps_the_composer_with_the_errors(site: Console) -> None:
    client, api = site
    answer_builder_choices(api)
    api.answer("GET", "/api/v1/lists", body={"items": []})
    api.answer(
        "POST",
        "/api/v1/broadcasts",
        422,
        validation({"field": "body.audience.segment.segment_id", "detail": "Field required"}),
    )
    form = {"name": "N", "template_id": "t1", "audience_type": "segment", "schedule_type": "now"}
    refused = await client.post("/console/broadcasts", data=form, headers=htmx_headers(MARK))
    assert refused.status_code == 422
    # Said above the form by the field's label, and at the field itself.
    assert "<li>Segment: This is required.</li>" in refused.text
    assert '<p class="field-error" id="e-segment_id">This is required.</p>' in refused.text
    assert 'value="N"' in refused.text
    # Without script the refusal is the composer's page, never the bare form.
    plain = await client.post("/console/broadcasts", data=form, headers=gateway_headers(MARK))
    assert plain.status_code == 422
    assert '<main id="main"' in plain.text
    assert "<li>Segment: This is required.</li>" in plain.text

    # A/B subjects refused as a whole are said as the form names them, never as API paths.
    api.answer(
        "POST",
        "/api/v1/broadcasts",
        422,
        validation(
            {"field": "body.ab_test.variants", "detail": "List should have at least 2 items"},
            {"field": "body.ab_test.variants.1.subject", "detail": "Field required"},
        ),
    )
    refused = await client.post("/console/broadcasts", data=form, headers=htmx_headers(MARK))
    assert "<li>A/B subjects: Choose or enter at least 2.</li>" in refused.text
    assert "<li>Variant 2 subject: This is required.</li>" in refused.text
    assert "ab_test" not in refused.text.split("<form", 1)[1].split("</ul>", 1)[0]


def test_the_apis_paths_of_a_refused_broadcast_are_the_composers_fields() -> None:
    assert broadcast_rules.composer_field("audience.pool.stage") == "audience.stage"
    assert broadcast_rules.composer_field("schedule.local_time.local_time") == (
        "schedule.local_time"
    )
    assert broadcast_rules.composer_field("schedule.at.send_at") == "schedule.send_at"
    assert broadcast_rules.composer_field("audience") == "audience"
    assert broadcast_rules.composer_field("ab_test.variants.0.name") == "ab_test.variants.0.name"
    assert broadcast_rules.composer_label("schedule.local_time") == (
        "Time in each candidate's own time zone"
    )
    assert broadcast_rules.composer_label("ab_test.variants.0.name") == "Variant 1 name"
    assert broadcast_rules.composer_label("something_new") == "Something new"


async def test_a_created_broadcast_opens_at_its_own_address(site: Console) -> None:
    # Not left at /console/broadcasts/new: a reload or bookmark then shows the broadcast.
    client, api = site
    api.answer("POST", "/api/v1/broadcasts", 201, {"id": "b9"})
    form = {"name": "N", "template_id": "t1", "audience_type": "segment", "segment_id": "s1"}
    created = await client.post("/console/broadcasts", data=form, headers=htmx_headers(MARK))
    assert created.status_code == 204
    assert created.headers["HX-Redirect"] == "/console/broadcasts/b9"
    plain = await client.post("/console/broadcasts", data=form, headers=gateway_headers(MARK))
    assert plain.status_code == 303
    assert plain.headers["location"] == "/console/broadcasts/b9"


# Notifications


async def test_notifications_are_listed_and_marked_read(site: Console) -> None:
    client, api = site
    note = {
        "id": "n1",
        "candidate_id": "c1",
        "sequence_id": "s1",
        "enrolment_id": "e1",
        "title": "Zoë opened the mail",
        "body": "Call her",
        "created_at": NOW,
        "read_at": None,
    }
    api.answer("GET", "/api/v1/notifications", body={"items": [note], "next_cursor": None})
    page = await client.get("/console/notifications?unread=true", headers=gateway_headers(MARK))
    assert "Zoë opened the mail" in page.text
    assert 'hx-post="/console/notifications/n1/read"' in page.text
    [call] = api.calls
    assert call.url.params["unread"] == "true"
    api.answer("POST", "/api/v1/notifications/n1/read", body={**note, "read_at": NOW})
    row = await client.post("/console/notifications/n1/read", headers=htmx_headers(MARK))
    assert "Mark read" not in row.text
    assert "Read <time" in row.text


async def test_a_reply_notification_shows_the_excerpt_and_links_its_broadcast(
    site: Console,
) -> None:
    client, api = site
    reply = {
        "id": "reply-m1-0123",
        "kind": "reply",
        "candidate_id": "c1",
        "sequence_id": None,
        "enrolment_id": None,
        "broadcast_id": "b1",
        "message_id": "m1",
        "title": "Zoë Ångström replied to 'Data roles in Berlin'",
        "body": "Yes <please>, call me.",
        "created_at": NOW,
        "read_at": None,
    }
    api.answer("GET", "/api/v1/notifications", body={"items": [reply], "next_cursor": None})
    page = await client.get("/console/notifications", headers=gateway_headers(MARK))
    assert "Zoë Ångström replied to &#39;Data roles in Berlin&#39;" in page.text
    assert "Yes &lt;please&gt;, call me." in page.text
    assert 'href="/console/broadcasts/b1"' in page.text
    assert 'href="/console/candidates/c1"' in page.text
    # No sequence sent it: no link to one.
    assert "/console/sequences/" not in page.text


# Templates: the pure rules


def test_an_excerpt_marks_the_line_at_fault_with_lines_around_it() -> None:
    lines = excerpt("a\nb\nc\nd\ne\nf", 4)
    assert [(line.number, line.at_fault) for line in lines] == [
        (2, False),
        (3, False),
        (4, True),
        (5, False),
        (6, False),
    ]
    assert excerpt("a", None) == ()
    assert excerpt("a", 7) == ()


def test_template_problems_are_ordered_by_part_and_blocks_named() -> None:
    problem = Problem(
        422,
        "Unprocessable",
        "",
        located=(
            LocatedError("text", "bad", 1),
            LocatedError("subject", "worse", None),
            LocatedError("blocks.footer", "broken", 3),
        ),
    )
    draft = TemplateDraft(subject="s", html="h", text="t")
    found = part_problems(problem, draft)
    assert [(p.part, p.line, bool(p.excerpt)) for p in found] == [
        ("subject", None, False),
        ("text", 1, True),
        ("blocks.footer", 3, False),
    ]


def test_a_located_error_keeps_its_path_and_line() -> None:
    problem = problem_from(
        422,
        json.dumps(
            validation(
                {"field": "body.steps.2.template_id", "detail": "unknown template"},
                {"field": "html", "detail": "x", "line": 4},
            )
        ).encode(),
    )
    assert problem.located == (
        LocatedError("steps.2.template_id", "unknown template", None),
        LocatedError("html", "x", 4),
    )
    assert problem.field_errors == {"steps": "unknown template", "html": "x"}


def test_the_preview_frame_gets_the_mail_without_what_the_console_policy_refuses() -> None:
    html = (
        "<style>p { color: red }</style>"
        '<p style="font-size:12px">Hi <img src="https://cdn.example/logo.png" alt="Acme"></p>'
        "<p STYLE='x'>Bye <img src=x.png></p>"
    )
    assert previewable_html(html) == "<p>Hi [image: Acme]</p><p>Bye [image]</p>"


async def test_the_kind_selects_ask_for_their_fields(site: Console) -> None:
    client, api = site
    answer_builder_choices(api)
    api.answer("GET", "/api/v1/lists", body={"items": []})
    composer = await client.get("/console/broadcasts/new", headers=gateway_headers(MARK))
    assert 'hx-get="/console/broadcasts/schedule-fields"' in composer.text
    # Inside a form that swaps itself whole, the fields' own swap must be said: innerHTML.
    swap = 'hx-target="#schedule-fields" hx-trigger="change" hx-sync="this:replace" '
    assert swap + 'hx-swap="innerHTML"' in composer.text
    assert 'hx-get="/console/broadcasts/audience-fields"' in composer.text
    builder = await client.get("/console/sequences/new", headers=gateway_headers(MARK))
    assert 'hx-get="/console/sequences/trigger-fields"' in builder.text
    assert 'min="0" max="3650"' in builder.text
    local = await client.get(
        "/console/broadcasts/schedule-fields",
        params={"schedule_type": "local_time"},
        headers=htmx_headers(MARK),
    )
    assert "own time zone</label>" in local.text
    segment = await client.get(
        "/console/sequences/trigger-fields",
        params={"trigger_type": "segment_entered"},
        headers=htmx_headers(MARK),
    )
    assert '<option value="seg1">Data people</option>' in segment.text


def test_an_enrolment_is_named_by_its_candidate_or_by_their_id_while_campaigns_knows_none() -> None:
    name = sequence_rules.enrolment_name
    assert name({"candidate_id": "c1", "first_name": "Ada", "last_name": "Lovelace"}) == (
        "Ada Lovelace"
    )
    assert name({"candidate_id": "c1", "first_name": "Ada", "last_name": None}) == "Ada"
    assert name({"candidate_id": "c1", "first_name": None, "last_name": None}) == "c1"
    assert name({"candidate_id": "c1"}) == "c1"  # an API from before names were listed


@pytest.mark.parametrize(
    ("enrolment", "offered"),
    [
        ({"state": "active"}, ["pause", "remove"]),
        ({"state": "waiting"}, ["pause", "remove"]),
        ({"state": "paused", "paused_by": None}, ["pause", "remove"]),  # with its sequence
        ({"state": "paused", "paused_by": "mark"}, ["resume", "remove"]),
        ({"state": "failed"}, ["retry", "remove"]),
        ({"state": "completed"}, []),
        ({"state": "exited"}, []),
    ],
)
def test_an_enrolment_offers_what_its_state_allows(
    enrolment: dict[str, Any], offered: list[str]
) -> None:
    assert sequence_rules.enrolment_actions(enrolment) == offered


def test_after_an_action_the_page_says_what_became_of_the_enrolment() -> None:
    done = sequence_rules.enrolment_done
    assert done("pause", {"state": "paused"}).startswith("Enrolment paused")
    assert done("resume", {"state": "waiting"}).endswith("goes on from the step it stopped at.")
    assert done("resume", {"state": "paused"}).endswith("waits for its sequence, which is paused.")
    assert done("retry", {"state": "active"}) == "The failed step runs again."
    assert done("remove", {"state": "exited"}) == "Removed from the sequence."


def enrolment_page_api(api: Api, *enrolments: dict[str, Any]) -> None:
    answer_sequence(
        api,
        version=2,
        steps=[{"type": "wait", "days": 2, "hours": 0, "minutes": 0, "label": None}],
        exit_on=[],
    )
    api.answer(
        "GET",
        "/api/v1/sequences/s1/enrolment-states",
        body={"sequence_id": "s1", "states": {"waiting": 1, "paused": 1}, "failure_reasons": {}},
    )
    api.answer(
        "GET",
        "/api/v1/sequences/s1/enrolments",
        body={"items": list(enrolments), "next_cursor": None},
    )


def listed(candidate_id: str, first: str, state: str, **more: Any) -> dict[str, Any]:
    return {
        "candidate_id": candidate_id,
        "first_name": first,
        "last_name": "Lovelace",
        "state": state,
        "step_index": 0,
        "step_count": 0,
        "next_run_at": NOW,
        "failure_reason": None,
        "exit_reason": None,
        "last_error": None,
        "enrolled_at": NOW,
        "paused_by": None,
        "paused_at": None,
        **more,
    }


async def test_each_enrolment_in_progress_has_its_pause_or_resume_button(site: Console) -> None:
    client, api = site
    enrolment_page_api(
        api,
        listed("c1", "Ada", "waiting"),
        listed("c2", "Bo", "paused", paused_by="rita", paused_at=NOW),
        listed("c3", "Cy", "paused", paused_by="mark", paused_at=NOW),
    )
    page = await client.get("/console/sequences/s1", headers=gateway_headers(MARK))
    assert page.status_code == 200, page.text
    assert 'hx-post="/console/sequences/s1/enrolments/c1/pause"' in page.text
    assert 'Pause<span class="visually-hidden"> Ada Lovelace</span>' in page.text
    assert '<tr id="enrolment-c1" data-candidate="c1">' in page.text
    assert "<td>end</td>" not in page.text  # at step 0 of a one-step sequence
    assert 'id="count-paused">1<' in page.text
    assert 'hx-post="/console/sequences/s1/enrolments/c2/resume"' in page.text
    assert "/enrolments/c2/pause" not in page.text
    assert "Paused on its own by rita" in page.text
    assert "Paused on its own by you" in page.text  # mark is looking
    # The row's buttons answer into #action-result, not with the table's own hx-select/swap.
    assert 'hx-swap="outerHTML" hx-disinherit="*"' in page.text
    viewer = Principal(tenant_id="acme", user_id="vic", roles=frozenset({"viewer"}))
    read_only = await client.get("/console/sequences/s1", headers=gateway_headers(viewer))
    assert "/enrolments/c1/pause" not in read_only.text


@pytest.mark.parametrize(
    ("action", "method", "path", "said"),
    [
        ("pause", "POST", "/api/v1/sequences/s1/enrolments/c1/pause", "Enrolment paused"),
        ("resume", "POST", "/api/v1/sequences/s1/enrolments/c1/resume", "Enrolment resumed"),
        ("retry", "POST", "/api/v1/sequences/s1/enrolments/c1/retry", "runs again"),
        ("remove", "DELETE", "/api/v1/sequences/s1/enrolments/c1", "Removed"),
    ],
)
async def test_an_enrolment_action_puts_the_answered_row_and_the_counts_in_place(
    site: Console, action: str, method: str, path: str, said: str
) -> None:
    client, api = site
    # Past its sequence's last step (the answer's `step_count` counts steps run, not steps).
    after = listed(
        "c1",
        "",
        "paused",
        last_name="",
        paused_by="mark",
        paused_at=NOW,
        step_index=2,
        step_count=1,
    )
    api.answer(method, path, body=after)
    api.answer(
        "GET",
        "/api/v1/sequences/s1/enrolment-states",
        body={"sequence_id": "s1", "states": {"waiting": 0, "paused": 2}, "failure_reasons": {}},
    )
    done = await client.post(
        f"/console/sequences/s1/enrolments/c1/{action}",
        data={"name": "Ada Lovelace", "steps": "2"},
        headers=htmx_headers(MARK),
    )
    assert done.status_code == 200, done.text
    assert said in done.text
    assert 'role="status"' in done.text
    # The row as the API answered (its state, its buttons, the name the row showed), in place
    # of the old one, and the counts by state as they are now: no re-read of the table, which
    # did not show the change.
    assert '<tr id="enrolment-c1" data-candidate="c1" hx-swap-oob="true">' in done.text
    assert '<span class="status status-paused">paused</span>' in done.text
    assert 'hx-post="/console/sequences/s1/enrolments/c1/resume"' in done.text
    assert '<a href="/console/candidates/c1">Ada Lovelace</a>' in done.text
    assert "<td>end</td>" in done.text
    assert '<input type="hidden" name="steps" value="2">' in done.text  # the row sends it on
    assert '<span class="count" id="count-paused" hx-swap-oob="true">2</span>' in done.text
    assert '<span class="count" id="count-waiting" hx-swap-oob="true">0</span>' in done.text
    assert "HX-Trigger-After-Settle" not in done.headers
    # The enrolment report's panel is told to ask analytics again.
    assert done.headers["HX-Trigger"] == "enrolment-report-stale"
    assert [(c.method, c.url.path) for c in api.calls] == [
        ("GET", "/api/v1/team"),  # who paused it, by name
        (method, path),
        ("GET", "/api/v1/sequences/s1/enrolment-states"),
    ]


async def test_a_refused_enrolment_action_shows_the_apis_reason(site: Console) -> None:
    client, api = site
    api.answer(
        "POST",
        "/api/v1/sequences/s1/enrolments/c1/resume",
        409,
        {
            "title": "Conflict",
            "status": 409,
            "detail": "the enrolment of candidate c1 is paused with its sequence: it resumes "
            "when the sequence does",
        },
    )
    refused = await client.post(
        "/console/sequences/s1/enrolments/c1/resume", headers=htmx_headers(MARK)
    )
    assert refused.status_code == 409
    assert "it resumes when the sequence does" in refused.text
    assert 'role="alert"' in refused.text
    assert "HX-Trigger-After-Settle" not in refused.headers
    unknown = await client.post(
        "/console/sequences/s1/enrolments/c1/explode", headers=htmx_headers(MARK)
    )
    assert unknown.status_code == 404
    assert [c.url.path for c in api.calls if c.url.path != "/api/v1/team"] == [
        "/api/v1/sequences/s1/enrolments/c1/resume"
    ]


def figures(sent: int, opened: int, **more: Any) -> dict[str, Any]:
    return {
        "sent": sent,
        "delivered": sent,
        "bounced": 0,
        "opened": opened,
        "clicked": more.get("clicked", 0),
        "replied": more.get("replied", 0),
        "unsubscribed": more.get("unsubscribed", 0),
        "complained": 0,
        "delivery_rate": 1.0 if sent else None,
        "bounce_rate": 0.0 if sent else None,
        "open_rate": round(opened / sent, 4) if sent else None,
        "click_rate": round(more.get("clicked", 0) / sent, 4) if sent else None,
        "reply_rate": round(more.get("replied", 0) / sent, 4) if sent else None,
        "unsubscribe_rate": round(more.get("unsubscribed", 0) / sent, 4) if sent else None,
        "complaint_rate": 0.0 if sent else None,
    }


async def test_the_broadcast_page_shows_the_message_report_per_variant(site: Console) -> None:
    """The A/B table counts the test groups (A 2, B 1); the message report every message (8),
    with opens, clicks, replies and unsubscribes in total and per variant."""
    client, api = site
    api.answer("GET", "/api/v1/broadcasts/b1", body=broadcast("completed", sent=8))
    page = await client.get("/console/broadcasts/b1", headers=gateway_headers(MARK))
    assert 'hx-get="/console/broadcasts/b1/report?live=1"' in page.text
    api.answer(
        "GET",
        "/api/v1/analytics/broadcasts/b1",
        body={
            "report": "broadcast",
            "id": "b1",
            "from": "2026-12-01",
            "to": "2026-12-02",
            "breakdown": "variant",
            "totals": figures(8, 4, clicked=2, replied=1, unsubscribed=1),
            "series": [],
            "groups": [
                {"key": "A", "label": "A", "figures": figures(6, 3, clicked=2), "series": []},
                {"key": "B", "label": "B", "figures": figures(2, 1, replied=1), "series": []},
            ],
        },
    )
    panel = await client.get("/console/broadcasts/b1/report?live=1", headers=htmx_headers(MARK))
    assert panel.status_code == 200, panel.text
    assert '<td data-figure="sent">8</td>' in panel.text
    # Every mail sent is counted and the broadcast is over: the panel asks no more.
    assert "every 15s" not in panel.text
    assert '<td data-figure="opened">4 (50.0 %)</td>' in panel.text
    assert '<td data-figure="unsubscribed">1 (12.5 %)</td>' in panel.text
    assert '<th scope="col">Variant A</th>' in panel.text
    assert '<td data-figure="sent-A">6</td>' in panel.text
    assert '<td data-figure="replied-B">1 (50.0 %)</td>' in panel.text
    assert "a message opened and then bounced counts as opened, not in the rate" in panel.text

    # Its CSV in both kinds, passed through with the separator asked for.
    assert 'href="/console/broadcasts/b1/report.csv"' in panel.text
    assert 'href="/console/broadcasts/b1/report.csv?separator=semicolon"' in panel.text
    api.routes[("GET", "/api/v1/analytics/broadcasts/b1")] = httpx.Response(
        200,
        content=b"figure;value\r\n",
        headers={
            "content-type": "text/csv; charset=utf-8",
            "content-disposition": 'attachment; filename="broadcast-b1-report.csv"',
        },
    )
    csv = await client.get(
        "/console/broadcasts/b1/report.csv?separator=semicolon", headers=gateway_headers(MARK)
    )
    assert csv.status_code == 200
    assert csv.headers["content-disposition"] == 'attachment; filename="broadcast-b1-report.csv"'
    assert dict(api.calls[-1].url.params) == {"format": "csv", "separator": "semicolon"}
    await client.get("/console/broadcasts/b1/report.csv", headers=gateway_headers(MARK))
    assert dict(api.calls[-1].url.params) == {"format": "csv"}


def test_a_cell_names_the_delivered_count_its_rate_is_of() -> None:
    """Variant A: 4 opened, one of them hard-bounced later; 3 delivered, all 3 opened."""
    a = figures(3, 4) | {"sent": 4, "delivered_opened": 3, "open_rate": 1.0}
    assert message_rules.figure_cell(a, "opened", "open_rate") == "4; of the delivered 3 (100.0 %)"
    assert (
        message_rules.figure_cell(a | {"delivered_opened": 4}, "opened", "open_rate")
        == "4 (100.0 %)"
    )
    assert message_rules.figure_cell(a, "sent", None) == "4"


async def test_a_broadcast_analytics_saw_no_mail_of_says_so_in_its_report(site: Console) -> None:
    client, api = site
    api.answer(
        "GET",
        "/api/v1/analytics/broadcasts/b1",
        404,
        {"title": "Not Found", "status": 404, "detail": "no messages of broadcast b1"},
    )
    panel = await client.get("/console/broadcasts/b1/report", headers=htmx_headers(MARK))
    assert panel.status_code == 200
    assert "Not shown: no mail of this broadcast has been sent yet." in panel.text
    # Completed within one poll, before analytics counted its 2 mails: the panel keeps asking.
    just_done = broadcast("completed", sent=2) | {"completed_at": datetime.now(UTC).isoformat()}
    api.answer("GET", "/api/v1/broadcasts/b1", body=just_done)
    panel = await client.get("/console/broadcasts/b1/report?live=1", headers=htmx_headers(MARK))
    assert 'hx-get="/console/broadcasts/b1/report?live=1" hx-trigger="every 15s"' in panel.text
    # A draft sends nothing: no report is asked for.
    api.answer("GET", "/api/v1/broadcasts/b1", body=broadcast("draft"))
    page = await client.get("/console/broadcasts/b1", headers=gateway_headers(MARK))
    assert "/broadcasts/b1/report" not in page.text


async def test_an_undecided_ab_test_says_when_it_will_be_decided(site: Console) -> None:
    client, api = site
    ab_test = {
        "variants": [{"name": "A", "subject": "a"}, {"name": "B", "subject": "b"}],
        "test_ends_at": "2026-12-24T09:25:00+00:00",
        "winner": None,
        "results": [
            {
                "name": "A",
                "subject": "a",
                "sent": 2,
                "opened": 1,
                "clicked": 0,
                "open_rate": 0.5,
                "click_rate": 0.0,
                "messages": 2,
            }
        ],
    }
    api.answer("GET", "/api/v1/broadcasts/b1", body=broadcast("sending") | {"ab_test": ab_test})
    panel = await client.get("/console/broadcasts/b1/progress", headers=htmx_headers(MARK))
    assert re.search(r"to be decided at <time[^>]*>[^<]*</time> UTC", panel.text)  # says its zone
    assert ": decided at" not in panel.text


async def test_a_decided_ab_test_says_who_won_and_when(site: Console) -> None:
    client, api = site
    ab_test = {
        "variants": [{"name": "A", "subject": "a"}, {"name": "B", "subject": "b"}],
        "test_ends_at": "2026-12-24T09:25:00+00:00",
        "winner": "A",
        "winner_decided_at": "2026-12-24T09:25:41+00:00",
        "results": [
            {
                "name": "A",
                "subject": "a",
                "sent": 2,
                "opened": 1,
                "clicked": 0,
                "open_rate": 0.5,
                "click_rate": 0.0,
                "messages": 2,
            }
        ],
    }
    api.answer("GET", "/api/v1/broadcasts/b1", body=broadcast("sending") | {"ab_test": ab_test})
    panel = await client.get("/console/broadcasts/b1/progress", headers=htmx_headers(MARK))
    assert (
        'A won, decided <time datetime="2026-12-24T09:25:41+00:00">2026-12-24 09:25</time>'
        in panel.text
    )


@pytest.mark.parametrize(
    ("enrolment", "reason"),
    [
        ({"exit_reason": "removed"}, "Removed from the sequence"),
        ({"exit_reason": "replied"}, "Replied"),
        (
            {"exit_reason": "no_marketing_consent", "exit_step": 0},
            "Not sent: no marketing consent (step 0)",
        ),
        ({"exit_reason": "sequence_archived"}, "The sequence was archived"),
        ({"exit_reason": None}, ""),
    ],
)
def test_an_enrolments_reason_is_said_in_words(enrolment: dict[str, Any], reason: str) -> None:
    """The Reason column speaks as the enrolment report does; never a raw code."""
    assert sequence_rules.exit_label(enrolment) == reason


def test_pausing_an_enrolment_its_sequence_holds_is_keeping_it_paused() -> None:
    held = {"state": "paused", "paused_by": None}
    assert sequence_rules.enrolment_actions(held) == ["pause", "remove"]
    assert sequence_rules.action_label("pause", held) == "Keep paused"
    assert sequence_rules.action_label("pause", {"state": "waiting"}) == "Pause"
    assert sequence_rules.action_label("remove", held) == "Remove"


def test_a_merged_away_records_enrolment_says_so_instead_of_an_id() -> None:
    merged = {"candidate_id": "c9", "exit_reason": "merged", "first_name": None}
    assert sequence_rules.enrolment_name(merged) == (
        "A record merged into another (its profile names the survivor)"
    )
    assert sequence_rules.enrolment_name({"candidate_id": "c9", "exit_reason": None}) == "c9"
    named = {"candidate_id": "c9", "first_name": "Zoë", "last_name": "Li"}
    assert sequence_rules.enrolment_name(named | {"exit_reason": "merged"}) == "Zoë Li"


def test_only_the_latest_refused_steps_are_shown_on_a_row() -> None:
    problems = [{"step": step, "reason": f"no stage {step}"} for step in range(5)]
    assert sequence_rules.step_problem_lines({"step_problems": problems}) == [
        "Step 2 did nothing: no stage 2",
        "Step 3 did nothing: no stage 3",
        "Step 4 did nothing: no stage 4",
    ]
    assert sequence_rules.step_problem_lines({"step_problems": []}) == []
    assert sequence_rules.step_problem_lines({}) == []


def test_an_enrolment_ended_by_a_mail_not_sent_is_shown_at_that_send_step() -> None:
    """The engine moves past a send step once its mail is queued; held back later, the mail
    ends the enrolment, which its row shows at the send step, not at the next one or "end"."""
    held_back = {"state": "exited", "step_index": 1, "exit_step": 0}
    assert sequence_rules.step_shown(held_back, 1) == "0"
    assert sequence_rules.step_shown(held_back | {"exit_step": None}, 1) == "end"
    assert sequence_rules.step_shown({"step_index": 1, "exit_step": None}, 3) == "1"
    assert sequence_rules.step_shown({"step_index": 2}, None) == "2"


def test_a_tied_ab_test_says_so_and_an_undelivered_group_has_no_rate() -> None:
    def result(name: str, opened: int, open_rate: float) -> dict[str, Any]:
        return {"name": name, "opened": opened, "open_rate": open_rate, "click_rate": 0.0}

    tied = {"winner": "A", "results": [result("A", 0, 0.0), result("B", 0, 0.0)]}
    assert broadcast_rules.ab_outcome(tied) == (
        "a tie (the same open and click rates), so A, the first, went to the rest"
    )
    won = {"winner": "B", "results": [result("A", 0, 0.0), result("B", 1, 0.5)]}
    assert broadcast_rules.ab_outcome(won) == "B won"
    assert broadcast_rules.rate_cell(0, 0.0, delivered=0) == "0"
    assert broadcast_rules.rate_cell(1, 0.5, delivered=2) == "1 (50 %)"
