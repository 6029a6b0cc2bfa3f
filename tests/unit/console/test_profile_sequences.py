"""The profile's Sequences panel and the timeline's kinds the candidates service writes itself,
rendered in-process against a stand-in API (the real API: tests/e2e/test_console_candidates.py
and tests/integration/flow/test_profile_activity.py)."""

from __future__ import annotations

from typing import Any

import pytest

from crm_console.domain.profile import timeline_link, timeline_summary
from crm_shared import Principal
from unit.console.test_candidates import Console, answer_profile, candidate
from unit.console.test_pages import console, gateway_headers, htmx_headers, with_lazy_parts

pytestmark = pytest.mark.unit

__all__ = ["console"]

VIEWER = Principal(tenant_id="acme", user_id="vic", roles=frozenset({"viewer"}))
ENROLMENTS = "/api/v1/sequences/enrolments"


def enrolment(sequence_id: str, name: str, state: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"{sequence_id}-c1-1",
        "sequence_id": sequence_id,
        "candidate_id": "c1",
        "entry": 1,
        "status": state,
        "state": state,
        "step_index": 1,
        "step_count": 2,
        "next_run_at": None,
        "awaiting_signal": False,
        "exit_reason": None,
        "exit_step": None,
        "failure_reason": None,
        "failed_at": None,
        "last_error": None,
        "enrolled_by": "rita",
        "enrolled_at": "2026-12-01T10:00:00+00:00",
        "ended_at": None,
        "paused_by": None,
        "paused_at": None,
        "sequence_name": name,
        "sequence_status": "active",
        "step_label": None,
        **fields,
    }


IN_SEQUENCES = {
    "items": [
        enrolment("s1", "Welcome", "waiting", step_label="follow-up"),
        enrolment(
            "s2",
            "Nurture",
            "exited",
            exit_reason="no_marketing_consent",
            exit_step=0,
            ended_at="2026-12-02T10:00:00+00:00",
        ),
        enrolment("s3", "Alumni", "completed", ended_at="2026-12-03T10:00:00+00:00"),
        enrolment("s4", "Events", "paused", paused_by="rita", paused_at="2026-12-03T09:00:00Z"),
    ],
    "next_cursor": None,
}


async def test_the_sequences_panel_shows_state_step_reason_and_the_actions(
    console: Console,
) -> None:
    client, api = console
    answer_profile(api, **{ENROLMENTS: IN_SEQUENCES})
    page = await with_lazy_parts(client, "/console/candidates/c1")
    assert page.status_code == 200, page.text
    text = page.text
    assert 'data-testid="enrolments"' in text
    assert 'href="/console/sequences/s1">Welcome</a>' in text
    # Where it stands: the step (counted from 0, as the sequence's page and the reason beside
    # it count) and its label; why it ended, in words.
    assert "<td>1 · follow-up</td>" in text
    assert "Not sent: no marketing consent (step 0)" in text
    assert "Paused on its own by you" in text
    # A recruiter may pause one in progress, resume one paused on its own, remove either; an
    # ended one offers nothing.
    assert 'hx-post="/console/candidates/c1/sequences/s1/pause"' in text
    assert 'hx-post="/console/candidates/c1/sequences/s4/resume"' in text
    assert 'hx-post="/console/candidates/c1/sequences/s1/remove"' in text
    assert "/console/candidates/c1/sequences/s2/" not in text
    assert "/console/candidates/c1/sequences/s3/" not in text
    [asked] = [call for call in api.calls if call.url.path == ENROLMENTS]
    assert asked.url.params["candidate_id"] == "c1"


async def test_a_viewer_sees_the_sequences_without_buttons(console: Console) -> None:
    client, api = console
    answer_profile(api, **{ENROLMENTS: IN_SEQUENCES})
    page = await with_lazy_parts(client, "/console/candidates/c1", VIEWER)
    assert page.status_code == 200, page.text
    assert ">Welcome</a>" in page.text
    assert "/console/candidates/c1/sequences/" not in page.text


async def test_a_merged_away_records_sequences_offer_no_buttons_whatever_the_address(
    console: Console,
) -> None:
    """The record decides, not `?read_only=`: its enrolments went on under the survivor and
    the API refuses enrolling it (409 naming the survivor)."""
    client, api = console
    merged = candidate(status="merged", merged_into="c2")
    answer_profile(api, **{ENROLMENTS: IN_SEQUENCES, "/api/v1/candidates/c1": merged})
    for params in ({}, {"read_only": "false"}):
        for headers in (htmx_headers(), gateway_headers()):
            panel = await client.get(
                "/console/candidates/c1/panels/sequences", params=params, headers=headers
            )
            assert panel.status_code == 200, panel.text
            assert ">Welcome</a>" in panel.text
            assert "/console/candidates/c1/sequences/" not in panel.text
    page = await with_lazy_parts(client, "/console/candidates/c1")
    assert ">Welcome</a>" in page.text
    assert "read_only" not in page.text
    assert "/console/candidates/c1/sequences/" not in page.text
    # An action's answer (merged meanwhile, the button still on screen) reads the record too.
    api.answer("POST", "/api/v1/sequences/s1/enrolments/c1/pause", 404, {"status": 404})
    answer = await client.post("/console/candidates/c1/sequences/s1/pause", headers=htmx_headers())
    assert ">Welcome</a>" in answer.text
    assert "/console/candidates/c1/sequences/" not in answer.text


async def test_a_person_in_no_sequence_or_who_may_not_read_them_is_told(
    console: Console,
) -> None:
    client, api = console
    answer_profile(api)
    page = await with_lazy_parts(client, "/console/candidates/c1")
    assert "In no sequence." in page.text
    forbidden = (403, {"title": "Forbidden", "status": 403, "detail": "needs sequences:read"})
    answer_profile(api, **{ENROLMENTS: forbidden})
    page = await with_lazy_parts(client, "/console/candidates/c1")
    assert page.status_code == 200
    assert "Not available: needs sequences:read" in page.text
    assert "Met at PyCon" in page.text


async def test_pausing_from_the_profile_answers_with_the_panel_read_again(
    console: Console,
) -> None:
    client, api = console
    paused = enrolment("s1", "Welcome", "paused", paused_by="rita")
    api.answer("POST", "/api/v1/sequences/s1/enrolments/c1/pause", 200, paused)
    api.answer("GET", ENROLMENTS, 200, {"items": [paused], "next_cursor": None})
    answer = await client.post(
        "/console/candidates/c1/sequences/s1/pause",
        headers={**gateway_headers(), "hx-request": "true"},
    )
    assert answer.status_code == 200, answer.text
    assert "<html" not in answer.text
    assert "Enrolment paused" in answer.text
    assert 'hx-post="/console/candidates/c1/sequences/s1/resume"' in answer.text
    assert [call.url.path for call in api.calls if call.method == "POST"] == [
        "/api/v1/sequences/s1/enrolments/c1/pause"
    ]


async def test_a_refused_action_says_why_in_the_panel(console: Console) -> None:
    client, api = console
    conflict = {"title": "Conflict", "status": 409, "detail": "the enrolment has ended"}
    api.answer("DELETE", "/api/v1/sequences/s1/enrolments/c1", 409, conflict)
    api.answer("GET", ENROLMENTS, 200, IN_SEQUENCES)
    answer = await client.post(
        "/console/candidates/c1/sequences/s1/remove",
        headers={**gateway_headers(), "hx-request": "true"},
    )
    assert answer.status_code == 409
    assert 'data-testid="enrolment-problem"' in answer.text
    assert "the enrolment has ended" in answer.text
    unknown = await client.post(
        "/console/candidates/c1/sequences/s1/explode",
        headers={**gateway_headers(), "hx-request": "true"},
    )
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("kind", "data", "line", "link"),
    [
        (
            "candidate.tags_changed",
            {"added": ["vip", "berlin"], "removed": ["old"]},
            "Tagged vip, berlin; untagged old",
            None,
        ),
        ("candidate.tags_changed", {"added": [], "removed": ["old"]}, "Untagged old", None),
        ("note.added", {"note_id": "n1", "author_id": "rita"}, "A note was added", "#notes"),
        (
            "candidate.imported",
            {"import_id": "i1", "outcome": "created"},
            "Created by an import",
            "/imports/i1",
        ),
        (
            "candidate.merged",
            {"merge_id": "m1", "role": "survivor"},
            "Another record was merged into this one",
            "/candidates/merges/m1",
        ),
        (
            "candidate.merged",
            {"merge_id": "m1", "role": "merged"},
            "Merged into another record",
            "/candidates/merges/m1",
        ),
        (
            "candidate.unmerged",
            {"merge_id": "m1", "role": "restored"},
            "A merge was undone: the two records are apart again",
            "/candidates/merges/m1",
        ),
        ("message.sent", {"subject": "Hi", "sequence_id": "s1"}, "Was sent “Hi”", "/sequences/s1"),
        (
            "segment.entered",
            {"segment_id": "g1", "segment_name": "B"},
            "Entered the segment B",
            "/segments/g1",
        ),
        ("message.opened", {"message_id": "x"}, "Opened a mail", None),
        (
            "message.suppressed",
            {
                "subject": "Spring roles",
                "broadcast_id": "b1",
                "broadcast_name": "Spring hiring",
                "reason": "no_marketing_consent",
            },
            "Not sent: “Spring roles” of the broadcast Spring hiring (no marketing consent)",
            "/broadcasts/b1",
        ),
        (
            "message.suppressed",
            {
                "subject": "",
                "sequence_id": "s1",
                "sequence_name": "Nurture",
                "reason": "frequency_cap",
            },
            "Not sent: a mail of the sequence Nurture (frequency cap: too many mails lately)",
            "/sequences/s1",
        ),
        ("message.suppressed", {"reason": "unsubscribed"}, "Not sent: a mail (unsubscribed)", None),
        (
            "enrolment.started",
            {"sequence_id": "s1", "sequence_name": "Nurture"},
            "Enrolled in the sequence Nurture",
            "/sequences/s1",
        ),
        (
            "enrolment.ended",
            {
                "sequence_id": "s1",
                "sequence_name": "Nurture",
                "outcome": "exited",
                "exit_reason": "removed",
            },
            "Left the sequence Nurture: removed by hand",
            "/sequences/s1",
        ),
    ],
)
def test_the_new_timeline_kinds_read_as_sentences_with_their_links(
    kind: str, data: dict[str, Any], line: str, link: str | None
) -> None:
    entry = {"type": kind, "data": data}
    assert timeline_summary(entry) == line
    assert timeline_link(entry) == link


async def test_a_timeline_entry_links_to_what_it_names(console: Console) -> None:
    client, api = console
    imported = {
        "type": "candidate.imported",
        "source": "candidates",
        "occurred_at": "2026-12-01T10:00:00+00:00",
        "data": {"import_id": "i1", "outcome": "updated"},
    }
    answer_profile(api, **{"/api/v1/candidates/c1/timeline": {"items": [imported]}})
    page = await with_lazy_parts(client, "/console/candidates/c1")
    assert '<a href="/console/imports/i1">Updated by an import</a>' in page.text
