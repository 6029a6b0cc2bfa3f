"""The candidate pages in depth, in a real browser against the process stack: the profile's
panels and a note, duplicates with the side-by-side merge and its undo, and an admin's GDPR
export and erasure. Each page is checked with axe-core and runs without script errors."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from browser import PageWatch, assert_accessible, screenshot
from playwright.sync_api import Dialog, Page, expect

from e2e.conftest import ProcessStack
from e2e.console_support import api_call, dev_headers, panels_loaded, sign_in
from helpers import unique

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest.fixture(scope="module", autouse=True)
def services_answering(process_stack: ProcessStack) -> None:
    """Waits (bounded) until the gateway reaches the services these tests call: on a loaded
    machine its first fetch of a service's OpenAPI document can time out, and it answers 502
    until the next one."""
    for path in ("/candidates?limit=1", "/analytics/summary", "/pools"):

        def answers(path: str = path) -> bool:
            status = httpx.get(
                f"{process_stack.gateway_url}/api/v1{path}",
                headers=dev_headers("acme", "admin"),
                timeout=30,
            ).status_code
            return status < 500

        wait_until(answers, f"the gateway never reached {path}", timeout=120)


def wait_until(condition: Callable[[], bool], message: str, timeout: float = 30.0) -> None:
    """Polls `condition` (bounded) for what the stack does after a write returns."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.2)


def person(surname: str, first_name: str, **fields: Any) -> dict[str, Any]:
    # Each record its own address: a known address would update the record that holds it.
    return {
        "first_name": first_name,
        "last_name": surname,
        "emails": [f"{unique('p')}@example.org"],
        "current_company": "Globex",
        **fields,
    }


def test_a_recruiter_reads_a_profile_adds_a_note_merges_a_duplicate_and_undoes_it(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch]
) -> None:
    page, watch = watched_page
    gateway = process_stack.gateway_url
    surname = unique("Lindqvist").replace("_", "")
    tag = unique("cc")
    field = api_call(
        gateway,
        "POST",
        "/custom-fields",
        {"key": unique("notice"), "label": "Notice period (days)", "type": "number"},
    )
    segment = api_call(
        gateway,
        "POST",
        "/segments",
        {
            "name": unique("Globex alumni"),
            "rule": {"all": [{"field": "tags", "op": "equals", "value": tag}]},
        },
    )
    kept = api_call(
        gateway,
        "POST",
        "/candidates",
        person(
            surname,
            "Zoë",
            current_title="Data Engineer",
            tags=[tag],
            custom_fields={field["key"]: 30},
        ),
    )
    other = api_call(
        gateway,
        "POST",
        "/candidates",
        person(surname, "Zoe", current_title="Senior Data Engineer", skills=["kafka"]),
    )
    assert other["id"] != kept["id"]
    pool = api_call(
        gateway, "POST", "/pools", {"name": unique("Data engineers"), "stages": ["New", "Screen"]}
    )
    api_call(
        gateway,
        "POST",
        f"/pools/{pool['id']}/members",
        {"candidate_id": kept["id"], "stage": "Screen"},
    )
    wait_until(
        lambda: bool(api_call(gateway, "GET", f"/candidates/{kept['id']}/segments")),
        "the candidate never entered the segment",
    )

    sign_in(page, gateway, "rita.recruiter", start=f"/console/candidates/{kept['id']}")
    expect(page.get_by_role("heading", name=f"Zoë {surname}")).to_be_visible()
    # The candidate's own record comes with the page; the other panels right after it.
    expect(page.get_by_test_id("consent")).to_have_text("Not given")
    panels_loaded(page)
    custom = page.get_by_test_id("custom-fields")
    expect(custom).to_contain_text("Notice period (days)")
    expect(custom).to_contain_text("30")
    expect(page.get_by_test_id("pools")).to_contain_text(f"{pool['name']} · Screen")
    expect(page.get_by_test_id("segments")).to_contain_text(segment["name"])
    expect(page.get_by_test_id("duplicates")).to_contain_text(f"Zoe {surname}")
    # Erasure and export are for admins: a recruiter is not offered them.
    expect(page.get_by_role("link", name="Erase this person…")).to_have_count(0)

    page.get_by_label("New note").fill("Met at the Berlin meetup; call back in January.")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_role("status").filter(has_text="Note added.")).to_be_visible()
    # The swap took the button away: the focus is on what was done, not on <body>.
    expect(page.get_by_test_id("note-said")).to_be_focused()
    expect(page.get_by_test_id("notes")).to_contain_text("call back in January")
    expect(page.get_by_label("New note")).to_have_value("")
    assert_accessible(page)
    screenshot(page, "candidate-profile-panels")

    page.get_by_role("link", name="Duplicates and merge").click()
    expect(
        page.get_by_role("heading", name=f"Possible duplicates of Zoë {surname}")
    ).to_be_visible()
    expect(page.get_by_test_id("duplicates")).to_contain_text(f"Zoe {surname}")
    assert_accessible(page)
    screenshot(page, "candidate-duplicates")

    page.get_by_role("link", name=f"Compare and merge Zoe {surname}").click()
    expect(page.get_by_role("heading", name="Merge two records")).to_be_visible()
    title_row = page.locator('tr[data-field="current_title"]')
    title_row.get_by_label("Folded in").check()
    assert_accessible(page)
    screenshot(page, "candidate-merge")
    page.get_by_role("button", name=f"Merge into Zoë {surname}").click()

    expect(page.get_by_role("heading", name="Merged")).to_be_visible()
    expect(page.get_by_test_id("merge-state")).to_contain_text("folded into")
    survivor = api_call(gateway, "GET", f"/candidates/{kept['id']}")
    assert survivor["current_title"] == "Senior Data Engineer"
    assert "kafka" in survivor["skills"]
    assert api_call(gateway, "GET", f"/candidates/{other['id']}")["merged_into"] == kept["id"]
    assert_accessible(page)
    screenshot(page, "candidate-merge-done")

    # Undo asks first: a change made to the kept record since the merge would be lost.
    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name="Undo this merge").click()
    expect(page.get_by_test_id("merge-state")).to_contain_text("Both records are back")
    [question] = asked
    assert "changes made to the kept record since are lost" in question
    restored = api_call(gateway, "GET", f"/candidates/{kept['id']}")
    assert restored["current_title"] == "Data Engineer"
    assert api_call(gateway, "GET", f"/candidates/{other['id']}")["merged_into"] is None
    assert_accessible(page)
    watch.assert_clean()


def test_an_admin_downloads_the_gdpr_export_and_erases_the_person(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch]
) -> None:
    page, watch = watched_page
    gateway = process_stack.gateway_url
    surname = unique("Erasmus").replace("_", "")
    created = api_call(gateway, "POST", "/candidates", person(surname, "Ida"))

    sign_in(page, gateway, "alice.admin", start=f"/console/candidates/{created['id']}")
    expect(page.get_by_role("heading", name=f"Ida {surname}")).to_be_visible()
    panels_loaded(page)
    with page.expect_download() as download_info:
        page.get_by_test_id("gdpr-export").click()
    download = download_info.value
    assert download.suggested_filename == f"candidate-{created['id']}.json"
    exported = json.loads(download.path().read_text(encoding="utf-8"))
    assert exported["candidate_id"] == created["id"]
    assert surname in json.dumps(exported["services"])

    page.get_by_role("link", name="Erase this person…").click()
    expect(page.get_by_role("heading", name=f"Erase Ida {surname}")).to_be_visible()
    page.get_by_label("to confirm").fill("Ida")
    page.get_by_role("button", name="Erase for good").click()
    expect(page.get_by_text(f"Type “Ida {surname}” exactly to confirm.")).to_be_visible()
    expect(page.get_by_label("to confirm")).to_have_attribute("aria-invalid", "true")
    assert api_call(gateway, "GET", f"/candidates/{created['id']}")["first_name"] == "Ida"
    assert_accessible(page)
    screenshot(page, "candidate-erase")

    page.get_by_label("to confirm").fill(f"Ida {surname}")
    page.get_by_role("button", name="Erase for good").click()
    expect(page.get_by_test_id("erased")).to_contain_text(f"Ida {surname} was erased")
    assert_accessible(page)
    # The person is gone from the search; only a tombstone without personal data is left.
    wait_until(
        lambda: api_call(gateway, "GET", f"/candidates?q={surname}")["items"] == [],
        "the erased person is still found",
    )
    watch.assert_clean()


def test_home_charts_follow_the_date_range_with_the_apis_numbers(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch]
) -> None:
    page, watch = watched_page
    gateway = process_stack.gateway_url
    surname = unique("Homechart").replace("_", "")
    for n in range(2):
        api_call(gateway, "POST", "/candidates", person(f"{surname}{n}", "Eve", source="event"))
    today = datetime.now(UTC).date()
    week = f"from={(today - timedelta(days=6)).isoformat()}&to={today.isoformat()}"

    def events_this_week() -> int:
        body = api_call(gateway, "GET", f"/analytics/timeseries?metric=candidates_created&{week}")
        return sum(sum(s["values"]) for s in body["series"] if s["dimension"] == "event")

    wait_until(lambda: events_this_week() >= 2, "analytics never counted the new candidates")

    sign_in(page, gateway, "rita.recruiter")
    expect(page.locator("canvas[id^=sources-chart-][data-drawn]")).to_have_count(1)
    expect(page.locator("canvas[id^=engagement-chart-][data-drawn]")).to_have_count(1)
    page.get_by_label("Period", exact=True).select_option("7d")
    label = page.get_by_test_id("range-label")
    expect(label).to_have_text(f"{today - timedelta(days=6)} to {today}, per day")
    assert "range=7d" in page.url
    totals = page.get_by_test_id("source-totals")
    expect(totals).to_contain_text(f"Event{events_this_week()}")
    expect(page.locator("canvas[id^=sources-chart-][data-drawn]")).to_have_count(1)
    assert_accessible(page)
    screenshot(page, "home-charts")

    # Editing a date makes the period a custom one.
    page.get_by_label("From", exact=True).fill((today - timedelta(days=2)).isoformat())
    expect(page.get_by_label("Period", exact=True)).to_have_value("custom")
    page.get_by_role("button", name="Show").click()
    expect(label).to_have_text(f"{today - timedelta(days=2)} to {today}, per day")
    assert_accessible(page)
    watch.assert_clean()


def test_a_recruiter_selects_a_whole_page_of_the_list_and_adds_it_to_a_pool(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch]
) -> None:
    page, watch = watched_page
    gateway = process_stack.gateway_url
    surname = unique("Lindqvist").replace("_", "")
    firsts = ("Ada", "Bea", "Cai")
    people = [api_call(gateway, "POST", "/candidates", person(surname, first)) for first in firsts]
    pool = api_call(gateway, "POST", "/pools", {"name": unique("Bulk"), "stages": ["New", "Call"]})
    # The list finds them once the search has them.
    wait_until(
        lambda: len(api_call(gateway, "GET", f"/candidates?q={surname}")["items"]) == len(people),
        f"the candidate search never found the three {surname}",
    )

    sign_in(page, gateway, "rita.recruiter", start=f"/console/candidates?q={surname}")
    for first in firsts:
        expect(page.get_by_label(f"Select {first} {surname}", exact=True)).to_be_visible()
    page.wait_for_load_state("load")  # console.js ticks the page's boxes
    page.get_by_label("Select all candidates on this page").check()
    for first in firsts:
        expect(page.get_by_label(f"Select {first} {surname}", exact=True)).to_be_checked()
    bulk = page.get_by_role("form", name="With the selected candidates")
    bulk.get_by_label("Pool and stage").select_option(label=f"{pool['name']}: New")
    bulk.get_by_role("button", name="Add to pool").click()
    # The result names how many, and the selection (the page's box too) is cleared.
    expect(page.get_by_test_id("bulk-count")).to_contain_text("All 3 selected candidates added")
    expect(page.get_by_test_id("bulk-summary")).to_contain_text(
        f"3 candidates added to “{pool['name']}”"
    )
    expect(page.get_by_label("Select all candidates on this page")).not_to_be_checked()
    for first in firsts:
        expect(page.get_by_label(f"Select {first} {surname}", exact=True)).not_to_be_checked()
    assert_accessible(page)

    # They are on the pool's board, at its first stage.
    page.goto(f"{gateway}/console/pools/{pool['id']}")
    expect(page.locator('[data-stage-count="New"]')).to_have_text("3")
    for first in firsts:
        expect(page.get_by_label(f"Stage of {first} {surname}", exact=True)).to_have_value("New")
    assert api_call(gateway, "GET", f"/pools/{pool['id']}")["member_counts"] == {
        "New": 3,
        "Call": 0,
    }
    watch.assert_clean()


def test_a_recruiter_pauses_and_resumes_a_sequence_from_the_profile(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch]
) -> None:
    page, watch = watched_page
    gateway = process_stack.gateway_url
    surname = unique("Okafor").replace("_", "")
    someone = api_call(
        gateway, "POST", "/candidates", person(surname, "Ada", marketing_consent=True)
    )
    sequence = api_call(
        gateway,
        "POST",
        "/sequences",
        {
            "name": unique("Welcome"),
            "trigger": {"type": "manual"},
            # The first wait runs at once: the enrolment then waits to run the second.
            "steps": [
                {"type": "wait", "days": 3},
                {"type": "wait", "days": 1, "label": "cool-off"},
            ],
        },
    )

    def enrolled() -> bool:
        # Campaigns learns of the candidate from `candidate.created`, a moment after it.
        outcome = api_call(
            gateway,
            "POST",
            f"/sequences/{sequence['id']}/enrolments",
            {"candidate_ids": [someone["id"]]},
        )
        return bool(outcome["enrolled"])

    wait_until(enrolled, "campaigns never enrolled the candidate", timeout=60)

    sign_in(page, gateway, "rita.recruiter", start=f"/console/candidates/{someone['id']}")
    panels_loaded(page)
    panel = page.get_by_test_id("enrolments")
    expect(panel).to_contain_text(sequence["name"])
    # Its step as the sequence's page numbers it (from 0): the wait, after the first step.
    expect(panel).to_contain_text("1 · cool-off")
    page.get_by_role("button", name=f"Pause {sequence['name']}").click()
    expect(page.get_by_test_id("enrolment-said")).to_contain_text("Enrolment paused")
    expect(page.get_by_test_id("enrolments")).to_contain_text("Paused on its own by you")
    assert_accessible(page)
    page.get_by_role("button", name=f"Resume {sequence['name']}").click()
    expect(page.get_by_test_id("enrolment-said")).to_contain_text("Enrolment resumed")
    [listed] = api_call(gateway, "GET", f"/sequences/enrolments?candidate_id={someone['id']}")[
        "items"
    ]
    assert listed["paused_by"] is None
    assert listed["state"] in ("waiting", "active")
    watch.assert_clean()
