"""The weekly report's pages with the stand-in API: its settings form on the analytics
settings page (shown, saved, refused at the field, read-only for non-admins), the reports
listed page by page, one report with where its mails went, and its CSV passed through."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from crm_console.domain.weekly_report import (
    ScheduleForm,
    change_text,
    days,
    figure_rows,
    in_zone,
    mail_lines,
    recipients_from,
    source_rows,
    week_of,
)
from crm_shared import Principal
from unit.console.test_pages import RITA, Api, console, gateway_headers, htmx_headers

pytestmark = pytest.mark.unit

__all__ = ["console"]

Console = tuple[httpx.AsyncClient, Api]
ALICE = Principal(tenant_id="acme", user_id="alice", roles=frozenset({"admin"}))
SETTINGS = "/api/v1/analytics/settings/weekly-report"
REPORTS = "/api/v1/analytics/weekly-reports"

WEEKLY_ON = {
    "recipients": ["ana@acme.test", "bo@acme.test"],
    "weekday": 3,
    "hour": 7,
    "time_zone": "Europe/Berlin",
    "enabled": True,
    "next_report_at": "2026-12-09T06:00:00Z",
    "last_report_at": "2026-12-02T06:00:04Z",
    "last_report_id": "acme:2026-W48",
    "last_report_error": None,
    "updated_at": "2026-11-20T10:00:00Z",
}
WEEKLY_OFF = {
    **WEEKLY_ON,
    "recipients": [],
    "weekday": 1,
    "hour": 8,
    "enabled": False,
    "next_report_at": None,
    "last_report_at": None,
    "last_report_id": None,
}


def figures(new: int, by_source: dict[str, int], sent: int = 10) -> dict[str, Any]:
    return {
        "new_candidates": new,
        "by_source": by_source,
        "messages_sent": sent,
        "messages_opened": 4,
        "messages_clicked": 2,
        "event_registrations": 3,
        "applications": 1,
        "hires": 0,
    }


def report(week: str, first: str, last: str) -> dict[str, Any]:
    now, before = figures(3, {"referral": 2, "<b>fair</b>": 1}), figures(1, {"referral": 1}, 0)
    return {
        "report_id": f"acme:{week}",
        "week": week,
        "first_day": first,
        "last_day": last,
        "start": f"{first}T00:00:00+01:00",
        "end": f"{last}T23:59:59+01:00",
        "time_zone": "Europe/Berlin",
        "recipients": ["ana@acme.test", "bo@acme.test", "cy@acme.test"],
        "subject": f"Weekly recruiting report {week}",
        "compiled_at": "2026-11-25T06:00:03Z",
        "figures": now,
        "previous": before,
        "change": {k: now[k] - before[k] for k in now if k != "by_source"},
        "by_source_change": {"referral": 1, "<b>fair</b>": 1},
        "funnel": [
            {"step": "sourced", "count": 3, "previous": 1, "conversion_from_previous": None},
            {"step": "engaged", "count": 2, "previous": 1, "conversion_from_previous": 0.6667},
        ],
    }


W47 = report("2026-W47", "2026-11-16", "2026-11-22")
W46 = report("2026-W46", "2026-11-09", "2026-11-15")


# Rules without a browser


def test_recipients_are_read_one_a_line_or_comma_separated() -> None:
    assert recipients_from(" ana@acme.test,bo@acme.test\n\n cy@acme.test ;dee@acme.test ") == [
        "ana@acme.test",
        "bo@acme.test",
        "cy@acme.test",
        "dee@acme.test",
    ]
    assert recipients_from("  \n ") == []
    # A space does not split: an entry that is not an address reaches the API whole.
    assert recipients_from("ana@acme.test, not an address") == ["ana@acme.test", "not an address"]
    form = ScheduleForm.from_form({"recipients": "a@x.test, b@x.test", "weekday": "7", "hour": "0"})
    assert form.errors == {}
    assert form.body() == {"recipients": ["a@x.test", "b@x.test"], "weekday": 7, "hour": 0}
    assert ScheduleForm.from_form({"weekday": "x", "hour": ""}).errors == {
        "weekday": "Choose a weekday.",
        "hour": "Choose an hour.",
    }
    shown = ScheduleForm.from_settings(
        {"recipients": ["a@x.test", "b@x.test"], "weekday": 2, "hour": 0}
    )
    assert (shown.recipients, shown.weekday, shown.hour) == ("a@x.test\nb@x.test", "2", "0")


def test_instants_weeks_days_and_changes_are_said_as_people_read_them() -> None:
    assert in_zone("2026-12-09T06:00:00Z", "Europe/Berlin") == "Wednesday 9 Dec 2026, 07:00"
    assert in_zone("2026-12-09T06:00:00Z", "America/New_York") == "Wednesday 9 Dec 2026, 01:00"
    assert in_zone(None, "UTC") == "\u2013"
    assert week_of("acme:2026-W48") == "2026-W48"
    assert week_of(None) is None
    assert days("2026-11-16", "2026-11-22") == "16 Nov \u2013 22 Nov 2026"
    assert days("2026-12-28", "2027-01-03") == "28 Dec 2026 \u2013 3 Jan 2027"
    assert change_text(3, 1) == "+2 (+200.0\u00a0%)"
    assert change_text(0, 2) == "-2 (-100.0\u00a0%)"
    assert change_text(2, 0) == "+2"
    assert change_text(1, 1) == "0 (+0.0\u00a0%)"
    sources = source_rows(W47)
    assert [(r.key, r.label, r.this_week, r.week_before) for r in sources] == [
        ("<b>fair</b>", "<b>fair</b>", 1, 0),
        ("referral", "Referral", 2, 1),
    ]


def test_each_recipient_has_its_mails_outcome_or_none_yet() -> None:
    lines = mail_lines(
        ["ana@acme.test", "bo@acme.test", "cy@acme.test"],
        [
            {"recipient": "ana@acme.test", "status": "sent", "reason": None, "attempts": 1},
            {"recipient": "bo@acme.test", "status": "failed", "reason": "550 no", "attempts": 3},
        ],
    )
    assert [(m.recipient, m.outcome, m.reason, m.attempts) for m in lines] == [
        ("ana@acme.test", "Sent", None, 1),
        ("bo@acme.test", "Failed", "550 no", 3),
        ("cy@acme.test", "Not recorded yet", None, None),
    ]


# Settings


async def test_the_weekly_report_settings_are_shown_with_what_is_due(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/analytics/settings", body={"time_zone": "Europe/Berlin"})
    api.answer(
        "GET",
        SETTINGS,
        body={
            **WEEKLY_ON,
            "last_report_error": {
                "at": "2026-12-02T07:00:00Z",
                "error": "<script>database down</script>",
                "week_due_at": "2026-12-02T06:00:00Z",
            },
        },
    )
    page = await client.get("/console/settings/analytics", headers=gateway_headers(ALICE))
    assert page.status_code == 200
    section = page.text[page.text.index('id="weekly-report"') :]
    assert ">ana@acme.test\nbo@acme.test</textarea>" in section
    assert '<option value="3" selected>Wednesday</option>' in section
    assert '<option value="7" selected>07:00</option>' in section
    assert '<label for="f-hour">Hour (in Europe/Berlin)</label>' in section
    # Next report in the tenant's zone (06:00 UTC is 07:00 in Berlin in December).
    assert (
        'datetime="2026-12-09T06:00:00Z">Wednesday 9 Dec 2026, 07:00</time> (Europe/Berlin)'
        in section
    )
    assert '<a href="/console/analytics/weekly-reports/2026-W48">2026-W48</a>' in section
    assert "&lt;script&gt;database down&lt;/script&gt;" in section
    assert "<script>database down" not in page.text
    assert 'href="/console/analytics/weekly-reports">Reports compiled so far' in section
    assert "Save weekly report" in section
    # The time zone's field says a new zone moves the send hour.
    assert "a new zone moves its next report to that hour in the new zone" in page.text


async def test_the_weekly_report_is_saved_and_refused_at_its_field(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/analytics/settings", body={"time_zone": "Europe/Berlin"})
    api.answer("GET", SETTINGS, body=WEEKLY_OFF)
    page = await client.get("/console/settings/analytics", headers=gateway_headers(ALICE))
    assert 'data-testid="weekly-report-off"><strong>Off</strong>' in page.text
    assert "No report compiled yet." in page.text

    # The API's refusal lands at the field it names, with what was typed kept.
    api.answer(
        "PUT",
        SETTINGS,
        422,
        {
            "type": "urn:recruitcrm:problem:validation-error",
            "title": "Request validation failed",
            "status": 422,
            "detail": "invalid request: body.recipients",
            "errors": [
                {
                    "field": "body.recipients",
                    "detail": "Value error, 'not-an-address' is not an e-mail address",
                }
            ],
        },
    )
    typed = {"recipients": "ana@acme.test\nnot-an-address", "weekday": "5", "hour": "17"}
    refused = await client.post(
        "/console/settings/analytics/weekly-report", data=typed, headers=htmx_headers(ALICE)
    )
    assert refused.status_code == 422
    assert "<html" not in refused.text
    assert 'id="weekly-report"' in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert 'id="e-recipients">&#39;not-an-address&#39; is not an e-mail address</p>' in refused.text
    assert ">ana@acme.test\nnot-an-address</textarea>" in refused.text
    assert '<option value="5" selected>Friday</option>' in refused.text
    assert '<option value="17" selected>17:00</option>' in refused.text
    assert "Not saved." in refused.text

    # An hour out of range, as the API says it.
    api.answer(
        "PUT",
        SETTINGS,
        422,
        {
            "type": "urn:recruitcrm:problem:validation-error",
            "title": "Request validation failed",
            "status": 422,
            "detail": "invalid request: body.hour",
            "errors": [
                {"field": "body.hour", "detail": "Input should be less than or equal to 23"}
            ],
        },
    )
    refused = await client.post(
        "/console/settings/analytics/weekly-report",
        data={**typed, "hour": "24"},
        headers=htmx_headers(ALICE),
    )
    assert 'id="e-hour">Enter 23 or less.</p>' in refused.text

    # Saved: the body the API takes, and the section says what is due now.
    api.answer("PUT", SETTINGS, body={**WEEKLY_ON, "weekday": 5, "hour": 17})
    api.calls.clear()
    saved = await client.post(
        "/console/settings/analytics/weekly-report",
        data={"recipients": "Ana@acme.test, bo@acme.test\n", "weekday": "5", "hour": "17"},
        headers=htmx_headers(ALICE),
    )
    assert saved.status_code == 200
    [call] = api.calls
    assert (call.method, call.url.path) == ("PUT", SETTINGS)
    assert json.loads(call.content) == {
        "recipients": ["Ana@acme.test", "bo@acme.test"],
        "weekday": 5,
        "hour": 17,
    }
    assert "Saved: the report goes to 2 people every Friday at 17:00 (Europe/Berlin)." in saved.text
    assert 'data-testid="weekly-report-next"' in saved.text

    # A weekday that is no number is refused before the API is asked.
    api.calls.clear()
    odd = await client.post(
        "/console/settings/analytics/weekly-report",
        data={"recipients": "", "weekday": "Monday", "hour": "8"},
        headers=htmx_headers(ALICE),
    )
    assert odd.status_code == 422
    assert 'id="e-weekday">Choose a weekday.</p>' in odd.text
    assert [c.method for c in api.calls] == ["GET"]


async def test_a_new_time_zone_swaps_the_weekly_reports_part_too(console: Console) -> None:
    client, api = console
    api.answer("PUT", "/api/v1/analytics/settings", body={"time_zone": "America/New_York"})
    api.answer("GET", SETTINGS, body={**WEEKLY_ON, "time_zone": "America/New_York"})
    saved = await client.post(
        "/console/settings/analytics",
        data={"time_zone": "America/New_York"},
        headers=htmx_headers(ALICE),
    )
    assert saved.status_code == 200
    assert 'id="weekly-report" class="card narrow"' in saved.text
    assert 'hx-swap-oob="true"' in saved.text
    assert "Wednesday 9 Dec 2026, 01:00</time> (America/New_York)" in saved.text


async def test_a_recruiter_reads_the_weekly_report_settings_without_changing_them(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", "/api/v1/analytics/settings", body={"time_zone": "Europe/Berlin"})
    api.answer("GET", SETTINGS, body=WEEKLY_ON)
    page = await client.get("/console/settings/analytics", headers=gateway_headers(RITA))
    assert page.status_code == 200
    section = page.text[page.text.index('id="weekly-report"') :]
    assert "<fieldset disabled" in section
    assert "Save weekly report" not in section
    assert "Only admins change it." in section
    assert "ana@acme.test" in section


async def test_weekly_report_settings_that_cannot_be_read_say_why_and_offer_no_form(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", "/api/v1/analytics/settings", body={"time_zone": "UTC"})
    api.answer(
        "GET",
        SETTINGS,
        503,
        {"title": "Service Unavailable", "status": 503, "detail": "analytics is not answering"},
    )
    page = await client.get("/console/settings/analytics", headers=gateway_headers(ALICE))
    assert page.status_code == 200
    assert "Not available: analytics is not answering" in page.text
    assert 'id="weekly-report-form"' not in page.text
    # The time zone's form is there all the same.
    assert 'id="analytics-settings-form"' in page.text


# The reports


async def test_the_reports_are_listed_newest_first_page_by_page(console: Console) -> None:
    client, api = console
    api.answer("GET", REPORTS, body={"items": [W47], "next_cursor": "c-older"})
    page = await client.get("/console/analytics/weekly-reports", headers=gateway_headers())
    assert page.status_code == 200
    [call] = api.calls
    assert dict(call.url.params) == {"limit": "20"}
    row = re.search(r'<tr data-week="2026-W47">.*?</tr>', page.text, re.DOTALL)
    assert row is not None
    assert '<a href="/console/analytics/weekly-reports/2026-W47">2026-W47</a>' in row[0]
    assert "16 Nov \u2013 22 Nov 2026" in row[0]
    assert '<td>3 <span class="muted">(+2)</span></td>' in row[0]
    assert [int(n) for n in re.findall(r"<td>(\d+)</td>", row[0])] == [10, 4, 2, 3, 1, 0]
    assert 'href="/console/analytics/weekly-reports/2026-W47.csv" download' in row[0]
    assert 'href="/console/analytics/weekly-reports?cursor=c-older"' in page.text
    assert "Older reports" in page.text

    api.answer("GET", REPORTS, body={"items": [W46], "next_cursor": None})
    api.calls.clear()
    older = await client.get(
        "/console/analytics/weekly-reports", params={"cursor": "c-older"}, headers=gateway_headers()
    )
    [call] = api.calls
    assert dict(call.url.params) == {"limit": "20", "cursor": "c-older"}
    assert 'data-week="2026-W46"' in older.text
    assert "Older reports" not in older.text
    assert 'href="/console/analytics/weekly-reports">Newest reports' in older.text


async def test_no_reports_yet_says_how_to_turn_the_report_on(console: Console) -> None:
    client, api = console
    api.answer("GET", REPORTS, body={"items": [], "next_cursor": None})
    admin = await client.get("/console/analytics/weekly-reports", headers=gateway_headers(ALICE))
    assert 'data-testid="weekly-reports-none"' in admin.text
    assert 'href="/console/settings/analytics#weekly-report">choose who gets it' in admin.text
    recruiter = await client.get("/console/analytics/weekly-reports", headers=gateway_headers())
    assert "an admin turns it on in Settings \u203a Analytics" in recruiter.text
    assert ">choose who gets it" not in recruiter.text
    analytics = await client.get("/console/analytics", headers=gateway_headers())
    assert (
        'href="/console/analytics/weekly-reports" data-testid="weekly-reports-link"'
        in analytics.text
    )


async def test_a_report_shows_its_figures_funnel_and_where_each_mail_went(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", f"{REPORTS}/2026-W47", body=W47)
    api.answer(
        "GET",
        "/api/v1/report-mails",
        body={
            "items": [
                {
                    "id": "m1",
                    "report_id": "acme:2026-W47",
                    "recipient": "ana@acme.test",
                    "status": "sent",
                    "reason": None,
                    "attempts": 1,
                    "recorded_at": "2026-11-23T07:00:05Z",
                },
                {
                    "id": "m2",
                    "report_id": "acme:2026-W47",
                    "recipient": "bo@acme.test",
                    "status": "suppressed",
                    "reason": "transactional_block",
                    "attempts": 0,
                    "recorded_at": "2026-11-23T07:00:05Z",
                },
                {
                    "id": "m3",
                    "report_id": "acme:2026-W47",
                    "recipient": "cy@acme.test",
                    "status": "failed",
                    "reason": "<i>550 mailbox full</i>",
                    "attempts": 3,
                    "recorded_at": "2026-11-23T07:10:00Z",
                },
            ],
            "next_cursor": None,
        },
    )
    page = await client.get("/console/analytics/weekly-reports/2026-W47", headers=gateway_headers())
    assert page.status_code == 200
    [mails] = [c for c in api.calls if c.url.path == "/api/v1/report-mails"]
    assert mails.url.params["report_id"] == "acme:2026-W47"
    assert "<h1>Weekly report 2026-W47</h1>" in page.text
    assert (
        '<tr data-figure="new_candidates"><th scope="row">New candidates</th>'
        "<td>3</td><td>1</td><td>+2 (+200.0\u00a0%)</td></tr>"
    ) in page.text
    assert (
        '<tr data-figure="messages_sent"><th scope="row">Messages sent</th>'
        "<td>10</td><td>0</td><td>+10</td></tr>"
    ) in page.text
    # A source named by whatever arrived is escaped.
    assert '<th scope="row">&lt;b&gt;fair&lt;/b&gt;</th>' in page.text
    assert (
        '<tr data-source="referral"><th scope="row">Referral</th><td>2</td><td>1</td>' in page.text
    )
    assert (
        '<tr data-step="engaged"><th scope="row">Engaged</th><td>2</td>'
        "<td>66.7\u00a0%</td><td>1</td></tr>"
    ) in page.text
    assert 'data-recipient="ana@acme.test" data-status="sent"' in page.text
    assert "<td>Not sent (suppressed)</td><td>transactional_block</td>" in page.text
    assert "<td>Failed</td><td>&lt;i&gt;550 mailbox full&lt;/i&gt;</td><td>3</td>" in page.text
    assert 'href="/console/analytics/weekly-reports/2026-W47.csv" download' in page.text


async def test_mail_outcomes_that_cannot_be_read_say_why_in_their_panel_only(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", f"{REPORTS}/2026-W47", body=W47)
    api.answer(
        "GET",
        "/api/v1/report-mails",
        503,
        {"title": "Service Unavailable", "status": 503, "detail": "campaigns is not answering"},
    )
    page = await client.get("/console/analytics/weekly-reports/2026-W47", headers=gateway_headers())
    assert page.status_code == 200
    assert (
        'data-testid="weekly-mails-unavailable">Where it was mailed cannot be shown: '
        "campaigns is not answering</p>"
    ) in page.text
    assert 'data-figure="new_candidates"' in page.text


async def test_a_week_not_compiled_is_the_consoles_404_page(console: Console) -> None:
    client, api = console
    api.answer(
        "GET",
        f"{REPORTS}/2026-W01",
        404,
        {
            "title": "Not Found",
            "status": 404,
            "detail": "no weekly report was compiled for '2026-W01'",
        },
    )
    api.answer("GET", "/api/v1/report-mails", body={"items": [], "next_cursor": None})
    page = await client.get("/console/analytics/weekly-reports/2026-W01", headers=gateway_headers())
    assert page.status_code == 404
    assert "no weekly report was compiled for &#39;2026-W01&#39;" in page.text
    assert "<html" in page.text
    missing = await client.get(
        "/console/analytics/weekly-reports/2026-W01.csv", headers=gateway_headers()
    )
    assert missing.status_code == 404


async def test_a_report_downloads_as_the_apis_csv(console: Console) -> None:
    client, api = console
    exported = "\ufeffsection,name,this_week,week_before,change\r\nfigure,hires,0,1,-1\r\n".encode()
    api.routes[("GET", f"{REPORTS}/2026-W47")] = httpx.Response(
        200,
        content=exported,
        headers={
            "content-type": "text/csv; charset=utf-8",
            "content-disposition": 'attachment; filename="weekly-report-2026-W47.csv"',
        },
    )
    download = await client.get(
        "/console/analytics/weekly-reports/2026-W47.csv", headers=gateway_headers()
    )
    assert download.status_code == 200
    assert download.content == exported
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    assert (
        download.headers["content-disposition"]
        == 'attachment; filename="weekly-report-2026-W47.csv"'
    )
    assert download.headers["cache-control"] == "no-store"
    [call] = api.calls
    assert (call.url.path, dict(call.url.params)) == (f"{REPORTS}/2026-W47", {"format": "csv"})


async def test_a_form_posted_without_htmx_answers_with_the_whole_page(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/analytics/settings", body={"time_zone": "Europe/Berlin"})
    api.answer("GET", SETTINGS, body=WEEKLY_OFF)
    api.answer("PUT", SETTINGS, body=WEEKLY_ON)
    page = await client.post(
        "/console/settings/analytics/weekly-report",
        data={"recipients": "ana@acme.test\nbo@acme.test", "weekday": "3", "hour": "7"},
        headers=gateway_headers(ALICE),
    )
    assert page.status_code == 200
    assert "<html" in page.text
    assert 'id="f-time_zone" name="time_zone" type="text" value="Europe/Berlin"' in page.text
    assert 'data-testid="weekly-report-saved"' in page.text
    assert 'hx-swap-oob="true"' not in page.text


def test_a_figure_a_report_did_not_count_has_no_row() -> None:
    """A report compiled before the sequence enrolments were counted has them null: no row,
    rather than a 0 that was never counted."""
    old = {"figures": {"new_candidates": 2, "enrolments_started": None}, "previous": {}}
    assert "enrolments_started" not in [row.key for row in figure_rows(old)]
    new = {"figures": {"new_candidates": 2, "enrolments_started": 3}, "previous": {}}
    [row] = [row for row in figure_rows(new) if row.key == "enrolments_started"]
    assert (row.label, row.this_week, row.week_before) == ("Sequence enrolments started", 3, 0)
