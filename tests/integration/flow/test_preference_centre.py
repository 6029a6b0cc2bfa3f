"""The preference centre and one-click unsubscribe, reached by the signed links campaigns puts
in its mails (BRIEF link shape), through the gateway."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from crm_shared import utc_now
from helpers import read_events
from integration.flow.conftest import ACME_TOKEN, Stack
from integration.flow.consent_support import (
    Mongo,
    assert_problem,
    create_candidate,
    error_fields,
    link_token,
    new_person,
    wait_for_recipient_consent,
)

pytestmark = pytest.mark.integration


async def subscribed_candidate(stack: Stack, mongo: Mongo) -> str:
    candidate_id = await create_candidate(stack, ACME_TOKEN, new_person("prefs"))
    granted = await stack.gateway.post(
        f"/api/v1/candidates/{candidate_id}/consents",
        json={"purpose": "marketing", "action": "grant"},
        headers=stack.as_(ACME_TOKEN),
    )
    assert granted.status_code == 201
    await wait_for_recipient_consent(stack, mongo, stack.acme, candidate_id, True)
    return candidate_id


async def test_the_preference_centre_shows_and_changes_choices(
    stack: Stack, mongo: Mongo, kafka_bootstrap_servers: str
) -> None:
    candidate_id = await subscribed_candidate(stack, mongo)
    token = link_token(stack, "preferences", stack.acme, candidate_id, message_id="m-prefs")
    path = f"/public/v1/preferences/{token}"
    shown = await stack.gateway.get(path)
    assert shown.status_code == 200, shown.text
    assert shown.json()["subscribed"] is True
    assert shown.json()["frequency"] == "any"
    assert shown.headers["cache-control"] == "no-store"
    page = await stack.gateway.get(path, headers={"Accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")
    assert "name='subscribed' value='true' checked" in page.text
    # A personal page: never cached, never framed, its URL (the token) never sent on.
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "form-action 'self'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-store"

    changed = await stack.gateway.post(
        path, json={"topics": ["data", "data", "ml"], "frequency": "monthly"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json() == {
        "first_name": shown.json()["first_name"],
        "subscribed": True,
        "topics": ["data", "ml"],
        "frequency": "monthly",
    }
    # The HTML form: an unticked box is absent from the form, which unsubscribes.
    unticked = await stack.gateway.post(
        path,
        content=b"topics=data%2C+ml&frequency=weekly",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"},
    )
    assert unticked.status_code == 200
    assert "Saved." in unticked.text
    after = (await stack.gateway.get(path)).json()
    assert after["subscribed"] is False
    assert after["frequency"] == "weekly"
    await wait_for_recipient_consent(stack, mongo, stack.acme, candidate_id, False)
    changes = await read_events(
        kafka_bootstrap_servers,
        "consent.changed",
        where=lambda e: e["subject"] == candidate_id and e["data"]["status"] == "withdrawn",
        count=1,
    )
    assert changes[0]["data"]["message_id"] == "m-prefs"
    assert changes[0]["data"]["source"] == "preference_centre"


async def test_one_click_unsubscribe_withdraws_marketing_consent(
    stack: Stack, mongo: Mongo, kafka_bootstrap_servers: str
) -> None:
    candidate_id = await subscribed_candidate(stack, mongo)
    token = link_token(stack, "unsubscribe", stack.acme, candidate_id, message_id="m-unsub")
    # What a mail client sends for RFC 8058 List-Unsubscribe-Post.
    async with httpx.AsyncClient(base_url=stack.gateway_url) as mail_client:
        response = await mail_client.post(
            f"/public/v1/unsubscribe/{token}",
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "unsubscribed"}
        again = await mail_client.post(f"/public/v1/unsubscribe/{token}")
        assert again.status_code == 200
    await wait_for_recipient_consent(stack, mongo, stack.acme, candidate_id, False)
    [withdrawn] = await read_events(
        kafka_bootstrap_servers,
        "consent.changed",
        where=lambda e: e["subject"] == candidate_id and e["data"]["status"] == "withdrawn",
        count=1,
    )
    assert withdrawn["data"]["message_id"] == "m-unsub"
    assert withdrawn["data"]["source"] == "unsubscribe_link"
    assert withdrawn["data"]["marketing_consent"] is False
    ledger = (
        await stack.gateway.get(
            f"/api/v1/candidates/{candidate_id}/consents", headers=stack.as_(ACME_TOKEN)
        )
    ).json()
    # The second click changed nothing: one grant, one withdrawal.
    assert [e["status"] for e in ledger["history"]] == ["granted", "withdrawn"]


async def test_the_unsubscribe_link_opens_a_page_whose_button_unsubscribes(
    stack: Stack, mongo: Mongo, kafka_bootstrap_servers: str
) -> None:
    candidate_id = await subscribed_candidate(stack, mongo)
    token = link_token(stack, "unsubscribe", stack.acme, candidate_id, message_id="m-footer")
    path = f"/public/v1/unsubscribe/{token}"
    # A browser, and a link scanner that asks for anything: both get the page, nobody is
    # unsubscribed by opening it.
    for accept in ("text/html,application/xhtml+xml,*/*;q=0.8", "*/*"):
        shown = await stack.gateway.get(path, headers={"Accept": accept})
        assert shown.status_code == 200, shown.text
        assert shown.headers["content-type"] == "text/html; charset=utf-8"
        assert "stops our marketing emails" in shown.text
        assert "<form method='post'>" in shown.text
        assert "form-action 'self'" in shown.headers["content-security-policy"]
        assert shown.headers["cache-control"] == "no-store"
    candidate = await stack.gateway.get(
        f"/api/v1/candidates/{candidate_id}", headers=stack.as_(ACME_TOKEN)
    )
    assert candidate.json()["marketing_consent"] is True

    # The page's button: the browser posts the form back to the same URL.
    pressed = await stack.gateway.post(
        path,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"},
    )
    assert pressed.status_code == 200, pressed.text
    assert pressed.headers["content-type"].startswith("text/html")
    assert "You will not receive marketing messages any more." in pressed.text
    await wait_for_recipient_consent(stack, mongo, stack.acme, candidate_id, False)
    [withdrawn] = await read_events(
        kafka_bootstrap_servers,
        "consent.changed",
        where=lambda e: e["subject"] == candidate_id and e["data"]["status"] == "withdrawn",
        count=1,
    )
    assert withdrawn["data"]["message_id"] == "m-footer"
    assert withdrawn["data"]["source"] == "unsubscribe_link"
    # Opening the link again says so, with no button.
    again = await stack.gateway.get(path, headers={"Accept": "text/html"})
    assert "You are unsubscribed" in again.text
    assert "<form" not in again.text
    # A person whose profile names a language reads their pages in it, whatever the browser.
    patched = await stack.gateway.patch(
        f"/api/v1/candidates/{candidate_id}",
        json={"locale": "de-CH"},
        headers=stack.as_(ACME_TOKEN),
    )
    assert patched.status_code == 200, patched.text
    german = await stack.gateway.get(
        path, headers={"Accept": "text/html", "Accept-Language": "en-GB,en;q=0.9"}
    )
    assert "<html lang='de'>" in german.text
    assert "Sie sind abgemeldet" in german.text


async def test_a_bad_unsubscribe_link_opens_an_html_page_in_a_browser(
    stack: Stack, mongo: Mongo
) -> None:
    candidate_id = await subscribed_candidate(stack, mongo)
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    forged = await stack.gateway.get("/public/v1/unsubscribe/forged.token", headers=browser)
    assert forged.status_code == 404
    assert forged.headers["content-type"] == "text/html; charset=utf-8"
    assert "This link is not valid" in forged.text
    # A link that opens nothing knows nobody: it speaks the browser's language.
    french = await stack.gateway.get(
        "/public/v1/unsubscribe/forged.token",
        headers={**browser, "Accept-Language": "fr-CH, fr;q=0.9, en;q=0.8"},
    )
    assert "<html lang='fr'>" in french.text
    assert "Ce lien n&#x27;est pas valide" in french.text
    # A preference-centre link is not an unsubscribe link.
    preferences = link_token(stack, "preferences", stack.acme, candidate_id)
    other = await stack.gateway.get(f"/public/v1/unsubscribe/{preferences}", headers=browser)
    assert other.status_code == 404
    assert "This link is not valid" in other.text
    expired = link_token(
        stack,
        "unsubscribe",
        stack.acme,
        candidate_id,
        expires_at=utc_now() - timedelta(minutes=1),
    )
    expired_page = await stack.gateway.get(f"/public/v1/unsubscribe/{expired}", headers=browser)
    assert expired_page.status_code == 410
    assert expired_page.headers["content-type"].startswith("text/html")
    assert "new unsubscribe link" in expired_page.text
    # A client that does not ask for HTML gets the documented problem, GET or POST.
    assert_problem(await stack.gateway.get("/public/v1/unsubscribe/forged.token"), 404)
    assert_problem(await stack.gateway.get(f"/public/v1/unsubscribe/{expired}"), 410)
    posted = await stack.gateway.post("/public/v1/unsubscribe/forged.token", headers=browser)
    assert posted.status_code == 404
    assert "This link is not valid" in posted.text
    assert_problem(await stack.gateway.post("/public/v1/unsubscribe/forged.token"), 404)


async def test_bad_links_and_bad_choices_are_problems(stack: Stack, mongo: Mongo) -> None:
    candidate_id = await subscribed_candidate(stack, mongo)
    preferences = link_token(stack, "preferences", stack.acme, candidate_id)
    assert_problem(await stack.gateway.get("/public/v1/preferences/forged.token"), 404)
    # An unsubscribe link is not a preference-centre link, and the other way round.
    unsubscribe = link_token(stack, "unsubscribe", stack.acme, candidate_id)
    assert_problem(await stack.gateway.get(f"/public/v1/preferences/{unsubscribe}"), 404)
    assert_problem(await stack.gateway.post(f"/public/v1/unsubscribe/{preferences}"), 404)
    expired = link_token(
        stack,
        "preferences",
        stack.acme,
        candidate_id,
        expires_at=utc_now() - timedelta(minutes=1),
    )
    assert_problem(await stack.gateway.get(f"/public/v1/preferences/{expired}"), 410)
    # A browser gets a page that says how to go on, not a bare error.
    expired_page = await stack.gateway.get(
        f"/public/v1/preferences/{expired}", headers={"Accept": "text/html"}
    )
    assert expired_page.status_code == 410
    assert "This link has expired" in expired_page.text
    assert "most recent email" in expired_page.text
    assert "frame-ancestors 'none'" in expired_page.headers["content-security-policy"]
    expired_unsubscribe = link_token(
        stack,
        "unsubscribe",
        stack.acme,
        candidate_id,
        expires_at=utc_now() - timedelta(minutes=1),
    )
    unsubscribe_page = await stack.gateway.post(
        f"/public/v1/unsubscribe/{expired_unsubscribe}", headers={"Accept": "text/html"}
    )
    assert unsubscribe_page.status_code == 410
    assert "new unsubscribe link" in unsubscribe_page.text
    invalid = await stack.gateway.post(
        f"/public/v1/preferences/{preferences}",
        json={"frequency": "hourly", "topics": "all", "colour": "red"},
    )
    assert error_fields(assert_problem(invalid, 422)) == {"frequency", "topics", "colour"}
    not_json = await stack.gateway.post(
        f"/public/v1/preferences/{preferences}",
        content=b"{",
        headers={"Content-Type": "application/json"},
    )
    assert_problem(not_json, 422)
    still = (await stack.gateway.get(f"/public/v1/preferences/{preferences}")).json()
    assert still["subscribed"] is True


async def test_a_link_of_one_tenant_cannot_touch_another_tenants_candidate(
    stack: Stack, mongo: Mongo
) -> None:
    candidate_id = await subscribed_candidate(stack, mongo)
    # Signed for globex but naming acme's candidate: globex has nobody with this id.
    foreign_unsubscribe = link_token(stack, "unsubscribe", stack.globex, candidate_id)
    assert_problem(await stack.gateway.post(f"/public/v1/unsubscribe/{foreign_unsubscribe}"), 404)
    foreign_preferences = link_token(stack, "preferences", stack.globex, candidate_id)
    assert_problem(
        await stack.gateway.post(
            f"/public/v1/preferences/{foreign_preferences}", json={"subscribed": False}
        ),
        404,
    )
    candidate = await stack.gateway.get(
        f"/api/v1/candidates/{candidate_id}", headers=stack.as_(ACME_TOKEN)
    )
    assert candidate.json()["marketing_consent"] is True
