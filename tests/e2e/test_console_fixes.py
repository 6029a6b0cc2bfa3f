"""What a new user found missing or wrong in the console (issue 17), in a real browser
against the process stack: creating and editing a candidate with custom fields and consent,
a merged-away record, a viewer kept from the broadcast composer, and signing out. Each page
is checked with axe-core and runs without script errors."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from browser import DESKTOP, PHONE, PageWatch, assert_accessible, screenshot
from playwright.sync_api import Browser, Page, expect

from crm_devstack.keycloak import DEMO_USERS
from e2e.conftest import ProcessStack
from e2e.console_support import api_call, dev_headers, panels_loaded, sign_in, without_script
from e2e.test_console_admin import assert_fits
from e2e.test_console_campaigns import api_template
from e2e.test_console_candidates import services_answering, wait_until
from helpers import unique

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

__all__ = ["services_answering"]


def person(surname: str, first_name: str, **fields: Any) -> dict[str, Any]:
    return {
        "first_name": first_name,
        "last_name": surname,
        "emails": [f"{unique('p')}@example.org"],
        **fields,
    }


def test_a_recruiter_creates_edits_and_records_consent_for_a_candidate(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch]
) -> None:
    page, watch = watched_page
    gateway = process_stack.gateway_url
    surname = unique("Okafor").replace("_", "")
    level = api_call(
        gateway,
        "POST",
        "/custom-fields",
        {
            "key": unique("level"),
            "label": f"Level {surname}",
            "type": "enum",
            "allowed_values": ["Junior", "Senior", "Staff"],
        },
    )
    on_file = api_call(gateway, "POST", "/candidates", person(surname, "Kemi"))

    sign_in(page, gateway, "rita.recruiter", start="/console/candidates")
    page.get_by_role("link", name="New candidate").click()
    expect(page.get_by_role("heading", name="New candidate")).to_be_visible()
    page.wait_for_load_state("load")  # htmx is ready before the form is sent
    # The API's refusal lands at its field, what was typed is kept.
    page.get_by_label("First name").fill("Ngozi")
    page.get_by_label("Last name").fill(surname)
    page.get_by_label("E-mails").fill("not-an-address")
    page.get_by_role("button", name="Create candidate").click()
    expect(page.locator("#e-emails")).to_be_visible()
    expect(page.get_by_label("First name")).to_have_value("Ngozi")
    # A person already on file is linked, not made twice.
    page.get_by_label("E-mails").fill(on_file["emails"][0])
    page.get_by_role("button", name="Create candidate").click()
    expect(page.get_by_test_id("on-file")).to_contain_text(f"Kemi {surname}")
    address = f"{unique('ngozi')}@example.org"
    page.get_by_label("E-mails").fill(address)
    page.get_by_label("Skills").fill("python, go, rust, sql, kafka, terraform")
    page.get_by_label("Title", exact=True).fill("Platform Engineer")
    page.get_by_label(f"Level {surname}").select_option("Senior")
    assert_accessible(page)
    screenshot(page, "candidate-new")
    page.get_by_role("button", name="Create candidate").click()
    expect(page.get_by_role("heading", name=f"Ngozi {surname}", exact=True)).to_be_visible()
    created_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    created = api_call(gateway, "GET", f"/candidates/{created_id}")
    assert created["emails"] == [address]
    assert created["custom_fields"] == {level["key"]: "Senior"}

    # The list shows four skills and says how many more, the filtered one first.
    page.goto(f"{gateway}/console/candidates?q={surname}&skills=terraform")
    row = page.locator("#results tr").filter(has_text=f"Ngozi {surname}")
    expect(row).to_contain_text(re.compile(r"\bterraform, \w"))
    expect(row).to_contain_text("+2 more")

    # Edit: only the change is sent; the form holds the record as stored.
    page.goto(f"{gateway}/console/candidates/{created_id}")
    panels_loaded(page)
    page.get_by_role("link", name="Edit profile").click()
    expect(page.get_by_role("heading", name=f"Edit Ngozi {surname}")).to_be_visible()
    page.wait_for_load_state("load")
    expect(page.get_by_label(f"Level {surname}")).to_have_value("Senior")
    page.get_by_label("Company").fill("Initech")
    page.get_by_label("Tags").fill("shortlist")
    assert_accessible(page)
    screenshot(page, "candidate-edit")
    # Someone else changes the record meanwhile: the save is refused, nothing overwritten.
    api_call(gateway, "PATCH", f"/candidates/{created_id}", {"location": "Lagos"})
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_test_id("changed-meanwhile")).to_contain_text("Reload")
    assert api_call(gateway, "GET", f"/candidates/{created_id}")["current_company"] is None
    page.get_by_role("link", name="Reload").click()
    expect(page.get_by_label("Location")).to_have_value("Lagos")
    page.wait_for_load_state("load")
    page.get_by_label("Company").fill("Initech")
    page.get_by_label("Tags").fill("shortlist")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(f"{gateway}/console/candidates/{created_id}")
    expect(page.get_by_role("heading", name=f"Ngozi {surname}", exact=True)).to_be_visible()
    page.wait_for_load_state("load")
    saved = api_call(gateway, "GET", f"/candidates/{created_id}")
    assert saved["current_company"] == "Initech"
    assert saved["tags"] == ["shortlist"]
    assert saved["location"] == "Lagos"

    # Consent: a grant for the talent community, in the ledger. An end date already past is
    # refused at its field, and the refusal, announced, takes the focus.
    page.get_by_label("Purpose", exact=True).select_option("talent_community")
    page.get_by_label("Change", exact=True).select_option("grant")
    page.get_by_label("Evidence (how it was obtained)").fill("Asked at the meetup")
    page.get_by_label("Expires (a grant; optional)").fill("2020-01-01")
    page.get_by_role("button", name="Record consent").click()
    expect(page.get_by_test_id("consent-not-recorded")).to_be_focused()
    page.get_by_label("Expires (a grant; optional)").fill("")
    page.get_by_role("button", name="Record consent").click()
    expect(page.get_by_test_id("consent-current")).to_contain_text("Talent community")
    expect(page.get_by_test_id("consent-said")).to_be_focused()
    page.wait_for_load_state("load")
    panels_loaded(page)
    ledger = api_call(gateway, "GET", f"/candidates/{created_id}/consents")["history"]
    assert ("talent_community", "granted", "recruiter") in [
        (e["purpose"], e["status"], e["source"]) for e in ledger
    ]
    assert_accessible(page)
    screenshot(page, "candidate-consent")
    watch.assert_clean()


def test_a_merged_away_record_says_so_and_links_the_kept_one(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch]
) -> None:
    page, watch = watched_page
    gateway = process_stack.gateway_url
    surname = unique("Haddad").replace("_", "")
    kept = api_call(gateway, "POST", "/candidates", person(surname, "Rana"))
    other = api_call(gateway, "POST", "/candidates", person(surname, "Rania"))
    api_call(
        gateway,
        "POST",
        "/candidates/merges",
        {"survivor_id": kept["id"], "merged_id": other["id"], "choices": {}},
    )
    wait_until(
        lambda: api_call(gateway, "GET", f"/candidates/{other['id']}")["status"] == "merged",
        "the record was never merged",
    )
    sign_in(page, gateway, "rita.recruiter", start=f"/console/candidates/{other['id']}")
    expect(page.get_by_test_id("merged-notice")).to_be_visible()
    expect(page.get_by_role("link", name="Edit profile")).to_have_count(0)
    expect(page.get_by_role("link", name="Duplicates and merge")).to_have_count(0)
    expect(page.get_by_role("button", name="Record consent")).to_have_count(0)
    panels_loaded(page)
    # Its panels, loaded after the page, offer no form either.
    expect(page.get_by_test_id("notes")).to_have_count(0)
    expect(page.get_by_role("button", name="Add note")).to_have_count(0)
    expect(page.get_by_role("heading", name="Notes")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "candidate-merged")
    page.get_by_test_id("merged-into").click()
    expect(page.get_by_role("heading", name=f"Rana {surname}", exact=True)).to_be_visible()
    watch.assert_clean()


def test_a_note_is_added_without_script(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch], browser: Browser
) -> None:
    """A form posted by a browser without script reaches the console (no header carries the
    CSRF token: the page's own origin vouches for it, docs/security.md), and the console's 303
    back to the panel's page reaches the browser through the gateway."""
    page, _ = watched_page
    gateway = process_stack.gateway_url
    surname = unique("Ørsted").replace("_", "")
    zoe = api_call(gateway, "POST", "/candidates", person(surname, "Zoë"))
    sign_in(page, gateway, "rita.recruiter")
    with without_script(browser, page, DESKTOP) as no_script:  # type: ignore[arg-type]
        no_script.goto(f"{gateway}/console/candidates/{zoe['id']}/panels/notes")
        no_script.get_by_label("New note").fill("Rappelée 📞, disponible en mars")
        with no_script.expect_navigation():
            no_script.get_by_role("button", name="Add note").click()
        # Redirected back to the panel's page (303), the note in it.
        expect(no_script).to_have_url(re.compile(r"/panels/notes$"))
        expect(no_script.get_by_test_id("notes")).to_contain_text("Rappelée 📞, disponible en mars")
        # A button that asks first with script asks with a page of its own without.
        segment = api_call(
            gateway,
            "POST",
            "/segments",
            {
                "name": unique("Développeurs à Zürich"),
                "rule": {"all": [{"field": "tags", "op": "equals", "value": "zürich"}]},
            },
        )
        no_script.goto(f"{gateway}/console/segments/{segment['id']}")
        with no_script.expect_navigation():
            no_script.get_by_role("button", name="Delete segment").click()
        expect(no_script.get_by_test_id("confirm-question")).to_contain_text(
            "Développeurs à Zürich"
        )
        with no_script.expect_navigation():
            no_script.get_by_role("button", name="Delete segment").click()
        expect(no_script).to_have_url(f"{gateway}/console/segments")
        gone = httpx.get(
            f"{gateway}/api/v1/segments/{segment['id']}",
            headers=dev_headers("acme", "admin"),
            timeout=30,
        )
        assert gone.status_code == 404
        # Signing out is a form too: through the identity provider to the signed-out page,
        # whose "Sign in again" returns to the page left.
        with no_script.expect_navigation():
            no_script.get_by_role("button", name="Sign out").click()
        no_script.wait_for_url(
            re.compile(r".*/console/sign-in\?reason=signed_out&return_to=%2Fconsole%2Fsegments&"),
            timeout=30_000,
        )


def test_a_pool_sequence_and_a_pool_broadcast_are_built_without_script(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch], browser: Browser
) -> None:
    """Without script the kind selects swap in no fields and "Add step" fetches nothing: the
    other kinds' fields are in the form from the start, and adding or removing a step posts
    the builder back changed."""
    page, _ = watched_page
    gateway = process_stack.gateway_url
    template_name = unique("Lettre d’été")  # noqa: RUF001 (a real apostrophe)
    template_id = api_template(gateway, template_name)
    pool = api_call(
        gateway, "POST", "/pools", {"name": unique("Ingénieurs"), "stages": ["Nouveau", "Contacté"]}
    )
    sign_in(page, gateway, "mark.marketer")
    with without_script(browser, page, DESKTOP) as no_script:  # type: ignore[arg-type]
        no_script.goto(f"{gateway}/console/sequences/new")
        # On a phone the builder fits the screen (a fieldset's default minimum width made it
        # 556 px wide at 390 until 2026-12-07), every other trigger's fields shown included.
        no_script.set_viewport_size(PHONE)  # type: ignore[arg-type]
        assert_fits(no_script)
        no_script.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
        name = unique("Relance sans script")
        no_script.get_by_label("Name", exact=True).fill(name)
        no_script.locator("#steps > li").first.get_by_label("Template").select_option(
            label=template_name
        )
        no_script.get_by_label("Kind of step to add").select_option("wait")
        with no_script.expect_navigation():
            no_script.get_by_role("button", name="Add step").click()
        expect(no_script.locator("#steps > li")).to_have_count(2)
        no_script.get_by_label("Kind of step to add").select_option("add_tag")
        with no_script.expect_navigation():
            no_script.get_by_role("button", name="Add step").click()
        expect(no_script.locator("#steps > li")).to_have_count(3)
        with no_script.expect_navigation():
            no_script.locator("#steps > li").nth(2).get_by_role("button", name="Move up").click()
        expect(no_script.locator("#steps > li").nth(1).locator("legend")).to_have_text("Add tags")
        with no_script.expect_navigation():
            no_script.locator("#steps > li").nth(1).get_by_role(
                "button", name="Remove this step"
            ).click()
        expect(no_script.locator("#steps > li")).to_have_count(2)
        expect(no_script.get_by_label("Name", exact=True)).to_have_value(name)
        no_script.get_by_label("Enrol a candidate when they").select_option("pool_stage_reached")
        no_script.get_by_label("Talent pool").select_option(pool["id"])
        no_script.get_by_label("Stage", exact=True).fill("contacté")
        with no_script.expect_navigation():
            no_script.get_by_role("button", name="Create sequence").click()
        expect(no_script.get_by_role("heading", name=name)).to_be_visible()
        [made] = [q for q in api_call(gateway, "GET", "/sequences") if q["name"] == name]
        assert made["trigger"]["type"] == "pool_stage_reached", made
        assert made["trigger"]["pool_id"] == pool["id"], made
        assert [step["type"] for step in made["steps"]] == ["send", "wait"], made

        no_script.goto(f"{gateway}/console/broadcasts/new")
        title = unique("Invitation aux ingénieurs")
        no_script.get_by_label("Name", exact=True).fill(title)
        no_script.get_by_label("Template").select_option(template_id)
        no_script.get_by_label("Send to").select_option("pool")
        no_script.get_by_label("Talent pool").select_option(pool["id"])
        no_script.get_by_label("Only the stage (optional)").fill("Nouveau")
        with no_script.expect_navigation():
            no_script.get_by_role("button", name="Save as draft").click()
        expect(no_script.get_by_role("heading", name=title)).to_be_visible()
        draft = api_call(gateway, "GET", f"/broadcasts/{no_script.url.rsplit('/', 1)[-1]}")
        assert draft["name"] == title
        audience = draft["audience"]
        assert (audience["type"], audience["pool_id"], audience["stage"]) == (
            "pool",
            pool["id"],
            "Nouveau",
        ), audience


def test_a_viewer_is_kept_from_the_composer_and_signs_out_to_the_console(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch]
) -> None:
    page, watch = watched_page
    gateway = process_stack.gateway_url
    sign_in(page, gateway, "vic.viewer", start="/console/broadcasts")
    expect(page.get_by_role("link", name="New broadcast")).to_have_count(0)
    # The page declares the console's icon, which is served (no /favicon.ico 404).
    icon = page.locator('link[rel="icon"]').get_attribute("href")
    assert icon is not None
    assert httpx.get(f"{gateway}{icon}", timeout=30).status_code == 200
    answer = page.goto(f"{gateway}/console/broadcasts/new")
    assert answer is not None
    assert answer.status == 403
    expect(page.get_by_text(re.compile("needs broadcasts:write"))).to_be_visible()
    assert_accessible(page)
    # Signing out lands on the signed-out page; "Sign in again" returns to the page left.
    page.goto(f"{gateway}/console/broadcasts")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(
        re.compile(r".*/console/sign-in\?reason=signed_out&return_to=%2Fconsole%2Fbroadcasts"),
        timeout=30_000,
    )
    expect(page.get_by_test_id("signed-out")).to_be_visible()
    expect(page.get_by_role("heading", name="Signed out")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="Sign in again").click()
    page.locator("#username").wait_for(timeout=30_000)
    page.locator("#username").fill("vic.viewer")
    page.locator("#password").fill(DEMO_USERS["vic.viewer"][0])
    page.locator("#kc-login").click()
    page.wait_for_url(f"{gateway}/console/broadcasts", timeout=30_000)
    expect(page.get_by_role("heading", name="Broadcasts", exact=True)).to_be_visible()
    watch.assert_clean()


def test_the_focus_stays_on_a_paused_broadcasts_progress_while_it_is_asked_again(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch]
) -> None:
    """Paused, a broadcast can still change, so its progress is asked again every 2 s: the
    focus Pause gave (the panel's status line) stays in the panel, not back on <body>."""
    page, watch = watched_page
    gateway = process_stack.gateway_url
    someone = api_call(gateway, "POST", "/candidates", person(unique("Lind"), "Saga"))
    template = api_call(
        gateway,
        "POST",
        "/templates",
        {"name": unique("Later"), "subject": "Later", "html": "<p>Hi</p>", "text": "Hi"},
    )
    broadcast = api_call(
        gateway,
        "POST",
        "/broadcasts",
        {
            "name": unique("Next year"),
            "template_id": template["id"],
            "audience": {"type": "list", "candidate_ids": [someone["id"]]},
            "schedule": {"type": "local_time", "date": "2099-01-05", "local_time": "09:00"},
        },
    )
    api_call(gateway, "POST", f"/broadcasts/{broadcast['id']}/send")
    sign_in(page, gateway, "mark.marketer", start=f"/console/broadcasts/{broadcast['id']}")
    page.wait_for_load_state("load")
    status = page.get_by_test_id("broadcast-status")
    expect(status).to_have_text(re.compile("Preparing|Sending"), timeout=60_000)
    page.get_by_role("button", name="Pause").click()
    expect(status).to_have_text("Paused")
    page.wait_for_timeout(4_500)  # two of its polls
    assert page.evaluate("document.activeElement.closest('#progress') !== null")
    watch.assert_clean()
