"""Talent-community sign-up with double opt-in through the gateway, mailed by campaigns."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from conftest import SmtpSink

from crm_candidates.domain.consent_copy import say
from crm_shared import LinkClaim, email_sha256, utc_now
from helpers import eventually, read_events
from integration.flow.conftest import ACME_TOKEN, Stack
from integration.flow.consent_support import (
    Mongo,
    assert_problem,
    database,
    error_fields,
    links,
    new_person,
    wait_for_recipient_consent,
)

pytestmark = pytest.mark.integration

SIGNUPS = "/public/v1/community/signups"


def signup_body(stack: Stack, person: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "tenant": f"{stack.acme}-community",
        "email": person["emails"][0],
        "first_name": person["first_name"],
        "last_name": person["last_name"],
        **extra,
    }


async def confirmation_link(smtp_sink: SmtpSink, address: str) -> str:
    async def mailed() -> bool:
        return bool(smtp_sink.messages_to(address))

    await eventually(mailed, message="no confirmation mail reached the SMTP sink")
    [mail] = smtp_sink.messages_to(address)
    assert mail.subject == "Please confirm your subscription"
    text = mail.parsed().get_body(("plain",))
    assert text is not None
    found = re.search(r"(http\S+/public/v1/community/confirm/\S+)", text.get_content())
    assert found, text.get_content()
    return found.group(1)


async def test_a_sign_up_is_confirmed_by_its_link_and_grants_consent(
    stack: Stack, smtp_sink: SmtpSink, kafka_bootstrap_servers: str, mongo: Mongo
) -> None:
    person = new_person("joiner")
    address = person["emails"][0]
    accepted = await stack.gateway.post(
        SIGNUPS, json=signup_body(stack, person, topics=["backend", "events"])
    )
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["status"] == "pending_confirmation"
    [requested] = await read_events(
        kafka_bootstrap_servers,
        "consent.confirmation_requested",
        where=lambda e: e["data"]["email"] == address,
        count=1,
    )
    assert requested["tenant_id"] == stack.acme
    assert requested["data"]["reason"] == "double_opt_in"
    candidate_id = requested["data"]["candidate_id"]
    acme = stack.as_(ACME_TOKEN)
    # Nobody proved the address yet: a pending sign-up, no candidate.
    assert (
        await stack.gateway.get(f"/api/v1/candidates/{candidate_id}", headers=acme)
    ).status_code == 404
    candidates_db = database(stack, mongo, "candidates")
    assert await candidates_db["candidates"].find_one({"emails": address}) is None
    [pending] = await candidates_db["pending_signups"].find({"email": address}).to_list()
    assert pending["_id"] == candidate_id
    assert pending["expires_at"] - pending["requested_at"] == timedelta(hours=48)

    url = await confirmation_link(smtp_sink, address)
    assert url == requested["data"]["confirm_url"]
    async with httpx.AsyncClient() as browser:
        # Opening the link (as a mail scanner would) shows a button and grants nothing.
        page = await browser.get(url, headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert "<form method='post'>" in page.text
        assert person["first_name"] in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "same-origin"
        assert page.headers["cache-control"] == "no-store"
        assert await candidates_db["candidates"].find_one({"emails": address}) is None
        confirmed = await browser.post(url)
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json() == {
            "status": "confirmed",
            "purposes": ["talent_community", "marketing"],
        }
        again = await browser.post(url)
        assert again.json()["status"] == "already_confirmed"

    candidate = (await stack.gateway.get(f"/api/v1/candidates/{candidate_id}", headers=acme)).json()
    assert candidate["emails"] == [address]
    assert candidate["first_name"] == person["first_name"]
    assert candidate["source"] == "career_site"
    ledger = (
        await stack.gateway.get(f"/api/v1/candidates/{candidate_id}/consents", headers=acme)
    ).json()
    assert sorted(e["purpose"] for e in ledger["history"]) == ["marketing", "talent_community"]
    assert {e["source"] for e in ledger["history"]} == {"community_signup"}
    assert ledger["marketing_consent"] is True
    changes = await read_events(
        kafka_bootstrap_servers,
        "consent.changed",
        where=lambda e: e["subject"] == candidate_id,
        count=2,
    )
    assert {c["data"]["status"] for c in changes} == {"granted"}
    await wait_for_recipient_consent(stack, mongo, stack.acme, candidate_id, True)
    # The topics chosen in the form are the preference centre's starting point.
    preferences = await candidates_db["preferences"].find_one({"candidate_id": candidate_id})
    assert preferences is not None
    assert preferences["topics"] == ["backend", "events"]
    # The confirmed sign-up keeps no personal data of its own, only the candidate it became.
    confirmed_signup = await candidates_db["pending_signups"].find_one({"_id": candidate_id})
    assert confirmed_signup is not None
    assert confirmed_signup["candidate_id"] == candidate_id
    assert address not in str(confirmed_signup)
    # The sign-up's evidence names the candidate now, for the person's export and erasure.
    [evidence] = (
        await candidates_db["community_signups"]
        .find({"email_sha256": email_sha256(address)})
        .to_list()
    )
    assert evidence["candidate_id"] == candidate_id
    assert evidence["outcome"] == "confirmation_sent"
    # The mail record keeps the address's digest only.
    mails = database(stack, mongo, "campaigns")["consent_mails"]
    [record] = await mails.find({"candidate_id": candidate_id}).to_list()
    assert record["email_sha256"] == email_sha256(address)
    assert address not in str(record)


async def test_an_unconfirmed_sign_up_expires_and_is_purged(
    stack: Stack, smtp_sink: SmtpSink, mongo: Mongo
) -> None:
    person = new_person("lapsed")
    address = person["emails"][0]
    accepted = await stack.gateway.post(SIGNUPS, json=signup_body(stack, person))
    assert accepted.status_code == 202
    url = await confirmation_link(smtp_sink, address)
    pending_signups = database(stack, mongo, "candidates")["pending_signups"]
    # As if 48 hours had passed: the sign-up is due for the purge.
    await pending_signups.update_one(
        {"email": address}, {"$set": {"expires_at": utc_now() - timedelta(seconds=1)}}
    )

    async def purged() -> bool:
        return await pending_signups.find_one({"email": address}) is None

    await eventually(purged, message="the expired sign-up was not purged")
    async with httpx.AsyncClient() as browser:
        page = await browser.get(url, headers={"Accept": "text/html"})
        assert page.status_code == 410
        assert "This link has expired" in page.text
        assert "Sign up again" in page.text
        assert page.headers["cache-control"] == "no-store"
        assert_problem(await browser.post(url), 410)
    candidates_db = database(stack, mongo, "candidates")
    assert await candidates_db["candidates"].find_one({"emails": address}) is None


async def test_a_known_address_is_matched_not_duplicated(
    stack: Stack, kafka_bootstrap_servers: str, mongo: Mongo
) -> None:
    person = new_person("known")
    acme = stack.as_(ACME_TOKEN)
    created = await stack.gateway.post("/api/v1/candidates", json=person, headers=acme)
    candidate_id = created.json()["id"]
    accepted = await stack.gateway.post(
        SIGNUPS,
        json=signup_body(stack, person, first_name="Mallory", email=person["emails"][0].upper()),
    )
    assert accepted.status_code == 202
    [requested] = await read_events(
        kafka_bootstrap_servers,
        "consent.confirmation_requested",
        where=lambda e: e["subject"] == candidate_id,
        count=1,
    )
    # The mail greets the person by the name on file, not the one the form claimed.
    assert requested["data"]["first_name"] == person["first_name"]
    async with httpx.AsyncClient() as browser:
        confirmed = await browser.post(requested["data"]["confirm_url"])
    assert confirmed.json()["status"] == "confirmed"
    kept = (await stack.gateway.get(f"/api/v1/candidates/{candidate_id}", headers=acme)).json()
    assert kept["first_name"] == person["first_name"]
    assert kept["marketing_consent"] is True
    candidates = database(stack, mongo, "candidates")["candidates"]
    assert await candidates.count_documents({"emails": person["emails"][0]}) == 1


async def test_a_filled_honeypot_looks_accepted_but_does_nothing(
    stack: Stack, mongo: Mongo
) -> None:
    person = new_person("bot")
    address = person["emails"][0]
    accepted = await stack.gateway.post(
        SIGNUPS, json=signup_body(stack, person, website="http://spam.example")
    )
    assert accepted.status_code == 202
    assert accepted.json()["status"] == "pending_confirmation"
    candidates_db = database(stack, mongo, "candidates")

    async def recorded() -> bool:
        found = await candidates_db["community_signups"].find_one(
            {"email_sha256": email_sha256(address)}
        )
        return found is not None

    await eventually(recorded, message="the honeypot catch was not recorded")
    signup = await candidates_db["community_signups"].find_one(
        {"email_sha256": email_sha256(address)}
    )
    assert signup is not None
    assert signup["outcome"] == "honeypot"
    assert "candidate_id" not in signup
    assert await candidates_db["candidates"].find_one({"emails": address}) is None
    staged = await candidates_db["outbox"].find({"tenant_id": stack.acme}).to_list()
    assert all(address not in record["value"] for record in staged)


async def test_bad_sign_ups_and_unknown_tenants_are_problems(stack: Stack) -> None:
    person = new_person("badsignup")
    invalid = await stack.gateway.post(
        SIGNUPS, json=signup_body(stack, person, email="not-an-email", first_name="")
    )
    assert error_fields(assert_problem(invalid, 422)) == {"email", "first_name"}
    no_tenant = {k: v for k, v in signup_body(stack, person).items() if k != "tenant"}
    assert error_fields(assert_problem(await stack.gateway.post(SIGNUPS, json=no_tenant), 422)) == {
        "tenant"
    }
    not_json = await stack.gateway.post(SIGNUPS, content=b"email=a@b.c")
    assert error_fields(assert_problem(not_json, 422)) == {"tenant"}
    unknown = await stack.gateway.post(
        SIGNUPS, json=signup_body(stack, person, tenant="no-such-community")
    )
    assert_problem(unknown, 404)
    # The tenant id itself is not a community key: only the configured public key is.
    by_id = await stack.gateway.post(SIGNUPS, json=signup_body(stack, person, tenant=stack.acme))
    assert_problem(by_id, 404)


async def test_forged_expired_and_foreign_confirmation_links_are_refused(stack: Stack) -> None:
    signer = links(stack)
    acme = stack.as_(ACME_TOKEN)
    created = await stack.gateway.post(
        "/api/v1/candidates", json=new_person("linkcheck"), headers=acme
    )
    candidate_id = created.json()["id"]

    def token(tenant_id: str, *, expires_in: timedelta) -> str:
        return signer.token(
            LinkClaim(
                purpose="consent_confirmation",
                tenant_id=tenant_id,
                subject=candidate_id,
                expires_at=utc_now() + expires_in,
                data={"purposes": "marketing", "request_id": "r-1"},
            )
        )

    base = "/public/v1/community/confirm/"
    valid = token(stack.acme, expires_in=timedelta(hours=1))
    forged = valid[:-4] + ("AAAA" if not valid.endswith("AAAA") else "BBBB")
    assert_problem(await stack.gateway.post(base + forged), 404)
    assert_problem(await stack.gateway.get(base + "not-a-token"), 404)
    expired = token(stack.acme, expires_in=-timedelta(minutes=1))
    assert_problem(await stack.gateway.post(base + expired), 410)
    # A link of the other tenant naming this candidate finds nobody there.
    foreign = token(stack.globex, expires_in=timedelta(hours=1))
    assert_problem(await stack.gateway.post(base + foreign), 404)
    # A preference-centre token is not a confirmation token.
    wrong_purpose = signer.token(LinkClaim("preferences", stack.acme, candidate_id))
    assert_problem(await stack.gateway.post(base + wrong_purpose), 404)
    ledger = await stack.gateway.get(f"/api/v1/candidates/{candidate_id}/consents", headers=acme)
    assert ledger.json()["history"] == []


async def test_the_confirmation_mail_is_written_in_the_persons_language(
    stack: Stack, smtp_sink: SmtpSink, kafka_bootstrap_servers: str
) -> None:
    """The form's `locale`, else the browser's first accepted language; English otherwise."""
    german, french, other = new_person("deutsch"), new_person("francais"), new_person("other")
    browser = {"Accept-Language": "de-CH, de;q=0.9, en;q=0.5"}
    for body, headers in (
        (signup_body(stack, german), browser),
        (signup_body(stack, french, locale="fr-CH"), browser),
        (signup_body(stack, other), {"Accept-Language": "nl-BE"}),
    ):
        accepted = await stack.gateway.post(SIGNUPS, json=body, headers=headers)
        assert accepted.status_code == 202, accepted.text
    subjects = {}
    for person in (german, french, other):
        address = person["emails"][0]

        async def mailed(address: str = address) -> bool:
            return bool(smtp_sink.messages_to(address))

        await eventually(mailed, message=f"no confirmation mail reached {address}")
        [mail] = smtp_sink.messages_to(address)
        subjects[person["first_name"]] = mail.subject
    assert subjects == {
        german["first_name"]: "Bitte bestätigen Sie Ihre Anmeldung",
        french["first_name"]: "Veuillez confirmer votre inscription",
        other["first_name"]: "Please confirm your subscription",
    }
    [requested] = await read_events(
        kafka_bootstrap_servers,
        "consent.confirmation_requested",
        where=lambda e: e["data"]["email"] == french["emails"][0],
        count=1,
    )
    assert requested["data"]["locale"] == "fr-CH"
    bad = await stack.gateway.post(SIGNUPS, json=signup_body(stack, other, locale="<script>"))
    assert bad.status_code == 422

    # The link opens pages in the mail's language, though the browser prefers German, and
    # the candidate it creates keeps that language.
    html = {"Accept": "text/html", **browser}
    async with httpx.AsyncClient() as reader:
        opened = await reader.get(requested["data"]["confirm_url"], headers=html)
        confirmed = await reader.post(requested["data"]["confirm_url"], headers=html)
    assert say("fr", "confirm_title") in opened.text
    assert say("fr", "confirmed_title") in confirmed.text
    assert say("de", "confirmed_title") not in confirmed.text
    found = await stack.gateway.get(
        "/api/v1/candidates", params={"email": french["emails"][0]}, headers=stack.as_(ACME_TOKEN)
    )
    [created] = found.json()["items"]
    assert created["locale"] == "fr-CH"
