"""The analytics page in a real browser (Debian's Chromium under Playwright) against the
process stack, signed in through Keycloak as rita.recruiter: the funnel of the last 90 days,
split by source after a referral was sourced, accessible and without script errors."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from browser import PageWatch, assert_accessible, screenshot
from playwright.sync_api import Page, expect

from e2e.conftest import ProcessStack
from e2e.console_support import api_call, dev_headers, sign_in
from helpers import unique

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def referral_in_funnel(gateway: str) -> None:
    """Waits (bounded) until analytics has folded a referral into the funnel of the days
    around today (the tenant's zone may be a day off UTC)."""
    today = datetime.now(UTC).date()
    params = {
        "from": (today - timedelta(days=1)).isoformat(),
        "to": (today + timedelta(days=1)).isoformat(),
        "by": "source",
    }
    deadline = time.monotonic() + 120
    while True:
        answer = httpx.get(
            f"{gateway}/api/v1/analytics/funnel",
            params=params,
            headers=dev_headers("acme", "admin"),
            timeout=30,
        )
        keys = [f["key"] for f in answer.json().get("funnels", [])] if answer.is_success else []
        if "referral" in keys:
            return
        assert time.monotonic() < deadline, f"no referral in the funnel: {answer.text[:500]}"
        time.sleep(2)


def test_a_recruiter_splits_the_funnel_by_source(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch]
) -> None:
    page, watch = watched_page
    gateway = process_stack.gateway_url
    surname = unique("Referred")
    api_call(
        gateway,
        "POST",
        "/candidates",
        {
            "first_name": "Ines",
            "last_name": surname,
            "emails": [f"{surname.lower()}@example.org"],
            "source": "referral",
        },
    )
    referral_in_funnel(gateway)

    sign_in(page, gateway, "rita.recruiter", start="/console/analytics")
    expect(page.get_by_role("heading", name="Analytics", exact=True)).to_be_visible()
    expect(page.get_by_test_id("analytics-zone")).to_contain_text("Days in")
    expect(page.get_by_test_id("funnel-table")).to_have_count(1)
    expect(page.locator("canvas[id^=funnel-chart][data-drawn]")).to_have_count(1)

    page.get_by_label("Split by").select_option("source")
    expect(page).to_have_url(re.compile(r"/console/analytics\?.*by=source"))
    referral = page.get_by_test_id("funnel-table").filter(has_text="Source: Referral")
    expect(referral).to_have_count(1)
    expect(referral.locator('tr[data-step="sourced"] td').first).not_to_have_text("0")
    expect(page.locator("canvas[id^=funnel-chart][data-drawn]")).to_have_count(1)
    assert_accessible(page)
    screenshot(page, "analytics")
    watch.assert_clean()
