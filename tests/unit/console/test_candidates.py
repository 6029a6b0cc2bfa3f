"""The candidate pages in depth, rendered in-process against a stand-in API: the profile's
panels, notes, duplicates, the side-by-side merge and its undo, GDPR export and erasure; and
the pure rules behind them (the real API: tests/e2e/test_console_candidates.py)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from crm_console.domain.merging import default_choice, merge_choices, merge_rows
from crm_console.domain.profile import (
    NOTHING,
    display_value,
    erasure_confirmed,
    erasure_phrase,
    labelled_custom_fields,
    placements,
    suppressed_lines,
    timeline_summary,
)
from crm_shared import Principal
from unit.console.test_pages import Api, console, gateway_headers, with_lazy_parts

pytestmark = pytest.mark.unit

__all__ = ["console"]

ADMIN = Principal(tenant_id="acme", user_id="ada", roles=frozenset({"admin"}))
Console = tuple[httpx.AsyncClient, Api]


def candidate(candidate_id: str = "c1", **fields: Any) -> dict[str, Any]:
    return {
        "id": candidate_id,
        "first_name": "Zoë",
        "last_name": "Ångström",
        "emails": ["zoe@example.org"],
        "phones": [],
        "headline": None,
        "current_title": "Engineer",
        "current_company": "Globex",
        "location": "Berlin",
        "time_zone": None,
        "locale": None,
        "seniority": None,
        "skills": ["python"],
        "tags": [],
        "desired_roles": [],
        "profile_urls": [],
        "source": "event",
        "owner_id": None,
        "marketing_consent": True,
        "custom_fields": {},
        "pools": [],
        "engagement_score": 1.0,
        **fields,
    }


def answer_profile(api: Api, **overrides: Any) -> None:
    """Every call of the profile page answered; `overrides` replaces one by its path."""
    base = "/api/v1/candidates/c1"
    answers: dict[str, Any] = {
        base: candidate(
            custom_fields={"notice_period": 30, "remote": True, "legacy_key": "kept"},
            pools=[{"pool_id": "p1", "stage": "Screen"}, {"pool_id": "gone", "stage": "New"}],
        ),
        "/api/v1/custom-fields": [
            {"key": "remote", "label": "Works remotely"},
            {"key": "notice_period", "label": "Notice period (days)"},
        ],
        "/api/v1/pools": [{"id": "p1", "name": "Backend engineers", "stages": ["New", "Screen"]}],
        f"{base}/timeline": {
            "items": [
                {
                    "type": "pool.stage_changed",
                    "source": "candidates",
                    "occurred_at": "2026-12-01T10:00:00+00:00",
                    "data": {
                        "pool_name": "Backend engineers",
                        "from_stage": "New",
                        "to_stage": "Screen",
                    },
                }
            ]
        },
        "/api/v1/analytics/candidates/c1/engagement": {
            "score": 3.25,
            "half_life_days": 30,
            "contributions": [],
        },
        f"{base}/consents": {
            "candidate_id": "c1",
            "marketing_consent": True,
            "current": [
                {
                    "purpose": "marketing",
                    "status": "granted",
                    "lawful_basis": "consent",
                    "source": "preference_centre",
                    "granted_at": "2026-11-01T00:00:00+00:00",
                    "withdrawn_at": None,
                    "expires_at": None,
                }
            ],
            "history": [
                {
                    "id": "l1",
                    "purpose": "marketing",
                    "status": "granted",
                    "lawful_basis": "consent",
                    "source": "preference_centre",
                    "recorded_at": "2026-11-01T00:00:00+00:00",
                    "expires_at": None,
                    "message_id": None,
                    "recorded_by": "candidate",
                    "evidence": {},
                }
            ],
        },
        f"{base}/segments": [
            {"id": "s1", "name": "Berlin Pythonistas", "entered_at": "2026-11-02T00:00:00+00:00"}
        ],
        "/api/v1/ats/applications": [
            {
                "id": "a1",
                "provider": "greenhouse",
                "ats_application_id": "gh-9",
                "job_name": "Staff Engineer",
                "stage": "Onsite",
                "status": "active",
                "applied_at": "2026-11-20T00:00:00+00:00",
            }
        ],
        f"{base}/notes": {
            "items": [
                {
                    "id": "n1",
                    "candidate_id": "c1",
                    "author_id": "rita",
                    "body": "Met at PyCon",
                    "created_at": "2026-11-03T00:00:00+00:00",
                }
            ],
            "next_cursor": None,
        },
        "/api/v1/suppressions": {"items": [], "next_cursor": None},
        "/api/v1/team": {"items": [{"user_id": "rita", "name": "Rita Récruteuse"}]},
        "/api/v1/messages": {
            "items": [
                {
                    "id": "m1",
                    "candidate_id": "c1",
                    "subject": "Data roles in Berlin",
                    "replied_at": "2026-12-02T09:00:00+00:00",
                    "replies": [
                        {
                            "received_at": "2026-12-02T09:00:00+00:00",
                            "excerpt": "Très intéressée <b>!</b> Thursday?",
                        }
                    ],
                }
            ],
            "next_cursor": None,
        },
        "/api/v1/sequences/enrolments": {"items": [], "next_cursor": None},
        f"{base}/duplicates": [
            {
                "candidate": candidate("c2", first_name="Zoe", last_name="Angstrom"),
                "score": 91.0,
                "reason": "same name, same company",
            }
        ],
    }
    for path, body in {**answers, **overrides}.items():
        status, body = body if isinstance(body, tuple) else (200, body)
        api.answer("GET", path, status, body)


async def test_the_profile_answers_with_the_candidates_own_record_and_loads_the_rest_after(
    console: Console,
) -> None:
    client, api = console
    answer_profile(api)
    page = await client.get("/console/candidates/c1", headers=gateway_headers())
    assert page.status_code == 200, page.text
    # The page waits for the candidate, the custom fields' labels and the team (the owner).
    assert sorted(call.url.path for call in api.calls) == [
        "/api/v1/candidates/c1",
        "/api/v1/custom-fields",
        "/api/v1/team",
    ]
    text = page.text
    assert "zoe@example.org" in text
    assert "Works remotely" in text
    assert 'data-testid="consent">Given<' in text
    # Every other panel is a placeholder htmx fills from the panel's own route.
    panels = [
        "suppressions", "pools", "segments", "engagement", "consents", "ats", "duplicates",
        "notes", "sequences", "replies", "timeline",
    ]  # fmt: skip
    for name in panels:
        assert f'hx-get="/console/candidates/c1/panels/{name}" hx-trigger="load"' in text, name
    assert text.count("data-lazy-panel") == len(panels)
    assert "Loading talent pools…" in text
    assert "Met at PyCon" not in text
    assert "Berlin Pythonistas" not in text


async def test_the_profile_shows_every_panel_from_what_the_api_says(console: Console) -> None:
    client, api = console
    answer_profile(api)
    page = await with_lazy_parts(client, "/console/candidates/c1")
    assert page.status_code == 200, page.text
    text = page.text
    # Custom fields under their labels, in the tenant's order; an unknown key keeps its key.
    assert (
        text.index("Works remotely") < text.index("Notice period (days)") < text.index("legacy_key")
    )
    assert "<dd>Yes</dd>" in text
    assert "<dd>30</dd>" in text
    # Pools by name (an unknown pool by its id), segments, consent, applications, notes.
    assert ">Backend engineers</a> · Screen" in text
    assert ">gone</a> · New" in text
    assert ">Berlin Pythonistas</a>" in text
    assert 'data-testid="consent-ledger"' in text
    assert "<td>Marketing</td><td>Granted</td>" in text  # words, not the API's values
    assert "Ledger (1 entry)" in text
    assert "preference centre" in text
    assert "Staff Engineer" in text
    assert "Onsite" in text
    assert "Met at PyCon" in text
    assert "91%" in text
    assert '/console/candidates/c1/merge/c2">Compare and merge<span' in text
    # A readable line per timeline entry, not the topic.
    assert "Moved from New to Screen in Backend engineers" in text
    assert "(candidates)" not in text  # the record's own entry names no service
    assert 'data-testid="engagement-score">3.25<' in text
    # The person's replies to our mail, with what they wrote (escaped: it is their text).
    assert "Re: Data roles in Berlin" in text
    assert "Très intéressée &lt;b&gt;!&lt;/b&gt; Thursday?" in text
    [replied] = [call for call in api.calls if call.url.path == "/api/v1/messages"]
    assert (replied.url.params["candidate_id"], replied.url.params["replied"]) == ("c1", "true")
    assert replied.url.params["sort"] == "-created_at"  # newest first
    assert 'data-testid="older-replies"' not in text  # the only page
    # A recruiter may not export or erase: no links to do so.
    assert "/export" not in text
    assert "/erase" not in text
    # One call per panel, all for this candidate (no request per row): the page's three, then
    # each panel's own (pools and ATS take the candidate the page read; a recruiter may send
    # the candidate to the ATS: its connections and open jobs too), and the team once for the
    # page and every panel that names people (consents, notes, sequences).
    assert len(api.calls) == 16
    assert [c.url.path for c in api.calls].count("/api/v1/team") == 1
    [ats] = [call for call in api.calls if call.url.path == "/api/v1/ats/applications"]
    assert ats.url.params["candidate_id"] == "c1"
    # Nothing suppressed: no notice.
    assert 'data-testid="suppressed-notice"' not in text


def replied_message(message_id: str, subject: str, *received: str) -> dict[str, Any]:
    """A message the person replied to, its replies (as the API keeps them: oldest first)
    received on the given days of December 2026."""
    return {
        "id": message_id,
        "candidate_id": "c1",
        "subject": subject,
        "replied_at": f"2026-12-{received[0]}T09:00:00+00:00",
        "replies": [
            {"received_at": f"2026-12-{day}T09:00:00+00:00", "excerpt": f"Reply of the {day}th"}
            for day in received
        ],
    }


async def test_the_replies_card_shows_the_newest_first_and_pages_to_older_ones(
    console: Console,
) -> None:
    client, api = console
    newest_page = {
        "items": [
            replied_message("m3", "Newest mail", "20", "24"),
            replied_message("m2", "Older mail", "12"),
        ],
        "next_cursor": "page-2",
    }
    answer_profile(api, **{"/api/v1/messages": newest_page})
    page = await with_lazy_parts(client, "/console/candidates/c1")
    assert page.status_code == 200, page.text
    text = page.text
    # Newest first: the newest mail's replies, its latest one first, then the older mail's.
    assert text.index("Reply of the 24th") < text.index("Reply of the 20th")
    assert text.index("Reply of the 20th") < text.index("Reply of the 12th")
    # A link: without script it opens the older replies as a page of their own.
    assert (
        'href="/console/candidates/c1/replies?cursor=page-2" '
        'hx-get="/console/candidates/c1/replies?cursor=page-2" hx-target="this" '
        'hx-swap="outerHTML">Older replies</a>'
    ) in text

    api.calls.clear()
    api.answer(
        "GET",
        "/api/v1/messages",
        200,
        {"items": [replied_message("m1", "First mail", "02")], "next_cursor": None},
    )
    older = await client.get(
        "/console/candidates/c1/replies", params={"cursor": "page-2"}, headers=gateway_headers()
    )
    assert older.status_code == 200, older.text
    assert "Re: First mail" in older.text
    assert "Reply of the 02th" in older.text
    assert "Older replies" not in older.text  # the last page
    assert '<a href="/console/candidates/c1">← Back</a>' in older.text  # a page without script
    [call] = api.calls
    assert call.url.path == "/api/v1/messages"
    assert dict(call.url.params) == {
        "candidate_id": "c1",
        "replied": "true",
        "sort": "-created_at",
        "limit": "20",
        "cursor": "page-2",
    }


async def test_the_profile_says_when_the_persons_address_is_suppressed(
    console: Console,
) -> None:
    client, api = console
    listed = {
        "email_sha256": "ab" * 32,
        "source": "postmark",
        "candidate_id": "c1",
        "candidate_name": "Ada Lovelace",
        "message_id": "m1",
        "created_at": "2026-12-01T10:00:00Z",
    }
    answer_profile(
        api,
        **{
            "/api/v1/suppressions": {
                "items": [
                    {**listed, "id": "s1", "reason": "unsubscribed", "note": None},
                    {**listed, "id": "s2", "reason": "complained", "note": "spam complaint"},
                    {**listed, "id": "s3", "reason": "complained", "note": None},
                ],
                "next_cursor": None,
            }
        },
    )
    page = await with_lazy_parts(client, "/console/candidates/c1")
    assert page.status_code == 200, page.text
    text = page.text
    assert 'data-testid="suppressed-notice"' in text
    assert "Do not e-mail this person: their address is suppressed." in text
    assert "The CRM sends them no mail;" in text
    # The reasons in words, the one that blocks all mail first, each once.
    assert text.index("they reported our mail as spam (stops all mail)") < text.index(
        "they unsubscribed from marketing mail (stops marketing mail)"
    )
    assert text.count('data-testid="suppressed-complained"') == 1
    assert "spam complaint" in text
    assert 'href="/console/settings/suppressions?candidate_id=c1"' in text
    # One call: the list filtered by the candidate.
    [call] = [c for c in api.calls if c.url.path == "/api/v1/suppressions"]
    assert call.url.params["candidate_id"] == "c1"


async def test_only_an_unsubscribe_says_marketing_mail_and_a_failed_read_says_so(
    console: Console,
) -> None:
    client, api = console
    unsubscribed = {
        "id": "s1",
        "reason": "unsubscribed",
        "email_sha256": "ab" * 32,
        "source": "consent.changed:preference_centre",
        "candidate_id": "c1",
        "note": None,
        "created_at": "2026-12-01T10:00:00Z",
    }
    answer_profile(api, **{"/api/v1/suppressions": {"items": [unsubscribed]}})
    page = await with_lazy_parts(client, "/console/candidates/c1")
    assert "The CRM sends them no marketing mail;" in page.text
    failed = (503, {"title": "Unavailable", "status": 503, "detail": "campaigns is down"})
    answer_profile(api, **{"/api/v1/suppressions": failed})
    page = await with_lazy_parts(client, "/console/candidates/c1")
    assert page.status_code == 200
    assert "Whether this person's address is suppressed is not known: campaigns is down" in (
        page.text
    )


async def test_a_panel_the_person_may_not_read_says_why_and_the_rest_renders(
    console: Console,
) -> None:
    client, api = console
    forbidden = (403, {"title": "Forbidden", "status": 403, "detail": "needs consent:read"})
    answer_profile(api, **{"/api/v1/candidates/c1/consents": forbidden})
    page = await with_lazy_parts(client, "/console/candidates/c1", ADMIN)
    assert page.status_code == 200
    assert "Ledger not available: needs consent:read" in page.text
    assert "Met at PyCon" in page.text
    # An admin gets the GDPR actions.
    assert 'href="/console/candidates/c1/export"' in page.text
    assert 'href="/console/candidates/c1/erase"' in page.text


async def test_a_person_analytics_has_no_record_of_yet_has_no_activity_not_an_error(
    console: Console,
) -> None:
    client, api = console
    missing = (404, {"title": "Not Found", "status": 404, "detail": "no candidate c1"})
    answer_profile(api, **{"/api/v1/analytics/candidates/c1/engagement": missing})
    page = await with_lazy_parts(client, "/console/candidates/c1")
    assert page.status_code == 200
    assert "Not available: no activity recorded for this person yet" in page.text
    assert "no candidate c1" not in page.text


async def test_a_merged_away_record_has_no_score_and_points_to_the_kept_record(
    console: Console,
) -> None:
    client, api = console
    merged: dict[str, Any] = {
        "score": None,
        "merged_into": "c9",
        "half_life_days": 30,
        "contributions": [],
    }
    answer_profile(
        api,
        **{
            "/api/v1/candidates/c1": candidate(status="merged", merged_into="c9"),
            "/api/v1/analytics/candidates/c1/engagement": merged,
        },
    )
    page = await with_lazy_parts(client, "/console/candidates/c1")
    assert page.status_code == 200, page.text
    assert 'data-testid="engagement-merged"' in page.text
    assert 'href="/console/candidates/c9">the kept record' in page.text
    assert 'data-testid="engagement-score"' not in page.text


async def test_a_note_is_added_and_the_panel_comes_back_with_it(console: Console) -> None:
    client, api = console
    api.answer("POST", "/api/v1/candidates/c1/notes", 201, {"id": "n2", "body": "Call back"})
    api.answer(
        "GET",
        "/api/v1/candidates/c1/notes",
        body={
            "items": [
                {
                    "id": "n2",
                    "author_id": "rita",
                    "body": "Call back",
                    "created_at": "2026-12-03T08:00:00+00:00",
                }
            ]
        },
    )
    answer = await client.post(
        "/console/candidates/c1/notes",
        data={"body": "Call back"},
        headers={**gateway_headers(), "hx-request": "true"},
    )
    assert answer.status_code == 200
    assert "<html" not in answer.text
    assert "Note added." in answer.text
    assert "Call back" in answer.text
    posted = [call for call in api.calls if call.method == "POST"]
    assert [json.loads(call.content) for call in posted] == [{"body": "Call back"}]


async def test_a_refused_note_keeps_the_text_with_the_reason_beside_it(console: Console) -> None:
    client, api = console
    api.answer(
        "POST",
        "/api/v1/candidates/c1/notes",
        422,
        {
            "title": "Request validation failed",
            "status": 422,
            "detail": "invalid request: body",
            "errors": [{"field": "body", "detail": "String should have at most 10000 characters"}],
        },
    )
    api.answer("GET", "/api/v1/candidates/c1/notes", body={"items": []})
    answer = await client.post(
        "/console/candidates/c1/notes",
        data={"body": "far too long"},
        headers={**gateway_headers(), "hx-request": "true"},
    )
    assert answer.status_code == 422
    assert 'aria-invalid="true"' in answer.text
    assert ">far too long</textarea>" in answer.text
    # The API names the note's own field `body`: its reason is shown there, not "each marked
    # field says why" pointing at itself.
    assert 'id="note-error" role="alert">Use at most 10000 characters.</p>' in answer.text
    assert "each marked field" not in answer.text


async def test_duplicates_are_listed_best_first_with_a_link_to_compare(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/candidates/c1", body=candidate())
    api.answer(
        "GET",
        "/api/v1/candidates/c1/duplicates",
        body=[
            {
                "candidate": candidate("c2", current_company="Globex"),
                "score": 91.0,
                "reason": "same name, same company",
            },
            {"candidate": candidate("c3"), "score": 72.4, "reason": "similar name"},
        ],
    )
    page = await client.get("/console/candidates/c1/duplicates", headers=gateway_headers())
    assert page.status_code == 200
    assert page.text.index("91%") < page.text.index("72%")
    assert "same name, same company" in page.text
    assert "/console/candidates/c1/merge/c3" in page.text

    # Who may not merge sees the suggestions without the way to a merge it would be refused.
    vic = Principal(tenant_id="acme", user_id="vic", roles=frozenset({"viewer"}))
    viewed = await client.get("/console/candidates/c1/duplicates", headers=gateway_headers(vic))
    assert "same name, same company" in viewed.text
    assert "/merge/" not in viewed.text
    assert "to merge it into this record" not in viewed.text
    refused = await client.get("/console/candidates/c1/merge/c3", headers=gateway_headers(vic))
    assert refused.status_code == 403


async def test_the_merge_sends_the_chosen_fields_and_opens_the_merge_with_its_undo(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", "/api/v1/candidates/c1", body=candidate(location=None, tags=["a"]))
    api.answer(
        "GET",
        "/api/v1/candidates/c2",
        body=candidate("c2", first_name="Zoe", location="Munich", tags=["b"]),
    )
    form = await client.get("/console/candidates/c1/merge/c2", headers=gateway_headers())
    assert form.status_code == 200
    # The proposal: the kept record's name, the other's location where the kept has none,
    # lists united; identical values need no choice.
    assert 'name="choice.first_name" value="survivor" checked' in form.text
    assert 'name="choice.location" value="merged" checked' in form.text
    assert 'name="choice.tags" value="union" checked' in form.text
    assert 'name="choice.last_name"' not in form.text

    merge = {
        "id": "m1",
        "survivor_id": "c1",
        "merged_id": "c2",
        "choices": {"first_name": "merged"},
        "provenance": {},
        "status": "merged",
        "created_by": "rita",
        "created_at": "2026-12-03T08:00:00+00:00",
        "undone_at": None,
        "undone_by": None,
    }
    api.answer("POST", "/api/v1/candidates/merges", 201, merge)
    done = await client.post(
        "/console/candidates/c1/merge/c2",
        data={
            "choice.first_name": "merged",
            "choice.tags": "union",
            "choice.location": "union",
            "choice.bogus": "merged",
        },
        headers={**gateway_headers(), "hx-request": "true"},
    )
    assert done.status_code == 204
    assert done.headers["hx-redirect"] == "/console/candidates/merges/m1"
    [posted] = [call for call in api.calls if call.method == "POST"]
    assert json.loads(posted.content) == {
        "survivor_id": "c1",
        "merged_id": "c2",
        "choices": {"first_name": "merged", "tags": "union"},
    }

    api.answer("GET", "/api/v1/candidates/merges/m1", body=merge)
    page = await client.get("/console/candidates/merges/m1", headers=gateway_headers())
    assert "Undo this merge" in page.text
    assert "first name → folded in" in page.text
    api.answer(
        "POST",
        "/api/v1/candidates/merges/m1/undo",
        body={
            **merge,
            "status": "undone",
            "undone_at": "2026-12-03T08:05:00+00:00",
            "undone_by": "rita",
        },
    )
    undone = await client.post(
        "/console/candidates/merges/m1/undo", headers={**gateway_headers(), "hx-request": "true"}
    )
    assert undone.status_code == 200
    assert "Both records are back" in undone.text
    assert "Undo this merge" not in undone.text


async def test_a_refused_merge_says_why_where_the_outcome_goes(console: Console) -> None:
    client, api = console
    api.answer(
        "POST",
        "/api/v1/candidates/merges",
        409,
        {"title": "Conflict", "status": 409, "detail": "c2 is already merged"},
    )
    answer = await client.post(
        "/console/candidates/c1/merge/c2",
        data={},
        headers={**gateway_headers(), "hx-request": "true"},
    )
    assert answer.status_code == 409
    assert 'role="alert"' in answer.text
    assert "c2 is already merged" in answer.text


async def test_the_gdpr_export_downloads_as_a_file(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/candidates/c1/export", body={"candidate_id": "c1", "services": {}})
    answer = await client.get("/console/candidates/c1/export", headers=gateway_headers(ADMIN))
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == 'attachment; filename="candidate-c1.json"'
    assert answer.json() == {"candidate_id": "c1", "services": {}}
    api.answer(
        "GET",
        "/api/v1/candidates/c2/export",
        403,
        {"title": "Forbidden", "status": 403, "detail": "needs gdpr:read"},
    )
    refused = await client.get("/console/candidates/c2/export", headers=gateway_headers())
    assert refused.status_code == 403
    assert "needs gdpr:read" in refused.text


async def test_erasure_needs_the_persons_name_typed_before_the_api_is_asked(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", "/api/v1/candidates/c1", body=candidate())
    api.answer(
        "POST",
        "/api/v1/candidates/c1/erasure",
        body={"candidate_id": "c1", "erased_at": "2026-12-03T08:10:00+00:00"},
    )
    htmx = {**gateway_headers(ADMIN), "hx-request": "true"}
    page = await client.get("/console/candidates/c1/erase", headers=gateway_headers(ADMIN))
    assert "Type <strong>Zoë Ångström</strong> to confirm" in page.text
    wrong = await client.post(
        "/console/candidates/c1/erase", data={"confirmation": "Zoe"}, headers=htmx
    )
    assert wrong.status_code == 200
    assert 'aria-invalid="true"' in wrong.text
    assert "exactly to confirm" in wrong.text
    assert not [call for call in api.calls if call.method == "POST"]
    done = await client.post(
        "/console/candidates/c1/erase", data={"confirmation": "  zoë  ångström "}, headers=htmx
    )
    assert done.status_code == 200
    assert "Zoë Ångström was erased" in done.text
    assert [call.url.path for call in api.calls if call.method == "POST"] == [
        "/api/v1/candidates/c1/erasure"
    ]


def test_custom_fields_take_their_labels_and_the_tenants_order() -> None:
    shown = labelled_custom_fields(
        {"b": ["x, y", "z"], "a": None, "zz": False},
        [{"key": "a", "label": "First"}, {"key": "b", "label": "Second"}],
    )
    assert [(v.key, v.label, v.value) for v in shown] == [
        ("a", "First", NOTHING),
        ("b", "Second", "x, y, z"),
        ("zz", "zz", "No"),
    ]
    # Several choices are shown one an item: a choice may hold a comma.
    assert [v.items for v in shown] == [(), ("x, y", "z"), ()]
    assert display_value([]) == NOTHING
    assert display_value(3.5) == "3.5"


def test_placements_name_their_pools() -> None:
    found = placements(
        [{"pool_id": "p1", "stage": "New"}, {"pool_id": "p9", "stage": "Hired"}],
        [{"id": "p1", "name": "Design"}],
    )
    assert [(p.pool_name, p.stage) for p in found] == [("Design", "New"), ("p9", "Hired")]


@pytest.mark.parametrize(
    ("kind", "data", "line"),
    [
        ("message.sent", {"subject": "Hello"}, "Was sent “Hello”"),
        ("message.opened", {}, "Opened a mail"),
        ("message.clicked", {"url": "https://x.example"}, "Clicked https://x.example"),
        (
            "message.bounced",
            {"bounce_type": "hard", "reason": "no mailbox"},
            "A mail bounced (hard): no mailbox",
        ),
        (
            "pool.stage_changed",
            {"pool_name": "Design", "to_stage": "New"},
            "Added to Design at New",
        ),
        ("pool.stage_changed", {"pool_name": "Design", "from_stage": "New"}, "Removed from Design"),
        (
            "consent.changed",
            {"purpose": "marketing", "status": "withdrawn", "source": "unsubscribe_link"},
            "Consent to marketing withdrawn (unsubscribe link)",
        ),
        ("event.registered", {"event_name": "Meetup"}, "Registered for Meetup"),
        ("event.checked_in", {"event_name": "Meetup"}, "Checked in at Meetup"),
        (
            "ats.application_created",
            {"job_name": "SRE", "stage": "Applied"},
            "Applied for SRE (stage Applied)",
        ),
        ("ats.application_hired", {"job_name": "SRE"}, "Hired for SRE"),
        ("segment.entered", {"segment_name": "Berliners"}, "Entered the segment Berliners"),
        ("segment.exited", {}, "Left the segment"),
        (
            "enrolment.started",
            {"sequence_name": "Backend nurture"},
            "Enrolled in the sequence Backend nurture",
        ),
        (
            "enrolment.ended",
            {"sequence_name": "Backend nurture", "outcome": "completed"},
            "Completed the sequence Backend nurture",
        ),
        (
            "enrolment.ended",
            {"sequence_name": "Backend nurture", "outcome": "exited", "exit_reason": "replied"},
            "Left the sequence Backend nurture: replied",
        ),
        (
            "enrolment.ended",
            {
                "sequence_name": "Nurture",
                "outcome": "exited",
                "exit_reason": "no_marketing_consent",
            },
            "Left the sequence Nurture: no marketing consent",
        ),
        (
            "enrolment.ended",
            {"sequence_name": "Nurture", "outcome": "exited", "exit_reason": "brand_new"},
            "Left the sequence Nurture: brand new",
        ),
        ("candidate.something_new", {}, "Candidate something new"),
    ],
)
def test_each_timeline_entry_reads_as_a_sentence(
    kind: str, data: dict[str, Any], line: str
) -> None:
    assert timeline_summary({"type": kind, "data": data}) == line


def test_erasure_is_confirmed_by_the_name_only() -> None:
    person = {"id": "c1", "first_name": "Zoë", "last_name": "Ångström"}
    assert erasure_phrase(person) == "Zoë Ångström"
    assert erasure_confirmed(person, "zoë   ÅNGSTRÖM")
    assert not erasure_confirmed(person, "Zoe Angstrom")
    assert not erasure_confirmed(person, "")
    nameless = {"id": "c9", "first_name": "", "last_name": ""}
    assert erasure_phrase(nameless) == "c9"
    assert erasure_confirmed(nameless, "c9")


def test_the_merge_proposes_the_apis_defaults_and_sends_only_possible_choices() -> None:
    assert default_choice("skills", ["a"], ["b"]) == "union"
    assert default_choice("location", None, "Paris") == "merged"
    assert default_choice("location", "Berlin", "Paris") == "survivor"
    # The same name better written on the other record is proposed, as the API would keep it.
    assert default_choice("first_name", "Zoe", "Zoë") == "merged"
    assert default_choice("last_name", "Ørsted", "Orsted") == "survivor"
    assert default_choice("last_name", "lovelace", "Lovelace") == "merged"
    rows = {
        row.field: row
        for row in merge_rows(
            {"first_name": "Ada", "skills": []}, {"first_name": "Ada", "skills": ["go"]}
        )
    }
    assert rows["first_name"].same
    assert not rows["skills"].same
    assert rows["skills"].choices == ("survivor", "merged", "union")
    assert rows["first_name"].choices == ("survivor", "merged")
    # Identifiers are both records' whatever is chosen: the API refuses to drop one.
    assert rows["emails"].choices == ("union",)
    # Custom fields under their labels, in the tenant's order, as the profile shows them; a
    # key no definition names keeps its key.
    definitions = [
        {"key": "langues", "label": "Langues"},
        {"key": "contact_pref", "label": "Préférence de contact"},
    ]
    [custom] = [
        row
        for row in merge_rows(
            {"custom_fields": {"contact_pref": "E-mail", "langues": ["Français", "Svenska"]}},
            {"custom_fields": {"old_key": "x"}},
            definitions,
        )
        if row.field == "custom_fields"
    ]
    assert custom.kept == "Langues: Français, Svenska; Préférence de contact: E-mail"
    assert custom.other == "old_key: x"
    # Owners by name, as the profile shows them, not by their ids.
    names = {"u1": "Rita Recruiter", "u2": "Mark Marketer"}
    [owner] = [
        row
        for row in merge_rows(
            {"owner_id": "u1"}, {"owner_id": "u2"}, owner_name=lambda uid: names.get(uid or "", "")
        )
        if row.field == "owner_id"
    ]
    assert (owner.kept, owner.other, owner.same) == ("Rita Recruiter", "Mark Marketer", False)
    assert merge_choices(
        {
            "choice.skills": "union",
            "choice.location": "union",
            "choice.headline": "merged",
            "choice.id": "merged",
            "choice.emails": "merged",
            "other": "x",
        }
    ) == {"skills": "union", "headline": "merged"}


async def test_the_list_offers_pool_stage_segment_consent_and_engagement_filters(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", "/api/v1/candidates", body={"items": [], "next_cursor": None})
    api.answer(
        "GET",
        "/api/v1/pools",
        body=[{"id": "p1", "name": "Backend", "stages": ["New", "Screen"]}],
    )
    api.answer("GET", "/api/v1/segments", body=[{"id": "s1", "name": "Berliners"}])
    query = {
        "location": " Berlin ",
        "placement": "p1::Screen",
        "segment": "s1",
        "consent": "no",
        "min_engagement": "2.5",
    }
    page = await client.get("/console/candidates", params=query, headers=gateway_headers())
    assert page.status_code == 200
    assert '<option value="p1::Screen" selected>Backend: Screen</option>' in page.text
    assert '<option value="p1">Backend: any stage</option>' in page.text
    assert '<option value="s1" selected>Berliners</option>' in page.text
    assert '<option value="no" selected>Not given</option>' in page.text
    assert 'value="2.5"' in page.text
    [search] = [call for call in api.calls if call.url.path == "/api/v1/candidates"]
    assert dict(search.url.params) == {
        "location": "Berlin",
        "pool_id": "p1",
        "stage": "Screen",
        "segment_id": "s1",
        "marketing_consent": "false",
        "min_engagement": "2.5",
        "sort": "-created_at",
        "limit": "25",
    }
    # As the person types, htmx asks for the rows alone: one call.
    api.calls.clear()
    fragment = await client.get(
        "/console/candidates",
        params={"placement": "p1", "min_engagement": "-1", "consent": "maybe"},
        headers={**gateway_headers(), "hx-request": "true"},
    )
    assert fragment.status_code == 200
    [only] = api.calls
    assert only.url.params["pool_id"] == "p1"
    assert "stage" not in only.url.params
    assert "min_engagement" not in only.url.params
    assert "marketing_consent" not in only.url.params


async def test_a_list_the_person_may_not_read_leaves_its_filter_out(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/candidates", body={"items": [], "next_cursor": None})
    api.answer("GET", "/api/v1/pools", 403, {"title": "Forbidden", "status": 403})
    page = await client.get("/console/candidates", headers=gateway_headers())
    assert page.status_code == 200
    assert 'id="placement"' not in page.text
    assert 'id="segment"' not in page.text
    assert 'id="consent"' in page.text


async def test_the_merge_page_tells_two_records_of_one_name_apart(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/candidates/c1", body=candidate())
    api.answer(
        "GET",
        "/api/v1/candidates/c2",
        body=candidate("c2", emails=["z.angstrom@example.se"], source="import"),
    )
    form = await client.get("/console/candidates/c1/merge/c2", headers=gateway_headers())
    assert form.status_code == 200
    text = form.text
    kept = text[text.index('data-testid="record-c1"') :]
    other = text[text.index('data-testid="record-c2"') :]
    assert "(zoe@example.org, added" in kept[: kept.index("</span>")]
    assert ", event)" in kept[: kept.index("</span>")]
    assert "(z.angstrom@example.se, added" in other[: other.index("</span>")]
    assert ", import)" in other[: other.index("</span>")]
    assert "Consent follows the person's latest decision" in text
    assert 'data-testid="merged-already"' not in text
    # Back (or reload) after the merge: no form whose Merge can only be refused.
    api.answer(
        "GET",
        "/api/v1/candidates/c2",
        body=candidate("c2", status="merged", merged_into="c1"),
    )
    again = await client.get("/console/candidates/c1/merge/c2", headers=gateway_headers())
    assert 'data-testid="merged-already"' in again.text
    assert 'href="/console/candidates/c1">another record</a>' in again.text
    assert "Merge into" not in again.text


def test_suppressions_read_as_one_line_a_reason_all_mail_first() -> None:
    entries: list[dict[str, Any]] = [
        {"reason": "unsubscribed", "created_at": "2026-12-01T10:00:00Z", "note": None},
        {"reason": "bounced", "created_at": "2026-12-02T10:00:00Z", "note": "3 soft bounces"},
        {"reason": "bounced", "created_at": "2026-12-03T10:00:00Z", "note": "hard"},
    ]
    lines = suppressed_lines(entries)
    assert [(line.reason, line.blocks, line.note) for line in lines] == [
        ("bounced", "all mail", "3 soft bounces"),
        ("unsubscribed", "marketing mail", ""),
    ]
    assert lines[0].because == "mail to the address bounced"
    assert suppressed_lines([]) == []
