"""The broadcast page's "Waiting" and "Skipped" panels: who the mail still waits for and who was
skipped, grouped by why, named and linked; the full list behind "and N more"; and the message
report that stops asking once the broadcast is over."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from crm_console.domain import broadcast_people as who
from crm_shared import Principal
from unit.console.test_campaigns import broadcast
from unit.console.test_pages import Api, gateway_headers, htmx_headers

pytestmark = pytest.mark.unit

Console = tuple[httpx.AsyncClient, Api]
MARK = Principal(tenant_id="acme", user_id="mark", roles=frozenset({"marketer"}))
NOW = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)


def message(candidate_id: str, status: str = "queued", **fields: Any) -> dict[str, Any]:
    return {
        "id": f"m-{candidate_id}",
        "candidate_id": candidate_id,
        "to_email": f"{candidate_id}@example.org",
        "status": status,
        "first_name": None,
        "last_name": None,
        "time_zone": None,
        "policy_reason": None,
        "deferred_until": None,
        "suppression_reason": None,
        "next_attempt_at": None,
        "attempts": 0,
        "last_error": None,
        **fields,
    }


def quiet(candidate_id: str, until: str, zone: str | None, **fields: Any) -> dict[str, Any]:
    return message(
        candidate_id,
        policy_reason="quiet_hours",
        deferred_until=until,
        next_attempt_at=until,
        time_zone=zone,
        **fields,
    )


def test_waiting_mail_is_grouped_by_why_on_each_recipients_own_clock() -> None:
    now_schedule: dict[str, Any] = {"type": "now"}
    # 08:00 in Berlin and 08:00 in London are one group: quiet hours end at 08:00 their time.
    groups = who.waiting_groups(
        [
            quiet("ada", "2026-12-05T07:00:00Z", "Europe/Berlin", first_name="Ada"),
            quiet("bo", "2026-12-05T08:00:00+00:00", "Europe/London", first_name="Bo"),
            quiet("cy", "2026-12-05T07:00:00Z", None),
            message("di", status="held", first_name="Di", last_name="Ng"),
            message("ed", next_attempt_at="2026-12-05T05:00:00Z"),
            message("fa", attempts=1, next_attempt_at="2026-12-05T06:05:00Z", last_error="421"),
            # A deferral that is over waits in the send queue like any due mail.
            message("gu", policy_reason="quiet_hours", deferred_until="2026-12-05T05:00:00Z"),
        ],
        now_schedule,
        NOW,
    )
    found = {g.label: [(p.candidate_id, p.name, p.detail) for p in g.people] for g in groups}
    assert found == {
        "Quiet hours, until 2026-12-05 08:00 their time": [
            ("ada", "Ada", "Europe/Berlin, 2026-12-05 07:00 UTC"),
            ("bo", "Bo", "Europe/London, 2026-12-05 08:00 UTC"),
        ],
        "Quiet hours, until 2026-12-05 07:00 UTC": [
            ("cy", "cy@example.org", "no time zone of theirs: the contact policy's for such people")
        ],
        "Paused: held until the broadcast is resumed": [("di", "Di Ng", "")],
        "Due now: in the send queue": [("ed", "ed@example.org", ""), ("gu", "gu@example.org", "")],
        "Retrying after a temporary failure": [
            ("fa", "fa@example.org", "next try 2026-12-05 06:05 UTC: 421")
        ],
    }
    assert [len(g.people) for g in groups][:2] == [2, 2]

    local = {"type": "local_time", "date": "2026-12-06", "local_time": "09:00:00"}
    [scheduled] = who.waiting_groups(
        [message("ho", next_attempt_at="2026-12-06T08:00:00Z", time_zone="Europe/Paris")],
        local,
        NOW,
    )
    assert scheduled.label == "Scheduled for 2026-12-06 09:00 their time"
    at = {"type": "at", "send_at": "2026-12-07T10:00:00Z"}
    [later] = who.waiting_groups([message("io", next_attempt_at="2026-12-07T10:00:00Z")], at, NOW)
    assert later.label == "Scheduled for 2026-12-07 10:00 UTC"


def test_skipped_mail_is_grouped_by_why_and_a_panel_names_fifty_at_most() -> None:
    groups = who.skipped_groups(
        [
            message("a", "suppressed", suppression_reason="no_marketing_consent"),
            message("b", "suppressed", suppression_reason="bounced", first_name="Bea"),
            message("c", "suppressed", suppression_reason="no_marketing_consent"),
        ]
    )
    assert [(g.label, [p.name for p in g.people]) for g in groups] == [
        ("No marketing consent", ["a@example.org", "c@example.org"]),
        ("The address bounced before", ["Bea"]),
    ]
    many = who.skipped_groups(
        [message(f"p{n:02d}", "suppressed", suppression_reason="unsubscribed") for n in range(60)]
        + [message("z", "suppressed", suppression_reason="manual")]
    )
    cut = who.panel(many, total=75)
    assert cut.shown == 50
    assert cut.more == 25
    assert [len(g.people) for g in cut.groups] == [50]


def answer_people(api: Api, status: str = "sending", **progress: Any) -> None:
    counts = {"pending": 2, "held": 0, "skipped": 3} | progress
    counts["skipped_reasons"] = {"no_marketing_consent": 2, "unknown_candidate": 1}
    api.answer("GET", "/api/v1/broadcasts/b1", body=broadcast(status, **counts))
    # Far ahead: the pages judge what is still ahead by the clock.
    waiting = [
        quiet("c-ada", "2099-12-05T07:00:00Z", "Europe/Berlin", first_name="Ada", last_name="L"),
        message("c-bo", first_name="Bo"),
    ]
    api.answer_with(
        "/api/v1/messages", {"status": "queued"}, {"items": waiting, "next_cursor": "m2"}
    )
    skipped = [
        message(c, "suppressed", suppression_reason="no_marketing_consent", first_name=c[2:])
        for c in ("c-cy", "c-di")
    ]
    api.answer_with(
        "/api/v1/messages", {"status": "suppressed"}, {"items": skipped, "next_cursor": None}
    )


async def test_the_page_names_who_waits_and_who_was_skipped_and_why(console: Console) -> None:
    client, api = console
    answer_people(api, pending=60)
    panel = await client.get("/console/broadcasts/b1/people", headers=htmx_headers(MARK))
    assert panel.status_code == 200, panel.text
    asked = [dict(c.url.params) for c in api.calls if c.url.path == "/api/v1/messages"]
    # Held is not asked while the counts say none is; each list one call of 50.
    assert sorted((a["broadcast_id"], a["status"], a["limit"]) for a in asked) == [
        ("b1", "queued", "50"),
        ("b1", "suppressed", "50"),
    ]
    assert 'hx-trigger="every 5s, broadcast-people-stale from:body"' in panel.text
    waiting = panel.text.split('data-testid="waiting-panel"')[1].split("</section>")[0]
    assert "Quiet hours, until 2099-12-05 08:00 their time" in waiting
    assert '<a href="/console/candidates/c-ada">Ada L</a>' in waiting
    assert '<a href="/console/candidates/c-bo">Bo</a>' in waiting
    assert "Due now: in the send queue" in waiting
    assert "and 58 more" in waiting
    assert "/console/broadcasts/b1/messages?status=queued" in waiting
    skipped = panel.text.split('data-testid="skipped-panel"')[1].split("</section>")[0]
    assert "No marketing consent" in skipped
    assert '<a href="/console/candidates/c-cy">cy</a>' in skipped
    assert "more" not in skipped
    assert "1 of the audience not known to campaigns" in skipped
    # Without script the broadcast's page links here: the panels in a page of their own.
    page = await client.get("/console/broadcasts/b1/people", headers=gateway_headers(MARK))
    assert '<main id="main"' in page.text
    assert '<a href="/console/broadcasts/b1">← Back</a>' in page.text
    assert "No marketing consent" in page.text

    # Once the broadcast is over the panel stops asking.
    api.calls.clear()
    answer_people(api, status="completed", pending=0)
    panel = await client.get("/console/broadcasts/b1/people", headers=htmx_headers(MARK))
    assert "every 5s" not in panel.text
    # Still asked again after a control (a resume makes it live once more).
    assert 'hx-trigger="broadcast-people-stale from:body"' in panel.text
    assert 'data-testid="waiting-panel"' not in panel.text
    assert [c.url.params["status"] for c in api.calls if c.url.path == "/api/v1/messages"] == [
        "suppressed"
    ]


async def test_a_list_the_api_refuses_says_so_in_the_panel(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/broadcasts/b1", body=broadcast("sending"))
    api.answer("GET", "/api/v1/messages", 403, {"status": 403, "title": "Forbidden"})
    panel = await client.get("/console/broadcasts/b1/people", headers=htmx_headers(MARK))
    assert panel.status_code == 200
    assert "Who is waiting or skipped cannot be shown" in panel.text


async def test_the_full_list_pages_through_everyone_waiting_with_why(console: Console) -> None:
    client, api = console
    answer_people(api, pending=60)
    page = await client.get(
        "/console/broadcasts/b1/messages?status=queued", headers=gateway_headers(MARK)
    )
    assert page.status_code == 200, page.text
    assert "<h1>December news: who is waiting</h1>" in page.text
    assert '<a href="/console/candidates/c-ada">Ada L</a>' in page.text
    assert "Quiet hours, until 2099-12-05 08:00 their time" in page.text
    assert "/console/broadcasts/b1/messages?status=queued&amp;cursor=m2" in page.text
    assert api.calls[-1].url.params["limit"] == "50"
    refused = await client.get(
        "/console/broadcasts/b1/messages?status=sent", headers=gateway_headers(MARK)
    )
    assert refused.status_code == 404


async def test_the_page_loads_the_panels_while_it_sends(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/broadcasts/b1", body=broadcast("sending"))
    for listed in ("templates", "segments", "pools", "lists", "team"):
        api.answer("GET", f"/api/v1/{listed}", body={"items": [], "next_cursor": None})
    page = await client.get("/console/broadcasts/b1", headers=gateway_headers(MARK))
    assert page.status_code == 200, page.text
    assert 'hx-get="/console/broadcasts/b1/people" hx-trigger="load"' in page.text
    api.answer("GET", "/api/v1/broadcasts/b1", body=broadcast("draft", pending=0, skipped=0))
    page = await client.get("/console/broadcasts/b1", headers=gateway_headers(MARK))
    assert "/people" not in page.text


async def test_the_message_report_stops_asking_once_the_broadcast_is_over(
    console: Console,
) -> None:
    client, api = console
    report = {"totals": {"sent": 2}, "groups": []}
    api.answer("GET", "/api/v1/analytics/broadcasts/b1", body=report)
    api.answer("GET", "/api/v1/broadcasts/b1", body=broadcast("sending"))
    live = await client.get("/console/broadcasts/b1/report?live=1", headers=htmx_headers(MARK))
    assert live.status_code == 200, live.text
    assert 'hx-trigger="every 15s"' in live.text
    for over in ("completed", "cancelled"):
        api.answer("GET", "/api/v1/broadcasts/b1", body=broadcast(over))
        done = await client.get("/console/broadcasts/b1/report?live=1", headers=htmx_headers(MARK))
        assert done.status_code == 200, done.text
        assert "every 15s" not in done.text
        assert 'data-figure="sent">2' in done.text


async def test_the_rest_of_an_ab_test_is_counted_as_waiting_for_the_winner(
    console: Console,
) -> None:
    client, api = console
    testing = broadcast("sending", audience_size=10, pending=0, skipped=0, awaiting_winner=6)
    testing["progress"]["skipped_reasons"] = {}
    testing["ab_test"] = {"test_ends_at": "2099-12-05T09:00:00Z", "winner": None, "results": []}
    api.answer("GET", "/api/v1/broadcasts/b1", body=testing)
    api.answer("GET", "/api/v1/messages", body={"items": [], "next_cursor": None})
    panel = await client.get("/console/broadcasts/b1/people", headers=htmx_headers(MARK))
    assert panel.status_code == 200, panel.text
    waiting = panel.text.split('data-testid="waiting-panel"')[1].split("</section>")[0]
    assert 'Waiting <span class="muted">(6)</span>' in waiting
    assert "6 of the audience wait for the A/B test's winner, to be decided at" in waiting
    progress = await client.get("/console/broadcasts/b1/progress", headers=htmx_headers(MARK))
    assert '<dd data-figure="awaiting_winner">6</dd>' in progress.text
