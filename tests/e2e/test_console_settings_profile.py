"""The profile settings pages in a real browser (Debian's Chromium under Playwright) against
the process stack, signed in through Keycloak as alice.admin: a custom field with an accented
label and choices defined, edited, refused deletion while a segment uses it, deleted and
restored; the default phone region refused and set; a skill synonym added to the vocabulary,
a clash shown at its row, and the re-spelling progress followed until it is done."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from browser import PageWatch, assert_accessible, screenshot
from playwright.sync_api import Page, expect

from e2e.conftest import ProcessStack
from e2e.console_support import api_call, dev_headers, sign_in
from helpers import unique

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def candidates_ready(gateway: str) -> None:
    """Waits (bounded) until the gateway reaches the candidates service (its first call fetches
    the service's OpenAPI document, which a loaded machine may be slow to serve)."""
    deadline = time.monotonic() + 90
    while True:
        status = httpx.get(
            f"{gateway}/api/v1/profile-settings", headers=dev_headers("acme", "admin"), timeout=30
        ).status_code
        if status < 500 or time.monotonic() > deadline:
            assert status < 500, f"/profile-settings: {status}"
            return
        time.sleep(2)


def test_an_admin_defines_edits_deletes_and_restores_a_custom_field(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch]
) -> None:
    page, watch = watched_page
    gateway = process_stack.gateway_url
    key = unique("contact")
    candidates_ready(gateway)

    sign_in(page, gateway, "alice.admin", start="/console/settings")
    page.get_by_role("link", name="Custom fields").click()
    expect(page.get_by_role("heading", name="Custom fields", exact=True)).to_be_visible()
    page.get_by_label("Label").fill("Préférence de contact")
    page.get_by_label("Key").fill(key)
    page.get_by_label("Type").select_option("enum")
    page.get_by_label("Choices").fill("E-mail\nTéléphone")
    page.get_by_role("button", name="Create field").click()
    expect(page.get_by_test_id("fields-notice")).to_contain_text(f"Custom field {key} created")
    row = page.locator(f'tr[data-field="{key}"]')
    expect(row).to_contain_text("Préférence de contact")
    expect(row).to_contain_text("One of a list")
    # One choice per item: a choice may itself hold a comma.
    expect(row.get_by_test_id("choices").locator("li")).to_have_text(["E-mail", "Téléphone"])

    # Choices only grow: add one on the field's page.
    row.get_by_role("link", name="Edit Préférence de contact").click()
    expect(page.get_by_role("heading", name="Préférence de contact")).to_be_visible()
    expect(page.get_by_text("Choices can be added, not removed")).to_be_visible()
    page.get_by_label("Add choices").fill("SMS")
    assert_accessible(page)
    screenshot(page, "settings-custom-field")
    page.get_by_role("button", name="Save field").click()
    expect(page.get_by_test_id("fields-notice")).to_contain_text(f"Custom field {key} saved")
    expect(row.get_by_test_id("choices").locator("li")).to_have_text(["E-mail", "Téléphone", "SMS"])
    assert_accessible(page)
    screenshot(page, "settings-custom-fields")

    # A segment's rule uses the field: deleting it is refused, and the row says why.
    segment = api_call(
        gateway,
        "POST",
        "/segments",
        {
            "name": unique("Prefers SMS"),
            "rule": {"all": [{"field": f"custom_fields.{key}", "op": "equals", "value": "SMS"}]},
        },
    )
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete Préférence de contact").click()
    expect(row.get_by_test_id("field-problem")).to_contain_text(
        f"used by segment '{segment['name']}'"
    )
    assert_accessible(page)
    screenshot(page, "settings-custom-field-in-use")

    api_call(gateway, "DELETE", f"/segments/{segment['id']}")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete Préférence de contact").click()
    expect(page.get_by_test_id("fields-notice")).to_contain_text(f"Custom field {key} deleted")
    expect(row).to_have_count(0)
    page.get_by_label("Show deleted fields").check()
    expect(row).to_be_visible()
    row.get_by_role("button", name="Restore Préférence de contact").click()
    expect(page.get_by_test_id("fields-notice")).to_contain_text(f"Custom field {key} restored")
    expect(row.get_by_role("button", name="Delete Préférence de contact")).to_be_visible()
    watch.assert_clean()


def test_an_admin_sets_the_phone_region_and_adds_a_skill_synonym(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch]
) -> None:
    page, watch = watched_page
    gateway = process_stack.gateway_url
    candidates_ready(gateway)
    region_before: dict[str, Any] = api_call(gateway, "GET", "/profile-settings")
    vocabulary_before: dict[str, Any] = api_call(gateway, "GET", "/skills/vocabulary")
    # The API keeps skills in lower case: typed so, they come back as they were typed.
    skill = unique("kotlin")
    short = unique("kt")
    try:
        sign_in(page, gateway, "alice.admin", start="/console/settings/profile")
        expect(page.get_by_role("heading", name="Profile settings")).to_be_visible()
        region = page.get_by_label("Default phone region")
        region.fill("XX")
        page.get_by_role("button", name="Save profile settings").click()
        expect(page.locator("#e-default_phone_region")).to_contain_text("not a known region")
        region.fill("de")
        page.get_by_role("button", name="Save profile settings").click()
        expect(page.get_by_role("status").filter(has_text="read in DE")).to_be_visible()
        expect(region).to_have_value("DE")
        assert_accessible(page)
        screenshot(page, "settings-profile")

        page.get_by_role("link", name="← Settings").click()
        page.get_by_role("link", name="Skill vocabulary").click()
        expect(page.get_by_role("heading", name="Skill vocabulary")).to_be_visible()
        rows = page.locator("#skill-rows tr")
        existing = rows.count()
        page.get_by_role("button", name="Add skill").click()
        expect(rows).to_have_count(existing + 1)
        rows.nth(existing).locator('input[name="canonical"]').fill(skill)
        rows.nth(existing).locator('input[name="synonyms"]').fill(short)
        page.get_by_role("button", name="Add skill").click()
        expect(rows).to_have_count(existing + 2)
        clashing = rows.nth(existing + 1)
        clashing.locator('input[name="canonical"]').fill(unique("kotlin jvm"))
        clashing.locator('input[name="synonyms"]').fill(short.upper())
        page.get_by_role("button", name="Save vocabulary").click()
        error = page.get_by_test_id("skill-error")
        expect(error).to_contain_text(f"already maps to the skill “{skill}”")
        assert_accessible(page)
        rows.nth(existing + 1).get_by_role("button", name="Remove").click()
        expect(rows).to_have_count(existing + 1)

        # The synonym added to the skill's row, saved: re-spelling runs and is followed.
        synonyms = page.locator(f'tr[data-skill="{skill}"] input[name="synonyms"]')
        synonyms.fill(f"{short}, {skill}-lang")
        page.get_by_role("button", name="Save vocabulary").click()
        expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
        expect(synonyms).to_have_value(f"{short}, {skill}-lang")
        expect(page.get_by_test_id("respelling-status")).to_have_attribute(
            "data-status", "completed", timeout=60_000
        )
        assert_accessible(page)
        screenshot(page, "settings-skills")
        saved = api_call(gateway, "GET", "/skills/vocabulary")
        assert {"canonical": skill, "synonyms": [short, f"{skill}-lang"]} in saved["skills"]
        watch.assert_clean()
    finally:
        # The demo tenant's other journeys read phone numbers and skills as they were.
        api_call(gateway, "PUT", "/profile-settings", region_before)
        api_call(gateway, "PUT", "/skills/vocabulary", vocabulary_before)
