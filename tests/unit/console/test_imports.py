"""The import pages in-process, the API answered by a stand-in: upload and mapping, the start
of an import, its progress and its report (the real API: tests/e2e/test_console_pools.py)."""

from __future__ import annotations

import codecs
import json
import re

import httpx
import pytest

from crm_console.domain.imports import (
    ColumnChoice,
    ImportProgress,
    choices_from_form,
    column_errors,
    field_choices,
    mapping_of,
    mapping_problems,
    tags_of,
)

# The page tests' console fixture and API stand-in, shared (`as` marks the re-export).
from unit.console.test_pages import Api, gateway_headers, htmx_headers
from unit.console.test_pages import console as console

pytestmark = pytest.mark.unit

EXCEL = codecs.BOM_UTF8 + "Vorname;Nachname;E-Mail;Notiz\r\nJürgen;Groß;j@x.de;hi\r\n".encode()
PREVIEW = {
    "encoding": "utf-8",
    "delimiter": ";",
    "columns": [
        {"name": "Vorname", "suggested_field": "first_name", "samples": ["Jürgen"]},
        {"name": "Nachname", "suggested_field": "last_name", "samples": ["Groß"]},
        {"name": "E-Mail", "suggested_field": "emails", "samples": ["j@x.de"]},
        {"name": "Notiz", "suggested_field": None, "samples": ["hi"]},
    ],
    "suggested_mapping": {"Vorname": "first_name", "Nachname": "last_name", "E-Mail": "emails"},
    "missing_required": [],
    "fields": ["emails", "first_name", "last_name"],
}
MAPPED = {
    "column_0": "Vorname",
    "field_0": "first_name",
    "column_1": "Nachname",
    "field_1": "last_name",
    "column_2": "E-Mail",
    "field_2": "emails",
    "column_3": "Notiz",
    "field_3": "custom_fields.note",
    "delimiter": ";",
    "encoding": "utf-8",
    "source": "event",
    "tags": "meetup, berlin, meetup",
}
Console = tuple[httpx.AsyncClient, Api]


def selected(html: str, select_id: str) -> str:
    [select] = re.findall(rf'<select id="{select_id}".*?</select>', html, re.S)
    found = re.findall(r'<option value="([^"]*)" selected>', select)
    return found[0] if found else ""


async def test_the_upload_form_and_recent_imports_are_listed(console: Console) -> None:
    client, api = console
    api.answer(
        "GET",
        "/api/v1/imports",
        body={
            "items": [
                {
                    "id": "imp1",
                    "status": "running",
                    "created_at": "2026-12-01T10:00:00Z",
                    "counts": {"rows_read": 10, "rows_processed": 4, "created": 3, "failed": 1},
                }
            ],
            "next_cursor": None,
        },
    )
    page = await client.get("/console/imports", headers=gateway_headers())
    assert page.status_code == 200
    assert 'hx-post="/console/imports/preview"' in page.text
    assert 'href="/console/imports/imp1"' in page.text
    assert "Importing" in page.text
    assert "4 / 10" in page.text


async def test_a_chosen_file_shows_its_columns_with_the_suggested_fields(console: Console) -> None:
    client, api = console
    api.answer("POST", "/api/v1/imports/preview", body=PREVIEW)
    api.answer("GET", "/api/v1/custom-fields", body=[{"key": "note", "label": "Note"}])
    fragment = await client.post(
        "/console/imports/preview",
        files={"file": ("leute.csv", EXCEL, "text/csv")},
        data={"source": "sourced"},
        headers=htmx_headers(),
    )
    assert fragment.status_code == 200, fragment.text
    assert "<html" not in fragment.text
    assert "semicolon separated, with 4 columns" in fragment.text
    assert selected(fragment.text, "field_0") == "first_name"
    assert selected(fragment.text, "field_2") == "emails"
    assert selected(fragment.text, "field_3") == ""
    assert '<option value="custom_fields.note">Note (custom field)</option>' in fragment.text
    preview_call = next(c for c in api.calls if c.url.path == "/api/v1/imports/preview")
    # The whole (small) file is sent as it is, BOM and all, as CSV.
    assert preview_call.content == EXCEL
    assert preview_call.headers["content-type"] == "text/csv"
    assert "truncated" not in preview_call.url.params


async def test_a_file_that_reads_as_plausibly_in_two_encodings_offers_both(
    console: Console,
) -> None:
    client, api = console
    note = (
        "The file names no encoding and reads as plausibly in windows-1250 as in "
        "windows-1252, the one assumed: 'Erdõs' would be 'Erdős' in windows-1250."
    )
    ambiguous = {**PREVIEW, "encoding": "windows-1252", "encoding_note": note}
    api.answer(
        "POST",
        "/api/v1/imports/preview",
        body={**ambiguous, "encoding_alternative": "windows-1250"},
    )
    api.answer("GET", "/api/v1/custom-fields", body=[])
    fragment = await client.post(
        "/console/imports/preview",
        files={"file": ("emberek.csv", b"x", "text/csv")},
        headers=htmx_headers(),
    )
    assert fragment.status_code == 200, fragment.text
    assert "&#39;Erdõs&#39; would be &#39;Erdős&#39; in windows-1250" in fragment.text
    assert selected(fragment.text, "encoding") == "windows-1252"
    assert '<option value="windows-1250">windows-1250</option>' in fragment.text
    assert 'type="hidden" name="encoding"' not in fragment.text
    # A mapping sent back keeps the encoding the person chose.
    fragment = await client.post(
        "/console/imports",
        files={"file": ("emberek.csv", b"x", "text/csv")},
        data={**MAPPED, "field_2": "", "encoding": "windows-1250"},
        headers=htmx_headers(),
    )
    assert fragment.status_code == 422
    assert selected(fragment.text, "encoding") == "windows-1250"


async def test_a_large_file_sends_only_its_start_for_the_preview(console: Console) -> None:
    client, api = console
    api.answer("POST", "/api/v1/imports/preview", body=PREVIEW)
    api.answer("GET", "/api/v1/custom-fields", 403, {"title": "Forbidden", "status": 403})
    big = b"First,Last,Email\n" + b"Anna,Berg,a@x.org\n" * 10_000
    fragment = await client.post(
        "/console/imports/preview",
        files={"file": ("big.csv", big, "text/csv")},
        headers=htmx_headers(),
    )
    assert fragment.status_code == 200
    preview_call = next(c for c in api.calls if c.url.path == "/api/v1/imports/preview")
    assert len(preview_call.content) == 65_536
    assert preview_call.url.params["truncated"] == "true"
    # Without settings:read the profile's own fields are offered.
    assert "custom_fields." not in fragment.text


async def test_a_file_the_api_cannot_read_is_explained_next_to_the_file_input(
    console: Console,
) -> None:
    client, api = console
    api.answer(
        "POST",
        "/api/v1/imports/preview",
        422,
        {
            "title": "Request validation failed",
            "status": 422,
            "detail": "the file cannot be read: the file has no header row",
            "errors": [{"field": "file", "detail": "the file has no header row"}],
        },
    )
    fragment = await client.post(
        "/console/imports/preview",
        files={"file": ("x.csv", b"\r\n", "text/csv")},
        headers=htmx_headers(),
    )
    assert fragment.status_code == 422
    assert re.search(
        r'id="e-file" hx-swap-oob="true" role="alert">the file has no header', fragment.text
    )
    assert "<table" not in fragment.text


async def test_starting_creates_the_import_with_the_mapping_then_streams_the_file(
    console: Console,
) -> None:
    client, api = console
    api.answer("POST", "/api/v1/imports", 201, {"id": "imp9", "status": "awaiting_file"})
    api.answer("PUT", "/api/v1/imports/imp9/file", 202, {"id": "imp9", "status": "queued"})
    answer = await client.post(
        "/console/imports",
        files={"file": ("leute.csv", EXCEL, "text/csv")},
        data=MAPPED,
        headers=htmx_headers(),
    )
    assert answer.status_code == 204, answer.text
    assert answer.headers["hx-redirect"] == "/console/imports/imp9"
    create, upload = api.calls
    assert json.loads(create.content) == {
        "mapping": {
            "Vorname": "first_name",
            "Nachname": "last_name",
            "E-Mail": "emails",
            "Notiz": "custom_fields.note",
        },
        "source": "event",
        "tags": ["meetup", "berlin"],
        "delimiter": ";",
        "encoding": "utf-8",
        "default_region": None,
    }
    assert upload.method == "PUT"
    assert upload.content == EXCEL
    assert upload.headers["content-type"] == "text/csv"


async def test_without_script_a_file_is_mapped_on_the_page_then_imported(
    console: Console,
) -> None:
    """Without script the form is posted to read the columns: the imports page comes back
    with the mapping in its form (never the bare table), asking for the file again, which a
    browser without script sends with each post; Start import then imports it."""
    client, api = console
    api.answer("POST", "/api/v1/imports/preview", body=PREVIEW)
    api.answer("GET", "/api/v1/custom-fields", body=[])
    api.answer("GET", "/api/v1/imports", body={"items": [], "next_cursor": None})
    listed = await client.get("/console/imports", headers=gateway_headers())
    assert '<noscript><p><button type="submit" class="secondary">Read the file' in listed.text
    read = await client.post(
        "/console/imports",
        files={"file": ("Kontakte für Jürgen.csv", EXCEL, "text/csv")},
        data={"source": "sourced"},
        headers=gateway_headers(),
    )
    assert read.status_code == 200, read.text
    assert '<main id="main"' in read.text
    mapping = read.text.split('<div id="mapping"', 1)[1]
    assert "Choose Kontakte für Jürgen.csv again above, then press Start import" in mapping
    assert selected(mapping, "field_0") == "first_name"
    assert read.text.count('id="e-file"') == 1
    # Started without the file chosen again: said at the file input, the page kept.
    forgot = await client.post("/console/imports", data=MAPPED, headers=gateway_headers())
    assert forgot.status_code == 422
    assert 'id="e-file" role="alert">Choose a CSV file to import.</p>' in forgot.text
    assert forgot.text.count('id="e-file"') == 1
    api.answer("POST", "/api/v1/imports", 201, {"id": "imp9", "status": "awaiting_file"})
    api.answer("PUT", "/api/v1/imports/imp9/file", 202, {"id": "imp9", "status": "queued"})
    started = await client.post(
        "/console/imports",
        files={"file": ("Kontakte für Jürgen.csv", EXCEL, "text/csv")},
        data=MAPPED,
        headers=gateway_headers(),
    )
    assert (started.status_code, started.headers["location"]) == (303, "/console/imports/imp9")


async def test_the_region_of_numbers_without_a_country_code_goes_with_the_import(
    console: Console,
) -> None:
    client, api = console
    api.answer("POST", "/api/v1/imports", 201, {"id": "imp9", "status": "awaiting_file"})
    api.answer("PUT", "/api/v1/imports/imp9/file", 202, {"id": "imp9", "status": "queued"})
    answer = await client.post(
        "/console/imports",
        files={"file": ("leute.csv", EXCEL, "text/csv")},
        data={**MAPPED, "default_region": " fr "},
        headers=htmx_headers(),
    )
    assert answer.status_code == 204, answer.text
    create, _ = api.calls
    assert json.loads(create.content)["default_region"] == "FR"


async def test_a_mapping_without_a_required_field_is_refused_before_the_api_is_asked(
    console: Console,
) -> None:
    client, api = console
    api.answer("POST", "/api/v1/imports/preview", body=PREVIEW)
    form = {**MAPPED, "field_2": "", "field_3": "first_name"}
    fragment = await client.post(
        "/console/imports",
        files={"file": ("x.csv", EXCEL, "text/csv")},
        data=form,
        headers=htmx_headers(),
    )
    assert fragment.status_code == 422
    assert "Choose a column for: E-mail addresses" in fragment.text
    assert "First name is already fed by column “Vorname”" in fragment.text
    assert 'id="e-field_3"' in fragment.text
    # What the person chose stays chosen.
    assert selected(fragment.text, "field_2") == ""
    assert selected(fragment.text, "field_3") == "first_name"
    assert not [c for c in api.calls if c.url.path == "/api/v1/imports"]


async def test_the_apis_refusal_of_a_column_is_shown_at_that_column(console: Console) -> None:
    client, api = console
    api.answer("POST", "/api/v1/imports/preview", body=PREVIEW)
    api.answer(
        "POST",
        "/api/v1/imports",
        422,
        {
            "title": "Request validation failed",
            "status": 422,
            "detail": "the import is not valid",
            "errors": [{"field": "mapping.Notiz", "detail": "'custom_fields.note' is unknown"}],
        },
    )
    fragment = await client.post(
        "/console/imports",
        files={"file": ("x.csv", EXCEL, "text/csv")},
        data=MAPPED,
        headers=htmx_headers(),
    )
    assert fragment.status_code == 422
    assert re.search(
        r'id="e-field_3">\'custom_fields.note\' is unknown<', fragment.text.replace("&#39;", "'")
    )
    assert "the import is not valid" in fragment.text


async def test_progress_polls_until_finished_then_shows_the_report(console: Console) -> None:
    client, api = console
    running: dict[str, object] = {
        "id": "imp9",
        "status": "running",
        "source": "sourced",
        "tags": [],
        "mapping": {"a": "first_name"},
        "created_at": "2026-12-01T10:00:00Z",
        "counts": {"rows_read": 200, "rows_processed": 50},
        "error": None,
    }
    api.answer("GET", "/api/v1/imports/imp9", body=running)
    page = await client.get("/console/imports/imp9", headers=gateway_headers())
    assert page.status_code == 200
    assert 'hx-trigger="every 1s"' in page.text
    assert '<progress max="100" value="25"' in page.text
    assert not [c for c in api.calls if c.url.path.endswith("/errors")]

    done = {
        **running,
        "status": "completed",
        "counts": {"rows_read": 200, "rows_processed": 200, "created": 198, "failed": 2},
    }
    api.answer("GET", "/api/v1/imports/imp9", body=done)
    api.answer(
        "GET",
        "/api/v1/imports/imp9/errors",
        body={
            "items": [
                {
                    "row": 7,
                    "column": "E-Mail",
                    "field": "emails.0",
                    "severity": "error",
                    "message": "not an e-mail address",
                }
            ],
            "next_cursor": None,
        },
    )
    panel = await client.get("/console/imports/imp9/progress", headers=htmx_headers())
    assert "<html" not in panel.text
    assert "every 1s" not in panel.text
    assert '<progress max="100" value="100"' in panel.text
    assert "not an e-mail address" in panel.text
    assert 'href="/console/imports/imp9/errors.csv"' in panel.text
    assert not [c for c in api.calls if c.url.path.endswith("/merged-rows")]
    assert "Merged rows" not in panel.text

    # Rows that merged are listed with the record each joined, linked to its profile.
    api.answer(
        "GET",
        "/api/v1/imports/imp9",
        body={
            **done,
            "counts": {"rows_read": 200, "rows_processed": 200, "created": 196, "merged": 2},
        },
    )
    api.answer(
        "GET",
        "/api/v1/imports/imp9/merged-rows",
        body={
            "items": [
                {"row": 3, "candidate_id": "c-ada", "first_name": "Ada", "last_name": "Lovelace"},
                {"row": 9, "candidate_id": "c-known", "first_name": None, "last_name": None},
            ],
            "next_cursor": None,
        },
    )
    panel = await client.get("/console/imports/imp9/progress", headers=htmx_headers())
    assert "Merged rows" in panel.text
    assert 'Row 3 → <a href="/console/candidates/c-ada">' in panel.text
    assert 'Row 9 → <a href="/console/candidates/c-known">' in panel.text
    # Each by the name the record holds now, next to its id; an erased one says so.
    assert '<a href="/console/candidates/c-ada">Ada Lovelace</a>' in panel.text
    assert "(id <code>c-ada</code>)" in panel.text
    assert '<a href="/console/candidates/c-known">a record erased since</a>' in panel.text
    # A list that cannot be read says why; the rest of the progress still shows.
    api.answer("GET", "/api/v1/imports/imp9/merged-rows", 503, {"status": 503, "title": "Down"})
    panel = await client.get("/console/imports/imp9/progress", headers=htmx_headers())
    assert panel.status_code == 200
    assert "Merged rows not available" in panel.text
    assert '<progress max="100" value="100"' in panel.text


async def test_the_error_report_is_passed_through_as_the_api_sent_it(console: Console) -> None:
    client, api = console
    report = "\ufeffrow,column,field,severity,message\r\n7,E-Mail,emails.0,error,bad\r\n"
    api.routes[("GET", "/api/v1/imports/imp9/errors.csv")] = httpx.Response(
        200,
        content=report.encode(),
        headers={
            "content-type": "text/csv; charset=utf-8",
            "content-disposition": 'attachment; filename="import-imp9-report.csv"',
        },
    )
    answer = await client.get("/console/imports/imp9/errors.csv", headers=gateway_headers())
    assert answer.status_code == 200
    assert answer.content == report.encode()
    assert answer.headers["content-disposition"] == 'attachment; filename="import-imp9-report.csv"'
    assert answer.headers["content-type"].startswith("text/csv")
    assert "separator" not in api.calls[-1].url.params
    # The link for Excel where the decimal mark is a comma asks the API for semicolons.
    await client.get(
        "/console/imports/imp9/errors.csv?separator=semicolon", headers=gateway_headers()
    )
    assert api.calls[-1].url.params["separator"] == "semicolon"


def test_the_form_rows_become_the_apis_mapping() -> None:
    choices = choices_from_form(MAPPED)
    assert [c.name for c in choices] == ["Vorname", "Nachname", "E-Mail", "Notiz"]
    assert mapping_of([*choices, ColumnChoice(4, "Skip me", "")]) == {
        "Vorname": "first_name",
        "Nachname": "last_name",
        "E-Mail": "emails",
        "Notiz": "custom_fields.note",
    }
    assert choices_from_form({}) == []


def test_a_mapping_may_feed_a_list_field_from_two_columns_but_not_a_single_one() -> None:
    two_mails = [
        ColumnChoice(0, "First", "first_name"),
        ColumnChoice(1, "Last", "last_name"),
        ColumnChoice(2, "Work", "emails"),
        ColumnChoice(3, "Home", "emails"),
    ]
    assert mapping_problems(two_mails) == ({}, None)
    twice = [*two_mails, ColumnChoice(4, "Nom", "last_name")]
    per_column, table = mapping_problems(twice)
    assert set(per_column) == {4}
    assert table is None
    assert mapping_problems([]) == (
        {},
        "Choose a column for: First name, Last name, E-mail addresses",
    )
    # One column with the whole name feeds both names.
    whole = [ColumnChoice(0, "Name", "full_name"), ColumnChoice(1, "Mail", "emails")]
    assert mapping_problems(whole) == ({}, None)


def test_column_errors_find_the_column_the_api_named() -> None:
    choices = [ColumnChoice(0, "E-Mail", "emails"), ColumnChoice(1, "x.y", "tags")]
    paths = {"mapping.x.y": "bad", "mapping": "no column is mapped to first_name", "tags": "no"}
    assert column_errors(paths, choices) == {1: "bad"}


def test_field_choices_add_the_tenants_custom_fields() -> None:
    choices = field_choices([{"key": "shoe_size", "label": ""}, {"label": "keyless"}])
    assert choices[0] == ("first_name", "First name")
    assert choices[-1] == ("custom_fields.shoe_size", "shoe_size (custom field)")


def test_tags_are_split_trimmed_and_deduplicated() -> None:
    assert tags_of(" a, b ,,a ") == ["a", "b"]


@pytest.mark.parametrize(
    ("job", "percent", "finished", "report"),
    [
        ({"status": "awaiting_file"}, 0, False, False),
        ({"status": "queued", "counts": {"rows_read": 0}}, 0, False, False),
        ({"status": "running", "counts": {"rows_read": 3, "rows_processed": 1}}, 33, False, False),
        ({"status": "completed", "counts": {"rows_read": 0}}, 100, True, False),
        ({"status": "completed", "counts": {"with_warnings": 1}}, 100, True, True),
        ({"status": "failed", "counts": {"rows_read": 4, "rows_processed": 2}}, 50, True, False),
    ],
)
def test_an_imports_progress(
    job: dict[str, object], percent: int, finished: bool, report: bool
) -> None:
    progress = ImportProgress.of(job)
    assert (progress.percent, progress.finished, progress.has_report) == (percent, finished, report)
