"""The message reports of analytics on the broadcast, sequence and template pages: machine opens
and clicks shown apart (never as people), the days anything happened, a template's groups
named, the CSV passed through, and who may not read analytics told why."""

from __future__ import annotations

import json
import re
from html import unescape
from typing import Any

import httpx
import pytest

from crm_console.domain import message_reports as rules
from crm_console.domain.charts import daily_lines
from crm_shared import Principal
from unit.console.test_campaigns import Console, enrolment_page_api, template
from unit.console.test_campaigns import site as site
from unit.console.test_pages import gateway_headers, htmx_headers

pytestmark = pytest.mark.unit

MARK = Principal(tenant_id="acme", user_id="mark", roles=frozenset({"marketer"}))
CORA = Principal(tenant_id="acme", user_id="cora", roles=frozenset({"coordinator"}))


def figures(sent: int, opened: int = 0, **more: int) -> dict[str, Any]:
    """The API's figures (docs/analytics.md "Message reports"): all delivered."""
    counts = {
        "sent": sent,
        "delivered": sent,
        "bounced_hard": 0,
        "bounced_soft": 0,
        "bounced": 0,
        "opened": opened,
        "clicked": 0,
        "machine_opened": 0,
        "machine_clicked": 0,
        "replied": 0,
        "unsubscribed": 0,
        "complained": 0,
        "delivered_opened": opened,
        "delivered_clicked": 0,
        "delivered_replied": 0,
        "delivered_unsubscribed": 0,
        "delivered_complained": 0,
        **more,
    }
    rates = {
        "delivery_rate": 1.0 if sent else None,
        "bounce_rate": 0.0 if sent else None,
        "open_rate": round(opened / sent, 4) if sent else None,
        "click_rate": 0.0 if sent else None,
        "reply_rate": 0.0 if sent else None,
        "unsubscribe_rate": 0.0 if sent else None,
        "complaint_rate": 0.0 if sent else None,
    }
    return counts | rates


def day(on: str, sent: int = 0, opened: int = 0, **more: int) -> dict[str, Any]:
    return {"day": on, **figures(sent, opened, **more)}


def report(kind: str, breakdown: str, groups: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "report": kind,
        "id": "x1",
        "from": "2026-12-01",
        "to": "2026-12-03",
        "breakdown": breakdown,
        "totals": figures(5, 3, machine_opened=2, machine_clicked=1),
        "series": [
            day("2026-12-01", 5, 1, machine_opened=2),
            day("2026-12-02"),
            day("2026-12-03", 0, 2, machine_clicked=1),
        ],
        "groups": groups,
    }


def group(key: str, label: str | None, sent: int, opened: int, **more: int) -> dict[str, Any]:
    return {"key": key, "label": label, "figures": figures(sent, opened, **more), "series": []}


async def test_machine_opens_are_shown_apart_in_total_per_variant_and_per_day(
    site: Console,
) -> None:
    """The API says 3 opened by people and 2 by machines: the panel shows both, the machines'
    without a rate, and not as "left out"."""
    client, api = site
    body = report(
        "broadcast",
        "variant",
        [
            group("A", "A", 3, 2, machine_opened=2),
            group("B", "B", 2, 1, machine_clicked=1),
        ],
    )
    api.answer("GET", "/api/v1/analytics/broadcasts/b1", body=body)
    panel = await client.get("/console/broadcasts/b1/report", headers=htmx_headers(MARK))
    assert panel.status_code == 200, panel.text
    text = panel.text
    assert "left out" not in text
    assert '<th scope="row">Opened by people</th><td data-figure="opened">3 (60.0 %)</td>' in text
    assert "Opened by machines (prefetchers, image proxies), not in the rates" in text
    assert '<td data-figure="machine_opened">2</td>' in text
    assert '<td data-figure="machine_opened-A">2</td>' in text
    assert '<td data-figure="machine_clicked-B">1</td>' in text
    assert '<td data-figure="machine_clicked">1</td>' in text
    # Per day: the days anything happened, latest first; the empty day is not listed.
    days = text.split('data-testid="message-report-days"')[1]
    assert '<td data-figure="machine_opened-2026-12-01">2</td>' in days
    assert '<td data-figure="machine_clicked-2026-12-03">1</td>' in days
    assert "2026-12-02" not in days
    assert days.index("2026-12-03") < days.index("2026-12-01")
    assert "2 days with mail or reactions" in days


def test_only_days_with_something_are_listed() -> None:
    series = [day("2026-12-01"), day("2026-12-02", machine_opened=1), day("2026-12-03", 1)]
    assert [d["day"] for d in rules.active_days(series)] == ["2026-12-03", "2026-12-02"]
    assert rules.active_days([]) == []


async def test_the_sequence_page_shows_its_report_per_step(site: Console) -> None:
    client, api = site
    enrolment_page_api(api)
    page = await client.get("/console/sequences/s1", headers=gateway_headers(MARK))
    assert page.status_code == 200, page.text
    assert 'hx-get="/console/sequences/s1/report" hx-trigger="load"' in page.text
    assert '<noscript><p><a href="/console/sequences/s1/report">Show “What became' in page.text

    body = report(
        "sequence",
        "step",
        [group("0", "welcome", 3, 2), group("2", None, 2, 1, machine_opened=2)],
    )
    api.answer("GET", "/api/v1/analytics/sequences/s1", body=body)
    alone = await client.get("/console/sequences/s1/report", headers=gateway_headers(MARK))
    assert '<main id="main"' in alone.text  # without script: a page, linking back
    assert '<a href="/console/sequences/s1">← Back</a>' in alone.text
    panel = await client.get("/console/sequences/s1/report", headers=htmx_headers(MARK))
    assert panel.status_code == 200, panel.text
    assert "What became of the mail" in panel.text
    assert "in total and per step" in panel.text
    assert '<th scope="col">Step 0 · welcome</th>' in panel.text
    assert '<th scope="col">Step 2</th>' in panel.text
    assert '<td data-figure="opened-0">2 (66.7 %)</td>' in panel.text
    assert '<td data-figure="machine_opened-2">2</td>' in panel.text
    assert 'href="/console/sequences/s1/report.csv"' in panel.text
    assert 'href="/console/sequences/s1/report.csv?separator=semicolon"' in panel.text
    # Its days as a chart (sent, opened and clicked by people), with the text it stands for.
    chart = chart_config(panel.text)
    assert chart["data"]["labels"] == ["2026-12-01", "2026-12-02", "2026-12-03"]
    assert [(d["label"], d["data"]) for d in chart["data"]["datasets"]] == [
        ("Sent", [5, 0, 0]),
        ("Opened by people", [1, 0, 2]),
        ("Clicked by people", [0, 0, 0]),
    ]
    assert 'aria-label="Per day over 3 days: Sent 5, Opened by people 3, Clicked by people 0"' in (
        panel.text
    )

    # Nothing sent yet: the API's 404 says so in the panel's words.
    api.answer("GET", "/api/v1/analytics/sequences/s1", 404, {"status": 404, "detail": "none"})
    empty = await client.get("/console/sequences/s1/report", headers=htmx_headers(MARK))
    assert "Not shown: no mail of this sequence has been sent yet." in empty.text


async def test_the_template_page_names_what_sent_it(site: Console) -> None:
    """The API keys a template's groups `broadcast:<id>`, `sequence:<id>:<step>`, `direct`,
    with no names: the console names them from the broadcasts and sequences lists."""
    client, api = site
    api.answer("GET", "/api/v1/templates/t1", body=template())
    page = await client.get("/console/templates/t1", headers=gateway_headers(MARK))
    assert page.status_code == 200, page.text
    assert 'hx-get="/console/templates/t1/report" hx-trigger="load"' in page.text

    body = report(
        "template",
        "source",
        [
            group("broadcast:b1", None, 2, 1),
            group("broadcast:gone", None, 1, 0),
            group("sequence:s1:1", "follow-up", 1, 1),
            group("direct", None, 1, 1),
        ],
    )
    api.answer("GET", "/api/v1/analytics/templates/t1", body=body)
    api.answer_pages("/api/v1/broadcasts", [{"id": "b1", "name": "Winter hiring"}])
    api.answer("GET", "/api/v1/sequences", body=[{"id": "s1", "name": "Nurture"}])
    panel = await client.get("/console/templates/t1/report", headers=htmx_headers(MARK))
    assert panel.status_code == 200, panel.text
    assert '<th scope="col">Broadcast Winter hiring</th>' in panel.text
    assert '<th scope="col">Broadcast gone</th>' in panel.text  # not listed: its id
    assert '<th scope="col">Sequence Nurture, step 1 · follow-up</th>' in panel.text
    assert '<th scope="col">Direct mail (transactional and event mail)</th>' in panel.text
    assert '<td data-figure="sent-broadcast:b1">2</td>' in panel.text
    assert "broadcast:b1</th>" not in panel.text
    assert 'href="/console/templates/t1/report.csv"' in panel.text


async def test_a_template_report_without_the_lists_shows_ids_and_says_why(
    site: Console,
) -> None:
    client, api = site
    body = report("template", "source", [group("sequence:s1:0", None, 1, 0)])
    api.answer("GET", "/api/v1/analytics/templates/t1", body=body)
    api.answer("GET", "/api/v1/sequences", 403, {"status": 403, "detail": "no sequences:read"})
    panel = await client.get("/console/templates/t1/report", headers=htmx_headers(MARK))
    assert panel.status_code == 200, panel.text
    assert '<th scope="col">Sequence s1, step 0</th>' in panel.text
    assert "Some are shown by id: sequences: no sequences:read." in panel.text
    # Only the lists its groups need are read.
    assert not [c for c in api.calls if c.url.path == "/api/v1/broadcasts"]


def test_a_template_group_is_named_by_its_kind() -> None:
    names = rules.SourceNames({"b1": "Winter"}, {"s1": "Nurture"})
    assert names.label({"key": "broadcast:b1"}) == "Broadcast Winter"
    assert names.label({"key": "sequence:s1:2", "label": None}) == "Sequence Nurture, step 2"
    # Mail sent before messages carried their step.
    assert names.label({"key": "sequence:s1"}) == "Sequence Nurture, step unknown"
    assert names.label({"key": "direct"}) == rules.DIRECT_LABEL
    assert rules.step_label({"key": ""}).startswith("Step unknown")


async def test_who_may_not_read_analytics_is_told_why(site: Console) -> None:
    """A coordinator's role gives no `analytics:read`: the page says so instead of asking;
    asked anyway, the panel shows the API's refusal."""
    client, api = site
    api.answer("GET", "/api/v1/templates/t1", body=template())
    page = await client.get("/console/templates/t1", headers=gateway_headers(CORA))
    assert page.status_code == 200, page.text
    assert "/templates/t1/report" not in page.text
    assert "which your role may not read (they need <code>analytics:read</code>)" in page.text
    api.answer(
        "GET",
        "/api/v1/analytics/sequences/s1",
        403,
        {"status": 403, "title": "Forbidden", "detail": "the caller lacks analytics:read"},
    )
    panel = await client.get("/console/sequences/s1/report", headers=htmx_headers(CORA))
    assert panel.status_code == 200, panel.text
    assert "Not shown: the caller lacks analytics:read." in panel.text


@pytest.mark.parametrize(
    ("page", "api_path"),
    [
        ("/console/sequences/s1/report.csv", "/api/v1/analytics/sequences/s1"),
        (
            "/console/sequences/s1/enrolment-report.csv",
            "/api/v1/analytics/sequences/s1/enrolments",
        ),
        ("/console/templates/t1/report.csv", "/api/v1/analytics/templates/t1"),
    ],
)
async def test_the_csv_is_the_apis_file(site: Console, page: str, api_path: str) -> None:
    client, api = site
    api.routes[("GET", api_path)] = httpx.Response(
        200,
        content=b"step,label,day\r\n",
        headers={
            "content-type": "text/csv; charset=utf-8",
            "content-disposition": 'attachment; filename="report.csv"',
        },
    )
    download = await client.get(f"{page}?separator=semicolon", headers=gateway_headers(MARK))
    assert download.status_code == 200, download.text
    assert download.content == b"step,label,day\r\n"
    assert download.headers["cache-control"] == "no-store"
    assert dict(api.calls[-1].url.params) == {"format": "csv", "separator": "semicolon"}


def enrolment_report() -> dict[str, Any]:
    """The API's enrolment report (docs/analytics.md "Enrolment reports")."""
    return {
        "report": "sequence_enrolments",
        "id": "s1",
        "name": "Graduates",
        "from": "2026-12-01",
        "to": "2026-12-04",
        "enrolled_now": 2,
        "totals": {
            "entered": 8,
            "completed": 3,
            "exited": 3,
            "entrants_completed": 3,
            "entrants_exited": 3,
            "entrants_still_enrolled": 2,
            "completion_rate": 0.375,
            "exit_rate": 0.375,
            "median_days_to_complete": 6.5,
        },
        "exit_reasons": [
            {"reason": "replied", "count": 2},
            {"reason": "no_marketing_consent", "count": 1},
        ],
        "exit_steps": [{"step": 0, "count": 1}],
        "completion_days": [{"days": 6, "count": 1}, {"days": 7, "count": 2}],
        "series": [
            {"day": "2026-12-01", "entered": 5, "completed": 0, "exited": 1},
            {"day": "2026-12-02", "entered": 3, "completed": 3, "exited": 2},
        ],
    }


def chart_config(html: str) -> dict[str, Any]:
    """The configuration of the one chart in a panel."""
    [found] = re.findall(r"data-chart='([^']*)'", html)
    config: dict[str, Any] = json.loads(unescape(found))
    return config


async def test_the_sequence_page_shows_how_its_enrolments_went(site: Console) -> None:
    client, api = site
    enrolment_page_api(api)
    page = await client.get("/console/sequences/s1", headers=gateway_headers(MARK))
    assert page.status_code == 200, page.text
    assert 'hx-get="/console/sequences/s1/enrolment-report" hx-trigger="load"' in page.text
    # The page's title is the sequence's name alone (no panel inside it).
    title = page.text.split("<title>", 1)[1].split("</title>", 1)[0]
    assert "hx-get" not in title, title

    api.answer("GET", "/api/v1/analytics/sequences/s1/enrolments", body=enrolment_report())
    panel = await client.get("/console/sequences/s1/enrolment-report", headers=htmx_headers(MARK))
    assert panel.status_code == 200, panel.text
    assert "How the enrolments went" in panel.text
    assert '<td data-figure="enrolled_now">2</td>' in panel.text
    assert '<td data-figure="entrants_completed">3 (37.5 %)</td>' in panel.text
    assert '<td data-figure="median_days_to_complete">6.5</td>' in panel.text
    assert '<th scope="row">Replied</th><td data-figure="exit-replied">2</td>' in panel.text
    assert "A mail not sent: no marketing consent" in panel.text
    assert "step 0: 1" in panel.text
    assert 'href="/console/sequences/s1/enrolment-report.csv"' in panel.text
    # Asked again a moment after an enrolment changed on the page.
    assert 'hx-get="/console/sequences/s1/enrolment-report"' in panel.text
    assert "enrolment-report-stale from:body delay:2s" in panel.text
    chart = chart_config(panel.text)
    assert [(d["label"], d["data"]) for d in chart["data"]["datasets"]] == [
        ("Entered", [5, 3]),
        ("Ran through every step", [0, 3]),
        ("Left early", [1, 2]),
    ]

    # Nobody enrolled yet: the API's 404 says so in the panel's words.
    api.answer(
        "GET", "/api/v1/analytics/sequences/s1/enrolments", 404, {"status": 404, "detail": "no"}
    )
    empty = await client.get("/console/sequences/s1/enrolment-report", headers=htmx_headers(MARK))
    assert "Not shown: nobody has been enrolled in this sequence yet." in empty.text

    # A coordinator may not read analytics: the page says why instead of loading the panel.
    enrolment_page_api(api)
    theirs = await client.get("/console/sequences/s1", headers=gateway_headers(CORA))
    assert theirs.status_code == 200, theirs.text
    assert "/enrolment-report" not in theirs.text
    assert "enrolment reports are analytics, which your role may not read" in theirs.text


def test_a_single_day_draws_no_chart() -> None:
    assert daily_lines([{"day": "2026-12-01", "sent": 4}], [("sent", "Sent")], title="Mail") is None
