"""The console's campaign pages in a real browser (Debian's Chromium under Playwright) against
the process stack, signed in through Keycloak as the demo marketer: write a template and
preview it, build a sequence and see its mail arrive, run a broadcast to a small segment and
watch it finish. Each page is checked with axe-core and runs without script or CSP errors."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from browser import PageWatch, assert_accessible, screenshot
from conftest import SmtpSink
from playwright.sync_api import Page, expect

from e2e.conftest import ProcessStack
from e2e.console_support import api_call, dev_headers, sign_in
from helpers import unique

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
MARKETER = "mark.marketer"
# What follows a navigation or an htmx swap on a machine busy with the whole stack.
SLOW = 30_000


def wait_for(condition: Callable[[], bool], message: str, timeout: float = 60.0) -> None:
    """Waits, bounded, for what another service learns through Kafka."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(message)
        time.sleep(0.25)


def candidate(gateway: str, first_name: str, **fields: Any) -> tuple[str, str]:
    """A consenting candidate: (id, e-mail address)."""
    email = f"{unique(first_name.lower())}@example.org"
    created = api_call(
        gateway,
        "POST",
        "/candidates",
        {
            "first_name": first_name,
            "last_name": unique("Ek").replace("-", "").replace("_", ""),
            "emails": [email],
            "marketing_consent": True,
            **fields,
        },
    )
    return str(created["id"]), email


def api_template(gateway: str, name: str) -> str:
    created = api_call(
        gateway,
        "POST",
        "/templates",
        {
            "name": name,
            "subject": "News for {{ candidate.first_name }}",
            "html": "<p>Hi {{ candidate.first_name }}, we are hiring.</p>",
            "text": "Hi {{ candidate.first_name }}, we are hiring.",
        },
    )
    return str(created["id"])


def known_to_campaigns(gateway: str, template_id: str, candidate_id: str) -> None:
    """Waits until campaigns has the candidate (it learns of candidates from their events)."""

    def previewed() -> bool:
        answer = httpx.post(
            f"{gateway}/api/v1/templates/{template_id}/preview",
            json={"candidate_id": candidate_id},
            headers=dev_headers("acme", "admin"),
            timeout=10,
        )
        return answer.status_code == 200

    wait_for(previewed, f"campaigns did not learn of candidate {candidate_id}")


def test_a_marketer_writes_a_template_sees_the_problem_at_its_line_and_previews_it(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch]
) -> None:
    page, watch = watched_page
    gateway = process_stack.gateway_url
    known = api_template(gateway, unique("Known"))
    zoe, _ = candidate(gateway, "Zoë", current_company="Acme")
    known_to_campaigns(gateway, known, zoe)
    zoe_name = api_call(gateway, "GET", f"/candidates/{zoe}")["last_name"]
    jose, _ = candidate(gateway, "José", current_company="Núñez SL")
    known_to_campaigns(gateway, known, jose)
    jose_name = api_call(gateway, "GET", f"/candidates/{jose}")["last_name"]

    sign_in(page, gateway, MARKETER, start="/console/templates")
    expect(page.get_by_role("heading", name="Templates", exact=True)).to_be_visible(timeout=SLOW)
    assert_accessible(page)
    screenshot(page, "templates")

    page.get_by_role("link", name="New template").click()
    expect(page.get_by_role("heading", name="New template")).to_be_visible(timeout=SLOW)
    name = unique("Welcome")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Find a candidate").fill(zoe_name)
    expect(page.get_by_label("Preview for")).to_have_value(zoe)
    page.get_by_role("textbox", name="Subject").fill("Hello ")
    # The merge-field picker inserts where the cursor is.
    page.get_by_role("button", name="candidate.first_name").first.click()
    expect(page.get_by_role("textbox", name="Subject")).to_have_value(
        "Hello {{ candidate.first_name }}"
    )
    # From the keyboard: on the way from the HTML body to the picker, focus passes through the
    # plain-text body; the field still goes where the caret was, in the HTML body.
    html_body = page.get_by_role("textbox", name="HTML body")
    html_body.fill("<p>Hi ")
    page.get_by_role("textbox", name="Plain-text body").focus()
    page.get_by_role("button", name="candidate.first_name").first.focus()
    page.keyboard.press("Enter")
    expect(html_body).to_have_value("<p>Hi {{ candidate.first_name }}")
    expect(page.get_by_role("textbox", name="Plain-text body")).to_have_value("")
    page.get_by_role("textbox", name="HTML body").fill(
        "<p>Hi {{ candidate.first_name }},</p>\n<p>How is {{ candidate.salary }}?</p>\n<p>Bye</p>"
    )
    page.get_by_role("textbox", name="Plain-text body").fill("Hi {{ candidate.first_name }}")
    problem = page.get_by_test_id("preview-problem")
    expect(problem).to_contain_text("HTML body, line 2:", timeout=SLOW)
    expect(problem).to_contain_text("unknown merge field candidate.salary", timeout=SLOW)
    expect(problem.locator("li.at-fault")).to_have_text(re.compile(r"candidate\.salary"))
    assert_accessible(page)
    screenshot(page, "template-problem")

    page.get_by_role("textbox", name="HTML body").fill(
        "<p>Hi {{ candidate.first_name }},</p>\n"
        "<p>How is {{ candidate.current_company | default('life') }}?</p>"
    )
    expect(page.get_by_test_id("preview-subject")).to_have_text("Hello Zoë", timeout=SLOW)
    frame = page.frame_locator("iframe.mail-preview")
    expect(frame.locator("body")).to_contain_text("How is Acme?", timeout=SLOW)
    # A search with a single match swaps in a select already showing that person (no `change`
    # to choose them): the preview follows it without a keystroke in the draft.
    page.get_by_label("Find a candidate").fill(jose_name)
    expect(page.get_by_label("Preview for")).to_have_value(jose, timeout=SLOW)
    expect(page.get_by_label("Preview for").locator("option")).to_have_count(1)
    expect(page.get_by_test_id("preview-subject")).to_have_text("Hello José", timeout=SLOW)
    expect(frame.locator("body")).to_contain_text("How is Núñez SL?", timeout=SLOW)
    # A double click saves once: the second submit waits for nothing (console.js).
    page.get_by_role("button", name="Save template").dblclick()
    expect(page.get_by_text("Saved (version 1).")).to_be_visible(timeout=SLOW)
    expect(page.get_by_role("heading", name=name)).to_be_visible(timeout=SLOW)
    saved = [t for t in api_call(gateway, "GET", "/templates") if t["name"] == name]
    assert len(saved) == 1, saved
    # The saved template's page previews it again, for the first candidate offered.
    expect(page.frame_locator("iframe.mail-preview").locator("body")).to_contain_text(
        "How is", timeout=SLOW
    )
    assert_accessible(page)
    screenshot(page, "template-editor")
    watch.assert_clean()


def test_a_marketer_builds_a_sequence_enrols_a_candidate_and_the_mail_arrives(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch], smtp_sink: SmtpSink
) -> None:
    page, watch = watched_page
    gateway = process_stack.gateway_url
    template_name = unique("Nurture mail")
    template_id = api_template(gateway, template_name)
    ada, ada_email = candidate(gateway, "Ada")
    known_to_campaigns(gateway, template_id, ada)
    ada_name = api_call(gateway, "GET", f"/candidates/{ada}")["last_name"]

    sign_in(page, gateway, MARKETER, start="/console/sequences/new")
    expect(page.get_by_role("heading", name="New sequence")).to_be_visible(timeout=SLOW)
    name = unique("Nurture")
    page.get_by_label("Name", exact=True).fill(name)
    first_step = page.locator("#steps > li").first
    first_step.get_by_label("Template").select_option(label=template_name)
    # With script, adding and removing a step sends no form (the buttons are submits for a
    # browser without script).
    posted: list[str] = []
    page.on(
        "request", lambda request: posted.append(request.url) if request.method == "POST" else None
    )
    page.get_by_label("Kind of step to add").select_option("wait")
    page.get_by_role("button", name="Add step").click()
    expect(page.locator("#steps > li")).to_have_count(2, timeout=SLOW)
    page.locator("#steps > li").nth(1).get_by_label("Days").fill("2")
    page.get_by_label("Kind of step to add").select_option("branch")
    page.get_by_role("button", name="Add step").click()
    # A step moves up and back down in place, the focus staying on the button pressed.
    steps = page.locator("#steps > li")
    steps.nth(2).get_by_role("button", name="Move up").click()
    expect(steps.nth(1).locator("legend")).to_have_text("Branch on a reaction")
    expect(steps.nth(1).get_by_role("button", name="Move up")).to_be_focused()
    steps.nth(1).get_by_role("button", name="Move down").click()
    expect(steps.nth(2).locator("legend")).to_have_text("Branch on a reaction")
    branch = page.locator("#steps > li").nth(2)
    branch.get_by_label("Then go to").fill("nowhere")
    assert_accessible(page)
    assert posted == [], posted
    page.get_by_role("button", name="Create sequence").click()
    # The API's refusal lands on the step and field it names.
    expect(branch.locator(".field-error")).to_contain_text(
        "no step is labelled 'nowhere'", timeout=SLOW
    )
    screenshot(page, "sequence-builder")
    remove = page.locator("#steps > li").nth(2).get_by_role("button", name="Remove this step")
    # A link-styled submit button: its words are readable (not the colour of its background).
    colours = remove.evaluate(
        "b => [getComputedStyle(b).color, getComputedStyle(b).backgroundColor]"
    )
    assert colours[0] != colours[1], colours
    remove.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#steps > li")).to_have_count(2, timeout=SLOW)
    # The focus goes to a control of the builder, never back to <body>.
    assert page.evaluate("document.activeElement.tagName") != "BODY"
    assert len(posted) == 1, posted  # the refused create alone
    page.get_by_role("button", name="Create sequence").dblclick()

    expect(page.get_by_role("heading", name=name)).to_be_visible(timeout=SLOW)
    created = [q for q in api_call(gateway, "GET", "/sequences") if q["name"] == name]
    assert len(created) == 1, created
    expect(page.get_by_test_id("sequence-status")).to_have_text("active", timeout=SLOW)
    page.get_by_label("Find candidates").fill(ada_name)
    page.get_by_label(re.compile(f"Ada {ada_name}")).check()
    # Ticking puts her on the chosen list (kept across searches): what is enrolled.
    expect(page.get_by_test_id("chosen")).to_contain_text(f"Ada {ada_name}", timeout=SLOW)
    page.get_by_role("button", name="Enrol the chosen candidates").click()
    expect(page.get_by_test_id("enrol-outcome")).to_have_text("1 enrolled.", timeout=SLOW)
    wait_for(lambda: bool(smtp_sink.messages_to(ada_email)), "the sequence's mail did not arrive")
    sequence_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    wait_for(
        lambda: bool(
            api_call(gateway, "GET", f"/sequences/{sequence_id}/enrolments?state=waiting")
        ),
        "the enrolment did not go on to its wait step",
    )
    expect(page.locator(f'#enrolments tr[data-candidate="{ada}"]')).to_be_visible(timeout=SLOW)
    page.get_by_role("link", name=re.compile("^Waiting")).click()
    row = page.locator(f'tr[data-candidate="{ada}"]')
    expect(row).to_contain_text("waiting", timeout=SLOW)
    expect(row.get_by_role("link", name=f"Ada {ada_name}")).to_be_visible()

    # Ada's enrolment alone is paused, then resumed.
    row.get_by_role("button", name=f"Pause Ada {ada_name}").click()
    expect(page.get_by_test_id("enrolment-done")).to_contain_text("paused", timeout=SLOW)
    # The button went with its row: the focus goes to what was done, not to <body>.
    expect(page.get_by_test_id("enrolment-done")).to_be_focused()
    # The row shows the new state at once, from the API's answer.
    expect(row).to_contain_text("Paused on its own", timeout=SLOW)
    expect(page.locator("#count-paused")).to_have_text("1")
    page.get_by_role("link", name=re.compile("^Paused")).click()
    expect(row).to_contain_text("Paused on its own", timeout=SLOW)
    assert_accessible(page)
    screenshot(page, "sequence")
    row.get_by_role("button", name=f"Resume Ada {ada_name}").click()
    expect(page.get_by_test_id("enrolment-done")).to_contain_text("resumed", timeout=SLOW)
    assert api_call(gateway, "GET", f"/sequences/{sequence_id}/enrolments")["items"][0][
        "state"
    ] == ("waiting")

    page.get_by_role("button", name="Pause sequence").click()
    expect(page.get_by_test_id("sequence-status")).to_have_text("paused", timeout=SLOW)
    # The page was loaded again: its button works once htmx has started.
    page.wait_for_load_state("load")
    page.get_by_role("button", name="Resume sequence").click()
    expect(page.get_by_test_id("sequence-status")).to_have_text("active", timeout=SLOW)

    # How the enrolments went (analytics): Ada entered and is in the sequence still.
    report_path = f"/api/v1/analytics/sequences/{sequence_id}/enrolments"

    def analytics_saw_her() -> bool:
        found = httpx.get(gateway + report_path, headers=dev_headers("acme", "admin"), timeout=30)
        return found.status_code == 200

    wait_for(analytics_saw_her, "analytics did not report the enrolment")
    page.goto(f"{gateway}/console/sequences/{sequence_id}")  # every state, Ada's row among them
    report = page.get_by_test_id("enrolment-report")
    expect(report.locator('[data-figure="enrolled_now"]')).to_have_text("1", timeout=SLOW)
    expect(report.locator('[data-figure="entered"]')).to_have_text("1")
    expect(report.locator('[data-figure="entrants_still_enrolled"]')).to_have_text("1")
    assert_accessible(page)
    # Ada removed on the page: the panel follows without a reload.
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f'tr[data-candidate="{ada}"]').get_by_role(
        "button", name=f"Remove Ada {ada_name}"
    ).click()
    expect(page.get_by_test_id("enrolment-done")).to_contain_text("Removed", timeout=SLOW)
    expect(report.locator('[data-figure="enrolled_now"]')).to_have_text("0", timeout=SLOW)
    expect(report.locator('[data-figure="exit-removed"]')).to_have_text("1")

    page.get_by_role("navigation", name="Sections").get_by_role(
        "link", name="Notifications"
    ).click()
    expect(page.get_by_role("heading", name="Notifications")).to_be_visible(timeout=SLOW)
    assert_accessible(page)
    screenshot(page, "notifications")
    watch.assert_clean()


def test_the_owner_marks_a_notification_read(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch]
) -> None:
    # A notification's id holds dots (<sequence>.<candidate>.<step>-<n>): "Mark read" once
    # targeted "#n-<id>", which the browser refused as a selector, sending nothing.
    page, watch = watched_page
    gateway = process_stack.gateway_url
    sign_in(page, gateway, MARKETER, start="/console/notifications?unread=true")
    expect(page.get_by_role("heading", name="Notifications")).to_be_visible(timeout=SLOW)
    # The marketer's user id is the gateway's, not the identity provider's `sub`.
    marketer_id = page.request.get(f"{gateway}/auth/session").json()["user_id"]
    template_id = api_template(gateway, unique("Owner check"))
    ada, _ = candidate(gateway, "Ada", owner_id=marketer_id)
    known_to_campaigns(gateway, template_id, ada)
    title = unique("Call Ada")
    sequence = api_call(
        gateway,
        "POST",
        "/sequences",
        {
            "name": unique("Owner notice"),
            "trigger": {"type": "manual"},
            "steps": [{"type": "notify_owner", "title": title}],
        },
    )
    api_call(gateway, "POST", f"/sequences/{sequence['id']}/enrolments", {"candidate_ids": [ada]})
    wait_for(
        lambda: (
            [
                e["status"]
                for e in api_call(gateway, "GET", f"/sequences/{sequence['id']}/enrolments")[
                    "items"
                ]
            ]
            == ["completed"]
        ),
        "the notifying enrolment did not complete",
    )

    page.reload()
    row = page.locator("li.notification", has_text=title)
    expect(row.locator(".badge.new")).to_have_text("New", timeout=SLOW)
    row.get_by_role("button", name="Mark read").click()
    expect(row).to_contain_text("Read ", timeout=SLOW)
    expect(page.locator(":focus")).to_have_text(re.compile(r"^Read "))
    expect(row.locator(".badge.new")).to_have_count(0)
    expect(row.get_by_role("button", name="Mark read")).to_have_count(0)
    page.reload()
    expect(page.get_by_role("heading", name="Notifications")).to_be_visible(timeout=SLOW)
    expect(page.locator("li.notification", has_text=title)).to_have_count(0)  # read: not unread
    assert_accessible(page)
    watch.assert_clean()


def test_a_broadcast_to_a_small_segment_runs_to_done(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch], smtp_sink: SmtpSink
) -> None:
    page, watch = watched_page
    gateway = process_stack.gateway_url
    tag = unique("december").lower()
    template_name = unique("December news")
    template_id = api_template(gateway, template_name)
    people = [candidate(gateway, first, tags=[tag]) for first in ("Lin", "Sam")]
    for candidate_id, _ in people:
        known_to_campaigns(gateway, template_id, candidate_id)
    segment_name = unique("December people")
    segment = api_call(
        gateway,
        "POST",
        "/segments",
        {"name": segment_name, "rule": {"all": [{"field": "tags", "op": "equals", "value": tag}]}},
    )
    wait_for(
        lambda: api_call(gateway, "GET", f"/segments/{segment['id']}").get("member_count") == 2,
        "the segment did not find its two members",
    )

    sign_in(page, gateway, MARKETER, start="/console/broadcasts/new")
    expect(page.get_by_role("heading", name="New broadcast")).to_be_visible(timeout=SLOW)
    name = unique("December")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Template").select_option(template_id)
    page.get_by_label("Segment").select_option(segment["id"])
    page.get_by_label("Send", exact=True).select_option("local_time")
    expect(page.get_by_label("Time in each candidate's own time zone")).to_be_visible(timeout=SLOW)
    expect(page.locator("#schedule-fields.htmx-settling")).to_have_count(0, timeout=SLOW)
    page.get_by_label("Send", exact=True).select_option("now")
    expect(page.get_by_text("as soon as you send it")).to_be_visible(timeout=SLOW)
    assert_accessible(page)
    screenshot(page, "broadcast-compose")
    page.get_by_role("button", name="Save as draft").click()

    expect(page.get_by_role("heading", name=name)).to_be_visible(timeout=SLOW)
    expect(page.get_by_test_id("broadcast-status")).to_have_text("Draft", timeout=SLOW)
    # The draft's page was reached by a redirect: its buttons work once htmx has started, at
    # the page's load (a click before that did nothing on a loaded machine).
    page.wait_for_load_state("load")
    page.get_by_role("button", name="Send now").click()
    expect(page.get_by_test_id("broadcast-status")).to_have_text("Completed", timeout=90_000)
    progress = page.locator("#progress")
    expect(progress.locator('[data-figure="sent"]')).to_have_text("2", timeout=SLOW)
    expect(progress.locator('[data-figure="audience_size"]')).to_have_text("2", timeout=SLOW)
    # Sent from its draft's page, the page has the panels of a sent broadcast: what became
    # of the mail (analytics) follows, asked again every 15 s until it counts all the mail
    # sent, also when the broadcast completed before analytics had counted any.
    report = page.get_by_test_id("message-report-table")
    expect(report.locator('[data-figure="sent"]')).to_have_text("2", timeout=60_000)
    wait_for(
        lambda: all(smtp_sink.messages_to(email) for _, email in people),
        "a member of the segment got no mail",
    )
    assert_accessible(page)
    screenshot(page, "broadcast-progress")
    watch.assert_clean()
