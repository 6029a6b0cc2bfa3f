"""The console's imports, talent pools and segments in a real browser (Debian's Chromium under
Playwright) against the process stack, signed in through Keycloak as the demo recruiter: each
journey works end to end, its pages are accessible (axe-core, WCAG 2.1 AA) and run without
script errors or blocked resources."""

from __future__ import annotations

import codecs
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from browser import PageWatch, assert_accessible, screenshot
from playwright.sync_api import Page, Route, expect

from e2e.conftest import ProcessStack
from e2e.console_support import api_call, dev_headers, panels_loaded, sign_in
from helpers import unique

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def rebuilt(page: Page, change: Callable[[], object]) -> None:
    """Makes a change that re-renders the rule builder and waits until the new one is in
    place (typing into the old one meanwhile would be lost with it)."""
    with page.expect_response(lambda response: "/console/segments/builder" in response.url):
        change()
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )


def pool_health_of(gateway: str, pool_id: str, size: int) -> None:
    """Waits (bounded) until analytics has folded the pool's members into its health."""
    deadline = time.monotonic() + 120
    while True:
        answer = httpx.get(
            f"{gateway}/api/v1/analytics/pools/{pool_id}/health",
            headers=dev_headers("acme", "admin"),
            timeout=30,
        )
        if answer.is_success and answer.json()["size"] == size:
            return
        assert time.monotonic() < deadline, f"pool health: {answer.status_code} {answer.text[:300]}"
        time.sleep(2)


def excel_export(path: Path, rows: list[list[str]]) -> Path:
    """A CSV file as Excel saves one on a German Windows: semicolons, CRLF, UTF-8 with BOM."""
    path.write_bytes(codecs.BOM_UTF8 + "".join(";".join(row) + "\r\n" for row in rows).encode())
    return path


def test_a_recruiter_imports_a_messy_excel_export_and_downloads_the_report(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch], tmp_path: Path
) -> None:
    page, watch = watched_page
    gateway = process_stack.gateway_url
    tag = unique("import").lower()
    surname = unique("Groß").replace("-", "")
    mail = f"{surname.lower()}@example.de"
    export = excel_export(
        tmp_path / "Bewerber.csv",
        [
            ["Vorname", "Nachname", "E-Mail", "Firma", "Lieblingsfarbe"],
            ["Jürgen", surname, mail, "Straße & Söhne AG", "blau"],
            ["Zoë", f"Ångström{surname}", f"zoe.{mail}", "", ""],
            ["Ohne", "Adresse", "", "", "grün"],
            ["Kaputt", "Adresse", "kein-mail", "", ""],
        ],
    )

    sign_in(page, gateway, "rita.recruiter", start="/console/imports")
    expect(page.get_by_role("heading", name="Imports", exact=True)).to_be_visible()
    page.get_by_label("CSV file", exact=True).set_input_files(export)
    expect(page.get_by_test_id("detected")).to_contain_text("semicolon separated, with 5 columns")
    # The API suggested a field for each column it recognised; the rest is not imported.
    expect(page.get_by_label("Vorname", exact=True)).to_have_value("first_name")
    expect(page.get_by_label("Nachname", exact=True)).to_have_value("last_name")
    expect(page.get_by_label("E-Mail", exact=True)).to_have_value("emails")
    expect(page.get_by_label("Firma", exact=True)).to_have_value("current_company")
    expect(page.get_by_label("Lieblingsfarbe", exact=True)).to_have_value("")
    expect(page.get_by_role("cell", name="Jürgen")).to_be_visible()
    page.get_by_label("Tags for every imported candidate", exact=True).fill(tag)
    assert_accessible(page)
    screenshot(page, "imports")

    page.get_by_role("button", name="Start import").click()
    page.wait_for_url(re.compile(r".*/console/imports/[0-9a-f-]+$"))
    expect(page.get_by_test_id("import-status")).to_have_attribute(
        "data-status", "completed", timeout=60_000
    )
    expect(page.locator('[data-count="created"]')).to_have_text("2")
    expect(page.locator('[data-count="failed"]')).to_have_text("2")
    expect(page.locator("progress")).to_have_attribute("value", "100")
    report_table = page.get_by_role("region", name="First rows of the error report")
    expect(report_table.get_by_role("row")).to_have_count(3)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the error report (CSV)").click()
    report = Path(download.value.path()).read_text("utf-8-sig")
    columns = "row,column,field,severity,message,value,assumed_region,spreadsheet_row"
    assert report.splitlines()[0] == columns
    assert len(report.splitlines()) == 3
    # For Excel where the decimal mark is a comma, the same report with `;` between cells.
    with page.expect_download() as download:
        page.get_by_test_id("import-report-csv-excel").click()
    excel = Path(download.value.path()).read_text("utf-8-sig")
    assert excel.splitlines()[0] == columns.replace(",", ";")
    assert download.value.suggested_filename.endswith("-report-semicolon.csv")
    assert_accessible(page)
    screenshot(page, "import-progress")

    found = api_call(gateway, "GET", f"/candidates?tag={tag}&limit=10")
    assert sorted(c["first_name"] for c in found["items"]) == ["Jürgen", "Zoë"]
    [jurgen] = [c for c in found["items"] if c["first_name"] == "Jürgen"]
    assert jurgen["current_company"] == "Straße & Söhne AG"
    watch.assert_clean()


def test_a_recruiter_makes_a_pool_moves_a_member_and_acts_on_a_selection(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch]
) -> None:
    page, watch = watched_page
    gateway = process_stack.gateway_url
    family = unique("Ødegård").replace("-", "")
    people = [
        api_call(
            gateway,
            "POST",
            "/candidates",
            {
                "first_name": first,
                "last_name": family,
                "emails": [f"{first.lower()}.{family.lower()}@example.org"],
                "current_title": "Backend Engineer",
            },
        )
        for first in ("Ana", "Bo")
    ]
    other_pool = api_call(
        gateway, "POST", "/pools", {"name": unique("Later"), "stages": ["Parked"]}
    )
    pool_name = unique("Backend")

    sign_in(page, gateway, "rita.recruiter", start="/console/pools")
    expect(page.get_by_role("heading", name="Talent pools", exact=True)).to_be_visible()
    page.locator("#f-name").fill(pool_name)
    page.locator("#f-stages").fill("New\nPhone screen\nOnsite")
    assert_accessible(page)
    screenshot(page, "pools")
    page.get_by_role("button", name="Create pool").click()
    page.wait_for_url(re.compile(r".*/console/pools/[0-9a-f-]+$"))
    pool_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_role("heading", name=pool_name)).to_be_visible()

    api_call(
        gateway,
        "POST",
        f"/pools/{pool_id}/members/bulk",
        {"candidate_ids": [person["id"] for person in people]},
    )
    page.reload()
    expect(page.locator('[data-stage-count="New"]')).to_have_text("2")
    expect(page.locator('[data-stage-count="Phone screen"]')).to_have_text("0")

    # A move by keyboard: the card's stage select, then its button.
    stage = page.get_by_label(f"Stage of Ana {family}", exact=True)
    stage.focus()
    stage.select_option("Phone screen")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name=f"Move Ana {family}")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator('[data-stage-count="Phone screen"]')).to_have_text("1")
    expect(page.locator('[data-stage-count="New"]')).to_have_text("1")
    expect(page.get_by_label(f"Stage of Ana {family}", exact=True)).to_be_focused()
    member = api_call(gateway, "GET", f"/pools/{pool_id}/members/{people[0]['id']}")
    assert member["stage"] == "Phone screen"

    # Bulk actions on the ticked members: tag them, then add them to another pool.
    page.get_by_label(f"Select Ana {family}", exact=True).check()
    page.get_by_label(f"Select Bo {family}", exact=True).check()
    tag = unique("shortlist").lower()
    page.get_by_label("Tags", exact=True).fill(tag)
    page.get_by_role("button", name="Add tags").click()
    expect(page.get_by_test_id("bulk-summary")).to_contain_text(f"2 candidates tagged {tag}")
    # Done: it says for how many, and the selection is cleared for the next action.
    expect(page.get_by_test_id("bulk-count")).to_contain_text("Both selected candidates tagged")
    expect(page.get_by_label(f"Select Ana {family}", exact=True)).not_to_be_checked()
    expect(page.get_by_label(f"Select Bo {family}", exact=True)).not_to_be_checked()
    page.get_by_label(f"Select Ana {family}", exact=True).check()
    page.get_by_label(f"Select Bo {family}", exact=True).check()
    page.get_by_label("Pool and stage", exact=True).select_option(other_pool["id"])
    page.get_by_role("button", name="Add to pool").click()
    expect(page.get_by_test_id("bulk-summary")).to_contain_text(
        f"2 candidates added to “{other_pool['name']}”"
    )
    assert_accessible(page)
    screenshot(page, "pool-board")

    for person in people:
        assert tag in api_call(gateway, "GET", f"/candidates/{person['id']}")["tags"]
    assert api_call(gateway, "GET", f"/pools/{other_pool['id']}")["member_counts"] == {"Parked": 2}

    # The pool's health, loaded after the board (htmx) once analytics knows both members.
    pool_health_of(gateway, pool_id, size=2)
    page.reload()
    health = page.get_by_test_id("pool-health")
    expect(health.get_by_test_id("pool-health-size")).to_have_text("2")
    expect(health.locator("canvas[data-drawn]")).to_have_count(1)
    assert_accessible(page)
    screenshot(page, "pool-health")

    # On a phone the board scrolls within itself: its hidden labels (positioned absolutely)
    # once widened the whole page, which then scrolled sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator('[data-stage-count="New"]')).to_be_visible()
    panels_loaded(page)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the board is {width} px wide on a phone"
    page.goto(f"{gateway}/console/templates")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the template list is {width} px wide on a phone"
    watch.assert_clean()


def test_a_recruiter_renames_a_pool_and_adds_renames_and_deletes_stages(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch]
) -> None:
    page, watch = watched_page
    gateway = process_stack.gateway_url
    pool = api_call(
        gateway, "POST", "/pools", {"name": unique("Data"), "stages": ["New", "Phone", "Onsite"]}
    )
    family = unique("Édith").replace("-", "")
    person = api_call(
        gateway,
        "POST",
        "/candidates",
        {"first_name": "Lea", "last_name": family, "emails": [f"{family.lower()}@example.org"]},
    )
    api_call(gateway, "POST", f"/pools/{pool['id']}/members", {"candidate_id": person["id"]})
    renamed = unique("Data platform")

    sign_in(page, gateway, "rita.recruiter", start=f"/console/pools/{pool['id']}")
    # A form shown before htmx ran would be posted by the browser itself, without the CSRF
    # header (a 403 page): so the page shows nothing until htmx has loaded.
    htmx_script, held = re.compile(r"/static/vendor/htmx-[^/?]*\.js(\?v=\w+)?$"), list[Route]()
    page.route(htmx_script, lambda route: held.append(route))
    with page.expect_request(htmx_script):
        page.get_by_role("link", name="Edit pool and stages").click()
    page.wait_for_timeout(1_000)
    expect(page.get_by_role("button", name="Save name")).to_have_count(0, timeout=1)
    held[0].continue_()
    page.unroute(htmx_script)
    expect(page.get_by_role("heading", name="Edit pool", exact=True)).to_be_visible()
    page.locator("#f-name").fill(renamed)  # its label ends in a required mark
    page.get_by_role("button", name="Save name").click()
    expect(page.get_by_test_id("pool-notice")).to_have_text(f"Renamed to “{renamed}”.")

    page.get_by_label("New stage", exact=True).fill("Offer")
    page.get_by_role("button", name="Add stage").click()
    expect(page.get_by_test_id("pool-notice")).to_have_text("Stage “Offer” added.")
    page.get_by_label("New name for Phone", exact=True).fill("Phone screen")
    page.get_by_role("button", name="Rename Phone", exact=True).click()
    expect(page.get_by_test_id("pool-notice")).to_have_text(
        "Stage “Phone” renamed to “Phone screen”."
    )
    # Another stage's name is refused by the API (409), with its reason in the row.
    page.get_by_label("New name for Onsite", exact=True).fill("new")
    page.get_by_role("button", name="Rename Onsite", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("Not changed")
    expect(page.get_by_label("New name for Onsite", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )
    # Only an empty stage can be deleted: New holds Lea.
    expect(page.get_by_role("button", name="Delete New", exact=True)).to_have_count(0)
    page.get_by_role("button", name="Delete Onsite", exact=True).click()
    expect(page.get_by_test_id("pool-notice")).to_have_text("Stage “Onsite” deleted.")
    assert_accessible(page)
    screenshot(page, "pool-editor")

    changed = api_call(gateway, "GET", f"/pools/{pool['id']}")
    assert changed["name"] == renamed
    assert changed["stages"] == ["New", "Phone screen", "Offer"]
    assert changed["member_counts"].get("New") == 1
    watch.assert_clean()


def test_a_recruiter_builds_a_segment_watching_the_count_and_meets_a_cycle_at_the_rule(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch]
) -> None:
    page, watch = watched_page
    gateway = process_stack.gateway_url
    tag = unique("segment").lower()
    for first, skills in (("Ana", ["rust"]), ("Bo", ["go"])):
        api_call(
            gateway,
            "POST",
            "/candidates",
            {
                "first_name": first,
                "last_name": "Ørsted",
                "emails": [f"{first.lower()}.{tag}@example.org"],
                "tags": [tag],
                "skills": skills,
            },
        )
    name = unique("Rustaceans")

    sign_in(page, gateway, "rita.recruiter", start="/console/segments/new")
    expect(page.get_by_role("heading", name="New segment")).to_be_visible()
    page.locator("#f-name").fill(name)
    # The first condition: tags is <tag>; the count follows the typing.
    page.locator("#r-0-value").fill(tag)
    expect(page.get_by_test_id("member-count")).to_have_text("2")
    # A second one on another field: the builder changes its inputs, the count follows.
    rebuilt(page, page.get_by_role("button", name="Add condition to the rule").click)
    rebuilt(page, lambda: page.locator("#r-1-field").select_option("skills"))
    expect(page.locator("#r-1-field")).to_be_focused()
    page.locator("#r-1-value").fill("rust")
    expect(page.get_by_test_id("member-count")).to_have_text("1")
    expect(page.get_by_test_id("member-sample")).to_contain_text("Ana Ørsted")
    # A relative date in a nested group: created in the last 30 days, or never changed.
    rebuilt(page, page.get_by_role("button", name="Add group to the rule").click)
    expect(page.locator("#r-2-kind")).to_be_focused()
    rebuilt(page, lambda: page.locator("#r-2-0-field").select_option("created_at"))
    expect(page.locator("#r-2-0-op")).to_have_value("after")
    expect(page.locator("#r-2-0-amount")).to_have_value("30")
    page.locator("#r-2-0-amount").fill("2")
    expect(page.get_by_test_id("member-count")).to_have_text("1")
    assert_accessible(page)
    screenshot(page, "segment-builder")

    page.get_by_role("button", name="Save segment").click()
    # The segment's own page says it was saved once: its address keeps no trace of the save,
    # so a reload or a bookmark shows the segment, not "Saved." again.
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    page.wait_for_url(re.compile(r".*/console/segments/[0-9a-f-]+$"))
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    segment_id = page.url.rsplit("/", 1)[1]
    saved = api_call(gateway, "GET", f"/segments/{segment_id}")
    assert saved["rule"] == {
        "all": [
            {"field": "tags", "op": "equals", "value": tag},
            {"field": "skills", "op": "equals", "value": "rust"},
            {"any": [{"field": "created_at", "op": "after", "relative": "-2d"}]},
        ]
    }

    # Another segment refers to this one; referring back to it is a cycle, shown at the rule.
    other = api_call(
        gateway,
        "POST",
        "/segments",
        {"name": unique("Uses it"), "rule": {"all": [{"segment": segment_id}]}},
    )
    rebuilt(page, page.get_by_role("button", name="Add segment reference to the rule").click)
    page.locator("#r-3-segment").select_option(other["id"])
    # The count says so as soon as the reference is chosen, and the save refuses it there too.
    expect(page.locator("#err-r-3")).to_contain_text("segment references form a cycle")
    expect(page.get_by_test_id("preview-problem")).to_be_visible()
    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_text("Not saved.")).to_be_visible()
    expect(page.locator("#err-r-3")).to_contain_text("segment references form a cycle")
    expect(page.locator("#r-3-segment")).to_have_value(other["id"])
    assert_accessible(page)

    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Segments").click()
    expect(page.get_by_role("link", name=name)).to_be_visible()
    assert_accessible(page)
    screenshot(page, "segments")
    watch.assert_clean()
